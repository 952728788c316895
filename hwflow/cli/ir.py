"""`hwflow inspect` and `hwflow exec` (issue #3)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def inspect(
    model: Path = typer.Argument(..., help="QONNX model"),
    json_: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Layers, shapes, fixed-point types, MACs and parameter bits of a QONNX model."""
    not_built("inspect", 3)


@cli_command
def exec_(
    model: Path = typer.Argument(..., help="QONNX model"),
    inputs: Path = typer.Option(..., "--inputs", help="batch of inputs (.npy)"),
    output: Path = typer.Option(..., "-o", "--output", help="outputs (.npy)"),
    intermediate: bool = typer.Option(False, help="dump every tensor (.npz)"),
) -> None:
    """Bit-exact reference execution of a batch."""
    not_built("exec", 3)
