"""The hwflow BiPer custom op: spec (docs/INTERFACES.md section 2), qonnx execution, our
executor."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.ir import FixedType, ReferenceExecutor, infer_fixed_point, make_stimulus
from hwflow.ir.custom_op import DOMAIN, biper

from _ir_models import GraphBuilder
from _ir_util import compare_every_tensor

pytestmark = pytest.mark.unit


def biper_bit_test(q: np.ndarray, k: int, f: int) -> np.ndarray:
    """The hardware definition: -1 iff bit (k + f - 1) of the two's-complement q is set."""
    bit = (q.astype(np.int64) >> (k + f - 1)) & 1
    return np.where(bit == 1, -1.0, 1.0)


@pytest.mark.parametrize("k,f", [(0, 3), (1, 3), (2, 3), (-2, 3), (3, 0), (4, 2)])
def test_biper_function_is_the_bit_test(k, f):
    q = np.arange(-300, 300)
    x = q * 2.0 ** -f
    assert np.array_equal(biper(x, k), biper_bit_test(q, k, f))
    # and the sin definition away from its zeros: sign(sin(2 pi x / P))
    P = 2.0 ** k
    s = np.sin(2 * np.pi * x / P)
    away = np.abs(np.mod(x, P / 2)) > 1e-9
    assert np.array_equal(biper(x, k)[away], np.sign(s)[away])
    # at even multiples of P/2 (incl. 0) +1, at odd multiples -1
    assert biper(np.array([0.0, P, -P]), k).tolist() == [1.0, 1.0, 1.0]
    assert biper(np.array([P / 2, -P / 2, 1.5 * P]), k).tolist() == [-1.0, -1.0, -1.0]


def _biper_model(k, frac=3, bits=6):
    b = GraphBuilder(seed=k + 10)
    q = b.quant("x", 2.0 ** -frac, bits)
    y = b.node("BiPer", [q], domain=DOMAIN, log2_period=k)
    mm = b.node("MatMul", [y, b.qweight((8, 4), bits=3, frac=0)])
    return b.model("x", [1, 8], mm, extra_domains=[DOMAIN]), y


@pytest.mark.parametrize("k", [-2, 0, 1, 2])
def test_biper_in_execute_onnx_and_executor(k):
    m, y = _biper_model(k)
    ex = ReferenceExecutor(m)
    x = make_stimulus(m, n=150, seed=k + 5)
    bad, checked = compare_every_tensor(m, ex, x)
    assert y in checked and not bad
    out = ex.run(x, intermediate=True)
    q = np.round(out[m.graph.node[0].output[0]] * 8).astype(np.int64)
    assert np.array_equal(out[y], biper_bit_test(q, k, 3))
    t = infer_fixed_point(m)
    assert t[y] == FixedType.bipolar() and t[y].is_bipolar
    assert m.get_tensor_datatype(y).name in ("BIPOLAR", "FLOAT32")


def test_biper_period_finer_than_grid_is_rejected():
    from hwflow.errors import ModelError

    m, _ = _biper_model(-4)  # k + f = -1 < 1: P/2 below one LSB
    with pytest.raises(ModelError, match="BiPer"):
        infer_fixed_point(m)
