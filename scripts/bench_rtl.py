"""Benchmark of the RTL backend, one JSON record per model: generation time, Verilator
build time, simulated inferences per second, latency in cycles, and the co-simulation
verdict (samples, mismatches) -- the numbers come from generate_rtl's rtl.json and
simulate's sim.json.

    .venv/bin/python scripts/bench_rtl.py -o runs/bench_rtl [--samples 10000] [MODEL ...]

MODEL: an .onnx path or zoo:<name>:<framework> (default: the external jet tagger and BNN
and TFC plus the zoo ECON-T encoder and jet MLP from both frameworks). Writes
<out>/bench_rtl.json (all records) and one run directory per model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_MODELS = [
    str(ROOT.parent / "shared/models/external/bnn_model_fc_1layer.onnx"),
    str(ROOT.parent / "shared/models/external/qkeras_jettagging.onnx"),
    str(ROOT.parent / "shared/models/external/TFC_2W2A.onnx"),
    "zoo:jet_mlp:qkeras", "zoo:jet_mlp:brevitas", "zoo:econt:qkeras", "zoo:econt:brevitas",
]


def resolve(spec: str, out: Path) -> tuple[str, Path]:
    if spec.startswith("zoo:"):
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        from hwflow.frontends import export_zoo_model

        _, name, fw = spec.split(":")
        label = f"{name}_{fw}"
        return label, Path(export_zoo_model(name, fw, out / f"{label}.onnx", seed=0))
    p = Path(spec)
    return p.stem, p


def bench_one(spec: str, out: Path, samples: int, latency_cutoff: float) -> dict:
    from hwflow.artifacts import read_json
    from hwflow.backends.rtl import generate_rtl
    from hwflow.sim import simulate

    label, model = resolve(spec, out)
    run = out / label
    t0 = time.time()
    rtl = read_json(generate_rtl(model, run, latency_cutoff=latency_cutoff))
    gen = time.time() - t0
    sim = simulate(run, samples=samples, seed=0, raise_on_mismatch=False)
    return {
        "model": label, "source": str(model),
        "generation_time_s": round(gen, 2),
        "verilator_build_time_s": sim["build"]["build_time_s"],
        "simulated_inferences_per_s": sim["inferences_per_second"],
        "latency_cycles": rtl["latency_cycles"], "ii": rtl["ii"],
        "architecture": rtl["pipeline"].get("architecture", "parallel"),
        "pipeline_stages": rtl["pipeline"].get("stages"),
        "estimated_luts_da4ml": rtl["pipeline"]["estimated_luts_da4ml"],
        "register_bits": rtl["pipeline"]["register_bits"],
        "input_bits": rtl["input"]["tdata_width"], "output_bits": rtl["output"]["tdata_width"],
        "samples": sim["samples"], "mismatches": sim["mismatches"], "passed": sim["passed"],
        "simulated_cycles": sim["simulated_cycles"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("-o", "--out", type=Path, default=ROOT / "runs" / "bench_rtl")
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--latency-cutoff", type=float, default=5.0)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / "bench_rtl.json"
    records = []
    for spec in a.models:
        try:
            rec = bench_one(spec, a.out, a.samples, a.latency_cutoff)
        except Exception as e:  # noqa: BLE001 -- one failing model must not hide the others
            rec = {"model": spec, "error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-2000:]}
        records.append(rec)
        print(json.dumps({k: v for k, v in rec.items() if k != "trace"}), flush=True)
        path.write_text(json.dumps({"samples": a.samples, "latency_cutoff": a.latency_cutoff,
                                    "records": records}, indent=2) + "\n")
    return 0 if all(r.get("passed") for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
