"""Tensors during tracing: numpy arrays that hold either constants (float64) or da4ml
``FixedVariable`` objects (dtype object). Elementwise helpers broadcast like numpy."""

from __future__ import annotations

from typing import Callable

import numpy as np
from da4ml.trace import FixedVariable, FixedVariableArray


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
    """x (symbolic, [..., K]) @ w (constant [K, N]) through da4ml's CMVM optimizer."""
    hw = next(v for v in x.ravel() if isinstance(v, FixedVariable)).hwconf
    xa = FixedVariableArray(x.copy(), hwconf=hw)
    r = xa @ np.asarray(w, dtype=np.float64)
    return np.asarray(r._vars, dtype=object)


def const_matmul(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """w (constant [M, K]) @ x (symbolic [K, N])."""
    return np.swapaxes(matmul_const(np.swapaxes(x, -1, -2), np.swapaxes(np.asarray(w, dtype=np.float64), -1, -2)), -1, -2)
