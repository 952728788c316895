#!/usr/bin/env python
"""Benchmark: samples/s of hwflow's ReferenceExecutor vs qonnx execute_onnx.

Our executor runs a batch of 10,000 inputs at once. execute_onnx runs one sample at a time
(its graphs are written for batch 1; that is how it is used as the QONNX reference), so it
is measured on fewer samples and its per-sample time is extrapolated to 10,000 (stated in
the JSON). Both run on the cleaned model and must agree exactly on the measured samples.

usage: scripts/bench_reference.py [--out bench_reference.json] [--batch 10000] [--ref-samples 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwflow.ir import ReferenceExecutor, clean_model, load_model, make_stimulus  # noqa: E402

MODELS = ["qkeras_jettagging.onnx", "TFC_2W2A.onnx"]


def external_dir() -> Path:
    env = os.environ.get("HWFLOW_SHARED")
    return (Path(env) if env else REPO.parent / "shared") / "models" / "external"


def bench_one(path: Path, batch: int, ref_samples: int, repeats: int) -> dict:
    from qonnx.core.onnx_exec import execute_onnx

    m = clean_model(load_model(path))
    t0 = time.perf_counter()
    ex = ReferenceExecutor(m)
    build_s = time.perf_counter() - t0
    x = make_stimulus(m, n=batch, seed=0)
    ex.run(x[:10])  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = ex.run(x)
        times.append(time.perf_counter() - t0)
    ours_s = min(times)
    name = ex.inputs[0]
    out = m.graph.output[0].name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        execute_onnx(m, {name: x[:1].astype(np.float32)})  # warm-up
        t0 = time.perf_counter()
        ref = [execute_onnx(m, {name: x[i:i + 1].astype(np.float32)})[out] for i in range(ref_samples)]
        ref_s = time.perf_counter() - t0
    ref = np.concatenate(ref).astype(np.float64)
    # for information: execute_onnx on the original file (pre-processing, BN, shape chains)
    raw = load_model(path)
    raw_in = raw.graph.input[0].name
    raw_shape = raw.get_tensor_shape(raw_in)
    raw_x = np.random.default_rng(0).random([ref_samples] + raw_shape[1:]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        for i in range(ref_samples):
            execute_onnx(raw, {raw_in: raw_x[i:i + 1]})
        raw_s = time.perf_counter() - t0
    mismatches = int(np.sum(np.any(ref.reshape(ref_samples, -1) != ours[:ref_samples].reshape(ref_samples, -1), axis=1)))
    ours_sps = batch / ours_s
    ref_sps = ref_samples / ref_s
    return {
        "model": path.name,
        "batch": batch,
        "ours": {"seconds": ours_s, "samples_per_s": ours_sps, "build_seconds": build_s,
                 "repeats": repeats, "timing": "best of repeats, whole batch in one run() call"},
        "execute_onnx": {"measured_samples": ref_samples, "seconds_measured": ref_s, "samples_per_s": ref_sps,
                         "seconds_for_batch_extrapolated": batch / ref_sps,
                         "method": f"one sample per call, measured on {ref_samples} samples, "
                                   f"per-sample time extrapolated to {batch}"},
        "execute_onnx_on_original_file": {"measured_samples": ref_samples,
                                          "samples_per_s": ref_samples / raw_s,
                                          "note": "the model file as published (before clean_model), "
                                                  "for information; the speedup above compares the same graph"},
        "speedup": ours_sps / ref_sps,
        "goal_1000x_met": bool(ours_sps / ref_sps >= 1000),
        "outputs_mismatching_on_measured_samples": mismatches,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench_reference.json"))
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--ref-samples", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    results = [bench_one(external_dir() / f, args.batch, args.ref_samples, args.repeats) for f in MODELS]
    import onnxruntime
    import qonnx

    doc = {
        "benchmark": "ReferenceExecutor vs qonnx.core.onnx_exec.execute_onnx",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "note": "shared machine; other jobs may run concurrently"},
        "versions": {"qonnx": getattr(qonnx, "__version__", "?"), "onnxruntime": onnxruntime.__version__,
                     "numpy": np.__version__},
        "results": results,
    }
    from hwflow.artifacts import write_json

    write_json(args.out, doc)
    for r in results:
        print(f"{r['model']}: ours {r['ours']['samples_per_s']:.0f} samples/s, execute_onnx "
              f"{r['execute_onnx']['samples_per_s']:.1f} samples/s, speedup {r['speedup']:.0f}x, "
              f"mismatches {r['outputs_mismatching_on_measured_samples']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
