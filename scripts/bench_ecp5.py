#!/usr/bin/env python
"""Benchmark: the jet tagger as an ECP5 bitstream for the ULX3S, with times and results.

    .venv/bin/python scripts/bench_ecp5.py [--model M.onnx] [--board ulx3s] [--out DIR]

Steps (each timed): QONNX -> Verilog (hwflow rtl), Yosys synth_ecp5 of the core alone
(the model's own resources), then `hwflow bitstream`: the UART board top through Yosys,
the fit check, nextpnr-ecp5 and ecppack. Writes ``<out>/bench_ecp5.json``. Slow: place
and route of a design of several thousand LUTs takes many minutes here (not in the default
test run).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwflow.artifacts import write_json  # noqa: E402

DEFAULT_MODEL = REPO.parent / "shared" / "models" / "external" / "qkeras_jettagging.onnx"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--board", default="ulx3s")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_ecp5")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    from hwflow.backends.rtl import generate_rtl
    from hwflow.boards import load_board
    from hwflow.synth import build_bitstream, synthesize
    from hwflow.tools import Nextpnr, Yosys

    board = load_board(args.board)
    run = args.out / "run"
    t_all = time.time()
    t0 = time.time()
    rtl_json = generate_rtl(args.model, run)
    rtl_seconds = time.time() - t0
    rtl = json.loads(Path(rtl_json).read_text())

    t0 = time.time()
    core = synthesize(run, target=board.family)
    core_seconds = time.time() - t0

    t0 = time.time()
    bit = build_bitstream(run, board, seed=args.seed)
    bitstream_seconds = time.time() - t0
    board_synth = json.loads((run / "synth.json").read_text())

    result = {
        "benchmark": "bench_ecp5",
        "model": str(args.model.name),
        "board": board.name, "part": board.part,
        "rtl": {"top": rtl["top"], "latency_cycles": rtl.get("latency_cycles"), "ii": rtl.get("ii"),
                "input_bits": rtl["input"]["tdata_width"], "output_bits": rtl["output"]["tdata_width"],
                "seconds": round(rtl_seconds, 2)},
        "core_synth": {"resources": core["resources"], "cells": core["cells"],
                       "yosys_seconds": core["yosys_seconds"], "wall_seconds": round(core_seconds, 2)},
        "board_top_synth": {"resources": board_synth["resources"], "utilization": board_synth["utilization"],
                            "yosys_seconds": board_synth["yosys_seconds"]},
        "pnr": {"fmax_mhz": bit["fmax_min_mhz"], "clock_constraint_mhz": bit["clock_constraint_mhz"],
                "timing_met": bit["timing_met"], "utilization": bit["utilization"],
                "nextpnr_seconds": bit["pnr_seconds"]},
        "bitstream": {"file": bit["bitstream"], "bytes": bit["bitstream_bytes"], "sha256": bit["bitstream_sha256"],
                      "wall_seconds_synth_pnr_pack": round(bitstream_seconds, 2)},
        "total_seconds": round(time.time() - t_all, 2),
        "tools": {"yosys": Yosys().version(), "nextpnr-ecp5": Nextpnr("ecp5").version()},
        "host": {"python": platform.python_version(), "machine": platform.machine(),
                 "note": "2 shared CPU cores; YoWASP (WebAssembly) nextpnr is single-threaded"},
    }
    out = write_json(args.out / "bench_ecp5.json", result)
    print(json.dumps({k: result[k] for k in ("model", "board", "core_synth", "pnr", "total_seconds")}, indent=1,
                     default=str)[:3000])
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
