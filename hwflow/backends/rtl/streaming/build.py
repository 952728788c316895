"""Build a streaming design: layers from the cleaned model, folding, Verilog, timing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hwflow.backends.rtl.streaming.emit import build_layers_hw, write_streaming
from hwflow.backends.rtl.streaming.layers import DenseLayer, check_against_reference, extract_layers, format_bits
from hwflow.backends.rtl.streaming.timing import Fold, cycles, schedule
from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import ConfigError


@dataclass
class StreamingDesign:
    files: list[Path]
    ii: int
    latency: int
    layers: list[DenseLayer]
    folds: list[Fold]
    out_fmt: ElementFormat
    record: dict          # rtl.json "pipeline" part
    trace_time_s: float


def parse_folding(text: str, n_layers: int) -> list[Fold]:
    """``"PExSIMD,PExSIMD,..."`` (one per layer, e.g. ``4x2,2x8``) -> folds. A trailing
    ``:2`` (double buffering) is read by :func:`parse_buffers`."""
    text = text.split(":")[0]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != n_layers:
        raise ConfigError(f"folding {text!r}: {len(parts)} entries for {n_layers} layers (PExSIMD each)")
    out = []
    for p in parts:
        try:
            pe, simd = (int(v) for v in p.lower().split("x"))
        except ValueError:
            raise ConfigError(f"folding entry {p!r} is not PExSIMD (two integers)") from None
        out.append(Fold(pe, simd))
    return out


def parse_buffers(text: str) -> int:
    """Input buffers per unit from a folding string: ``...:2`` -> 2, else 1."""
    if ":" not in text:
        return 1
    tail = text.split(":", 1)[1].strip()
    if tail not in ("1", "2"):
        raise ConfigError(f"folding {text!r}: the input buffers after ':' must be 1 or 2")
    return int(tail)


def check_folds(layers: list[DenseLayer], folds: list[Fold]) -> None:
    if len(folds) != len(layers):
        raise ConfigError(f"{len(folds)} foldings for {len(layers)} layers")
    for ly, f in zip(layers, folds):
        if f.pe < 1 or f.simd < 1 or ly.mh % f.pe or ly.mw % f.simd:
            raise ConfigError(f"layer {ly.name} ({ly.mw} inputs x {ly.mh} outputs): PE {f.pe} must divide "
                              f"{ly.mh} and SIMD {f.simd} must divide {ly.mw}")


def output_element_format(layers: list[DenseLayer]) -> ElementFormat:
    last = layers[-1]
    signed, width = format_bits(last.out_lo, last.out_hi)
    return ElementFormat(signed=signed, width=width, frac=last.out_frac, int_min=last.out_lo, int_max=last.out_hi)


def design_timing(layers: list[DenseLayer], folds: list[Fold], nbuf: int, hws=None) -> tuple[int, int]:
    """(II, latency): the closed form of ``timing.schedule`` for MLPs; the cycle model of
    ``pipeline.simulate_one`` when there are convolutions (sliding windows, pooling)."""
    if not any(ly.conv is not None for ly in layers):
        return schedule([(ly.mw, ly.mh) for ly in layers], folds, nbuf)
    from hwflow.backends.rtl.streaming.pipeline import simulate_one, units

    if hws is None:
        raise ValueError("design_timing of a convolutional design needs its LayerHw list")
    latency, ii, _ = simulate_one(units(hws))
    return ii, latency


def build_streaming(model, in_fmt: ElementFormat, vdir: Path, top: str, choose, progress=None) -> StreamingDesign:
    """``choose(layers) -> (folds, choice_record)`` picks the folding (see ``folding.py``)."""
    t0 = time.time()
    layers = extract_layers(model, in_fmt)
    out_fmt = output_element_format(layers)
    check_against_reference(model, layers, in_fmt, out_fmt.frac)
    folds, choice = choose(layers)
    nbuf = int(choice.get("input_buffers", 1))
    check_folds(layers, folds)
    hws = build_layers_hw(layers, folds, in_fmt, nbuf)
    ii, latency = design_timing(layers, folds, nbuf, hws)
    t_trace = time.time() - t0
    g0 = layers[0].conv
    in_elems = g0.c * g0.h * g0.w if g0 is not None else layers[0].mw
    files = write_streaming(vdir, top, hws, ii, latency, in_elems, in_fmt)
    per_layer = []
    for ly, f, hw in zip(layers, folds, hws):
        per_layer.append({
            "node": ly.name, "ops": ly.ops, "inputs": ly.mw, "outputs": ly.mh,
            **({"conv": ly.conv.to_json()} if ly.conv is not None else {}),
            **({"pool": ly.pool.to_json()} if ly.pool is not None else {}),
            "folding": {"pe": f.pe, "simd": f.simd, "cycles": cycles(ly.mw, ly.mh, f) * ly.vectors,
                        "neuron_folds": hw.nf, "synapse_folds": hw.sf,
                        "weight_memory_bits": hw.w_word_bits * len(hw.w_words),
                        "weight_memory": [len(hw.w_words), hw.w_word_bits],
                        "param_memory": [len(hw.p_words), hw.p_word_bits]},
            "input_width": hw.in_w, "weight_width": hw.w_w, "acc_width": hw.acc_w, "output_width": hw.out_w,
            "tail": ly.tail.to_json(),
        })
        if progress:
            progress(f"{ly.name}: {ly.mw}->{ly.mh} PE {f.pe} SIMD {f.simd}, {cycles(ly.mw, ly.mh, f) * ly.vectors} cycles")
    record = {"architecture": "streaming", "input_buffers": nbuf, "layers": per_layer, "folding_choice": choice,
              "register_bits": None}
    return StreamingDesign(files=files, ii=ii, latency=latency, layers=layers, folds=folds, out_fmt=out_fmt,
                           record=record, trace_time_s=t_trace)
