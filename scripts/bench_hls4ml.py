#!/usr/bin/env python
"""Benchmark of the hls4ml stage: conversion time and C-sim compile time per model (JSON).

Per model and io type: ``prepare`` (IR clean-up, type inference, hls4ml rewrites) +
``convert`` (hls4ml flows with the IR's types) time, g++ compile time of the C simulation,
C-sim run time for the checked samples, and the mismatch count against the reference.
Times are wall-clock on whatever machine runs this (the shared 2-core box is noisy).

    .venv/bin/python scripts/bench_hls4ml.py -o bench_hls4ml.json [--all] [--io parallel stream]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_ZOO = [("econt", "qkeras"), ("jet_mlp", "brevitas"), ("digits_cnn", "qkeras")]
ALL_ZOO = [(m, f) for m in ("econt", "jet_mlp", "digits_cnn", "digits_cnn_8bit", "digits_cnn_apriori", "biper_bnn")
           for f in ("qkeras", "brevitas")]
EXTERNAL = ["qkeras_jettagging.onnx", "bnn_model_fc_1layer.onnx"]


def external_dir() -> Path:
    env = os.environ.get("HWFLOW_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "models" / "external"


def bench_one(name: str, model: Path, io: str, work: Path, samples: int) -> dict:
    from hwflow.backends.hls4ml import N_CORNERS, HLSOptions
    from hwflow.backends.hls4ml.convert import convert
    from hwflow.backends.hls4ml.csim import compile_project, run_check
    from hwflow.backends.hls4ml.prepare import prepare
    from hwflow.errors import HwflowError
    from hwflow.ir import make_stimulus

    row: dict = {"model": name, "io_type": f"io_{io}"}
    try:
        t0 = time.perf_counter()
        prepared = prepare(str(model))
        t1 = time.perf_counter()
        conv = convert(prepared, HLSOptions(io_type=io), work / f"{name}_{io}")
        t2 = time.perf_counter()
        compile_s = compile_project(conv)
        x = make_stimulus(prepared.source, n=samples + N_CORNERS, seed=0, corners=True)
        res = run_check(conv, prepared, x, compile_s)
        row.update({
            "prepare_s": round(t1 - t0, 3), "convert_s": round(t2 - t1, 3),
            "conversion_total_s": round(t2 - t0, 3), "csim_compile_s": round(compile_s, 3),
            "csim_run_s": round(res.run_time_s, 3), "samples": res.samples, "mismatches": res.mismatches,
            "layers": len(conv.precisions),
        })
    except HwflowError as e:
        row["error"] = f"{type(e).__name__}: {e}"
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="bench_hls4ml.json")
    ap.add_argument("--all", action="store_true", help="every zoo model from both frameworks")
    ap.add_argument("--io", nargs="+", default=["parallel"], choices=["parallel", "stream"])
    ap.add_argument("--samples", type=int, default=1000)
    args = ap.parse_args(argv)

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import hls4ml

    from hwflow.frontends import export_zoo_model

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_hls4ml_") as tmp:
        work = Path(tmp)
        models = [(f.removesuffix(".onnx"), external_dir() / f) for f in EXTERNAL]
        for name, fw in ALL_ZOO if args.all else DEFAULT_ZOO:
            t0 = time.perf_counter()
            path = export_zoo_model(name, fw, work / f"{name}_{fw}.onnx", seed=0)
            models.append((f"{name}_{fw}", path))
            print(f"exported {name} ({fw}) in {time.perf_counter() - t0:.1f} s", flush=True)
        for name, path in models:
            for io in args.io:
                row = bench_one(name, path, io, work, args.samples)
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = {
        "benchmark": "hls4ml conversion + C-sim compile",
        "hls4ml": hls4ml.__version__,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "csim_compile_flags": "hls4ml build_lib.sh with -O1 (hwflow.backends.hls4ml.csim.CSIM_OPT_LEVEL)",
        "results": rows,
    }
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0 if all("error" not in r and r.get("mismatches") == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
