"""The streaming design a model would get on a board, before anything is built: the folding
the search picks, cycles per layer, II, latency and the resource model's estimate per layer
(what ``hwflow inspect MODEL --board NAME`` prints). No Verilog is written."""

from __future__ import annotations

from pathlib import Path

from hwflow.backends.rtl.streaming.folding import (
    design_resources,
    exact_timing,
    folding_chooser,
    layer_cycles,
    logic_cells,
    total,
)
from hwflow.backends.rtl.streaming.layers import extract_layers


def plan_streaming(model_path: str | Path, board, throughput: float | None = None,
                   clock_mhz: float | None = None) -> dict:
    """Folding, timing and estimated resources for ``board`` (a name or Board) at ``throughput``
    inferences/s; raises ``FitError`` as ``hwflow rtl --board`` would."""
    from hwflow.backends.rtl.model_io import input_format, prepare_model
    from hwflow.boards import load_board

    b = load_board(board) if isinstance(board, (str, Path)) else board
    model, _types, _stripped = prepare_model(model_path)
    in_fmt = input_format(model)
    layers = extract_layers(model, in_fmt)
    folds, choice = folding_chooser(b, throughput, clock_mhz, in_fmt=in_fmt)(layers)
    nbuf = int(choice.get("input_buffers", 1))
    ii, latency = exact_timing(layers, folds, nbuf, in_fmt.width)
    family = b.family  # folding_chooser has refused a family without a resource model
    res = design_resources(layers, folds, in_fmt.width, family, nbuf)
    tot = total(res)
    clock_hz = clock_mhz * 1e6 if clock_mhz else b.clock.frequency_hz
    cap = b.capacity
    rows = [{"node": ly.name, "kind": "conv" if ly.conv is not None else "dense", "inputs": ly.mw, "outputs": ly.mh,
             **({"conv": ly.conv.to_json()} if ly.conv is not None else {}),
             **({"pool": ly.pool.to_json()} if ly.pool is not None else {}),
             "pe": f.pe, "simd": f.simd,
             "cycles": layer_cycles(ly, f), "estimate": {k: round(v, 1) for k, v in r.items()}}
            for ly, f, r in zip(layers, folds, res)]
    return {"board": b.name, "device": b.device, "family": b.family, "clock_hz": clock_hz,
            "throughput_target": throughput, "input_buffers": nbuf, "layers": rows, "ii": ii,
            "latency_cycles": latency, "inferences_per_s": round(clock_hz / ii, 1),
            "estimate_total": tot, "estimate_logic_cells": round(logic_cells(tot, family), 1),
            "capacity": {"lut": cap.lut, "ff": cap.ff, "bram": cap.bram, "dsp": cap.dsp},
            "note": "resources are the streaming resource model's estimate (docs/streaming.md), not synthesis"}
