"""onnxruntime cross-check through qonnx's QONNX -> QCDQ conversion."""

from __future__ import annotations

from hwflow.ir import clean_model, load_model
from hwflow.ir.ort_check import ort_cross_check

from _ir_models import GraphBuilder


def test_jet_tagger_and_tfc_agree_with_onnxruntime(external_dir):
    jet = clean_model(load_model(external_dir / "qkeras_jettagging.onnx"), input_type=None)
    tfc = clean_model(load_model(external_dir / "TFC_2W2A.onnx"), thresholds=False)
    for m in (jet, tfc):
        r = ort_cross_check(m, n=150)
        assert r["ran"]
        for level in r["levels"].values():
            assert level["ran"]
            assert all(o["mismatching_samples"] == 0 for o in level["outputs"].values()), r


def test_not_runnable_is_reported_with_nodes(external_dir):
    r = ort_cross_check(clean_model(load_model(external_dir / "bnn_model_fc_1layer.onnx")), n=10)
    assert not r["ran"] and "BipolarQuant" in r["reason"]
    r = ort_cross_check(clean_model(load_model(external_dir / "TFC_2W2A.onnx")), n=10)
    assert not r["ran"] and "MultiThreshold" in r["reason"]


def test_wide_accumulator_difference_is_explained():
    """Two MatMuls without a quantizer between: 30+ bit sums, float32 in onnxruntime rounds."""
    b = GraphBuilder(seed=3)
    x = b.quant("x", 2.0 ** -7, 8)
    y = b.node("MatMul", [x, b.qweight((64, 64), bits=8, frac=7)])
    y = b.node("MatMul", [y, b.qweight((64, 8), bits=8, frac=0)])
    m = b.model("x", [1, 64], y)
    r = ort_cross_check(m, n=100)
    lvl = r["levels"]["no_graph_optimization"]
    out = next(iter(lvl["outputs"].values()))
    assert out["mismatching_samples"] > 0
    assert any("24 bits" in w for w in out["why"])
