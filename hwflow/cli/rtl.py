"""`hwflow rtl` and `hwflow sim` (issue #6)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def rtl(
    model: Path = typer.Argument(..., help="QONNX model"),
    output: Path = typer.Option(..., "-o", "--output", help="run directory"),
) -> None:
    """Verilog of the model with a valid/ready wrapper."""
    not_built("rtl", 6)


@cli_command
def sim(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    samples: int = typer.Option(1000, help="random samples (+ corners)"),
    inputs: Path = typer.Option(None, help="inputs (.npy) instead of random ones"),
    save_outputs: Path = typer.Option(None, help="write RTL outputs (.npy)"),
    vcd: bool = typer.Option(False, help="dump waveforms"),
) -> None:
    """cocotb + Verilator co-simulation against the reference."""
    not_built("sim", 6)
