"""Unit tests of the streaming architecture's hand-written primitives, simulated with the
bulk Verilator harness (random gaps and back-pressure after a full-rate burst):

- matrix-vector units (hwflow_mvu + hwflow_mvu_tail) on small random layers at several
  PE x SIMD foldings, both tail kinds, against the integer layer model (numpy);
- the FIFO on its own: every word out, in order, one per cycle at full rate;
- the integer layer model itself against hand-computed rounding cases.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwflow.backends.rtl.design import load_design
from hwflow.backends.rtl.streaming.emit import PRIMITIVES_DIR, build_layers_hw, write_streaming
from hwflow.backends.rtl.streaming.layers import DenseLayer, Tail, _round_shift, format_bits, run_layers
from hwflow.backends.rtl.streaming.timing import Fold, schedule
from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.sim import bulk


def _port(n: int, width: int, signed: bool) -> dict:
    return {"elements": n, "element_width": width, "signed": signed, "frac": 0, "scale": 1.0, "shape": [1, n],
            "tdata_width": n * width}


def _simulate(run, top, files, ii, latency, in_port, out_port, words_in_q, seed=0):
    """Bulk-simulate a stream design; returns (output integers, harness results)."""
    rec = {"top": top, "files": [str(f.relative_to(run)) for f in files], "ii": ii, "latency_cycles": latency,
           "input": in_port, "output": out_port, "model": None}
    (run / "rtl.json").write_text(json.dumps(rec))
    d = load_design(run)
    exe, _ = bulk.build(d)
    raw, res = bulk.BulkRun(exe, d, bulk.pack_bytes(d.input, words_in_q), run / "work", seed=seed,
                            valid_prob=0.6, ready_prob=0.5).wait()
    return bulk.unpack_bytes(d.output, raw), res


def _random_layer(rng, name, mw, mh, in_lo, in_hi, kind):
    w = rng.integers(-8, 8, size=(mw, mh))
    pos, neg = np.maximum(w, 0), np.minimum(w, 0)
    acc_hi = int(np.max(np.maximum(pos * in_hi, 0).sum(0) + np.maximum(neg * in_lo, 0).sum(0)))
    acc_lo = int(np.min(np.minimum(pos * in_lo, 0).sum(0) + np.minimum(neg * in_hi, 0).sum(0)))
    if kind == "relu_round":
        tail = Tail("affine", sa=1, bias=rng.integers(-40, 40, size=mh), relu=True, rshift=3, rounding="HALF_EVEN",
                    clip=(0, 15))
    elif kind == "signed_halfup":
        tail = Tail("affine", sa=0, bias=rng.integers(-40, 40, size=mh), relu=False, rshift=2, rounding="HALF_UP",
                    clip=(-8, 7))
    elif kind == "thresholds":
        thr = np.sort(rng.integers(acc_lo - 5, acc_hi + 5, size=(mh, 3)), axis=1)
        tail = Tail("thresholds", thresholds=np.clip(thr, acc_lo, acc_hi + 1), out_mul=2, out_add=-3)
    else:  # plain sum: no rounding, no clip
        tail = Tail("affine", sa=0, bias=rng.integers(-40, 40, size=mh), relu=False, rshift=0, rounding="FLOOR")
    ly = DenseLayer(name=name, ops=["MatMul"], weights=w, in_lo=in_lo, in_hi=in_hi, in_frac=0, w_frac=0, tail=tail,
                    acc_lo=acc_lo, acc_hi=acc_hi)
    from hwflow.backends.rtl.streaming.layers import _finish_tail

    _finish_tail(ly)
    return ly


def _chain(seed, kinds, shapes):
    rng = np.random.default_rng(seed)
    layers, lo, hi = [], -32, 31
    for k, (kind, (mw, mh)) in enumerate(zip(kinds, shapes)):
        ly = _random_layer(rng, f"layer{k}", mw, mh, lo, hi, kind)
        layers.append(ly)
        lo, hi = ly.out_lo, ly.out_hi
    return layers


CASES = {
    # PE x SIMD per layer, seed, input buffers: unfolded, fully folded, mixed (single and
    # double buffered); chunk widths differ between layers
    "mixed_double": ([Fold(2, 3), Fold(1, 4), Fold(3, 2)], 1, 2),
    "mixed": ([Fold(2, 3), Fold(1, 4), Fold(3, 2)], 1, 1),
    "folded": ([Fold(1, 1), Fold(1, 1), Fold(1, 1)], 2, 1),
    "folded_double": ([Fold(1, 1), Fold(1, 1), Fold(1, 1)], 2, 2),
    "unfolded": ([Fold(8, 6), Fold(4, 8), Fold(6, 4)], 3, 1),
}
# one Verilator build each (~10-30 s here): the mixed case in the default run
SLOW = pytest.mark.slow


@pytest.mark.parametrize("case", ["mixed_double"] + [pytest.param(c, marks=SLOW) for c in
                                                     ("mixed", "folded", "folded_double", "unfolded")])
def test_mvu_chain_matches_integer_model(tmp_path, case):
    folds, seed, nbuf = CASES[case]
    layers = _chain(seed, ["relu_round", "thresholds", "signed_halfup"], [(6, 8), (8, 4), (4, 6)])
    in_fmt = ElementFormat(signed=True, width=6, frac=0, int_min=-32, int_max=31)
    hws = build_layers_hw(layers, folds, in_fmt, nbuf)
    ii, lat = schedule([(ly.mw, ly.mh) for ly in layers], folds, nbuf)
    files = write_streaming(tmp_path / "verilog", "mvu_chain", hws, ii, lat, 6, in_fmt)
    rng = np.random.default_rng(seed + 10)
    x = np.concatenate([np.full((1, 6), -32), np.full((1, 6), 31), np.zeros((1, 6), dtype=np.int64),
                        rng.integers(-32, 32, size=(600, 6))])
    expected = run_layers(layers, x)
    signed, width = format_bits(layers[-1].out_lo, layers[-1].out_hi)
    got, res = _simulate(tmp_path, "mvu_chain", files, ii, lat, _port(6, 6, True), _port(6, width, signed), x, seed)
    assert res["latency_measured"] == [lat] and res["burst_accept_gaps"] == [ii], res
    assert got.shape == expected.shape
    bad = np.nonzero(np.any(got != expected, axis=1))[0]
    assert bad.size == 0, f"{bad.size} samples differ; first {bad[0]}: got {got[bad[0]]}, expected {expected[bad[0]]}"


def test_mvu_catches_a_wrong_weight(tmp_path):
    """The comparison is sharp: one weight bit flipped in the generated ROM shows up."""
    layers = _chain(4, ["plain"], [(4, 3)])
    folds = [Fold(3, 2)]
    in_fmt = ElementFormat(signed=True, width=6, frac=0, int_min=-32, int_max=31)
    hws = build_layers_hw(layers, folds, in_fmt)
    ii, lat = schedule([(4, 3)], folds)
    files = write_streaming(tmp_path / "verilog", "mvu_bad", hws, ii, lat, 4, in_fmt)
    rom = tmp_path / "verilog" / "mvu_bad_l0_w.v"
    word = hws[0].w_words[0]
    text = rom.read_text()
    hexd = (hws[0].w_word_bits + 3) // 4
    old = f"mem[0] = {hws[0].w_word_bits}'h{word:0{hexd}x};"
    assert old in text
    rom.write_text(text.replace(old, f"mem[0] = {hws[0].w_word_bits}'h{word ^ 1:0{hexd}x};"))
    x = np.random.default_rng(0).integers(-32, 32, size=(200, 4))
    expected = run_layers(layers, x)
    signed, width = format_bits(layers[0].out_lo, layers[0].out_hi)
    got, _ = _simulate(tmp_path, "mvu_bad", files, ii, lat, _port(4, 6, True), _port(3, width, signed), x)
    # weight 0 of output 0 is off by one: output 0 differs exactly where x[0] != 0
    assert np.array_equal(got[:, 1:], expected[:, 1:])
    assert np.array_equal(got[:, 0] != expected[:, 0], x[:, 0] != 0)


def test_mvu_rounding_modes(tmp_path):
    """Every QONNX rounding mode in the Verilog tail: a chain of one layer per mode."""
    rng = np.random.default_rng(7)
    modes = ["FLOOR", "CEIL", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "TO_ZERO", "UP"]
    layers, lo, hi = [], -32, 31
    for k, mode in enumerate(modes):
        ly = _random_layer(rng, f"l{k}", 4, 4, lo, hi, "plain")
        ly.tail = Tail("affine", sa=0, bias=rng.integers(-20, 20, size=4), relu=False, rshift=1 + k % 3,
                       rounding=mode, clip=(-16, 15))
        from hwflow.backends.rtl.streaming.layers import _finish_tail

        _finish_tail(ly)
        layers.append(ly)
        lo, hi = ly.out_lo, ly.out_hi
    folds = [Fold(2, 2) for _ in modes]
    in_fmt = ElementFormat(signed=True, width=6, frac=0, int_min=-32, int_max=31)
    hws = build_layers_hw(layers, folds, in_fmt)
    ii, lat = schedule([(4, 4)] * len(modes), folds)
    files = write_streaming(tmp_path / "verilog", "mvu_round", hws, ii, lat, 4, in_fmt)
    x = rng.integers(-32, 32, size=(1500, 4))
    expected = run_layers(layers, x)
    signed, width = format_bits(layers[-1].out_lo, layers[-1].out_hi)
    got, res = _simulate(tmp_path, "mvu_round", files, ii, lat, _port(4, 6, True), _port(4, width, signed), x)
    assert res["latency_measured"] == [lat] and res["burst_accept_gaps"] == [ii], res
    np.testing.assert_array_equal(got, expected)


FIFO_TOP = """`timescale 1ns / 1ps
module fifo_top (
    input  wire clk,
    input  wire rst,
    input  wire s_axis_tvalid,
    output wire s_axis_tready,
    input  wire [11:0] s_axis_tdata,
    output wire m_axis_tvalid,
    input  wire m_axis_tready,
    output wire [11:0] m_axis_tdata
);
    wire v, r;
    wire [11:0] d;
    hwflow_fifo #(.W(12), .DEPTH(DEPTH_A)) u_a (.clk(clk), .rst(rst), .s_valid(s_axis_tvalid),
        .s_ready(s_axis_tready), .s_data(s_axis_tdata), .m_valid(v), .m_ready(r), .m_data(d));
    hwflow_fifo #(.W(12), .DEPTH(DEPTH_B)) u_b (.clk(clk), .rst(rst), .s_valid(v),
        .s_ready(r), .s_data(d), .m_valid(m_axis_tvalid), .m_ready(m_axis_tready),
        .m_data(m_axis_tdata));
endmodule
"""


@pytest.mark.parametrize("depths,ii", [((2, 3), 1), pytest.param((1, 1), 2, marks=SLOW)])
def test_fifo_order_and_rate(tmp_path, depths, ii):
    """Two FIFOs in series: every word out, in order, through random gaps and back-pressure;
    one word per cycle at full rate when deeper than 1 (a depth-1 FIFO is full after each
    word: every other cycle), latency one cycle per FIFO."""
    vdir = tmp_path / "verilog"
    vdir.mkdir()
    src = vdir / "hwflow_fifo.v"
    src.write_text((PRIMITIVES_DIR / "hwflow_fifo.v").read_text())
    top = vdir / "fifo_top.v"
    top.write_text(FIFO_TOP.replace("DEPTH_A", str(depths[0])).replace("DEPTH_B", str(depths[1])))
    x = np.random.default_rng(depths[0]).integers(0, 1 << 12, size=(3000, 1))
    got, res = _simulate(tmp_path, "fifo_top", [src, top], ii, 2, _port(1, 12, False), _port(1, 12, False), x,
                         seed=depths[1])
    assert res["latency_measured"] == [2] and res["burst_accept_gaps"] == [ii], res
    np.testing.assert_array_equal(got, x)


@pytest.mark.parametrize("mode", ["ROUND", "HALF_EVEN", "HALF_UP", "HALF_DOWN", "FLOOR", "CEIL", "UP", "DOWN"])
def test_round_shift_matches_qonnx(mode):
    from qonnx.custom_op.general.quant import resolve_rounding_mode

    s = np.arange(-70, 71, dtype=np.int64)
    for r in (1, 2, 3):
        got = _round_shift(s, r, mode)
        assert got.tolist() == resolve_rounding_mode(mode)(s / 2.0**r).astype(int).tolist(), (mode, r)


def test_round_shift_half_even_by_hand():
    # s / 4 = -2.5 -2 -1.5 -0.5 0 .25 .75 1.5 2.5: ties to the even neighbour
    s = np.array([-10, -8, -6, -2, 0, 1, 3, 6, 10], dtype=np.int64)
    assert _round_shift(s, 2, "HALF_EVEN").tolist() == [-2, -2, -2, 0, 0, 0, 1, 2, 2]
