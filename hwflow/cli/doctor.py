"""`hwflow doctor` (issue #2)."""

from __future__ import annotations

import typer

from hwflow.cli.common import cli_command, not_built


@cli_command
def doctor(json_: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Which tools are found, with versions, paths and the stages they enable."""
    not_built("doctor", 2)
