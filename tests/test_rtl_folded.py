"""The folded (II > 1) RTL architecture for conv layers (hwflow/backends/rtl/folded.py):
segmenting, schedule, and bit-exact co-simulation against the reference."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.errors import ConfigError, UnsupportedOp
from _rtl_util import QDOM
from _ir_models import GraphBuilder


def small_cnn(path, seed: int = 0):
    """x[1,2,5,4] -> conv 3x3 same (+bias, per-channel x0.5, ReLU, 4-bit) -> conv 2x3 with
    asymmetric padding (narrower output than input: dropped columns) -> bipolar ->
    maxpool 2x2 -> 1x1 conv (the network ends on a folded conv).
    Non-square map and kernel, so rows and columns cannot be mixed up unnoticed."""
    b = GraphBuilder(seed)
    x = b.quant("x", 2.0**-3, 6)
    h = b.node("Conv", [x, b.qweight((3, 2, 3, 3), bits=4, frac=2), b.qweight((3,), bits=4, frac=2)],
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = b.node("Mul", [h, b.const(np.full((1, 3, 1, 1), 0.5))])
    h = b.quant(b.node("Relu", [h]), 2.0**-2, 4, signed=0)
    h = b.node("Conv", [h, b.qweight((4, 3, 2, 3), bits=3, frac=1)], kernel_shape=[2, 3], pads=[0, 1, 0, 0])
    h = b.node("BipolarQuant", [h, b.const(1.0)], QDOM)
    h = b.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    y = b.node("Conv", [h, b.qweight((2, 4, 1, 1), bits=2, frac=0)], kernel_shape=[1, 1])
    m = b.model("x", [1, 2, 5, 4], y)
    m.save(str(path))
    return path


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    return small_cnn(tmp_path_factory.mktemp("folded") / "cnn.onnx")


@pytest.fixture(scope="module")
def folded_run(cnn, tmp_path_factory):
    run = tmp_path_factory.mktemp("folded_run")
    generate_rtl(cnn, run, architecture="folded")
    return run


def test_rtl_json_describes_the_schedule(folded_run):
    r = read_json(folded_run / "rtl.json")
    assert r["status"] == "complete" and r["lint"]["warnings"] == 0
    p = r["pipeline"]
    assert p["architecture"] == "folded"
    layers = p["folded_layers"]
    assert [tuple(x["out_shape"]) for x in layers] == [(3, 5, 4), (4, 4, 3), (2, 2, 1)]
    # the per-pixel ops after each conv are part of its kernel
    assert layers[0]["ops"] == ["Conv", "Mul", "Relu", "Quant"] and layers[1]["ops"] == ["Conv", "BipolarQuant"]
    # steps: every column of every output row (5x4, 4x4, 2x1)
    assert [x["steps"] for x in layers] == [20, 16, 2]
    # one image in flight: II = latency, longer than the sum of the steps
    assert r["ii"] == r["latency_cycles"] > sum(x["steps"] for x in layers)
    assert r["output"]["shape"] == [1, 2, 2, 1]


def test_folded_cosimulation_is_bit_exact_and_equals_parallel(cnn, folded_run, tmp_path):
    from hwflow.sim import simulate

    s = simulate(folded_run, samples=300, seed=3, save_outputs=tmp_path / "folded.npy")
    assert s["passed"] and s["mismatches"] == 0 and s["ii_as_declared"]
    assert s["latency_measured"] == [s["latency_cycles"]]
    # the fully parallel design of the same model gives the same words
    par = tmp_path / "par"
    r = read_json(generate_rtl(cnn, par, architecture="parallel"))
    assert r["ii"] == 1 and r["pipeline"]["architecture"] == "parallel"
    s2 = simulate(par, samples=300, seed=3, save_outputs=tmp_path / "par.npy")
    assert s2["passed"]
    assert np.array_equal(np.load(tmp_path / "folded.npy"), np.load(tmp_path / "par.npy"))


def test_auto_keeps_small_convs_parallel(cnn, tmp_path):
    # 3 small convs (< AUTO_FOLD_MACS weight applications each): II = 1 as before
    r = read_json(generate_rtl(cnn, tmp_path / "run", lint=False))
    assert r["pipeline"]["architecture"] == "parallel" and r["ii"] == 1


def test_auto_folds_a_large_conv(tmp_path):
    from hwflow.backends.rtl.folded import AUTO_FOLD_MACS, choose_folding
    from hwflow.backends.rtl.model_io import prepare_model

    b = GraphBuilder(1)
    x = b.quant("x", 2.0**-3, 6)
    h = b.node("Conv", [x, b.qweight((16, 8, 3, 3), bits=2, frac=0)], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    h = b.quant(h, 1.0, 4)
    y = b.node("Conv", [h, b.qweight((2, 16, 1, 1), bits=2, frac=0)], kernel_shape=[1, 1])
    p = tmp_path / "big.onnx"
    b.model("x", [1, 8, 10, 10], y).save(str(p))
    m, _, _ = prepare_model(p)
    assert 10 * 10 * 8 * 9 * 16 > AUTO_FOLD_MACS
    # once one conv is too big to unroll, the small ones fold too (one image in flight anyway)
    assert len(choose_folding(m, "auto")) == 2
    assert choose_folding(m, "parallel") == set()


def test_strided_conv_cannot_be_forced_folded(tmp_path):
    b = GraphBuilder(2)
    x = b.quant("x", 2.0**-3, 6)
    y = b.node("Conv", [x, b.qweight((3, 2, 3, 3), bits=4, frac=2)], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
               strides=[2, 2])
    p = tmp_path / "s2.onnx"
    b.model("x", [1, 2, 6, 6], y).save(str(p))
    with pytest.raises(UnsupportedOp, match="stride") as e:
        generate_rtl(p, tmp_path / "run", architecture="folded", lint=False)
    assert e.value.node  # the offending node is named
    assert read_json(tmp_path / "run" / "rtl.json")["status"] == "failed"


def test_unknown_architecture(cnn, tmp_path):
    with pytest.raises(ConfigError, match="architecture"):
        generate_rtl(cnn, tmp_path / "run", architecture="systolic", lint=False)
