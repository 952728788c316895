"""Seeded random quantized graphs (dense and conv, random quantizer parameters): executor vs
execute_onnx on every tensor, and every value inside its inferred type."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.ir import ReferenceExecutor, clean_model, infer_fixed_point, make_stimulus

from _ir_models import GraphBuilder
from _ir_util import compare_every_tensor

MODES = ["ROUND", "FLOOR", "CEIL", "HALF_UP", "DOWN"]


def random_model(seed):
    rng = np.random.default_rng(seed)
    b = GraphBuilder(seed=seed)
    conv = bool(rng.integers(0, 2))
    shape = [1, int(rng.integers(1, 4)), 6, 5] if conv else [1, int(rng.integers(3, 20))]

    def rq(x, signed=None):
        bits = int(rng.integers(2, 9))
        signed = int(rng.integers(0, 2)) if signed is None else signed
        return b.quant(x, 2.0 ** -int(rng.integers(-1, 7)), bits, signed=signed,
                       narrow=int(rng.integers(0, 2)), mode=MODES[int(rng.integers(0, len(MODES)))])

    y = rq("x", signed=1)
    ch = shape[1]
    for _layer in range(int(rng.integers(1, 3))):
        out_ch = int(rng.integers(2, 9))
        wbits, wfrac = int(rng.integers(2, 9)), int(rng.integers(0, 6))
        if conv:
            k = int(rng.integers(1, 4))
            y = b.node("Conv", [y, b.qweight((out_ch, ch, k, k), bits=wbits, frac=wfrac)],
                       pads=[k // 2] * 4)
        else:
            y = b.node("MatMul", [y, b.qweight((ch, out_ch), bits=wbits, frac=wfrac)])
        if rng.integers(0, 2):
            bias = b.qweight((out_ch,) if not conv else (1, out_ch, 1, 1), bits=8, frac=int(rng.integers(0, 8)))
            y = b.node("Add", [y, bias])
        if rng.integers(0, 2):
            y = b.node("Relu", [y])
        y = rq(y)
        ch = out_ch
    if conv and rng.integers(0, 2):
        y = b.node("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2])
    return b.model("x", shape, y)


@pytest.mark.parametrize("seed", range(10))
def test_random_graph(seed):
    m = random_model(seed)
    for model in (m, clean_model(m)):
        ex = ReferenceExecutor(model)
        x = make_stimulus(model, n=25, seed=seed)
        bad, _ = compare_every_tensor(model, ex, x)
        assert not bad, (seed, bad)
        types = infer_fixed_point(model)
        vals = ex.run(make_stimulus(model, n=300, seed=seed + 100), intermediate=True)
        for t, v in vals.items():
            ft = types[t]
            if ft.is_float or t in ex.consts:
                continue
            q = np.asarray(v) / ft.step
            assert np.array_equal(q, np.round(q)), (seed, t)
            assert q.min() >= ft.int_min and q.max() <= ft.int_max, (seed, t, ft)
