"""The summary table printed at the end of ``hwflow run`` (key numbers of each stage)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from hwflow.report.build import certificate, collect_run
from hwflow.report.plots import _find


def key_numbers(run_dir: str | Path) -> list[tuple[str, str, str]]:
    """(what, value, source record) rows, only for numbers the records contain."""
    data = collect_run(run_dir)
    rows: list[tuple[str, str, str]] = []
    for c in certificate(data):
        value = (f"{c['mismatches']} mismatches / {c['samples']} samples" if c["status"] == "complete"
                 else f"stage {c['status']}")
        rows.append((f"bit-exact: {c['backend']}", value,
                     "hls.json" if "hls4ml" in c["backend"] else "sim.json"))
    wanted = (
        ("train", "test_accuracy", "test accuracy"), ("train", "emd", "EMD"),
        ("rtl", "latency_cycles", "latency (cycles)"),
        ("sim", "inferences_per_second", "simulated inferences/s"),
        ("synth", "fmax_mhz", "Fmax (MHz)"), ("bitstream", "fmax_mhz", "achieved Fmax (MHz)"),
        ("bitstream", "bitstream", "bitstream"),
        ("profile", "area_um2", "area (um^2)"), ("profile", "total_power_mw", "power (mW)"),
        ("profile", "energy_per_inference_nj", "energy/inference (nJ)"),
    )
    for rec_name in ("train", "rtl", "synth", "bitstream", "profile"):  # hls, sim: the certificate rows
        rec = data.get(rec_name)
        if rec is not None and rec.get("status") not in (None, "complete"):
            # a stage that failed, was interrupted or is still running: say so, not a blank
            error = str(rec.get("error", "")).splitlines()[0][:120] if rec.get("error") else ""
            kept = f"; last complete record: {rec['last_complete']}" if rec.get("last_complete") else ""
            rows.append((f"{rec_name} stage", f"{rec['status']}{': ' + error if error else ''}{kept}",
                         f"{rec_name}.json"))
    for rec_name, key, label in wanted:
        if rec_name in data and data[rec_name].get("status", "complete") == "complete":
            v = _find(data[rec_name], key)
            if isinstance(v, dict) and v and all(isinstance(x, (int, float)) for x in v.values()):
                v = min(v.values())  # per clock domain: the slowest one limits the design
            if v is not None and not isinstance(v, (dict, list)):
                rows.append((label, f"{v:.4g}" if isinstance(v, float) else str(v), f"{rec_name}.json"))
    return rows


def summary_table(run_dir: str | Path) -> Table:
    t = Table(title=f"summary of {run_dir}")
    t.add_column("what")
    t.add_column("value")
    t.add_column("from")
    for row in key_numbers(run_dir):
        t.add_row(*row)
    report = Path(run_dir) / "report.html"
    if report.exists():
        t.caption = f"report: {report}"
    return t
