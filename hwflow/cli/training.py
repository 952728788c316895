"""`hwflow train` and `hwflow export` (issue #4)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def train(
    model: str = typer.Argument(..., help="model name from models/"),
    epochs: int = typer.Option(None, help="training epochs (model default if omitted)"),
    output: Path = typer.Option(..., "-o", "--output", help="run directory"),
) -> None:
    """Quantization-aware training of a model from models/; writes the model and model.onnx."""
    not_built("train", 4)


@cli_command
def export(
    file: Path = typer.Argument(..., help="QKeras (.h5/.keras/.json) or Brevitas model"),
    output: Path = typer.Option(..., "-o", "--output", help="QONNX file to write"),
) -> None:
    """Export a QKeras or Brevitas model to QONNX."""
    not_built("export", 4)
