"""Streamlining (hwflow/ir/streamline.py + the threshold search in thresholds.py): each rewrite
run before and after on random and corner inputs.

- ``ExtractFloatScales`` and ``MoveMonotonePastMaxPool`` are bit-identical to the graph they
  rewrite; ``MoveScalesPastLinear`` changes only float32 rounding (bounded here);
- thresholds found by bisection equal, on every accumulator value, the float chain they
  replace (checked by brute force over the whole accumulator range);
- models as their authors write them (Brevitas defaults, a FINN-style graph) become graphs of
  integer MACs and MultiThresholds whose outputs equal the float export within float rounding.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from _streamline_models import BUILDERS, build
from hwflow.errors import UnsupportedOp
from hwflow.ir import ReferenceExecutor, clean_model, load_model, make_stimulus
from hwflow.ir.streamline import (ExtractFloatScales, MoveMonotonePastMaxPool, MoveScalesPastLinear,
                                  streamlining_record)
from hwflow.ir.thresholds import FoldFloatIntoThresholds, _ChainEvaluator

QD = "qonnx.custom_op.general"


def _model(nodes, inits, in_shape, out_shape, inp="x", out="y"):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_shape)],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
                          initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QD, 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from qonnx.transformation.infer_shapes import InferShapes

        return ModelWrapper(m).transform(InferShapes())


def _quant(x, s, bits, out, signed=1, narrow=0, name=None):
    return helper.make_node("Quant", [x, s, "zero", bits], [out], name=name or out, domain=QD, signed=signed,
                            narrow=narrow, rounding_mode="ROUND")


def _run(model, x):
    from qonnx.transformation.infer_shapes import InferShapes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model.transform(InferShapes())
        name, out = model.graph.input[0].name, model.graph.output[0].name
        return np.concatenate([execute_onnx(model, {name: x[i:i + 1]})[out] for i in range(len(x))])


def _scaled_mlp(per_channel_act=False):
    rng = np.random.default_rng(1)
    f = np.float32
    inits = {"zero": f(0), "b8": f(8), "b4": f(4), "s_in": f(0.0371), "w": (rng.normal(size=(8, 6)) * 0.3).astype(f),
             "s_w": rng.uniform(0.05, 0.2, size=(1, 6)).astype(f), "bias": rng.normal(size=(1, 6)).astype(f),
             "s_a": (rng.uniform(0.03, 0.08, size=(1, 6)) if per_channel_act else np.asarray(0.0517)).astype(f),
             "w2": rng.normal(size=(6, 3)).astype(f), "s_w2": f(0.1313)}
    nodes = [_quant("x", "s_in", "b8", "xq"), _quant("w", "s_w", "b4", "wq", narrow=1),
             helper.make_node("MatMul", ["xq", "wq"], ["a"], name="fc1"),
             helper.make_node("Add", ["a", "bias"], ["ab"], name="bias1"),
             helper.make_node("Relu", ["ab"], ["r"], name="relu"), _quant("r", "s_a", "b4", "h", signed=0),
             _quant("w2", "s_w2", "b4", "w2q", narrow=1), helper.make_node("MatMul", ["h", "w2q"], ["y"], name="fc2")]
    return _model(nodes, inits, [1, 8], [1, 3])


def _corner_and_random(shape, n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, *shape)) * 3).astype(np.float32)
    x[0], x[1], x[2] = 0.0, 1e4, -1e4  # zero and both saturations
    return x


def test_extract_float_scales_is_bit_identical():
    m = _scaled_mlp()
    x = _corner_and_random([8])
    before = _run(m, x)
    after_m = m.transform(ExtractFloatScales())
    ops = [n.op_type for n in after_m.graph.node]
    assert ops.count("Div") == 4 and ops.count("Mul") == 4  # two activations, two weights
    for q in after_m.get_nodes_by_op_type("Quant"):
        assert float(after_m.get_initializer(q.input[1])) == 1.0
    assert np.array_equal(_run(after_m, x), before)


def test_move_scales_past_linear_changes_only_rounding():
    m = _scaled_mlp().transform(ExtractFloatScales())
    x = _corner_and_random([8])
    before = _run(m, x)
    moved = m.transform(MoveScalesPastLinear())
    # every MatMul now multiplies integer tensors: its inputs come straight from quantizers
    for mm in moved.get_nodes_by_op_type("MatMul"):
        assert all(moved.find_producer(i).op_type == "Quant" for i in mm.input)
    np.testing.assert_allclose(_run(moved, x), before, rtol=1e-5, atol=1e-5)
    assert sum(r["transformation"] == "MoveScalesPastLinear" for r in streamlining_record(moved)) == 4


def test_per_channel_activation_scale_is_refused_by_name(tmp_path):
    """A per-input-channel scale in front of a MatMul cannot become integer weights: the RTL
    backend names the node before tracing anything."""
    from hwflow.backends.rtl.model_io import prepare_model

    path = tmp_path / "pc.onnx"
    _scaled_mlp(per_channel_act=True).save(str(path))
    with pytest.raises(UnsupportedOp) as e:
        prepare_model(path)
    assert "computes in floating point" in str(e.value)
    from hwflow.backends.hls4ml.prepare import prepare

    with pytest.raises(UnsupportedOp, match="floating point"):
        prepare(path)


@pytest.mark.parametrize("gamma_sign", [1.0, -1.0])
def test_monotone_ops_move_past_maxpool_exactly(gamma_sign):
    rng = np.random.default_rng(2)
    f = np.float32
    C = 3
    inits = {"zero": f(0), "b6": f(6), "s": f(0.25), "w": rng.integers(-3, 4, size=(C, 1, 3, 3)).astype(f),
             "g": (gamma_sign * rng.uniform(0.5, 2, size=C)).astype(f), "be": rng.normal(size=C).astype(f),
             "mu": rng.normal(size=C).astype(f), "var": rng.uniform(0.5, 2, size=C).astype(f),
             "s_out": f(0.125), "b4": f(4)}
    nodes = [_quant("x", "s", "b6", "xq"),
             helper.make_node("Conv", ["xq", "w"], ["c"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             helper.make_node("BatchNormalization", ["c", "g", "be", "mu", "var"], ["n"], name="bn"),
             helper.make_node("Relu", ["n"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             _quant("p", "s_out", "b4", "y", signed=0)]
    m = _model(nodes, inits, [1, 1, 6, 6], [1, C, 3, 3])
    x = _corner_and_random([1, 6, 6], n=100)
    moved = m.transform(MoveMonotonePastMaxPool())
    order = [n.op_type for n in moved.graph.node]
    if gamma_sign > 0:  # BN and Relu both behind the pool: the chain reaches the quantizer
        assert order.index("MaxPool") < order.index("BatchNormalization") < order.index("Relu")
    else:  # a negative BN scale turns max into min: it stays in front
        assert order.index("BatchNormalization") < order.index("MaxPool")
    assert np.array_equal(_run(moved, x), _run(m, x))


def _wide_accumulator_model(out_bits=8, gamma_signs=(1, -1, 1, -1)):
    """INT8 x INT8 over 64 inputs: an accumulator range of ~2**21 values (searched, not enumerated),
    then a float scale, bias and batch norm with negative channels, then an 8-bit quantizer."""
    rng = np.random.default_rng(3)
    f = np.float32
    C = len(gamma_signs)
    inits = {"zero": f(0), "b8": f(8), "one": f(1), "bo": f(out_bits),
             "w": rng.integers(-127, 128, size=(64, C)).astype(f), "s": f(1.3e-4),
             "bias": rng.normal(size=(1, C)).astype(f),
             "g": (np.asarray(gamma_signs) * rng.uniform(0.5, 2, size=C)).astype(f),
             "be": rng.normal(size=C).astype(f), "mu": rng.normal(size=C).astype(f),
             "var": rng.uniform(0.5, 2, size=C).astype(f), "s_out": f(0.0625)}
    nodes = [_quant("x", "one", "b8", "xq"), _quant("w", "one", "b8", "wq", narrow=1),
             helper.make_node("MatMul", ["xq", "wq"], ["acc"], name="fc"),
             helper.make_node("Mul", ["acc", "s"], ["sc"], name="scale"),
             helper.make_node("Add", ["sc", "bias"], ["ab"], name="bias"),
             helper.make_node("BatchNormalization", ["ab", "g", "be", "mu", "var"], ["n"], name="bn"),
             _quant("n", "s_out", "bo", "y", name="quant_out")]
    return _model(nodes, inits, [1, 64], [1, C])


def test_searched_thresholds_equal_the_float_chain_on_every_accumulator_value():
    m = _wide_accumulator_model()
    folded = clean_model(m, input_type=None, strip_preprocessing=False)
    rec = [r for r in streamlining_record(folded) if r["transformation"] == "FoldFloatIntoThresholds"]
    assert rec and rec[0].get("applied", True) and rec[0]["negated_channels"] == 2
    mt = folded.get_nodes_by_op_type("MultiThreshold")[0]
    thr = np.asarray(folded.get_initializer(mt.input[1]), dtype=np.float64)          # [C, T] in LSBs (step 1)
    # the channels thresholded on the negated accumulator had their weight columns negated
    # (AbsorbChannelSignIntoWeights): the sign is the ratio of new to original weights
    mac = folded.find_producer(mt.input[0])
    assert mac.op_type == "MatMul"
    w_new = folded.get_initializer(folded.find_producer(mac.input[1]).input[0])
    w_old = m.get_initializer("w")
    signs = np.sign(np.sum(w_new * w_old, axis=0))
    assert np.array_equal(signs, [1, -1, 1, -1])
    # brute force: the original float chain on the whole accumulator range, every channel
    t0 = "acc"
    chain = [n for n in m.graph.node if n.op_type in ("Mul", "Add", "BatchNormalization")]
    q = [n for n in m.graph.node if n.name == "quant_out"][0]
    ev = _ChainEvaluator(m, chain, q, t0, m.get_tensor_shape(t0), 1.0, -128 * 0.0625, 0.0625)
    lim = 127 * 127 * 64
    for lo in range(-lim, lim + 1, 1 << 19):  # in slices to bound memory
        acc = np.arange(lo, min(lo + (1 << 19), lim + 1))
        want = ev.levels(np.broadcast_to(acc[:, None], (acc.size, thr.shape[0])))
        got = np.sum((acc[:, None, None] * signs[None, :, None]) >= thr[None, :, :], axis=2)
        assert np.array_equal(got, want), f"first difference at accumulator {acc[np.argwhere(got != want)[0][0]]}"
    # and the rewritten graph computes exactly what the float chain computes, on corner inputs too
    x = make_stimulus(folded, n=500, seed=0, corners=True)
    ref = clean_model(m, input_type=None, strip_preprocessing=False, thresholds=False)
    assert np.array_equal(ReferenceExecutor(folded).run(x), ReferenceExecutor(ref).run(x))


def test_too_many_levels_is_refused_with_its_reason(tmp_path):
    m = _wide_accumulator_model(out_bits=16)
    folded = clean_model(m, input_type=None, strip_preprocessing=False)
    refused = [r for r in streamlining_record(folded) if r.get("applied") is False]
    assert refused and "thresholds" in refused[0]["reason"]
    path = tmp_path / "wide.onnx"
    m.save(str(path))
    from hwflow.backends.rtl.model_io import prepare_model

    with pytest.raises(UnsupportedOp) as e:
        prepare_model(path)
    assert refused[0]["node"] in str(e.value) and "thresholds" in str(e.value)
    from hwflow.backends.hls4ml.prepare import prepare  # hls4ml repeats the same reason

    with pytest.raises(UnsupportedOp) as e:
        prepare(path)
    assert refused[0]["node"] in str(e.value) and "thresholds" in str(e.value)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_authored_models_streamline_to_integer_graphs(tmp_path, name):
    """Every MAC multiplies integers; the streamlined graph equals the float export within float
    rounding on 1,000 random inputs (no quantizer output flips on these)."""
    path = build(name, tmp_path)
    m0 = load_model(path)
    st = clean_model(m0)
    rec = streamlining_record(st)
    assert not [r for r in rec if r.get("applied") is False], rec
    assert {r["transformation"] for r in rec} >= {"ExtractFloatScales", "FoldFloatIntoThresholds"}
    assert not st.get_nodes_by_op_type("BatchNormalization")
    from hwflow.ir import infer_fixed_point

    types = infer_fixed_point(st)
    for n in st.graph.node:
        if n.op_type in ("MatMul", "Conv"):
            assert all(not types[i].is_float and types[i].scale == 1.0 for i in n.input[:2]), n.name
    orig = clean_model(m0, input_type=None, strip_preprocessing=False, streamline=False)
    same_inputs = clean_model(m0, input_type=None, strip_preprocessing=False)
    rng = np.random.default_rng(0)
    x = (rng.normal(size=[1000] + list(orig.get_tensor_shape(orig.graph.input[0].name)[1:])) * 2).astype(np.float32)
    y0, y1 = ReferenceExecutor(orig).run(x), ReferenceExecutor(same_inputs).run(x)
    np.testing.assert_allclose(y1, y0, rtol=1e-4, atol=1e-4 * float(np.abs(y0).max()))
