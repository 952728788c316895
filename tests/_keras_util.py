"""Helpers for the QKeras tests: batched QONNX execution and on-grid stimulus."""

from __future__ import annotations

import numpy as np

from hwflow.ir import ReferenceExecutor, load_model


def run_qonnx(model_proto, x_onnx: np.ndarray, intermediate: bool = False):
    """Execute a QONNX model on a whole batch with hwflow's bit-exact ReferenceExecutor (the
    one judge); ``intermediate``: every tensor of the graph by name."""
    ex = ReferenceExecutor(load_model(model_proto.SerializeToString()))
    return ex.run(x_onnx, intermediate=True) if intermediate else np.asarray(ex.run(x_onnx))


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
