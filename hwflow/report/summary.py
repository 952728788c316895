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
    for rec_name in ("train", "rtl", "synth", "bitstream", "profile"):  # hls, sim: the certificate rows
        rec = data.get(rec_name)
        if rec is not None and rec.get("status") not in (None, "complete"):
            # a stage that failed, was interrupted or is still running: say so, not a blank
            error = str(rec.get("error", "")).splitlines()[0][:120] if rec.get("error") else ""
            kept = f"; last complete record: {rec['last_complete']}" if rec.get("last_complete") else ""
            rows.append((f"{rec_name} stage", f"{rec['status']}{': ' + error if error else ''}{kept}",
                         f"{rec_name}.json"))
    done = {k: v for k, v in data.items() if isinstance(v, dict) and v.get("status", "complete") == "complete"}
    train = done.get("train", {})
    for key, label in (("test_accuracy", "test accuracy"), ("emd", "EMD")):
        v = _find(train, key)
        if isinstance(v, (int, float)):
            rows.append((label, f"{v:.4g}", "train.json"))
    rows += _hardware_rows(done)
    return rows


def _g(v: float) -> str:
    return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"


def _clock_mhz(done: dict) -> tuple[float | None, str]:
    """The clock the design is measured at: the profile's, else the flow file's, the board's
    (bitstream constraint), synth --clock's or rtl --clock's."""
    candidates = (("profile.json", done.get("profile", {}).get("clock_mhz")),
                  ("flow_config.json", done.get("flow", {}).get("clock_mhz")),
                  ("bitstream.json", done.get("bitstream", {}).get("clock_constraint_mhz")),
                  ("synth.json", (done.get("synth", {}).get("timing") or {}).get("clock_mhz")),
                  ("rtl.json", ((done.get("rtl", {}).get("pipeline") or {}).get("clock_choice") or {}).get("clock_mhz")))
    for src, v in candidates:
        if isinstance(v, (int, float)) and v > 0:
            return float(v), src
    return None, ""


def _hardware_rows(done: dict) -> list[tuple[str, str, str]]:
    """Resources, Fmax, area, latency/II in cycles and ns, throughput at the clock, and the
    co-simulation's speed labelled as such."""
    rows: list[tuple[str, str, str]] = []
    rtl, synth, bit, prof, sim = (done.get(k, {}) for k in ("rtl", "synth", "bitstream", "profile", "sim"))
    sw = rtl.get("software")
    if sw:
        before = ", ".join(sw["before"]["ops"]) or "nothing"
        after = ", ".join(sw["after"]["ops"]) or "nothing"
        rows.append(("software around the hardware", f"before: {before}; after: {after}", "rtl.json"))
    if synth.get("resources"):
        res, util = synth["resources"], synth.get("utilization", {})
        used = ", ".join(f"{k.upper()} {_g(util[k]['used'])}/{_g(util[k]['available'])} ({util[k]['percent']}%)"
                         for k in ("lut", "ff", "bram", "dsp") if k in util)
        rows.append((f"resources ({synth.get('family')}, {synth.get('device')})",
                     used + f"; {res.get('carry', 0)} carry", "synth.json"))
        t = synth.get("timing") or {}
        if t.get("fmax_upper_bound_mhz"):
            rows.append(("Fmax estimate (MHz)", f"<= {t['fmax_upper_bound_mhz']:.4g} ({t['tool']})", "synth.json"))
    fmax = bit.get("fmax_min_mhz")
    if isinstance(fmax, (int, float)):
        rows.append(("Fmax after place and route (MHz)", f"{fmax:.4g} (nextpnr, {bit.get('board')})",
                     "bitstream.json"))
    if bit.get("bitstream"):
        rows.append(("bitstream", str(bit["bitstream"]), "bitstream.json"))
    mhz, clock_src = _clock_mhz(done)
    lat, ii = rtl.get("latency_cycles"), rtl.get("ii")
    if isinstance(lat, int) and isinstance(ii, int):
        def ns(c):
            return f" = {c * 1e3 / mhz:,.4g} ns" if mhz else ""

        rows.append(("latency, II", f"latency {lat} cycles{ns(lat)}, II {ii} cycles{ns(ii)}"
                     + (f" at {mhz:g} MHz" if mhz else ""), "rtl.json" + (f", {clock_src}" if mhz else "")))
        if mhz:
            rows.append((f"hardware throughput at {mhz:g} MHz", f"{_g(mhz * 1e6 / ii)} inferences/s (clock / II)",
                         f"rtl.json, {clock_src}"))
    if isinstance(prof.get("area_um2"), (int, float)):
        rows.append(("area (mm^2)", f"{prof['area_um2'] / 1e6:.4g} ({prof.get('target')})", "profile.json"))
    for key, label in (("total_power_mw", "power (mW)"), ("energy_per_inference_nj", "energy/inference (nJ)")):
        if isinstance(prof.get(key), (int, float)):
            rows.append((label, f"{prof[key]:.4g}", "profile.json"))
    if isinstance(sim.get("inferences_per_second"), (int, float)):
        rows.append(("co-simulation speed (Verilator, not hardware)",
                     f"{_g(sim['inferences_per_second'])} simulated inferences per wall-clock second", "sim.json"))
    if isinstance(sim.get("accuracy"), dict) and sim["accuracy"].get("accuracy") is not None:
        a = sim["accuracy"]
        rows.append(("accuracy (co-simulation, given labels)", f"{a['accuracy']:.4g} ({a['correct']}/{a['samples']})",
                     "sim.json"))
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
