"""`hwflow doctor`: which tools are found, their versions and what they enable."""

from __future__ import annotations

import json
import sys

import typer
from rich.table import Table

from hwflow.cli.common import cli_command, out
from hwflow.doctor import doctor_report


@cli_command
def doctor(json_: bool = typer.Option(False, "--json", help="machine-readable output")) -> None:
    """Which tools are found, with versions, paths and the stages they enable.

    Exit code 0 when everything the default (vendor-free) flow needs is present, 1 otherwise.
    Vendor tools (Vivado, Vitis HLS) are listed but never required.
    """
    report = doctor_report()
    if json_:
        print(json.dumps(report, indent=2))
    else:
        table = Table(title="hwflow toolchain")
        for col in ("tool", "found", "version", "path", "enables"):
            table.add_column(col, overflow="fold")
        for t in report["tools"]:
            found = "[green]yes[/]" if t["found"] else ("[red]NO[/]" if t["required"] else "[yellow]absent (vendor, optional)[/]")
            table.add_row(t["name"], found, t["version"] or "-", t["path"] or (t["install"] if not t["found"] else "-"),
                          ", ".join(t["enables"]))
        out.print(table)
        if report["ready"]:
            out.print("[green]The default flow has every tool it needs.[/]")
        else:
            missing = [t["name"] for t in report["tools"] if t["required"] and not t["found"]]
            out.print(f"[red]Missing for the default flow:[/] {', '.join(missing)}. Run scripts/setup.sh.")
    if not report["ready"]:
        sys.exit(1)
