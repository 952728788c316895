#!/usr/bin/env python
"""Benchmark: the jet tagger as an ECP5 bitstream for the ULX3S, with times and results.

    .venv/bin/python scripts/bench_ecp5.py [--model M.onnx] [--board ulx3s] [--out DIR]
                                           [--router router2] [--pnr-timeout MINUTES]

Steps (each timed): QONNX -> Verilog (hwflow rtl), optionally Yosys synth_ecp5 of the core
alone (``--core-synth``), the UART board top through Yosys and the fit check (`hwflow synth
--board`), then nextpnr-ecp5 and ecppack (`hwflow bitstream`). Writes ``<out>/bench_ecp5.json``
with every placer/router progress line and its time, also when place and route is stopped
at ``--pnr-timeout`` (status "stopped"). Slow: place and route of a design of several
thousand LUTs takes many minutes here, the jet tagger hours (not in the default test run).
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

from hwflow.artifacts import read_json, write_json  # noqa: E402

DEFAULT_MODEL = REPO.parent / "shared" / "models" / "external" / "qkeras_jettagging.onnx"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--board", default="ulx3s")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "bench_ecp5")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--router", default="router2",
                    help="nextpnr router (router2 reports its overused wires per iteration; router1 had "
                         "not routed the jet tagger after 2.5 h here)")
    ap.add_argument("--pnr-timeout", type=float, default=None,
                    help="minutes; stop place and route then and record how far it got (status 'stopped')")
    ap.add_argument("--core-synth", action="store_true",
                    help="also synthesize the core alone (the model's own resources, without the UART bridge)")
    args = ap.parse_args(argv)

    from hwflow.backends.rtl import generate_rtl
    from hwflow.boards import load_board
    from hwflow.errors import ToolFailed, ToolTimeout
    from hwflow.synth import build_bitstream, synthesize
    from hwflow.tools import Nextpnr, Yosys

    board = load_board(args.board)
    run = args.out / "run"
    t_all = time.time()
    t0 = time.time()
    rtl_json = generate_rtl(args.model, run)
    rtl_seconds = time.time() - t0
    rtl = read_json(rtl_json)

    core = None
    if args.core_synth:
        t0 = time.time()
        core = synthesize(run, target=board.family)
        core["wall_seconds"] = round(time.time() - t0, 2)

    # the board top (UART bridge + core) through Yosys and the fit check; the JSON is written
    # after each step so that a place and route cut short still leaves the synthesis numbers
    t0 = time.time()
    board_synth = synthesize(run, board=board)
    synth_seconds = time.time() - t0
    partial = {"benchmark": "bench_ecp5", "model": args.model.name, "board": board.name,
               "status": "place and route running", "rtl_seconds": round(rtl_seconds, 2),
               "board_top_synth": {"resources": board_synth["resources"], "utilization": board_synth["utilization"],
                                   "yosys_seconds": board_synth["yosys_seconds"],
                                   "wall_seconds": round(synth_seconds, 2)}}
    write_json(args.out / "bench_ecp5.json", partial)

    # every placer/router progress line with its time: how far place and route got, also
    # when it is stopped at --pnr-timeout or fails
    trace: list[dict] = []

    def log_progress(line: str) -> None:
        trace.append({"t_s": round(time.time() - t0, 1), "line": line})
        print(f"[{time.time() - t0:8.1f} s] {line}", flush=True)

    t0 = time.time()
    try:
        bit = build_bitstream(run, board, seed=args.seed, router=args.router, progress=log_progress,   # reuses the synthesis above
                              pnr_timeout=None if args.pnr_timeout is None else args.pnr_timeout * 60)
    except ToolFailed as e:
        partial.update(status="stopped" if isinstance(e, ToolTimeout) else "failed", pnr={
            "router": args.router, "seed": args.seed, "error": str(e).splitlines()[0],
            "seconds": round(time.time() - t0, 1), "timeout_minutes": args.pnr_timeout, "progress": trace,
            "tool": Nextpnr(board.family).version(), "log": str(run / "fpga" / board.name / "nextpnr.log")})
        write_json(args.out / "bench_ecp5.json", partial)
        print(f"place and route {partial['status']}: {partial['pnr']['error']}; wrote {args.out / 'bench_ecp5.json'}")
        return partial
    bitstream_seconds = time.time() - t0

    result = {
        "benchmark": "bench_ecp5",
        "model": str(args.model.name),
        "board": board.name, "part": board.part,
        "rtl": {"top": rtl["top"], "latency_cycles": rtl.get("latency_cycles"), "ii": rtl.get("ii"),
                "input_bits": rtl["input"]["tdata_width"], "output_bits": rtl["output"]["tdata_width"],
                "seconds": round(rtl_seconds, 2)},
        "status": "complete",
        "core_synth": None if core is None else {
            "resources": core["resources"], "cells": core["cells"], "yosys_seconds": core["yosys_seconds"],
            "wall_seconds": core["wall_seconds"]},
        "board_top_synth": partial["board_top_synth"],
        "pnr": {"fmax_mhz": bit["fmax_min_mhz"], "clock_constraint_mhz": bit["clock_constraint_mhz"],
                "timing_met": bit["timing_met"], "utilization": bit["utilization"],
                "router": args.router, "seed": args.seed, "nextpnr_seconds": bit["pnr_seconds"],
                "progress": trace},
        "bitstream": {"file": bit["bitstream"], "bytes": bit["bitstream_bytes"], "sha256": bit["bitstream_sha256"],
                      "wall_seconds_pnr_pack": round(bitstream_seconds, 2)},
        "total_seconds": round(time.time() - t_all, 2),
        "tools": {"yosys": Yosys().version(), "nextpnr-ecp5": Nextpnr("ecp5").version()},
        "host": {"python": platform.python_version(), "machine": platform.machine(),
                 "note": "2 shared CPU cores; YoWASP (WebAssembly) nextpnr is single-threaded"},
    }
    out = write_json(args.out / "bench_ecp5.json", result)
    print(json.dumps({k: result[k] for k in ("model", "board", "board_top_synth", "pnr", "total_seconds")}, indent=1,
                     default=str)[:3000])
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
