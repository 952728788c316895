#!/usr/bin/env python
"""Benchmark: the bundled demo (`hwflow run` with no flow file) from a fresh directory.

    .venv/bin/python scripts/bench_demo.py [--workdir DIR] [--json benchmarks/demo.json]

Runs `hwflow run` in an empty working directory (so every stage runs: train, ir, hls,
rtl, sim, bitstream, profile, report), times it (wall, and the CPU time of hwflow and the
tools it waited for), records the machine's load average before and after (other jobs on a
shared machine stretch the wall time), then reads the run's records: test accuracy, hls4ml
C-sim and RTL co-simulation mismatches, the streaming folding, II and latency, the board
top's Yosys counts and nextpnr's utilisation, Fmax and timing, inferences/s at the board
clock, and the 180 nm profile (energy per inference, power, area).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwflow.artifacts import read_json, write_json  # noqa: E402

HWFLOW = Path(sys.executable).parent / "hwflow"
STAGES = ("train", "ir", "hls", "rtl", "sim", "synth", "bitstream", "profile", "report")


def timed_demo(workdir: Path) -> dict:
    """`hwflow run` in ``workdir``: wall and children's CPU seconds, load averages."""
    load_before = os.getloadavg()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    out = subprocess.run([str(HWFLOW), "run", "--quiet"], cwd=workdir, capture_output=True, text=True)
    wall = time.time() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode != 0:
        sys.exit(f"hwflow run failed (exit {out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return {"command": "hwflow run", "wall_s": round(wall, 1),
            "cpu_s": round((cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime), 1),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}


def collect(run: Path) -> dict:
    hw = run / "hw"
    train, hls = read_json(run / "train.json"), read_json(run / "hls.json")
    rtl, sim = read_json(hw / "rtl.json"), read_json(hw / "sim.json")
    synth, bit, prof = read_json(hw / "synth.json"), read_json(hw / "bitstream.json"), read_json(hw / "profile.json")
    layers = rtl["pipeline"]["layers"]
    choice = rtl["pipeline"]["folding_choice"]
    clock_hz = choice["clock_hz"]
    m = train["metrics"]
    return {
        "model": {"zoo": m.get("model", "biper_mlp64"), "parameters": m["parameters"], "epochs": m["epochs"],
                  "test_accuracy": m["test_accuracy"], "test_samples": m["test_samples"],
                  "train_time_s": m["train_time_s"]},
        "hls_csim": {"samples": hls["csim"].get("samples"), "mismatches": hls["mismatches"]},
        "rtl": {"architecture": rtl["pipeline"]["architecture"], "board": rtl["params"]["board"],
                "throughput_target": choice.get("throughput_target"), "folding_mode": choice["mode"],
                "folding": ",".join(f"{ly['folding']['pe']}x{ly['folding']['simd']}" for ly in layers),
                "input_buffers": rtl["pipeline"]["input_buffers"],
                "ii_cycles": rtl["ii"], "latency_cycles": rtl["latency_cycles"],
                "estimate_core": choice["estimate"]["total"]},
        "sim": {k: sim.get(k) for k in ("samples", "mismatches", "engine")},
        "board_top_yosys": synth["resources"],
        "nextpnr": {"utilization": {k: v for k, v in bit["utilization"].items() if v["used"]},
                    "fmax_mhz": bit["fmax_min_mhz"],
                    "clock_constraint_mhz": bit["clock_constraint_mhz"], "timing_met": bit["timing_met"],
                    "pnr_seconds": bit["pnr_seconds"], "bitstream_bytes": bit["bitstream_bytes"]},
        "inferences_per_s_at_board_clock": round(clock_hz / rtl["ii"], 1),
        "board_clock_mhz": clock_hz / 1e6,
        "asic_profile": {**{k: prof[k] for k in ("target", "clock_mhz", "area_um2", "cell_count", "total_power_mw",
                                                 "energy_per_inference_nj", "fmax_mhz")},
                         "samples": prof["activity"]["samples"], "cycles": prof["activity"]["cycles"],
                         "simulator": prof["activity"]["simulator"],
                         "gate_level_build_s": prof.get("gate_level_check", {}).get("build_time_s")},
        "stage_wall_s": {s: read_json(run / "flow" / f"{s}.json").get("wall_time_s") for s in STAGES
                         if (run / "flow" / f"{s}.json").exists()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, help="an empty directory to run in (default: a new temporary one)")
    ap.add_argument("--json", type=Path, default=REPO / "benchmarks" / "demo.json")
    ap.add_argument("--collect-only", action="store_true",
                    help="do not run: read the run and the timing a previous bench_demo.py left in --workdir")
    a = ap.parse_args()
    if a.collect_only:
        if a.workdir is None:
            sys.exit("--collect-only needs --workdir")
        timing = read_json(a.workdir / "hwflow_run_timing.json")
    else:
        workdir = a.workdir or Path(tempfile.mkdtemp(prefix="hwflow-demo-"))
        workdir.mkdir(parents=True, exist_ok=True)
        if any(workdir.iterdir()):
            sys.exit(f"{workdir} is not empty: the demo must run from a fresh directory")
        timing = timed_demo(workdir)
        write_json(workdir / "hwflow_run_timing.json", timing)
        a.workdir = workdir
    workdir = a.workdir
    flow = read_json(next((workdir / "runs").iterdir()) / "flow" / "flow_config.json")
    run = workdir / "runs" / flow["name"]
    rec = {"flow": "hwflow/flows/demo.yaml", "flow_name": flow["name"], "host": platform.node(),
           "commands": ["scripts/bench_demo.py (hwflow run, bundled demo, fresh directory)"],
           "hwflow_run": timing, **collect(run), "run_dir": str(run)}
    write_json(a.json, rec)
    print(f"wrote {a.json}: {timing['wall_s']} s wall, accuracy {rec['model']['test_accuracy']:.4f}, "
          f"{rec['sim']['mismatches']} mismatches / {rec['sim']['samples']}, timing met {rec['nextpnr']['timing_met']}")


if __name__ == "__main__":
    main()
