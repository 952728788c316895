"""Tensors during tracing: numpy arrays that hold either constants (float64) or da4ml
``FixedVariable`` objects (dtype object). Elementwise helpers broadcast like numpy."""

from __future__ import annotations

from typing import Callable

import numpy as np
from da4ml.trace import FixedVariable


def is_symbolic(a: np.ndarray) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == object


def as_const(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def elementwise(fn: Callable, *arrays) -> np.ndarray:
    """Apply ``fn`` to every element (numpy broadcasting); result is symbolic if any
    element is a FixedVariable, else a float64 constant."""
    arrs = [np.asarray(a, dtype=object) if is_symbolic(np.asarray(a)) else np.asarray(a, dtype=np.float64) for a in arrays]
    b = np.broadcast_arrays(*arrs)
    out = np.empty(b[0].shape, dtype=object)
    flat = [x.ravel() for x in b]
    of = out.reshape(-1)
    for idx in range(of.size):
        of[idx] = fn(*(x[idx] for x in flat))
    hw = next((v.hwconf for v in of if isinstance(v, FixedVariable)), None)
    if hw is None:
        return out.astype(np.float64)
    for idx in range(of.size):
        if not isinstance(of[idx], FixedVariable):
            of[idx] = FixedVariable.from_const(float(of[idx]), hwconf=hw)
    return out


def matmul_const(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (symbolic, [..., K]) @ w (constant [K, N]) through da4ml's CMVM optimizer.

    Same as ``FixedVariableArray.__matmul__`` (which calls ``da4ml.cmvm.solve`` once per
    row), except that rows whose inputs have identical ranges and latencies share one
    solution: a convolution applies the same kernel matrix at every pixel, and solving
    it once instead of once per pixel is what makes conv layers trace in seconds.
    """
    from da4ml.cmvm import solve
    from da4ml.types import QInterval

    w = np.asarray(w, dtype=np.float64)
    w32 = np.ascontiguousarray(w.astype(np.float32))
    if not np.array_equal(w32.astype(np.float64), w):
        raise ValueError("weights are not exactly representable in float32 (da4ml's CMVM input)")
    k = w.shape[0]
    if x.shape[-1] != k:
        raise ValueError(f"matmul shapes {x.shape} @ {w.shape}")
    rows = x.reshape(-1, k)
    out = np.empty((rows.shape[0], w.shape[1]), dtype=object)
    cache: dict = {}
    for r in range(rows.shape[0]):
        row = rows[r]
        if all(v.low == v.high for v in row):
            vals = np.array([float(v.low) for v in row]) @ w
            hw = row[0].hwconf
            out[r] = [FixedVariable.from_const(float(c), hwconf=hw) for c in vals]
            continue
        qints = [QInterval(float(v.low), float(v.high), float(v.step)) for v in row]
        lats = [float(v.latency) for v in row]
        key = (tuple(qints), tuple(lats))
        sol = cache.get(key)
        if sol is None:
            hw = next(v for v in row if v.low != v.high).hwconf
            sol = solve(w32, qintervals=qints, latencies=lats, adder_size=hw.adder_size, carry_size=hw.carry_size)
            cache[key] = sol
        out[r] = list(np.asarray(sol(row), dtype=object).ravel())
    return out.reshape((*x.shape[:-1], w.shape[1]))


def const_matmul(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """w (constant [M, K]) @ x (symbolic [K, N])."""
    return np.swapaxes(matmul_const(np.swapaxes(x, -1, -2), np.swapaxes(np.asarray(w, dtype=np.float64), -1, -2)), -1, -2)
