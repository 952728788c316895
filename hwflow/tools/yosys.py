"""Yosys through pyosys: every script runs in a fresh process (``hwflow.tools.yosys_runner``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Callable

from hwflow.errors import ConfigError, ToolNotFound
from hwflow.tools.base import Tool
from hwflow.tools.process import capture, run_tool

def yosys_path(path: str | os.PathLike) -> str:
    """``path`` for a Yosys script: absolute and in double quotes (spaces are fine), the one
    rule every script hwflow writes follows. A path with a double quote, backslash or line
    break cannot be written in a script: ``ConfigError``."""
    s = str(Path(path).resolve())
    if any(c in s for c in '"\\\n\r'):
        raise ConfigError(f"path {s!r} contains a double quote, backslash or line break, which a Yosys script "
                          f"cannot take")
    return f'"{s}"'


class Yosys(Tool):
    """Yosys through pyosys, each script run in a fresh process (hwflow.tools.yosys_runner)."""

    name = "yosys"
    binary = "yosys"
    install = "pip install pyosys==0.70 (part of scripts/setup.sh)"
    enables = ("synth", "bitstream", "profile")

    def locate(self) -> Path:
        spec = importlib.util.find_spec("pyosys")
        if spec is None or spec.origin is None:
            raise ToolNotFound(self.name, self.install)
        return Path(spec.origin).parent

    def version(self) -> str:
        out = capture([sys.executable, "-c", "from pyosys import libyosys as y; print(y.yosys_maybe_version())"])
        return self.parse_version(out.stdout)

    def run_script(self, script: str | os.PathLike, cwd: str | os.PathLike | None = None,
                   log: str | os.PathLike | None = None, timeout: float | None = None,
                   on_line: Callable[[str], None] | None = None):
        """``on_line``: each line of Yosys' log as it comes (progress displays; needs ``log``)."""
        self.locate()
        # a relative script path that is not under cwd is relative to our working directory:
        # make it absolute, Yosys runs in cwd (`hwflow profile run1` failed on that)
        if cwd is not None and not Path(script).is_absolute() and not (Path(cwd) / script).exists():
            script = Path(script).resolve()
        return run_tool([sys.executable, "-m", "hwflow.tools.yosys_runner", str(script)], cwd=cwd, log=log,
                        tool="yosys", timeout=timeout, on_line=on_line)
