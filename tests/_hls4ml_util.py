"""Helpers of the hls4ml tests: one C-sim compile per (model, io type) per session, and a
small QONNX graph with the hwflow BiPer operator."""

from __future__ import annotations

import os

# before anything imports TensorFlow (hls4ml does): QKeras exports in the same session need tf-keras
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

_RUNS: dict = {}


def run_once(key: str, model: Path, run_dir: Path, **kwargs) -> tuple[dict | None, BaseException | None]:
    """``run_hls`` once per key per session; returns (hls.json record, exception)."""
    from hwflow.backends.hls4ml import HLSOptions, run_hls

    if key not in _RUNS:
        opts = kwargs.pop("options", None) or HLSOptions(io_type=kwargs.pop("io", "parallel"))
        try:
            _RUNS[key] = (run_hls(model, run_dir, opts, **kwargs), None)
        except Exception as e:  # the record on disk tells what happened; tests assert on both
            rec = run_dir / "hls.json"
            _RUNS[key] = (json.loads(rec.read_text()) if rec.exists() else None, e)
    return _RUNS[key]


def biper_model(path: Path, log2_period: int = 1, bits: int = 6, frac: int = 3, n_in: int = 8, n_out: int = 4,
                seed: int = 0) -> Path:
    """x -> Quant(bits, 2**-frac) -> BiPer(k) -> MatMul(BipolarQuant(W)) -> Add(Quant(b)) -> y."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(np.float32(2.0 ** -frac), "x_scale"),
        numpy_helper.from_array(np.float32(0.0), "zero"),
        numpy_helper.from_array(np.float32(bits), "x_bits"),
        numpy_helper.from_array(rng.normal(size=(n_in, n_out)).astype(np.float32), "w_float"),
        numpy_helper.from_array(np.float32(1.0), "one"),
        numpy_helper.from_array(rng.normal(size=(n_out,)).astype(np.float32), "b_float"),
        numpy_helper.from_array(np.float32(2.0 ** -2), "b_scale"),
        numpy_helper.from_array(np.float32(4.0), "b_bits"),
    ]
    nodes = [
        helper.make_node("Quant", ["x", "x_scale", "zero", "x_bits"], ["xq"], name="quant_x",
                         domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("BiPer", ["xq"], ["xb"], name="biper", domain="hwflow.ir.custom_op",
                         log2_period=log2_period),
        helper.make_node("BipolarQuant", ["w_float", "one"], ["wb"], name="quant_w",
                         domain="qonnx.custom_op.general"),
        helper.make_node("MatMul", ["xb", "wb"], ["acc"], name="matmul"),
        helper.make_node("Quant", ["b_float", "b_scale", "zero", "b_bits"], ["bq"], name="quant_b",
                         domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("Add", ["acc", "bq"], ["y"], name="bias"),
    ]
    graph = helper.make_graph(
        nodes, "biper_test",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n_out])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1),
                                                    helper.make_opsetid("hwflow.ir.custom_op", 1)])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def non_po2_model(path: Path, wscale: float = 0.3) -> Path:
    """x -> Quant(2**-3) -> MatMul(Quant(w, scale=wscale)): a Brevitas-style float weight scale."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.float32(0.125), "s"), numpy_helper.from_array(np.float32(0.0), "z"),
             numpy_helper.from_array(np.float32(6.0), "b"), numpy_helper.from_array(np.float32(wscale), "ws"),
             numpy_helper.from_array((np.arange(8).reshape(4, 2) - 4).astype(np.float32) * wscale, "w")]
    q = dict(domain="qonnx.custom_op.general", signed=1, narrow=0, rounding_mode="ROUND")
    nodes = [helper.make_node("Quant", ["x", "s", "z", "b"], ["xq"], name="qx", **q),
             helper.make_node("Quant", ["w", "ws", "z", "b"], ["wq"], name="qw", **q),
             helper.make_node("MatMul", ["xq", "wq"], ["y"], name="mm")]
    g = helper.make_graph(nodes, "non_po2", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    path.write_bytes(m.SerializeToString())
    return path
