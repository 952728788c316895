"""`hwflow synth`, `hwflow bitstream`, `hwflow deploy` (issue #7)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def synth(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    target: str = typer.Option(..., help="ecp5 | ice40 | gowin | xilinx | asic-osu018"),
    board: str = typer.Option(None, help="board name from boards/"),
) -> None:
    """Synthesis with Yosys: resources and timing."""
    not_built("synth", 7)


@cli_command
def bitstream(
    run: Path = typer.Argument(..., help="run directory with rtl.json"),
    board: str = typer.Option(..., help="board name from boards/"),
) -> None:
    """Place and route with nextpnr and pack a bitstream for the board."""
    not_built("bitstream", 7)


@cli_command
def deploy(
    run: Path = typer.Argument(..., help="run directory with a bitstream"),
    board: str = typer.Option(..., help="board name from boards/"),
    port: str = typer.Option("/dev/ttyUSB0", help="serial port of the board"),
) -> None:
    """Send inputs to the board over UART and compare its answers with the reference."""
    not_built("deploy", 7)
