"""ReferenceExecutor API details: input forms, batching, exactness guard."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.errors import ModelError
from hwflow.ir import ReferenceExecutor, clean_model, load_model, make_stimulus

from _ir_models import GraphBuilder


@pytest.fixture(scope="module")
def jet(external_dir):
    return clean_model(load_model(external_dir / "qkeras_jettagging.onnx"))


def test_input_forms_and_intermediate(jet):
    ex = ReferenceExecutor(jet)
    x = make_stimulus(jet, n=32, seed=1)
    y = ex.run(x)
    assert y.dtype == np.float64 and y.shape == (32, 5)
    assert np.array_equal(ex.run({ex.inputs[0]: x}), y)
    assert np.array_equal(ex.run(x[0])[0], y[0])  # a single sample without batch axis
    env = ex.run(x, intermediate=True)
    assert np.array_equal(env[jet.graph.output[0].name], y)
    assert all(o in env for n in jet.graph.node for o in n.output)


def test_run_batched_equals_run(jet):
    ex = ReferenceExecutor(jet)
    x = make_stimulus(jet, n=1000, seed=2)
    assert np.array_equal(ex.run_batched(x, batch_size=96), ex.run(x))


def test_results_do_not_depend_on_batch_size(jet):
    ex = ReferenceExecutor(jet)
    x = make_stimulus(jet, n=300, seed=3)
    full = ex.run(x, intermediate=True)
    one = [ex.run(x[i:i + 1], intermediate=True) for i in range(0, 300, 37)]
    for k, i in enumerate(range(0, 300, 37)):
        for name, v in one[k].items():
            if name not in ex.consts:
                assert np.array_equal(v[0], full[name][i]), name


def test_accumulator_beyond_float64_exactness_is_refused():
    """A chain of wide MatMuls whose integer range exceeds 2**52: refused, not rounded."""
    b = GraphBuilder(seed=0)
    y = b.quant("x", 2.0 ** -15, 16)
    for _ in range(4):
        y = b.node("MatMul", [y, b.qweight((16, 16), bits=16, frac=15)])
    m = b.model("x", [1, 16], y)
    with pytest.raises(ModelError, match="52 bits"):
        ReferenceExecutor(m)
