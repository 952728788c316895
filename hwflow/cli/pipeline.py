"""`hwflow run` and `hwflow report` (issue #9)."""

from __future__ import annotations

from pathlib import Path

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def run(flow: Path = typer.Argument(None, help="flow file (YAML); the bundled demo if omitted")) -> None:
    """The whole flow: train -> export -> hls -> rtl -> sim -> synth -> bitstream -> profile -> report."""
    not_built("run", 9)


@cli_command
def report(run_dir: Path = typer.Argument(..., help="run directory")) -> None:
    """Markdown and HTML report of a run."""
    not_built("report", 9)
