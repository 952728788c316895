"""Helpers for the QKeras tests: batched QONNX execution and on-grid stimulus."""

from __future__ import annotations

import copy

import numpy as np


def run_qonnx(model_proto, x_onnx: np.ndarray, intermediate: bool = False):
    """Execute a QONNX model on a whole batch.

    Prefers hwflow's bit-exact ReferenceExecutor (issue #3) when it exists; falls back to
    qonnx's execute_onnx with the batch size written into the graph.
    """
    try:
        from hwflow.ir import ReferenceExecutor  # noqa: F401
        have_ref = True
    except ImportError:
        have_ref = False
    if have_ref and not intermediate:
        from hwflow.ir import ReferenceExecutor, load_model

        return np.asarray(ReferenceExecutor(load_model(model_proto.SerializeToString())).run(x_onnx))
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.infer_shapes import InferShapes

    m = copy.deepcopy(model_proto)
    n = int(x_onnx.shape[0])
    for v in list(m.graph.input) + list(m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_value = n
    del m.graph.value_info[:]
    mw = ModelWrapper(m).transform(InferShapes())
    out = execute_onnx(mw, {mw.graph.input[0].name: x_onnx.astype(np.float32)},
                       return_full_exec_context=intermediate)
    return out if intermediate else out[mw.graph.output[0].name]


def input_grid(keras_model) -> tuple[float, float, float]:
    """(step, lo, hi) of the model's input quantizer (first QActivation)."""
    layer = next(l for l in keras_model.layers if type(l).__name__ == "QActivation")
    q = layer.quantizer
    bits, integer = int(q.bits), int(q.integer)
    if type(q).__name__ == "quantized_relu":
        step = 2.0 ** (integer - bits)
        return step, 0.0, (2**bits - 1) * step
    kn = bool(q.keep_negative)
    step = 2.0 ** (integer - bits + kn)
    if kn:
        return step, -(2 ** (bits - 1)) * step, (2 ** (bits - 1) - 1) * step
    return step, 0.0, (2**bits - 1) * step


def stimulus(keras_model, n: int = 1000, seed: int = 0) -> np.ndarray:
    """Corners (0, max, most negative, alternating) + n random on-grid inputs + n/4
    off-grid values slightly beyond the range (exercise rounding and clipping)."""
    shape = tuple(int(v) for v in keras_model.inputs[0].shape[1:])
    step, lo, hi = input_grid(keras_model)
    rng = np.random.default_rng(seed)
    alt = np.where(np.arange(int(np.prod(shape))) % 2 == 0, hi, lo).reshape(shape)
    corners = np.stack([np.zeros(shape), np.full(shape, hi), np.full(shape, lo), alt, -alt + lo + hi])
    k = rng.integers(int(round(lo / step)), int(round(hi / step)) + 1, size=(n,) + shape)
    off = rng.uniform(lo - 4 * step, hi + 4 * step, size=(max(n // 4, 1),) + shape)
    return np.concatenate([corners, k * step, off]).astype(np.float32)


def to_onnx_layout(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def to_keras_layout(y: np.ndarray) -> np.ndarray:
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y
