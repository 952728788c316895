"""`hwflow sweep`: a sweep file's points through Ray, results in DIR/sweep.json."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from hwflow.cli.common import cli_command, out


def _line(rec: dict) -> str:
    settings = ", ".join(f"{k}={v}" for k, v in rec["settings"].items())
    m = rec.get("metrics", {})
    nums = ", ".join(f"{k} {m[k]:.4g}" if isinstance(m[k], float) else f"{k} {m[k]}"
                     for k in ("accuracy", "lut", "ii", "energy_nj", "wall_time_s") if m.get(k) is not None)
    extra = f" ({rec['error']})" if rec.get("error") else ""
    return f"point {rec['index']} {rec['id']} [{settings}] {rec['status']}{extra}{': ' + nums if nums else ''}"


@cli_command
def sweep(
    sweep_file: Path = typer.Argument(..., help="sweep file (YAML): a base flow file and axes or a search"),
    output: Path = typer.Option(..., "-o", "--output", help="sweep directory (points/, sweep.json, sweep.html)"),
    address: str = typer.Option(None, "--address", help="an existing Ray cluster (host:port); "
                                                        "default: a local Ray instance on this machine"),
    max_parallel: int = typer.Option(None, "--max-parallel", min=1, help="points in flight at once "
                                                                         "(default: the sweep file's, else CPUs / CPUs per point)"),
    json_: bool = typer.Option(False, "--json", help="print sweep.json instead of progress lines"),
) -> None:
    """Run every point of a sweep (each a `hwflow run` in DIR/points/<id>) on Ray; write
    sweep.json, sweep.csv, the Pareto plots and sweep.html. A failing point is recorded and
    the sweep goes on; rerunning a sweep reuses the stages its points completed."""
    from hwflow.sweep import load_sweep, run_sweep

    spec = load_sweep(sweep_file)

    def on_event(event: str, rec: dict) -> None:
        if json_:
            return
        if event == "start":
            out.print(f"[dim]{escape(_line(rec))}[/dim]")
        else:
            color = {"complete": "green", "failed": "red"}.get(rec["status"], "yellow")
            out.print(f"[{color}]{escape(_line(rec))}[/]")

    rec = run_sweep(spec, output, address=address, max_parallel=max_parallel, on_event=on_event)
    if json_:
        print(json.dumps(rec, indent=2, default=str))
        return
    fronts = {k: len(v) for k, v in rec["fronts"].items()}
    out.print(f"{len(rec['points'])} points ({', '.join(f'{n} {k}' for k, n in rec['counts'].items())}) in "
              f"{rec['wall_time_s']:.0f} s on {rec['engine']['name']} {rec['engine']['version']}; "
              f"Pareto fronts {fronts}")
    out.print(f"wrote {output / 'sweep.json'}, {output / 'sweep.csv'}, {output / 'sweep.html'}")
