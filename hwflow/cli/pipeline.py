"""`hwflow run` (the whole flow, stage by stage) and `hwflow report` (its summary)."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from hwflow.cli.common import cli_command, console, out
from hwflow.config import load_flow
from hwflow.flow import STAGE_NAMES, run_flow

DEMO_FLOW = "demo.yaml"


def _demo_path() -> Path:
    return Path(str(resources.files("hwflow.flows").joinpath(DEMO_FLOW)))


@cli_command
def run(
    flow: Path = typer.Argument(None, help="flow file (YAML); the bundled demo if omitted"),
    output: Path = typer.Option(None, "-o", "--output", help="run directory (default: runs/<flow name>)"),
    from_stage: str = typer.Option(None, "--from", help=f"first stage to run ({', '.join(STAGE_NAMES)})"),
    until_stage: str = typer.Option(None, "--until", help="last stage to run"),
    force: bool = typer.Option(False, help="rerun stages even when their inputs did not change"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress display"),
    json_: bool = typer.Option(False, "--json", help="print the outcome as JSON"),
) -> None:
    """The whole flow: train -> export -> hls -> rtl -> sim -> synth -> bitstream -> profile -> report.

    A stage whose inputs and settings did not change since it last completed is skipped;
    an interrupted stage is redone on the next run.
    """
    cfg = load_flow(flow or _demo_path())
    for note in cfg.deprecations():
        console.print(f"[yellow]note:[/] {note}")
    run_dir = output or Path("runs") / cfg.name
    started: dict[str, float] = {}
    rows: dict[str, tuple[str, str]] = {}
    detail: dict[str, str] = {}

    def table() -> Table:
        t = Table(title=f"hwflow run {cfg.name} -> {run_dir}")
        t.add_column("stage")
        t.add_column("status")
        t.add_column("time")
        t.add_column("progress")
        for name in STAGE_NAMES:
            status, elapsed = rows.get(name, ("", ""))
            if status == "running":
                elapsed = f"{time.time() - started[name]:.0f} s"
            t.add_row(name, status, elapsed, escape(detail.get(name, "")) if status == "running" else "")
        return t

    def on_progress(name: str, text: str) -> None:
        detail[name] = text
        if not (quiet or json_):
            live.update(table())

    def on_stage(name: str, event: str) -> None:
        if event == "start":
            started[name] = time.time()
            rows[name] = ("running", "")
        elif event == "done":
            rows[name] = ("[green]done[/]", f"{time.time() - started[name]:.1f} s")
        elif event == "skip":
            rows[name] = ("[cyan]up to date[/]", "")
        else:  # disabled in the flow file, or outside --from/--until
            rows[name] = (f"[dim]{event}[/]", "")
        if quiet or json_:
            return
        live.update(table())

    live = Live(table(), console=console, refresh_per_second=2, transient=False)
    if quiet or json_:
        outcomes = run_flow(cfg, run_dir, from_stage, until_stage, force, on_stage, on_progress)
    else:
        with live:
            outcomes = run_flow(cfg, run_dir, from_stage, until_stage, force, on_stage, on_progress)
    if json_:
        print(json.dumps({"run_dir": str(run_dir), "stages": [o.__dict__ for o in outcomes]}, indent=2, default=str))
        return
    if not quiet:
        from hwflow.report.summary import summary_table

        out.print(summary_table(run_dir))


@cli_command
def report(run: Path = typer.Argument(..., help="run directory (of `hwflow rtl -o RUN` or `hwflow run -o RUN`)")
           ) -> None:
    """Markdown and HTML report of a run (report.md, report.html, plots/)."""
    from hwflow.report import write_report

    paths = write_report(run)
    out.print(f"wrote {paths['markdown']} and {paths['html']}")
