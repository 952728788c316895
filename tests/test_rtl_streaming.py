"""The streaming architecture end to end (QONNX -> Verilog -> bulk co-simulation against
the reference, random gaps and back-pressure) and the folding search."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from _ir_models import GraphBuilder
from _rtl_util import tiny_mlp
from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.backends.rtl.streaming import folding as fsearch
from hwflow.backends.rtl.streaming.layers import DenseLayer, Tail, _finish_tail
from hwflow.backends.rtl.streaming.timing import Fold, schedule
from hwflow.cli import app
from hwflow.errors import ConfigError, FitError, UnsupportedOp
from hwflow.sim import simulate


@pytest.mark.parametrize("folding", ["2x4,3x2", pytest.param("1x1,1x1", marks=pytest.mark.slow),
                                     pytest.param("6x8,3x6", marks=pytest.mark.slow),
                                     pytest.param("1x8,3x1:2", marks=pytest.mark.slow)])
def test_tiny_mlp_streaming_10k_bit_exact(tmp_path, folding):
    run = tmp_path / "run"
    generate_rtl(tiny_mlp(tmp_path / "tiny_mlp.onnx"), run, architecture="streaming", folding=folding)
    rec = read_json(run / "rtl.json")
    assert rec["pipeline"]["architecture"] == "streaming"
    folds = [lay["folding"] for lay in rec["pipeline"]["layers"]]
    assert [f"{f['pe']}x{f['simd']}" for f in folds] == folding.split(":")[0].split(",")
    assert rec["pipeline"]["input_buffers"] == (2 if folding.endswith(":2") else 1)
    assert all(f["cycles"] == (lay["outputs"] // f["pe"]) * (lay["inputs"] // f["simd"])
               for f, lay in zip(folds, rec["pipeline"]["layers"]))
    r = simulate(run, samples=10_000, seed=2)
    assert r["samples"] == 10_000 and r["mismatches"] == 0 and r["passed"]
    assert r["latency_measured"] == [rec["latency_cycles"]] and r["ii_as_declared"]
    assert r["simulated_cycles"] > 10_000 * rec["ii"]  # gaps and back-pressure after the burst


@pytest.mark.slow
def test_bipolar_thresholds_model_streaming(external_dir, tmp_path):
    """BipolarQuant input and output (the threshold tail) on the external BNN layer."""
    run = tmp_path / "run"
    generate_rtl(external_dir / "bnn_model_fc_1layer.onnx", run, architecture="streaming", folding="2x3")
    assert read_json(run / "rtl.json")["pipeline"]["layers"][0]["tail"]["kind"] == "thresholds"
    r = simulate(run, samples=10_000, seed=1)
    assert r["mismatches"] == 0 and r["passed"]


@pytest.mark.slow
def test_tfc_2w2a_streaming_10k(external_dir, tmp_path):
    """Brevitas TFC_2W2A (784-64-64-64-10, MultiThreshold tails with per-channel signs)."""
    run = tmp_path / "run"
    generate_rtl(external_dir / "TFC_2W2A.onnx", run, architecture="streaming", folding="16x28,4x8,4x8,2x8")
    assert [lay["tail"]["kind"] for lay in read_json(run / "rtl.json")["pipeline"]["layers"]][:3] == ["thresholds"] * 3
    r = simulate(run, samples=10_000, seed=1)
    assert r["mismatches"] == 0 and r["passed"]


def _avgpool_model(path):
    b = GraphBuilder(0)
    x = b.quant("x", 2.0**-3, 6)
    h = b.node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
    h = b.node("Flatten", [h], axis=1)
    y = b.node("MatMul", [h, b.qweight((4, 3), bits=4, frac=2)])
    b.model("x", [1, 1, 4, 4], y).save(str(path))
    return path


def test_unsupported_op_refused_before_work(tmp_path):
    t0 = time.time()
    with pytest.raises(UnsupportedOp) as e:
        generate_rtl(_avgpool_model(tmp_path / "avg.onnx"), tmp_path / "run", architecture="streaming")
    assert "AveragePool" in str(e.value) and e.value.node and e.value.node.startswith("AveragePool")
    assert not (tmp_path / "run" / "verilog").exists()
    assert time.time() - t0 < 30
    assert read_json(tmp_path / "run" / "rtl.json")["status"] == "failed"


def test_bad_folding_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match="PE 4 must divide 6"):
        generate_rtl(tiny_mlp(tmp_path / "m.onnx"), tmp_path / "run", architecture="streaming", folding="4x1,1x1")
    with pytest.raises(ConfigError, match="streaming"):
        generate_rtl(tiny_mlp(tmp_path / "m.onnx"), tmp_path / "run2", architecture="parallel", folding="1x1,1x1")
    # with a board the estimate used the folding before it was checked (ZeroDivisionError)
    with pytest.raises(ConfigError, match="must divide|PE|SIMD"):
        generate_rtl(tiny_mlp(tmp_path / "m.onnx"), tmp_path / "run3", board="icebreaker", folding="0x1,1x1")


# ------------------------------------------------------------------ folding search


def _layer(name, mw, mh, rng, in_hi=15):
    w = rng.integers(-8, 8, size=(mw, mh))
    ly = DenseLayer(name=name, ops=["MatMul"], weights=w, in_lo=0, in_hi=in_hi, in_frac=0, w_frac=0,
                    tail=Tail("affine", sa=0, bias=rng.integers(-9, 9, size=mh), relu=True, rshift=4,
                              rounding="HALF_EVEN", clip=(0, 15)),
                    acc_lo=int(np.minimum(w, 0).sum(0).min() * in_hi),
                    acc_hi=int(np.maximum(w, 0).sum(0).max() * in_hi))
    _finish_tail(ly)
    return ly


def _brute(layers, budget, in_w0, max_ii, nbuf=1):
    """Every folding: (cost, ii, folds) of those with II <= max_ii."""
    shapes = [(ly.mw, ly.mh) for ly in layers]
    out = []
    for folds in itertools.product(*[fsearch._candidates(ly) for ly in layers]):
        ii, _ = schedule(shapes, list(folds), nbuf)
        if ii <= max_ii:
            res = fsearch.design_resources(layers, list(folds), in_w0, budget.family, nbuf)
            out.append((sum(budget.cost(r) for r in res), ii, list(folds)))
    return out


@pytest.fixture(scope="module")
def small_net():
    rng = np.random.default_rng(0)
    return [_layer("a", 8, 12, rng), _layer("b", 12, 6, rng), _layer("c", 6, 4, rng)]


@pytest.mark.parametrize("nbuf", [1, 2])
@pytest.mark.parametrize("max_ii", [12, 30, 80, 300])
def test_cheapest_folding_is_optimal(small_net, max_ii, nbuf):
    budget = fsearch.Budget("ice40", {"lut": 5280, "ff": 5280, "bram": 30, "dsp": 8})
    folds = fsearch.cheapest(small_net, max_ii, budget, 5, nbuf)
    brute = _brute(small_net, budget, 5, max_ii, nbuf)
    assert folds is not None and brute
    ii, _ = schedule([(ly.mw, ly.mh) for ly in small_net], folds, nbuf)
    assert ii <= max_ii
    cost = sum(budget.cost(r) for r in fsearch.design_resources(small_net, folds, 5, "ice40", nbuf))
    assert cost == pytest.approx(min(c for c, _, _ in brute))


def test_double_buffering_shortens_ii():
    # 16 -> 64 -> 32 at 1x1: single buffers II = C_1 + (NF_0 - 1) SF_0, double max(C_0, C_1)
    shapes, folds = [(16, 64), (64, 32)], [Fold(1, 1), Fold(1, 1)]
    assert schedule(shapes, folds, 1)[0] == 2048 + 63 * 16
    assert schedule(shapes, folds, 2)[0] == 2048
    assert schedule(shapes, folds, 1)[1] == schedule(shapes, folds, 2)[1]  # same latency


def test_fastest_that_fits_and_fit_error(small_net):
    budget = fsearch.Budget("ice40", {"lut": 2600, "ff": 2600, "bram": 30, "dsp": 8})
    folds, rec = fsearch.choose(small_net, budget, 5, None)
    assert rec["mode"] == "fastest_that_fits" and budget.fits(rec["estimate"]["total"])
    fitting = [ii for nb in (1, 2) for c, ii, f in _brute(small_net, budget, 5, 10**6, nb)
               if budget.fits(fsearch.total(fsearch.design_resources(small_net, f, 5, "ice40", nb)))]
    assert rec["ii"] == min(fitting)  # no faster folding fits (under the model)
    # a throughput the device cannot reach: FitError naming what the smallest such design needs
    with pytest.raises(FitError, match="LUT"):
        fsearch.choose(small_net, budget, 5, 2)
    # nothing fits at all: the smallest design and its needs are named
    tiny = fsearch.Budget("ice40", {"lut": 100, "ff": 100, "bram": 0, "dsp": 0})
    with pytest.raises(FitError, match=r"smallest streaming design \(PE x SIMD 1x1, 1x1, 1x1"):
        fsearch.choose(small_net, tiny, 5, None)


def test_cli_board_and_throughput(tmp_path):
    m = tiny_mlp(tmp_path / "m.onnx")
    res = CliRunner().invoke(app, ["rtl", str(m), "-o", str(tmp_path / "run"), "--board", "icebreaker",
                                   "--throughput", "1000000", "--no-lint"])
    assert res.exit_code == 0, res.output
    rec = read_json(tmp_path / "run" / "rtl.json")
    ch = rec["pipeline"]["folding_choice"]
    assert ch["mode"] == "throughput" and rec["ii"] <= ch["max_ii"] == 12  # 12 MHz iCEBreaker clock
    assert ch["estimate"]["total"]["lut"] > 0 and rec["params"]["board"] == "icebreaker"
    res = CliRunner().invoke(app, ["rtl", str(m), "-o", str(tmp_path / "run2"), "--board", "icebreaker",
                                   "--throughput", "1e9", "--no-lint"])
    assert res.exit_code == FitError.exit_code, res.output
