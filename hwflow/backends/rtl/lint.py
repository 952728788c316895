"""Verilator lint (``--lint-only -Wall``) of a generated design.

Waivers (each with its reason) are in ``primitives/lint_waivers.vlt`` and apply only to
da4ml's copied primitive library and generated stages, whose style we do not edit (the
files are used exactly as da4ml ships them); our own files must be clean.
"""

from __future__ import annotations

from pathlib import Path

from hwflow.tools import Verilator, recorded_versions

WAIVERS = Path(__file__).parent / "primitives" / "lint_waivers.vlt"


def lint_design(files: list[Path], top: str, log: Path) -> dict:
    """Run ``verilator --lint-only -Wall``; raise ToolFailed (with the log) on any warning."""
    v = Verilator()
    v.lint(files, top, WAIVERS, log)
    return {"tool": "verilator --lint-only -Wall", "version": recorded_versions(v)[v.name], "warnings": 0,
            "log": log.name}
