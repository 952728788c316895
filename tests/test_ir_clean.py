"""Each clean-up rewrite keeps the graph's outputs identical (execute_onnx before/after)."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.ir import ReferenceExecutor, clean_model, infer_fixed_point, make_stimulus
from hwflow.ir.stimulus import DEFAULT_INPUT_TYPE

from _ir_models import GraphBuilder
from _ir_util import compare_every_tensor, execute_onnx_samples


def bn_dense(neg=True, quant="Quant", bits=3):
    b = GraphBuilder(seed=21)
    x = b.quant("x", 2.0 ** -2, 4)
    y = b.node("MatMul", [x, b.qweight((10, 6), bits=3, frac=1)])
    rng = np.random.default_rng(5)
    gamma = rng.uniform(0.3, 2.5, 6) * (np.where(np.arange(6) % 3 == 0, -1, 1) if neg else 1)
    y = b.node("BatchNormalization", [y, b.const(gamma), b.const(rng.normal(0, 1, 6)), b.const(rng.normal(0, 1, 6)),
                                      b.const(rng.uniform(0.5, 3, 6))], epsilon=1e-3)
    if quant == "Quant":
        y = b.quant(y, 2.0 ** -1, bits)
    else:
        y = b.node("BipolarQuant", [y, b.const(1.0)], "qonnx.custom_op.general")
    return b.model("x", [1, 10], y)


def bn_conv():
    b = GraphBuilder(seed=8)
    x = b.quant("x", 2.0 ** -3, 5)
    y = b.node("Conv", [x, b.qweight((5, 3, 3, 3), bits=4, frac=2), b.qweight((5,), bits=6, frac=5)],
               pads=[1, 1, 1, 1])
    rng = np.random.default_rng(6)
    y = b.node("BatchNormalization", [y, b.const(rng.uniform(-2, 2, 5)), b.const(rng.normal(0, 1, 5)),
                                      b.const(rng.normal(0, 1, 5)), b.const(rng.uniform(0.5, 3, 5))])
    y = b.quant(b.node("Relu", [y]), 2.0 ** -2, 4, signed=0)
    y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    return b.model("x", [1, 3, 6, 6], y)


def float_scale_chain():
    """Brevitas-like: accumulator * 0.0371 + 0.2 -> Relu -> Quant(unsigned, 2**-3)."""
    b = GraphBuilder(seed=9)
    x = b.quant("x", 2.0 ** -4, 8)
    y = b.node("MatMul", [x, b.qweight((12, 7), bits=5, frac=0)])
    y = b.node("Mul", [y, b.const(np.float32(0.0371))])
    y = b.node("Add", [y, b.const(np.random.default_rng(1).normal(0, 0.5, 7))])
    y = b.quant(b.node("Relu", [y]), 2.0 ** -3, 5, signed=0)
    return b.model("x", [1, 12], y)


CASES = {"bn_dense_neg": bn_dense, "bn_dense_pos": lambda: bn_dense(neg=False),
         "bn_dense_bipolar": lambda: bn_dense(quant="BipolarQuant"), "bn_conv": bn_conv,
         "float_scale_chain": float_scale_chain}


@pytest.mark.parametrize("case", sorted(CASES))
def test_float_chain_folds_into_thresholds(case):
    raw = CASES[case]()
    m = clean_model(raw)
    ops = [n.op_type for n in m.graph.node]
    assert "MultiThreshold" in ops
    assert not {"BatchNormalization", "Relu"} & set(ops) or case == "bn_conv" and "Relu" not in ops
    types = infer_fixed_point(m)
    assert all(not t.is_float for t in types.values()), "no float tensor left after folding"
    # same outputs before/after, execute_onnx on both, every corner + random input
    x = make_stimulus(raw, n=60, seed=4)
    out_raw = np.concatenate([r[raw.graph.output[0].name] for r in execute_onnx_samples(raw, x, full=False)])
    out_clean = np.concatenate([r[m.graph.output[0].name] for r in execute_onnx_samples(m, x, full=False)])
    assert np.array_equal(out_raw, out_clean)
    # and our executor on the cleaned graph, every tensor
    bad, _ = compare_every_tensor(m, ReferenceExecutor(m), x[:40])
    assert not bad


def test_input_quant_inserted_only_where_missing(external_dir):
    from hwflow.ir import load_model

    jet = clean_model(load_model(external_dir / "qkeras_jettagging.onnx"))
    first = jet.graph.node[0]
    inq = [n for n in jet.graph.node if n.input and n.input[0] == jet.graph.input[0].name]
    assert len(inq) == 1 and inq[0].op_type == "Quant"
    assert infer_fixed_point(jet)[inq[0].output[0]] == DEFAULT_INPUT_TYPE
    bnn = clean_model(load_model(external_dir / "bnn_model_fc_1layer.onnx"))
    assert not any(n.name.endswith("_input_quant") for n in bnn.graph.node)
    assert first is not None


def test_strip_preprocessing_records_chain(external_dir):
    import json

    from hwflow.ir import load_model

    m = clean_model(load_model(external_dir / "TFC_2W2A.onnx"))
    meta = json.loads(m.get_metadata_prop("hwflow.preprocessing"))
    assert [c["op_type"] for c in meta["chain"]] == ["Reshape", "Mul", "Sub"]
    assert m.get_tensor_shape(m.graph.input[0].name) == [1, 784]
    assert {n.op_type for n in m.graph.node} >= {"MultiThreshold", "MatMul", "Quant"}
    assert not {"Shape", "Gather", "Unsqueeze", "Concat", "Reshape", "BatchNormalization"} & {
        n.op_type for n in m.graph.node}


def test_clean_without_rewrites_is_identity_on_any_float_input(external_dir):
    """input_type=None, strip_preprocessing=False: same function for arbitrary floats."""
    from hwflow.ir import load_model

    raw = load_model(external_dir / "qkeras_jettagging.onnx")
    m = clean_model(raw, input_type=None, strip_preprocessing=False)
    x = np.random.default_rng(0).normal(0, 3, (20, 16)).astype(np.float32)
    a = np.concatenate([r[raw.graph.output[0].name] for r in execute_onnx_samples(raw, x, full=False)])
    b = np.concatenate([r[m.graph.output[0].name] for r in execute_onnx_samples(m, x, full=False)])
    assert np.array_equal(a, b)
    assert np.array_equal(ReferenceExecutor(m).run(x), b.astype(np.float64))


def test_gemm_to_matmul_keeps_outputs(external_dir):
    from hwflow.ir import load_model

    raw = load_model(external_dir / "bnn_model_fc_1layer.onnx")
    a = clean_model(raw)
    b = clean_model(raw, gemm_to_matmul=True)
    assert "Gemm" in {n.op_type for n in a.graph.node}
    assert "Gemm" not in {n.op_type for n in b.graph.node} and "MatMul" in {n.op_type for n in b.graph.node}
    x = make_stimulus(a, n=64, seed=0)
    ref_a = np.concatenate([r[a.graph.output[0].name] for r in execute_onnx_samples(a, x, full=False)])
    ref_b = np.concatenate([r[b.graph.output[0].name] for r in execute_onnx_samples(b, x, full=False)])
    assert np.array_equal(ref_a, ref_b)
    bad, _ = compare_every_tensor(b, ReferenceExecutor(b), x[:20])
    assert not bad


@pytest.mark.parametrize("name", ["qkeras_jettagging.onnx", "TFC_2W2A.onnx", "bnn_model_fc_1layer.onnx"])
def test_cleaned_model_saves_reloads_and_cleans_idempotently(name, external_dir, tmp_path):
    from hwflow.ir import load_model

    m = clean_model(load_model(external_dir / name))
    p = tmp_path / "clean.onnx"
    m.save(str(p))
    again = clean_model(load_model(p))
    assert [n.op_type for n in again.graph.node] == [n.op_type for n in m.graph.node]
    x = make_stimulus(m, n=200, seed=1)
    assert np.array_equal(ReferenceExecutor(again).run(x), ReferenceExecutor(m).run(x))
    assert list(infer_fixed_point(again).values()).count(None) == 0
