"""BiPer for QKeras: forward values and surrogate gradients (vs finite differences of sin)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hwflow.quant import keras_env

tf, keras = keras_env()
from hwflow.quant import biper_keras as bk  # noqa: E402


def _grad(fn, x):
    x = tf.Variable(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        y = fn(x)
    return y.numpy(), tape.gradient(y, x).numpy()


def test_biper_weight_forward_is_square_wave_with_zero_to_plus_one():
    q = bk.BiPerWeight(w0=20.0)
    w = np.linspace(-0.5, 0.5, 2001).astype(np.float32)
    y = q(w).numpy()
    s = np.sin(20.0 * w.astype(np.float32))
    assert set(np.unique(y)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, np.where(tf.sin(tf.constant(20.0) * w).numpy() >= 0, 1.0, -1.0))
    assert (y[np.abs(s) > 1e-3] == np.sign(s[np.abs(s) > 1e-3])).all()
    assert q(np.zeros(3, np.float32)).numpy().tolist() == [1.0, 1.0, 1.0]  # sign(0) = +1


@pytest.mark.parametrize("w0", [20.0, 7.5])
def test_biper_weight_gradient_matches_finite_difference_of_sin(w0):
    q = bk.BiPerWeight(w0=w0)
    w = np.random.default_rng(1).uniform(-0.4, 0.4, 200)
    _, g = _grad(lambda v: q(v) * 3.0, w)
    h = 1e-6
    fd = (np.sin(w0 * (w + h)) - np.sin(w0 * (w - h))) / (2 * h) * 3.0
    np.testing.assert_allclose(g, fd, rtol=2e-4, atol=2e-4)


def test_biper_stage1_is_real_valued_sin():
    q = bk.BiPerWeight(w0=20.0, binarize=False)
    w = np.random.default_rng(2).uniform(-0.3, 0.3, 100).astype(np.float32)
    y, g = _grad(q, w)
    np.testing.assert_allclose(y, np.sin(20.0 * w), atol=1e-6)
    np.testing.assert_allclose(g, 20.0 * np.cos(20.0 * w), atol=1e-4)


def test_approx_sign_forward_and_bireal_gradient():
    x = np.array([-2.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.0], np.float32)
    y, g = _grad(bk.ApproxSign(), x)
    np.testing.assert_array_equal(y, [-1, -1, -1, -1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(g, np.maximum(0.0, 2.0 - 2.0 * np.abs(x)))


def test_sign_ste_gradient_is_clipped_identity():
    x = np.array([-2.0, -0.5, 0.0, 0.9, 1.5], np.float32)
    y, g = _grad(bk.SignSTE(clip=1.0), x)
    np.testing.assert_array_equal(y, [-1, -1, 1, 1, 1])
    np.testing.assert_array_equal(g, [0, 1, 1, 1, 0])


@pytest.mark.parametrize("k,f", [(0, 3), (2, 4), (-2, 5), (1, 0)])
def test_biper_activation_contract_bit_test(k, f):
    """y = -1 iff bit (k + f - 1) of the two's-complement integer q is 1 (docs/INTERFACES.md 2)."""
    q = np.arange(-(2 ** (f + k + 2)), 2 ** (f + k + 2) + 1)
    x = (q * 2.0**-f).astype(np.float32)
    y = bk.BiPerActivation(k)(x).numpy()
    bit = (q >> (k + f - 1)) & 1
    np.testing.assert_array_equal(y, np.where(bit == 1, -1.0, 1.0))
    # same as (x mod P) < P/2, i.e. sign(sin(2 pi x / P)) with the contract's tie rule
    P = 2.0**k
    np.testing.assert_array_equal(y, np.where(np.mod(x.astype(np.float64), P) < P / 2, 1.0, -1.0))
    s = np.sin(2 * np.pi * x.astype(np.float64) / P)
    away = np.abs(s) > 1e-9
    np.testing.assert_array_equal(y[away], np.sign(s[away]))


def test_biper_activation_matches_ir_custom_op():
    from hwflow.ir.custom_op.biper import biper as ir_biper

    x = (np.random.default_rng(3).integers(-500, 500, 2000) / 16.0).astype(np.float32)
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(bk.BiPerActivation(k)(x).numpy(), ir_biper(x, k))


@pytest.mark.parametrize("k", [0, 2])
def test_biper_activation_gradient_matches_finite_difference_of_sin(k):
    x = np.random.default_rng(4).uniform(-3, 3, 200)
    _, g = _grad(bk.BiPerActivation(k), x)
    P, h = 2.0**k, 1e-6
    fd = (np.sin(2 * math.pi * (x + h) / P) - np.sin(2 * math.pi * (x - h) / P)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=2e-4, atol=2e-4)


def test_binary_scale_integer_threshold_is_exact():
    layer = bk.BinaryScale(name="s")
    layer.build((None, 5))
    layer.log_alpha.assign(np.array([-1.3, 0.0, 0.7, 2.0, -3.0], np.float32))
    layer.beta.assign(np.array([0.35, -2.5, 4.0, -1000.0, 100.0], np.float32))
    bound = 18
    thr = layer.integer_thresholds(bound)
    ys = np.arange(-bound, bound + 1, dtype=np.float32)
    vals = layer(tf.constant(np.repeat(ys[:, None], 5, 1))).numpy()
    np.testing.assert_array_equal(vals >= 0, ys[:, None] >= thr[None, :])
    assert thr[3] == bound + 1 and thr[4] == -bound  # never / always positive


def test_set_biper_stage_switches_quantizers():
    from hwflow import zoo

    m = zoo.build_model("biper_bnn", "qkeras", stage=1)
    qs = [l.kernel_quantizer_internal for l in m.layers if isinstance(
        getattr(l, "kernel_quantizer_internal", None), bk.BiPerWeight)]
    assert len(qs) == 2 and not any(q.binarize for q in qs)
    assert bk.set_biper_stage(m, 2) == 2
    assert all(q.binarize for q in qs)
