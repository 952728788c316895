"""Malformed and unsupported models: typed errors naming the reason/node, non-zero CLI exits."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from typer.testing import CliRunner

from hwflow.cli import app
from hwflow.errors import InvalidModelFile, MissingQuantization, ModelError, UnsupportedOp
from hwflow.ir import ReferenceExecutor, load_model

from _ir_models import GraphBuilder

pytestmark = pytest.mark.unit

runner = CliRunner()


def _float_only_model() -> bytes:
    b = GraphBuilder()
    w = b.const(np.random.default_rng(0).normal(size=(4, 3)))
    y = b.node("MatMul", ["x", w])
    return b.model("x", [1, 4], y).model.SerializeToString()


def _unsupported_op_model() -> bytes:
    b = GraphBuilder()
    q = b.quant("x", 0.25, 4)
    y = b.node("LSTM_like_Erf", [q])
    b.nodes[-1].op_type = "Erf"
    g = helper.make_graph(b.nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 4])], initializer=b.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    return m.SerializeToString()


def _dynamic_feature_dim_model() -> bytes:
    b = GraphBuilder()
    q = b.quant("x", 0.25, 4)
    g = helper.make_graph(b.nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "F"])],
                          [helper.make_tensor_value_info(q, TensorProto.FLOAT, ["N", "F"])], initializer=b.inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def _bad_opset_model() -> bytes:
    b = GraphBuilder()
    q = b.quant("x", 0.25, 4)
    g = helper.make_graph(b.nodes, "t", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info(q, TensorProto.FLOAT, [1, 4])], initializer=b.inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 3)]).SerializeToString()


@pytest.fixture(scope="module")
def jet_bytes(external_dir):
    return (external_dir / "qkeras_jettagging.onnx").read_bytes()


def cases(jet: bytes):
    return {
        "empty": (b"", InvalidModelFile, "empty"),
        "random_bytes": (np.random.default_rng(0).bytes(3000), InvalidModelFile, "ONNX"),
        "truncated": (jet[: len(jet) // 2], InvalidModelFile, None),
        "text_file": (b"hello, this is not a model\n" * 10, InvalidModelFile, None),
        "float_only": (_float_only_model(), MissingQuantization, "MatMul"),
        "unsupported_op": (_unsupported_op_model(), UnsupportedOp, "Erf"),
        "dynamic_dim": (_dynamic_feature_dim_model(), ModelError, "dynamic"),
        "bad_opset": (_bad_opset_model(), ModelError, "opset"),
    }


CASE_NAMES = ["empty", "random_bytes", "truncated", "text_file", "float_only", "unsupported_op", "dynamic_dim",
              "bad_opset"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_typed_error_from_bytes_and_path(case, jet_bytes, tmp_path):
    data, exc, needle = cases(jet_bytes)[case]
    with pytest.raises(exc, match=needle) as ei:
        load_model(data)
    assert isinstance(ei.value, ModelError)
    p = tmp_path / f"{case}.onnx"
    p.write_bytes(data)
    with pytest.raises(exc) as ei:
        load_model(p)
    assert str(p) in str(ei.value)  # the file is named
    if case in ("float_only", "unsupported_op"):
        assert ei.value.node  # the node is named


@pytest.mark.parametrize("case", CASE_NAMES)
def test_cli_exits_non_zero(case, jet_bytes, tmp_path):
    data, exc, _ = cases(jet_bytes)[case]
    p = tmp_path / f"{case}.onnx"
    p.write_bytes(data)
    r = runner.invoke(app, ["inspect", str(p)])
    assert r.exit_code == exc.exit_code != 0
    np.save(tmp_path / "x.npy", np.zeros((2, 4)))
    r = runner.invoke(app, ["exec", str(p), "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert r.exit_code != 0
    assert not (tmp_path / "y.npy").exists()


def test_missing_file():
    with pytest.raises(InvalidModelFile, match="does not exist"):
        load_model("/nonexistent/model.onnx")


def test_unknown_op_in_executor_is_typed():
    """An op that passes loading without validation still fails typed in the executor."""
    m = load_model(_unsupported_op_model(), validate=False)
    with pytest.raises(UnsupportedOp, match="Erf"):
        ReferenceExecutor(m)


def test_wrong_input_shape_is_typed(external_dir):
    ex = ReferenceExecutor(load_model(external_dir / "qkeras_jettagging.onnx"))
    with pytest.raises(ModelError, match="shape"):
        ex.run(np.zeros((3, 15)))


def test_mac_fed_by_unquantized_batchnorm_is_rejected():
    b = GraphBuilder()
    x = b.quant("x", 0.25, 4)
    y = b.node("MatMul", [x, b.qweight((4, 3))])
    y = b.node("BatchNormalization", [y] + [b.const(np.ones(3))] * 4)
    y = b.node("MatMul", [y, b.qweight((3, 2))])
    data = b.model("x", [1, 4], y).model.SerializeToString()
    with pytest.raises(MissingQuantization, match="BatchNormalization") as ei:
        load_model(data)
    assert ei.value.node
