"""The Python packages that together enable a stage, as ``hwflow doctor`` reports them."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from hwflow.tools.base import ToolStatus

@dataclass(frozen=True)
class PythonStack:
    """A group of Python packages that together enable a stage (versions from metadata,
    so ``doctor`` does not import TensorFlow)."""

    name: str
    packages: tuple[str, ...]
    enables: tuple[str, ...]
    required: bool = True

    def status(self) -> ToolStatus:
        versions, missing = [], []
        for pkg in self.packages:
            try:
                versions.append(f"{pkg} {importlib.metadata.version(pkg)}")
            except importlib.metadata.PackageNotFoundError:
                missing.append(pkg)
        install = f"pip install {' '.join(self.packages)} (part of scripts/setup.sh)"
        if missing:
            return ToolStatus(self.name, False, None, None, self.enables, self.required, install,
                              f"missing: {', '.join(missing)}")
        first = importlib.util.find_spec(self.packages[0].replace("-", "_"))
        path = str(Path(first.origin).parent) if first and first.origin else None
        return ToolStatus(self.name, True, ", ".join(versions), path, self.enables, self.required, install)


PYTHON_STACKS = (
    PythonStack("tensorflow+qkeras", ("tensorflow", "tf-keras", "qkeras"), ("train (qkeras)", "export")),
    PythonStack("torch+brevitas", ("torch", "brevitas", "onnxoptimizer"), ("train (brevitas)", "export")),
    PythonStack("qonnx", ("qonnx", "onnx", "onnxruntime"), ("inspect", "exec", "every backend")),
    PythonStack("hls4ml", ("hls4ml",), ("hls",)),
    PythonStack("da4ml", ("da4ml",), ("rtl",)),
    PythonStack("cocotb", ("cocotb", "cocotbext-uart"), ("sim", "board-top test")),
    PythonStack("ray+optuna", ("ray", "optuna"), ("sweep",), required=False),
)
