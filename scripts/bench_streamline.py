#!/usr/bin/env python
"""Benchmark: models as their authors write them, streamlined into integer hardware.

    .venv/bin/python scripts/bench_streamline.py [--samples 10000] [--out DIR] [--synth ice40]
                                                 [--models name[:size[:seed]] ...]

For each model (Brevitas default float-scale quantizers with BatchNorm1d, BatchNorm2d +
max-pooling, BN before a sign; a FINN-style graph with BatchNormalization nodes; built and
trained a few steps by ``tests/_streamline_models.py``): the streamlining rewrites applied
(``rtl.json`` ``streamlining``), MultiThreshold count, hls4ml C-sim and RTL co-simulation
mismatches on ``--samples`` random + corner samples, the float export vs the streamlined graph
on the same number of random float inputs (largest output difference, argmax agreement), and
Yosys resources of the RTL (``--synth``: ice40 or ecp5; LUTs, FFs, carries, BRAM, DSP).
Writes ``<out>/streamlining.json``; the table in docs/streamlining.md comes from it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

DEFAULT_MODELS = ["brevitas_mlp_bn:full", "brevitas_cnn_bn_pool:full", "brevitas_binary_mlp_bn:full",
                  "finn_style_mlp:full", "brevitas_mlp_bn:small", "brevitas_cnn_bn_pool:small",
                  "brevitas_binary_mlp_bn:small", "finn_style_mlp:small"]


def _float_distance(model_path: Path, n: int) -> dict:
    """The float export (as qonnx executes it) vs the streamlined graph, same float inputs."""
    import numpy as np

    from hwflow.ir import ReferenceExecutor, clean_model, load_model

    m0 = load_model(model_path)
    orig = clean_model(m0, input_type=None, strip_preprocessing=False, streamline=False)
    st = clean_model(m0, input_type=None, strip_preprocessing=False)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=[n] + list(orig.get_tensor_shape(orig.graph.input[0].name)[1:])) * 2).astype(np.float32)
    y0 = ReferenceExecutor(orig).run(x).reshape(n, -1)
    y1 = ReferenceExecutor(st).run(x).reshape(n, -1)
    return {"inputs": n, "max_abs_difference": float(np.abs(y0 - y1).max()),
            "output_range": float(np.abs(y0).max()),
            "argmax_agreement": float(np.mean(y0.argmax(1) == y1.argmax(1)))}


def bench_one(spec: str, out: Path, samples: int, synth: str | None, architecture: str = "auto") -> dict:
    from _streamline_models import build

    from hwflow.artifacts import read_json
    from hwflow.backends.hls4ml import HLSOptions, run_hls
    from hwflow.backends.rtl import generate_rtl
    from hwflow.sim import simulate

    parts = spec.split(":")
    name, size, seed = parts[0], (parts[1:2] or ["full"])[0], (parts[2:3] or ["0"])[0]
    d = out / f"{name}_{size}_{seed}" / architecture
    d.mkdir(parents=True, exist_ok=True)
    row: dict = {"model": name, "size": size, "seed": int(seed), "architecture": architecture}
    t = time.perf_counter()
    model = build(name, d, seed=int(seed), size=size)
    row["build_and_train_s"] = round(time.perf_counter() - t, 1)
    row["float_vs_streamlined"] = _float_distance(model, samples)
    t = time.perf_counter()
    hls = run_hls(model, d / "hls", HLSOptions(io_type="io_parallel"), samples=samples, seed=0)
    csim = hls.get("csim", hls)
    row["hls_csim"] = {"samples": csim["samples"], "mismatches": csim["mismatches"],
                       "seconds": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    rtl = read_json(generate_rtl(model, d / "rtl", architecture=architecture))
    row["rtl_seconds"] = round(time.perf_counter() - t, 1)
    rec = rtl["streamlining"]
    row["transformations"] = sorted({r["transformation"] for r in rec if r.get("applied", True)})
    folds = [r for r in rec if r["transformation"] == "FoldFloatIntoThresholds" and r.get("applied", True)]
    row["multithresholds"] = [{"channels": r["channels"], "thresholds_per_channel": r["thresholds_per_channel"],
                               "negated_channels": r["negated_channels"], "chain": r["chain"]} for r in folds]
    row["thresholds_total"] = sum(r["channels"] * r["thresholds_per_channel"] for r in folds)
    row["latency_cycles"], row["ii"] = rtl["latency_cycles"], rtl["ii"]
    row["estimated_luts_da4ml"] = rtl["pipeline"].get("estimated_luts_da4ml")
    row["rtl_architecture"] = rtl["pipeline"].get("architecture")
    t = time.perf_counter()
    sim = simulate(d / "rtl", samples=samples, seed=0)
    row["rtl_cosim"] = {"samples": sim["samples"], "mismatches": sim["mismatches"], "engine": sim.get("engine"),
                        "seconds": round(time.perf_counter() - t, 1)}
    if synth:
        from hwflow.synth import synthesize

        s = synthesize(d / "rtl", target=synth)
        row["yosys"] = {"target": synth, "resources": s["resources"], "seconds": s["yosys_seconds"]}
    print(f"{spec}: {row['transformations']}, {row['thresholds_total']} thresholds, hls {row['hls_csim']}, "
          f"rtl {row['rtl_cosim']}", flush=True)
    return row


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_streamline")
    ap.add_argument("--synth", choices=["ice40", "ecp5"], default=None)
    ap.add_argument("--models", nargs="*", default=DEFAULT_MODELS)
    ap.add_argument("--architecture", default="auto", help="RTL architecture (auto, parallel, folded, streaming)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "streamlining.json")
    args = ap.parse_args(argv)
    from hwflow.artifacts import write_json

    t0 = time.perf_counter()
    result = {"benchmark": "streamlining", "command": "scripts/bench_streamline.py " + " ".join(argv or sys.argv[1:]),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "samples": args.samples, "models": []}
    for spec in args.models:  # written after each model: a long run keeps what it measured
        result["models"].append(bench_one(spec, args.out, args.samples, args.synth, args.architecture))
        result["wall_time_s"] = round(time.perf_counter() - t0, 1)
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
