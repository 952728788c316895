"""Streaming convolutions: the sliding-window unit against a hand-written im2col, the
cycle model of the unit chain against the closed-form MLP timing, and a small conv net
(same padding, stride 2, max pool, flatten into a Dense layer) end to end at 10,000
samples (bulk Verilator co-simulation, random gaps and back-pressure after the burst)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _ir_models import GraphBuilder

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.backends.rtl.design import load_design
from hwflow.backends.rtl.streaming.emit import PRIMITIVES_DIR, build_layers_hw
from hwflow.backends.rtl.streaming.layers import ConvGeometry, DenseLayer, Tail, _finish_tail, im2col
from hwflow.backends.rtl.streaming.pipeline import Unit, simulate_one, units
from hwflow.backends.rtl.streaming.timing import Fold, schedule
from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import FitError
from hwflow.sim import bulk, simulate


def naive_windows(maps: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """maps [n, c, h, w] (NCHW) -> windows [n, oh*ow, kh*kw*c] in the order (ky, kx, c),
    zero outside the map: loops straight from the definition of a padded strided window."""
    n = maps.shape[0]
    pt, pl = g.pads[0], g.pads[1]
    out = np.zeros((n, g.oh * g.ow, g.kh * g.kw * g.c), dtype=np.int64)
    for oy in range(g.oh):
        for ox in range(g.ow):
            for ky in range(g.kh):
                for kx in range(g.kw):
                    y, x = oy * g.sh + ky - pt, ox * g.sw + kx - pl
                    if 0 <= y < g.h and 0 <= x < g.w:
                        for c in range(g.c):
                            out[:, oy * g.ow + ox, (ky * g.kw + kx) * g.c + c] = maps[:, c, y, x]
    return out


SWU_CASES = {
    # c, h, w, kh, kw, sh, sw, pads (top, left, bottom, right), element bits (signed)
    "asym_pad_stride": (2, 5, 6, 3, 2, 2, 1, (1, 0, 2, 1), 3),
    "same_3x3": (3, 4, 4, 3, 3, 1, 1, (1, 1, 1, 1), 4),
    "valid_1x3_stride3": (1, 3, 7, 1, 3, 1, 3, (0, 0, 0, 0), 5),
}


def _swu_top(name: str, g: ConvGeometry, ew: int, ii: int) -> str:
    pix, win = g.c * ew, g.kh * g.kw * g.c * ew
    n = g.h * g.w
    inp = "\n".join(f"  assign pix[{(i * g.c + c) * ew} +: {ew}] = s_axis_tdata[{(c * n + i) * ew} +: {ew}];"
                    for i in range(n) for c in range(g.c))
    return f"""`timescale 1ns / 1ps
module {name} (input wire clk, input wire rst, input wire s_axis_tvalid, output wire s_axis_tready,
  input wire [{n * pix - 1}:0] s_axis_tdata, output wire m_axis_tvalid, input wire m_axis_tready,
  output wire [{g.oh * g.ow * win - 1}:0] m_axis_tdata);
  wire [{n * pix - 1}:0] pix;
{inp}
  wire t_valid, t_ready, p_valid, p_ready, w_valid, w_ready;
  wire [{pix - 1}:0] p_data;
  wire [{win - 1}:0] w_data;
  hwflow_throttle #(.II({ii})) u_t (.clk(clk), .rst(rst), .s_valid(s_axis_tvalid), .s_ready(s_axis_tready),
    .m_valid(t_valid), .m_ready(t_ready));
  hwflow_scatter #(.W({pix}), .N({n})) u_s (.clk(clk), .rst(rst), .s_valid(t_valid), .s_ready(t_ready),
    .s_data(pix), .m_valid(p_valid), .m_ready(p_ready), .m_data(p_data));
  hwflow_swu #(.C({g.c}), .EW({ew}), .H({g.h}), .W({g.w}), .KH({g.kh}), .KW({g.kw}), .SH({g.sh}), .SW({g.sw}),
    .PT({g.pads[0]}), .PL({g.pads[1]}), .PB({g.pads[2]}), .PR({g.pads[3]}), .ZP(0)) u_w (.clk(clk), .rst(rst),
    .s_valid(p_valid), .s_ready(p_ready), .s_data(p_data), .m_valid(w_valid), .m_ready(w_ready), .m_data(w_data));
  hwflow_gather #(.W({win}), .N({g.oh * g.ow})) u_g (.clk(clk), .rst(rst), .s_valid(w_valid), .s_ready(w_ready),
    .s_data(w_data), .m_valid(m_axis_tvalid), .m_ready(m_axis_tready), .m_data(m_axis_tdata));
endmodule
"""


def _port(n: int, width: int, signed: bool) -> dict:
    return {"elements": n, "element_width": width, "signed": signed, "frac": 0, "scale": 1.0, "shape": [1, n],
            "tdata_width": n * width}


@pytest.mark.parametrize("case", ["asym_pad_stride"] + [pytest.param(c, marks=pytest.mark.slow)
                                                         for c in ("same_3x3", "valid_1x3_stride3")])
def test_sliding_window_matches_im2col(tmp_path, case):
    c, h, w, kh, kw, sh, sw, pads, ew = SWU_CASES[case]
    g = ConvGeometry(c=c, h=h, w=w, kh=kh, kw=kw, sh=sh, sw=sw, pads=pads)
    chain = [Unit("throttle", {"II": 1}), Unit("scatter", {"N": h * w}),
             Unit("swu", {"C": c, "H": h, "W": w, "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PT": pads[0],
                          "PL": pads[1], "PB": pads[2], "PR": pads[3]}),
             Unit("gather", {"N": g.oh * g.ow})]
    lat, ii, _ = simulate_one(chain)
    vdir = tmp_path / "verilog"
    vdir.mkdir()
    files = []
    for p in ("hwflow_throttle.v", "hwflow_scatter.v", "hwflow_swu.v", "hwflow_gather.v"):
        (vdir / p).write_text((PRIMITIVES_DIR / p).read_text())
        files.append(vdir / p)
    (vdir / "swu_top.v").write_text(_swu_top("swu_top", g, ew, ii))
    files.append(vdir / "swu_top.v")
    rng = np.random.default_rng(7)
    lo, hi = -(1 << (ew - 1)), (1 << (ew - 1)) - 1
    maps = np.concatenate([np.full((1, c, h, w), lo), np.full((1, c, h, w), hi),
                           rng.integers(lo, hi + 1, size=(400, c, h, w))])
    expected = naive_windows(maps, g).reshape(len(maps), -1)
    # the numpy model the integer layer check uses agrees with the definition too
    pix = maps.transpose(0, 2, 3, 1).reshape(len(maps), -1)
    assert np.array_equal(im2col(pix, g).reshape(len(maps), -1), expected)
    rec = {"top": "swu_top", "files": [str(f.relative_to(tmp_path)) for f in files], "ii": ii,
           "latency_cycles": lat, "input": _port(c * h * w, ew, True),
           "output": _port(expected.shape[1], ew, True), "model": None}
    (tmp_path / "rtl.json").write_text(json.dumps(rec))
    d = load_design(tmp_path)
    exe, _ = bulk.build(d)
    raw, res = bulk.BulkRun(exe, d, bulk.pack_bytes(d.input, maps.reshape(len(maps), -1)), tmp_path / "work",
                            seed=3, valid_prob=0.6, ready_prob=0.5).wait()
    got = bulk.unpack_bytes(d.output, raw)
    assert res["latency_measured"] == [lat] and res["burst_accept_gaps"] == [ii], res
    bad = np.nonzero(np.any(got != expected, axis=1))[0]
    assert bad.size == 0, f"{bad.size} maps differ; first {bad[0]}: got {got[bad[0]]}, expected {expected[bad[0]]}"


def test_naive_windows_sees_a_wrong_window():
    """The reference the unit is compared with is sharp: a window shifted by one column
    (what an off-by-one line buffer would give) differs."""
    g = ConvGeometry(c=1, h=4, w=5, kh=3, kw=3, sh=1, sw=1, pads=(1, 1, 1, 1))
    maps = np.arange(20).reshape(1, 1, 4, 5) + 1
    good = naive_windows(maps, g)
    shifted = naive_windows(np.roll(maps, 1, axis=3), g)
    assert not np.array_equal(good, shifted)
    assert good[0, 0].tolist() == [0, 0, 0, 0, 1, 2, 0, 6, 7]  # top-left window: padding then pixels


def _mlp_layers(shapes):
    rng = np.random.default_rng(0)
    out = []
    for k, (mw, mh) in enumerate(shapes):
        w = rng.integers(-4, 4, size=(mw, mh))
        ly = DenseLayer(name=f"l{k}", ops=["MatMul"], weights=w, in_lo=-8, in_hi=7, in_frac=0, w_frac=0,
                        tail=Tail("affine", bias=np.zeros(mh, dtype=np.int64), rshift=2, rounding="FLOOR",
                                  clip=(-8, 7)), acc_lo=-200, acc_hi=200)
        _finish_tail(ly)
        out.append(ly)
    return out


@pytest.mark.unit
@pytest.mark.parametrize("folds", [[Fold(1, 1), Fold(1, 1)], [Fold(2, 3), Fold(4, 2)], [Fold(8, 6), Fold(1, 8)]])
def test_cycle_model_matches_closed_form_mlp_timing(folds):
    """pipeline.simulate_one steps the MVU/FIFO/gather control; on an MLP its latency is the
    closed form the RTL was proven against (timing.schedule), and its II bound is no
    shorter than the closed form's."""
    layers = _mlp_layers([(6, 8), (8, 4)])
    in_fmt = ElementFormat(signed=True, width=4, frac=0, int_min=-8, int_max=7)
    hws = build_layers_hw(layers, folds, in_fmt)
    lat, ii, _ = simulate_one(units(hws))
    ii_cf, lat_cf = schedule([(6, 8), (8, 4)], folds)
    assert lat == lat_cf
    assert ii >= ii_cf


def tiny_conv_net(path):
    """1x6x6 signed input -> Conv 3x3 same (bias) -> ReLU -> 4-bit quant -> MaxPool 2 ->
    Conv 3x3 stride 2 pad 1 (2-bit weights: the select path) -> per-channel Add -> signed 4-bit quant -> Flatten -> MatMul."""
    b = GraphBuilder(3)
    x = b.quant("x", 2.0**-3, 5)
    bias = b.const(b.rng.integers(-4, 4, size=3) * 2.0**-3)
    h = b.node("Conv", [x, b.qweight((3, 1, 3, 3), bits=4, frac=2), bias], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = b.quant(b.node("Relu", [h]), 2.0**-2, 4, signed=0)
    h = b.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.node("Conv", [h, b.qweight((4, 3, 3, 3), bits=2, frac=1)], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
               strides=[2, 2])
    h = b.node("Add", [h, b.const((b.rng.integers(-3, 3, size=(1, 4, 1, 1)) * 0.5))])
    h = b.quant(h, 2.0**-1, 4, signed=1)
    h = b.node("Flatten", [h], axis=1)
    y = b.node("MatMul", [h, b.qweight((16, 5), bits=4, frac=2)])
    b.model("x", [1, 1, 6, 6], y).save(str(path))
    return path


def test_tiny_conv_net_streaming_10k_bit_exact(tmp_path):
    run = tmp_path / "run"
    generate_rtl(tiny_conv_net(tmp_path / "conv.onnx"), run, architecture="streaming", folding="3x3,2x9,5x4")
    rec = read_json(run / "rtl.json")
    lay = rec["pipeline"]["layers"]
    assert [x.get("conv", {}).get("stride") for x in lay] == [[1, 1], [2, 2], None]
    assert lay[0]["pool"]["output"] == [3, 3] and lay[2]["inputs"] == 16
    assert lay[0]["folding"]["cycles"] == 36 * 1 * 3  # output pixels x NF x SF
    r = simulate(run, samples=10_000, seed=4)
    assert r["samples"] == 10_000 and r["mismatches"] == 0 and r["passed"]
    assert r["latency_measured"] == [rec["latency_cycles"]] and r["ii_as_declared"]
    assert rec["ii"] < rec["latency_cycles"]  # more than one image in flight


def conv_only_net(path):
    """Ends on a feature map (no Dense): the output is rewired from pixel order to NCHW.
    2 x 5 x 4 unsigned input -> Conv 1x3 pads (0, 1, 0, 1) -> signed quant -> MaxPool 2."""
    b = GraphBuilder(5)
    x = b.quant("x", 2.0**-2, 4, signed=0)
    h = b.node("Conv", [x, b.qweight((3, 2, 1, 3), bits=4, frac=2)], kernel_shape=[1, 3], pads=[0, 1, 0, 1])
    h = b.quant(h, 2.0**-2, 5, signed=1)
    y = b.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    b.model("x", [1, 2, 5, 4], y).save(str(path))
    return path


@pytest.mark.slow
def test_conv_net_ending_on_a_map_10k(tmp_path):
    run = tmp_path / "run"
    generate_rtl(conv_only_net(tmp_path / "c.onnx"), run, architecture="streaming", folding="3x2")
    rec = read_json(run / "rtl.json")
    assert rec["output"]["elements"] == 3 * 2 * 2 and rec["pipeline"]["layers"][0]["pool"]["output"] == [2, 2]
    r = simulate(run, samples=10_000, seed=5)
    assert r["samples"] == 10_000 and r["mismatches"] == 0 and r["passed"]
    assert r["latency_measured"] == [rec["latency_cycles"]] and r["ii_as_declared"]


# zoo conv nets (trained a few epochs here), streaming co-simulation at 10,000 samples;
# docs/streaming.md has the fully trained runs with the CLI
ZOO_CASES = {
    # name, framework, epochs, folding (PE x SIMD per layer; one fast enough to simulate)
    "digits_cnn_qkeras": ("digits_cnn", "qkeras", 1, "8x9,16x8,10x16"),
    "digits_cnn_brevitas": ("digits_cnn", "brevitas", 1, "8x9,16x8,10x16"),
    "biper_bnn_qkeras": ("biper_bnn", "qkeras", 2, "8x3,8x96,4x96,1x4"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(ZOO_CASES))
def test_zoo_conv_streaming_10k(tmp_path, case):
    name, framework, epochs, folding = ZOO_CASES[case]
    if framework == "qkeras":
        from hwflow.train.keras import train_keras as train
    else:
        from hwflow.train.torch import train_torch as train
    train(name, tmp_path / "train", epochs=epochs, seed=0)
    run = tmp_path / "run"
    generate_rtl(tmp_path / "train" / "model.onnx", run, architecture="streaming", folding=folding)
    rec = read_json(run / "rtl.json")
    assert sum("conv" in x for x in rec["pipeline"]["layers"]) == (3 if name == "biper_bnn" else 2)
    r = simulate(run, samples=10_000, seed=1)
    assert r["samples"] == 10_000 and r["mismatches"] == 0 and r["passed"]
    assert r["latency_measured"] == [rec["latency_cycles"]] and r["ii_as_declared"]


@pytest.mark.parametrize("max_ii", [400, 150, 90, 50])
def test_conv_folding_search_meets_the_exact_ii(tmp_path, max_ii):
    """With a throughput bound the search returns a folding whose exact II (cycle model)
    meets it, and whose conv layers' cycles are output pixels x NF x SF."""
    from hwflow.backends.rtl.model_io import input_format, prepare_model
    from hwflow.backends.rtl.streaming import folding as fsearch
    from hwflow.backends.rtl.streaming.layers import extract_layers

    model, _, _ = prepare_model(tiny_conv_net(tmp_path / "conv.onnx"))
    in_fmt = input_format(model)
    layers = extract_layers(model, in_fmt)
    cap = {"lut": 10**6, "ff": 10**6, "bram": 10**3, "dsp": 10**3}
    if max_ii == 50:  # the padded 8 x 8 raster of the first window unit alone takes 64 cycles: II 65
        with pytest.raises(FitError, match="II 65"):
            fsearch.choose(layers, fsearch.Budget("ecp5", cap), in_fmt.width, max_ii)
        return
    folds, rec = fsearch.choose(layers, fsearch.Budget("ecp5", cap), in_fmt.width, max_ii)
    ii, lat = fsearch.exact_timing(layers, folds, rec["input_buffers"], in_fmt.width)
    assert (ii, lat) == (rec["ii"], rec["latency_cycles"]) and ii <= max_ii
    g = layers[0].conv
    assert fsearch.layer_cycles(layers[0], folds[0]) == g.oh * g.ow * (3 // folds[0].pe) * (9 // folds[0].simd)
    # a looser bound never costs more
    looser, _ = fsearch.choose(layers, fsearch.Budget("ecp5", cap), in_fmt.width, 2 * max_ii)
    cost = [sum(fsearch.Budget("ecp5", cap).cost(r) for r in fsearch.design_resources(layers, f, in_fmt.width, "ecp5"))
            for f in (folds, looser)]
    assert cost[1] <= cost[0]
