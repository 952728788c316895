"""`hwflow hls` (issue #5)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def hls(
    model: Path = typer.Argument(..., help="QONNX model"),
    output: Path = typer.Option(..., "-o", "--output", help="run directory"),
    backend: str = typer.Option("Vitis", help="hls4ml backend"),
    build: bool = typer.Option(False, help="run vendor HLS synthesis (needs vitis_hls/vivado)"),
) -> None:
    """hls4ml project + C-simulation check against the reference."""
    not_built("hls", 5)
