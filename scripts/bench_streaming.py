#!/usr/bin/env python
"""Benchmark: the jet tagger as a streaming design at several foldings, each synthesized
with Yosys, beside the folding search's resource estimate.

    .venv/bin/python scripts/bench_streaming.py [--model M.onnx] [--board icebreaker]
        [--target ice40] [--folding 4x2,2x8,1x8,1x2 ...] [--samples N] [--out DIR]
        [--json benchmarks/streaming_jettagger.json]

For each folding (default: the one `hwflow rtl --board` chooses plus the ones given):
`hwflow rtl --architecture streaming --folding F --board B` (the estimate is recorded in
rtl.json), `hwflow synth --target T` (Yosys counts), and with --samples a bulk
co-simulation against the reference. Writes one JSON with every measured number, the
estimate beside it and its relative error. Slow (one Yosys run per folding).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwflow.artifacts import read_json, write_json  # noqa: E402

DEFAULT_MODEL = REPO.parent / "shared" / "models" / "external" / "qkeras_jettagging.onnx"


def _err(est: float, meas: float) -> float | None:
    return round((est - meas) / meas, 3) if meas else None


def run_one(model: Path, run: Path, board: str, target: str, folding: str | None, samples: int) -> dict:
    from hwflow.backends.rtl import generate_rtl
    from hwflow.synth import synthesize

    t0 = time.time()
    generate_rtl(model, run, architecture="streaming", board=board, folding=folding)
    rtl = read_json(run / "rtl.json")
    t_rtl = time.time() - t0
    choice = rtl["pipeline"]["folding_choice"]
    folds = ",".join(f"{lay['folding']['pe']}x{lay['folding']['simd']}" for lay in rtl["pipeline"]["layers"])
    if rtl["pipeline"].get("input_buffers", 1) == 2:
        folds += ":2"
    rec = {"folding": folds, "chosen_by": choice["mode"], "ii": rtl["ii"], "latency_cycles": rtl["latency_cycles"],
           "layers": [{"node": lay["node"], **lay["folding"]} for lay in rtl["pipeline"]["layers"]],
           "estimate": choice["estimate"]["total"], "rtl_time_s": round(t_rtl, 1)}
    t1 = time.time()
    s = synthesize(run, target=target)
    rec["synth_time_s"] = round(time.time() - t1, 1)
    res = s["resources"]
    # LUT = LUT4-equivalents, what the fit check counts (hwflow.synth.resources)
    rec["yosys"] = {"lut": res["lut_equivalent"], "ff": res["ff"], "bram": res["bram"], "dsp": res["dsp"],
                    "carry": res["carry"], "yosys_seconds": s.get("yosys_seconds")}
    rec["cells"] = s.get("cells")
    rec["estimate_error"] = {k: _err(rec["estimate"][k], float(rec["yosys"][k] or 0))
                             for k in ("lut", "ff", "bram", "dsp")}
    if samples:
        from hwflow.sim import simulate

        r = simulate(run, samples=samples, seed=1)
        rec["sim"] = {k: r[k] for k in ("samples", "mismatches", "passed", "latency_measured", "ii_as_declared",
                                        "simulated_cycles")}
    return rec


def reestimate(points: list[dict], model: Path, family: str) -> None:
    """Recompute each point's estimate with the current resource model (after calibration)."""
    from hwflow.backends.rtl.model_io import input_format, prepare_model
    from hwflow.backends.rtl.streaming import folding as fs
    from hwflow.backends.rtl.streaming.build import parse_buffers, parse_folding
    from hwflow.backends.rtl.streaming.layers import extract_layers

    m, _, _ = prepare_model(model)
    fmt = input_format(m)
    layers = extract_layers(m, fmt)
    for p in points:
        nbuf = parse_buffers(p["folding"])
        t = fs.total(fs.design_resources(layers, parse_folding(p["folding"], len(layers)), fmt.width, family, nbuf))
        p["estimate"] = t
        p["estimate_logic_cells"] = round(fs.logic_cells(t, family), 1)
        p["estimate_error"] = {k: _err(t[k], float(p["yosys"][k] or 0)) for k in ("lut", "ff", "bram", "dsp")}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--board", default="icebreaker")
    ap.add_argument("--target", default="ice40")
    ap.add_argument("--folding", nargs="*", default=[], help="PExSIMD per layer, several foldings")
    ap.add_argument("--no-chosen", action="store_true", help="skip the folding the search picks")
    ap.add_argument("--samples", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_streaming")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "streaming_jettagger.json")
    ap.add_argument("--reestimate", action="store_true",
                    help="only recompute the estimates of the points in --json with the current model")
    a = ap.parse_args(argv)
    if a.reestimate:
        d = read_json(a.json)
        reestimate([p for p in d["points"] if p.get("target") == a.target], a.model, a.target)
        d["estimate_model"] = "hwflow.backends.rtl.streaming.folding.MODEL (recomputed with --reestimate)"
        write_json(a.json, d)
        return d
    foldings = ([None] if not a.no_chosen else []) + list(a.folding)
    old = read_json(a.json) if a.json.exists() else {}
    points = {p["folding"]: p for p in old.get("points", []) if p.get("target") == a.target}
    for i, f in enumerate(foldings):
        run = a.out / (f.replace(",", "_") if f else "chosen")
        p = run_one(a.model, run, a.board, a.target, f, a.samples)
        p["target"] = a.target
        points[p["folding"]] = p
        print(f"{p['folding']}: II {p['ii']}, yosys {p['yosys']}, estimate {p['estimate']}", flush=True)
        out = {"model": str(a.model.name), "board": a.board, "host": platform.node(),
               "points": sorted(points.values(), key=lambda q: q["ii"]) + [q for q in old.get("points", [])
                                                                            if q.get("target") != a.target]}
        a.json.parent.mkdir(parents=True, exist_ok=True)
        write_json(a.json, {**old, **out})
    return out


if __name__ == "__main__":
    main()
