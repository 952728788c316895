"""`hwflow profile` (issue #8)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def profile(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    target: str = typer.Option("asic-osu018", help="asic-osu018 | ecp5 | ice40"),
    clock: str = typer.Option("40MHz", help="clock frequency"),
) -> None:
    """Area, power and energy per inference."""
    not_built("profile", 8)
