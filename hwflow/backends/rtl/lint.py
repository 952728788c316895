"""Verilator lint (``--lint-only -Wall``) of a generated design.

Waivers (each with its reason) are in ``primitives/lint_waivers.vlt`` and apply only to
da4ml's copied primitive library and generated stages, whose style we do not edit (the
files are used exactly as da4ml ships them); our own files must be clean.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from hwflow.errors import ToolFailed
from hwflow.tools import Verilator

WAIVERS = Path(__file__).parent / "primitives" / "lint_waivers.vlt"


def lint_design(files: list[Path], top: str, log: Path) -> dict:
    """Run ``verilator --lint-only -Wall``; raise ToolFailed (with the log) on any warning."""
    v = Verilator()
    cmd = [str(v.locate()), "--lint-only", "-Wall", "--top-module", top, str(WAIVERS), *map(str, files)]
    r = subprocess.run(cmd, env=v.env(), capture_output=True, text=True)
    log.write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
    if r.returncode != 0 or "%Warning" in r.stderr:
        tail = "\n".join((r.stdout + r.stderr).strip().splitlines()[-20:])
        raise ToolFailed("verilator --lint-only -Wall", r.returncode or 1, str(log), tail)
    return {"tool": "verilator --lint-only -Wall", "version": v.version(), "warnings": 0, "log": log.name}
