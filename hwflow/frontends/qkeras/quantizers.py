"""QKeras quantizers -> QONNX ``Quant`` / ``BipolarQuant`` / ``MultiThreshold`` / ``BiPer``
(see the package docstring for the exact semantics)."""

from __future__ import annotations

import math

import numpy as np

from hwflow.errors import MissingQuantization, UnsupportedOp
from hwflow.frontends.qkeras.graph import HWFLOW_DOMAIN, QONNX_DOMAIN, _Graph


def _qname(q) -> str:
    return type(q).__name__


def _is_pow2(v: float) -> bool:
    m, _ = math.frexp(v)
    return v > 0 and m == 0.5


def _is_one(a) -> bool:
    return a is None or (not isinstance(a, str) and np.all(np.asarray(a, dtype=float) == 1.0))


def _fixed_params(q, layer: str) -> tuple[float, int, bool, bool]:
    """(step, bits, signed, narrow) of an activation ``quantized_bits``/``quantized_relu``."""
    if getattr(q, "use_stochastic_rounding", False):
        raise UnsupportedOp(f"{q}: stochastic rounding has no deterministic export", node=layer)
    qnoise = getattr(q, "qnoise_factor", 1.0)
    if float(np.asarray(qnoise)) != 1.0:
        raise UnsupportedOp(f"{q}: qnoise_factor != 1 is not a quantized forward pass",
                            node=layer)
    bits, integer = int(q.bits), int(np.asarray(q.integer))
    if _qname(q) == "quantized_relu":
        if q.use_sigmoid or q.negative_slope:
            raise UnsupportedOp(f"{q}: use_sigmoid/negative_slope not supported", node=layer)
        return 2.0 ** (integer - bits), bits, False, False
    keep_neg = bool(q.keep_negative)
    return 2.0 ** (integer - bits + keep_neg), bits, keep_neg, bool(q.symmetric)


def _act_quant(g: _Graph, q, x: str, base: str, layer: str) -> str:
    """Emit the ONNX nodes of a QKeras activation quantizer applied to tensor ``x``."""
    from hwflow.quant import biper_keras

    kind = _qname(q)
    if isinstance(q, biper_keras.BiPerActivation):
        out = g.node("BiPer", [x], base, domain=HWFLOW_DOMAIN, log2_period=int(q.log2_period))
        g.datatypes[out] = "BIPOLAR"
        return out
    if isinstance(q, (biper_keras.ApproxSign, biper_keras.SignSTE)):
        return g.bipolar(x, base)
    if kind == "quantized_bits":
        if not _is_one(q.alpha):
            raise UnsupportedOp(f"{q}: activation alpha must be None or 1 (got {q.alpha!r})",
                                node=layer)
        if int(q.bits) - int(bool(q.keep_negative)) <= 0:  # 1-bit signed: sign with 0 -> +1
            return g.bipolar(x, base)
        step, bits, signed, narrow = _fixed_params(q, layer)
        return g.quant(x, base, step, bits, signed, narrow)
    if kind == "quantized_relu":
        step, bits, signed, narrow = _fixed_params(q, layer)
        if q.relu_upper_bound is not None and not q.is_quantized_clip:
            raise UnsupportedOp(f"{q}: relu_upper_bound without quantized clip", node=layer)
        r = g.node("Relu", [x], f"{base}_relu")
        return g.quant(r, base, step, bits, signed, narrow)
    if kind == "binary":
        if getattr(q, "use_stochastic_rounding", False) or isinstance(q.alpha, str):
            raise UnsupportedOp(f"{q}: data-dependent scale/stochastic binary activation",
                                node=layer)
        scale = 1.0 if q.alpha is None else float(q.alpha)
        y = g.bipolar(x, base, scale)
        if q.use_01:  # {-s, s} -> {0, s}
            y = g.node("Mul", [g.node("Add", [y, g.const(f"{base}_one", scale)], f"{base}_add"),
                               g.const(f"{base}_half", 0.5)], f"{base}_01")
        return y
    if kind == "ternary":
        if isinstance(q.alpha, str) or isinstance(q.threshold, str) or q.use_stochastic_rounding:
            raise UnsupportedOp(f"{q}: data-dependent ternary activation", node=layer)
        thr = q.default_threshold if q.threshold is None else float(q.threshold)
        scale = 1.0 if q.alpha is None else float(q.alpha)
        if not _is_pow2(2.0 * thr):  # e.g. the default 0.33: exact float32 thresholds
            return _staircase(g, q, x, base, layer)
        # |x| >= thr  <=>  |x / (2 thr)| >= 1/2 (exact: power-of-two factor): HALF_UP
        # rounding, clipped to {-1, 0, 1}
        pre = g.node("Mul", [x, g.const(f"{base}_inv2thr", 1.0 / (2.0 * thr))], f"{base}_pre")
        y = g.quant(pre, base, 1.0, 2, True, True, rounding="HALF_UP")
        if scale != 1.0:
            y = g.node("Mul", [y, g.const(f"{base}_alpha", scale)], f"{base}_scaled")
        return y
    if kind in ("quantized_po2", "quantized_relu_po2"):
        if getattr(q, "use_stochastic_rounding", False):
            raise UnsupportedOp(f"{q}: stochastic rounding", node=layer)
        return _staircase(g, q, x, base, layer)
    raise UnsupportedOp(f"activation quantizer {q} is not supported by the QONNX exporter",
                        node=layer)


MAX_STAIRCASE_THRESHOLDS = 256


def _f32_key(x: np.ndarray) -> np.ndarray:
    """float32 -> int64 that orders like the floats (+0 and -0 both map to 0)."""
    i = np.asarray(x, np.float32).view(np.int32).astype(np.int64)
    return np.where(i >= 0, i, -(i & 0x7FFFFFFF))


def _key_f32(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def _staircase(g: _Graph, q, x: str, base: str, layer: str) -> str:
    """A monotone non-uniform quantizer (power-of-two levels) as QONNX MultiThreshold(s).

    The levels and the exact float32 switching points are read off the QKeras quantizer
    itself (bisection over the ordered float32 values, the quantizer as oracle), so the
    thresholds reproduce TensorFlow's float32 decisions (log2 + round) bit for bit. Steps
    between levels that are k times the smallest step repeat their threshold k times, so
    ``y = lowest + unit * #(x >= t_i)`` gives exactly the levels; when that would need more
    than ``MAX_STAIRCASE_THRESHOLDS`` thresholds, one MultiThreshold per distinct step size
    is emitted and the results are added.
    """
    from hwflow.quant import keras_env

    tf, _ = keras_env()

    def f(v: np.ndarray) -> np.ndarray:
        return np.asarray(q(tf.constant(np.asarray(v, np.float32))), np.float64)

    # |x| <= 2**20: beyond that QKeras' own straight-through form x + (xq - x) loses the
    # level to float32 cancellation (at ~1e38 it returns 0), i.e. no activation range
    probe = [0.0] + [s * 2.0**e for e in range(-40, 21) for s in (1, -1)]
    probe += [s * 2.0 ** (e + 0.5) for e in range(-40, 20) for s in (1, -1)]
    pv = np.sort(np.asarray(probe, np.float32))
    fv = f(pv)
    if np.any(np.diff(fv) < 0):
        raise UnsupportedOp(f"{q}: not monotone, no threshold export", node=layer)
    levels = np.unique(fv)
    gaps = np.diff(levels)
    if gaps.size == 0:
        raise UnsupportedOp(f"{q}: constant output", node=layer)
    # bracket every switching point between the probes, then bisect all at once
    lo = np.array([_f32_key(pv[np.nonzero(fv == levels[i])[0].max()]) for i in range(len(gaps))])
    hi = np.array([_f32_key(pv[np.nonzero(fv == levels[i + 1])[0].min()]) for i in range(len(gaps))])
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        up = f(_key_f32(mid)) >= levels[1:]
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    thr = _key_f32(hi).astype(np.float32)
    unit = float(gaps.min())
    reps = np.rint(gaps / unit).astype(np.int64)
    if np.array_equal(reps * unit, gaps) and reps.sum() <= MAX_STAIRCASE_THRESHOLDS:
        # one node: y = lowest + unit * #(x >= t_i), each t_i repeated gap_i / unit times
        return _multithreshold(g, x, np.repeat(thr, reps), unit, float(levels[0]), base)
    # many thresholds: one node per distinct step size, summed (y = lowest + sum_k gap_k * #)
    y = None
    for k, gap in enumerate(np.unique(gaps)):
        t = thr[gaps == gap]
        bias = float(levels[0]) if k == 0 else 0.0
        term = _multithreshold(g, x, t, float(gap), bias, f"{base}_step{k}")
        y = term if y is None else g.node("Add", [y, term], f"{base}_sum{k}")
    return y


def _multithreshold(g: _Graph, x: str, thr: np.ndarray, scale: float, bias: float,
                    base: str) -> str:
    t_name = g.const(f"{base}_thresholds", np.asarray(thr, np.float32)[None, :])
    bits = max(1, int(np.ceil(np.log2(len(thr) + 1))))
    return g.node("MultiThreshold", [x, t_name], base, domain=QONNX_DOMAIN,
                  out_dtype=f"UINT{bits}", out_scale=scale, out_bias=bias)


def _weight_grid(q, wq: np.ndarray, layer: str, channel_axis: int | None
                 ) -> tuple[np.ndarray | float, int, bool, bool, bool]:
    """(scale, bits, signed, narrow, bipolar) such that Quant(wq) == wq exactly."""
    from hwflow.quant import biper_keras

    kind = _qname(q)
    if isinstance(q, biper_keras.BiPerWeight):
        if not q.binarize:
            raise UnsupportedOp(
                "BiPer weight quantizer in stage 1 (real-valued sin(w0*w) weights) is not a "
                "binary network; export the stage-2 model", node=layer)
        return 1.0, 1, True, False, True
    if isinstance(q, biper_keras.SignSTE):
        return 1.0, 1, True, False, True
    if kind == "binary":
        s = np.abs(wq)
        scale = s.reshape(-1) if s.size else 1.0
        if channel_axis is not None and np.ndim(s) > 1:
            red = tuple(i for i in range(s.ndim) if i != channel_axis % s.ndim)
            scale = s.max(axis=red)
        else:
            scale = float(s.max()) if s.size else 1.0
        return scale, 1, True, False, True
    if kind == "quantized_bits":
        if getattr(q, "use_stochastic_rounding", False):
            raise UnsupportedOp(f"{q}: stochastic rounding", node=layer)
        bits, integer, keep_neg = int(q.bits), int(np.asarray(q.integer)), bool(q.keep_negative)
        ub = bits - keep_neg
        if ub <= 0:
            return float(np.abs(wq).max() or 1.0), 1, True, False, True
        step = 2.0 ** (integer - ub)
        if isinstance(q.alpha, str):
            sc = np.asarray(q.scale, dtype=np.float64).reshape(-1) * step
            scale = sc if sc.size > 1 else float(sc[0])
        elif q.alpha is None:
            scale = step
        else:
            a = np.asarray(q.alpha, dtype=np.float64).reshape(-1) * step
            scale = a if a.size > 1 else float(a[0])
        return scale, bits, keep_neg, bool(q.symmetric) or isinstance(q.alpha, str), False
    if kind == "ternary":
        scale = float(np.abs(wq).max() or 1.0)
        if channel_axis is not None and wq.ndim > 1:
            red = tuple(i for i in range(wq.ndim) if i != channel_axis % wq.ndim)
            m = np.abs(wq).max(axis=red)
            scale = np.where(m > 0, m, 1.0)
        return scale, 2, True, True, False
    if kind == "quantized_po2":
        nz = np.abs(wq[wq != 0])
        if nz.size == 0:
            return 1.0, 2, True, False, False
        e = np.log2(nz)
        lo, hi = int(np.floor(e.min())), int(np.ceil(e.max()))
        return 2.0**lo, hi - lo + 2, True, False, False
    raise UnsupportedOp(f"weight quantizer {q} is not supported by the QONNX exporter", node=layer)


def _quantize_weight(q, w: np.ndarray) -> np.ndarray:
    """The tensor QKeras multiplies with (its own quantizer run on the variable)."""
    from hwflow.quant import keras_env

    tf, _ = keras_env()
    return np.asarray(q(tf.constant(w, dtype=tf.float32)), dtype=np.float32)


def _emit_weight(g: _Graph, q, wq: np.ndarray, onnx_w: np.ndarray,
                 onnx_channel_axis: int, base: str, layer: str, what: str) -> str:
    """Initializer with the quantized values (already in ONNX layout) behind an identity
    Quant/BipolarQuant; checks the identity holds exactly."""
    if q is None:
        raise MissingQuantization(f"{what} of layer has no quantizer (use QKeras layers)",
                                  node=layer)
    scale, bits, signed, narrow, bipolar = _weight_grid(q, wq, layer, channel_axis=-1)
    scale_arr = np.asarray(scale, dtype=np.float64)
    if scale_arr.ndim == 1 and scale_arr.size > 1:
        shape = [1] * onnx_w.ndim
        shape[onnx_channel_axis] = scale_arr.size
        scale_arr = scale_arr.reshape(shape)
    from qonnx.custom_op.general.intquant import max_int, min_int

    w64 = onnx_w.astype(np.float64)
    if bipolar:
        back = np.where(w64 >= 0, 1.0, -1.0) * scale_arr
    else:
        z = np.round(w64 / scale_arr)
        z = np.clip(z, min_int(signed, narrow, bits), max_int(signed, narrow, bits))
        back = z * scale_arr
    if not np.array_equal(back, w64):
        bad = int(np.argmax((back != w64).reshape(-1)))
        raise UnsupportedOp(
            f"{what} quantized by {q} is not exactly representable as a QONNX "
            f"{'BipolarQuant' if bipolar else 'Quant'} (first offending value "
            f"{w64.reshape(-1)[bad]!r})", node=layer)
    init = g.const(f"{base}_{what}", onnx_w)
    if bipolar:
        return g.bipolar(init, f"{base}_{what}_quant", scale_arr.astype(np.float32))
    return g.quant(init, f"{base}_{what}_quant", scale_arr.astype(np.float32), bits, signed,
                   narrow)
