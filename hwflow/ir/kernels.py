"""Vectorized numpy kernels, one per supported ONNX/QONNX op, batch on axis 0.

Every kernel takes ``(attrs, inputs, f32)``: ``attrs`` is the node's attribute dict,
``inputs`` the input arrays (float64, or None for an absent optional input), ``f32`` says
that the node's output is a float tensor (no fixed-point grid) and must be computed in
float32 the way onnxruntime / qonnx compute it, so that it matches ``execute_onnx``.
Fixed-point tensors are computed in float64 on exact values: every value is a dyadic
rational whose significand needs fewer than 53 bits (checked by the executor from the
inferred types), so float64 products and sums are exact integer arithmetic, and BLAS does
the matrix products.

Quantizers call qonnx's own functions (``int_quant``, ``binary_quant``, ``trunc_v*``) on
inputs cast to float32 when float32 holds them exactly, which is what ``execute_onnx`` feeds
them; this keeps every rounding mode and corner of qonnx's semantics by construction.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hwflow.errors import UnsupportedOp


def _as_f32_if_exact(x: np.ndarray) -> np.ndarray:
    """float32 copy of x if float32 represents every element exactly, else x unchanged."""
    x32 = x.astype(np.float32)
    if np.array_equal(x32, x):
        return x32
    return x


def _to64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------- quantizers -------------
def _is_pow2(s) -> bool:
    s = np.asarray(s, dtype=np.float64)
    m, _ = np.frexp(s)
    return bool(np.all(s > 0) and np.all(m == 0.5))


def k_quant(attrs, ins, f32):
    from qonnx.custom_op.general.intquant import int_quant, max_int, min_int, resolve_rounding_mode

    x, scale, zeropt, bitwidth = ins
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 1))
    bits = int(np.asarray(bitwidth).item())
    if _is_pow2(scale) and not np.any(np.asarray(zeropt)) and not (bits == 1 and signed):
        # fast path, same arithmetic as qonnx's int_quant: x / 2**k is exact in binary
        # floating point, then clamp, then round, then rescale (exact again)
        # float32 inputs (graph inputs are FLOAT tensors) stay float32 until the end: every
        # step below is exact in either precision (power-of-two scaling, clip, round)
        dt = np.float32 if x.dtype == np.float32 else np.float64
        s = np.asarray(scale, dtype=np.float64)
        y = np.multiply(x, (1.0 / s).astype(dt), dtype=dt)  # 1/2**k is exact
        np.clip(y, min_int(signed, narrow, bits), max_int(signed, narrow, bits), out=y)
        mode = _str(attrs.get("rounding_mode", "ROUND")).upper()
        inplace = {"ROUND": np.rint, "HALF_EVEN": np.rint, "FLOOR": np.floor, "CEIL": np.ceil, "DOWN": np.trunc}
        if mode in inplace:  # the same functions qonnx resolves to (np.round == np.rint here)
            inplace[mode](y, out=y)
        else:
            y = _to64(resolve_rounding_mode(mode)(y))
        y *= s.astype(dt)
        # float32 holds q * 2**-k exactly (|q| < 2**24): keep it, the next GEMM wants float32
        return [y if dt == np.float32 and bits <= 24 else _to64(y)]
    y = int_quant(_as_f32_if_exact(x), scale, zeropt, bitwidth,
                  signed=bool(attrs.get("signed", 1)), narrow=bool(attrs.get("narrow", 1)),
                  rounding_mode=_str(attrs.get("rounding_mode", "ROUND")))
    return [_to64(y)]


def k_bipolar_quant(attrs, ins, f32):
    from qonnx.custom_op.general.bipolar_quant import binary_quant

    x, scale = ins
    return [_to64(binary_quant(_as_f32_if_exact(x), scale))]


def k_trunc(attrs, ins, f32):
    from qonnx.custom_op.general import trunc as qtrunc

    x = _as_f32_if_exact(ins[0])
    mode = _str(attrs.get("rounding_mode", "FLOOR"))
    if len(ins) >= 6:  # Trunc v2: scale, zeropt, in_bw, out_scale, out_bw
        y = qtrunc.trunc_v2(x, ins[1], ins[2], ins[3], int(attrs.get("narrow", 0)),
                            int(attrs.get("signed", 1)), ins[4], ins[5], mode)
    else:  # Trunc v1: scale, zeropt, in_bw, out_bw
        y = qtrunc.trunc_v1(x, ins[1], ins[2], ins[3], ins[4], mode)
    return [_to64(y)]


def k_multithreshold(attrs, ins, f32):
    from qonnx.custom_op.general.multithreshold import multithreshold

    v, thr = ins
    layout = _str(attrs.get("data_layout", "")) or {2: "NC", 3: "NWC", 4: "NCHW"}.get(v.ndim, "NC")
    cdim = layout.index("C") if "C" in layout else 1
    out_scale = float(attrs.get("out_scale", 1.0))
    out_bias = float(attrs.get("out_bias", 0.0))
    thr = np.asarray(thr)
    if thr.shape[1] <= 16:
        # few thresholds: one comparison per threshold over the channel-last view (the same
        # count of thresholds t with v >= t as qonnx's multithreshold, without its N*C*T array)
        vm = np.moveaxis(v, cdim, -1)
        cnt = np.zeros(vm.shape)
        for t in range(thr.shape[1]):
            cnt += vm >= thr[:, t]
        y = np.moveaxis(cnt, -1, cdim)
    else:
        vv = np.swapaxes(v, cdim, 1)
        cnt = multithreshold(vv, thr)  # counts as v.dtype
        y = np.swapaxes(cnt, cdim, 1)
    if f32:
        y = np.float32(out_scale) * y.astype(np.float32) + np.float32(out_bias)
    else:
        y = out_scale * y + out_bias
    return [_to64(y)]


def k_biper(attrs, ins, f32):
    from hwflow.ir.custom_op.biper import biper

    return [_to64(biper(ins[0], int(attrs["log2_period"])))]


# ---------------------------------------------------------------- linear algebra ---------
def k_matmul(attrs, ins, f32):
    a, b = ins
    if f32:
        return [_to64(np.matmul(a.astype(np.float32, copy=False), b.astype(np.float32, copy=False)))]
    return [np.matmul(a, b)]


def k_gemm(attrs, ins, f32):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    if f32:
        y = np.matmul(a.astype(np.float32), b.astype(np.float32))
        if alpha != 1.0:
            y = np.float32(alpha) * y
        if c is not None:
            y = y + (np.float32(beta) * c.astype(np.float32) if beta != 1.0 else c.astype(np.float32))
        return [_to64(y)]
    y = np.matmul(a, b)
    if alpha != 1.0:
        y = alpha * y
    if c is not None:
        y = y + beta * c
    return [y]


def _conv_geometry(attrs, spatial_in, kernel):
    nd = len(kernel)
    strides = list(attrs.get("strides", [1] * nd))
    dil = list(attrs.get("dilations", [1] * nd))
    pads = list(attrs.get("pads", [0] * (2 * nd)))
    auto_pad = _str(attrs.get("auto_pad", "NOTSET"))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * (2 * nd)
        for i in range(nd):
            out = -(-spatial_in[i] // strides[i])
            eff = (kernel[i] - 1) * dil[i] + 1
            total = max(0, (out - 1) * strides[i] + eff - spatial_in[i])
            lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads[i], pads[i + nd] = lo, total - lo
    elif auto_pad == "VALID":
        pads = [0] * (2 * nd)
    return strides, dil, pads


def _windows(x, kernel, strides, dil, pads, pad_value, ceil_mode=False):
    """x [N, C, *S] -> windows [N, C, *out, *kernel] (a view where possible)."""
    nd = len(kernel)
    spatial = x.shape[2:]
    extra = [0] * nd
    if ceil_mode:
        for i in range(nd):
            eff = (kernel[i] - 1) * dil[i] + 1
            span = spatial[i] + pads[i] + pads[i + nd] - eff
            out_ceil = -(-span // strides[i]) + 1
            # the last window must start inside the (left-padded) input
            if (out_ceil - 1) * strides[i] >= spatial[i] + pads[i]:
                out_ceil -= 1
            extra[i] = max(0, (out_ceil - 1) * strides[i] + eff - (spatial[i] + pads[i] + pads[i + nd]))
    widths = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd] + extra[i]) for i in range(nd)]
    if any(p != (0, 0) for p in widths):
        x = np.pad(x, widths, constant_values=pad_value)
    eff = [(kernel[i] - 1) * dil[i] + 1 for i in range(nd)]
    w = sliding_window_view(x, eff, axis=tuple(range(2, 2 + nd)))
    sl = [slice(None), slice(None)] + [slice(None, None, s) for s in strides] + [slice(None, None, d) for d in dil]
    return w[tuple(sl)]


def k_conv(attrs, ins, f32):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    kernel = list(w.shape[2:])
    nd = len(kernel)
    if nd not in (1, 2):
        raise UnsupportedOp(f"Conv with {nd} spatial dims (only 1D and 2D)")
    strides, dil, pads = _conv_geometry(attrs, x.shape[2:], kernel)
    g = int(attrs.get("group", 1))
    dt = np.float32 if f32 else np.float64
    win = _windows(x.astype(dt, copy=False), kernel, strides, dil, pads, 0.0)
    n, c = x.shape[0], x.shape[1]
    m = w.shape[0]
    out_sp = win.shape[2:2 + nd]
    win = win.reshape((n, g, c // g) + tuple(out_sp) + tuple(kernel))
    wg = w.astype(dt).reshape((g, m // g, c // g) + tuple(kernel))
    if nd == 1:
        y = np.einsum("ngcoK,gmcK->ngmo", win, wg, optimize=True)
    else:
        y = np.einsum("ngcopKL,gmcKL->ngmop", win, wg, optimize=True)
    y = y.reshape((n, m) + tuple(out_sp))
    if b is not None:
        y = y + b.astype(dt).reshape((1, m) + (1,) * nd)
    return [_to64(y)]


# ---------------------------------------------------------------- elementwise ------------
def _binary(fn):
    def k(attrs, ins, f32):
        a, b = ins
        if f32:
            return [_to64(fn(a.astype(np.float32), b.astype(np.float32)))]
        return [fn(a, b)]
    return k


k_add = _binary(np.add)
k_sub = _binary(np.subtract)
k_mul = _binary(np.multiply)
k_div = _binary(np.divide)


def k_pow(attrs, ins, f32):
    return [_to64(np.power(ins[0].astype(np.float32), ins[1].astype(np.float32)))]


def k_relu(attrs, ins, f32):
    return [np.maximum(ins[0], 0.0)]


def k_identity(attrs, ins, f32):
    return [ins[0]]


def k_sigmoid(attrs, ins, f32):
    x = ins[0].astype(np.float32)
    return [_to64(np.float32(1.0) / (np.float32(1.0) + np.exp(-x)))]


def k_softmax(attrs, ins, f32, opset=13):
    x = ins[0].astype(np.float32)
    axis = int(attrs.get("axis", -1 if opset >= 13 else 1))
    if opset < 13:  # coerced to 2D at `axis`
        shp = x.shape
        ax = axis % x.ndim
        x2 = x.reshape(int(np.prod(shp[:ax])), -1)
        e = np.exp(x2 - x2.max(axis=1, keepdims=True))
        return [_to64((e / e.sum(axis=1, keepdims=True)).reshape(shp))]
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [_to64(e / e.sum(axis=axis, keepdims=True))]


def k_batchnorm(attrs, ins, f32):
    x, scale, bias, mean, var = (a.astype(np.float32) for a in ins[:5])
    eps = np.float32(attrs.get("epsilon", 1e-5))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shp)) / np.sqrt(var.reshape(shp) + eps) * scale.reshape(shp) + bias.reshape(shp)
    return [_to64(y)]


# ---------------------------------------------------------------- pooling ----------------
def k_maxpool(attrs, ins, f32):
    x = ins[0]
    kernel = list(attrs["kernel_shape"])
    strides, dil, pads = _conv_geometry(attrs, x.shape[2:], kernel)
    win = _windows(x, kernel, strides, dil, pads, -np.inf, bool(attrs.get("ceil_mode", 0)))
    nd = len(kernel)
    return [win.max(axis=tuple(range(-nd, 0)))]


def k_averagepool(attrs, ins, f32):
    x = ins[0]
    kernel = list(attrs["kernel_shape"])
    strides, dil, pads = _conv_geometry(attrs, x.shape[2:], kernel)
    nd = len(kernel)
    ceil = bool(attrs.get("ceil_mode", 0))
    dt = np.float32 if f32 else np.float64
    s = _windows(x.astype(dt), kernel, strides, dil, pads, 0.0, ceil).sum(axis=tuple(range(-nd, 0)))
    if attrs.get("count_include_pad", 0):
        ones = np.ones((1, 1) + x.shape[2:], dtype=dt)
        cnt = _windows(np.pad(ones, [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)],
                              constant_values=1.0), kernel, strides, dil, [0] * (2 * nd), 0.0, ceil)
    else:
        ones = np.ones((1, 1) + x.shape[2:], dtype=dt)
        cnt = _windows(ones, kernel, strides, dil, pads, 0.0, ceil)
    cnt = cnt.sum(axis=tuple(range(-nd, 0)))
    return [_to64(s / cnt)]


def k_globalaveragepool(attrs, ins, f32):
    x = ins[0]
    axes = tuple(range(2, x.ndim))
    if f32:
        x = x.astype(np.float32)
        return [_to64(x.sum(axis=axes, keepdims=True) / np.float32(math.prod(x.shape[2:])))]
    return [x.sum(axis=axes, keepdims=True) / math.prod(x.shape[2:])]


def k_globalmaxpool(attrs, ins, f32):
    x = ins[0]
    return [x.max(axis=tuple(range(2, x.ndim)), keepdims=True)]


# ---------------------------------------------------------------- data movement ----------
def k_flatten(attrs, ins, f32):
    x = ins[0]
    axis = int(attrs.get("axis", 1)) % max(x.ndim, 1)
    if axis == 0:
        raise UnsupportedOp("Flatten with axis=0 mixes the batch into the features")
    return [x.reshape(x.shape[:1] + (-1,)) if axis == 1 else x.reshape(math.prod(x.shape[:axis]), -1)]


def k_reshape(attrs, ins, f32):
    x, shape = ins[0], [int(s) for s in np.asarray(ins[1]).ravel()]
    if shape and shape[0] in (1, 0, -1):
        # batch axis: the graph is written for batch 1; keep the executor's batch
        rest = [x.shape[i + 1] if (s == 0 and not attrs.get("allowzero", 0)) else s
                for i, s in enumerate(shape[1:])]
        return [x.reshape([x.shape[0]] + rest)]
    raise UnsupportedOp(f"Reshape to {shape} changes the batch axis")


def k_transpose(attrs, ins, f32):
    x = ins[0]
    perm = list(attrs.get("perm", list(range(x.ndim))[::-1]))
    if perm[0] != 0:
        raise UnsupportedOp(f"Transpose perm={perm} moves the batch axis")
    return [np.transpose(x, perm)]


def k_concat(attrs, ins, f32):
    axis = int(attrs["axis"])
    if axis % ins[0].ndim == 0:
        raise UnsupportedOp("Concat along the batch axis")
    n = max(a.shape[0] for a in ins)
    parts = [np.broadcast_to(a, (n,) + a.shape[1:]) if a.shape[0] != n else a for a in ins]
    return [np.concatenate(parts, axis=axis)]


def k_squeeze(attrs, ins, f32):
    x = ins[0]
    axes = attrs.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = [int(a) for a in np.asarray(ins[1]).ravel()]
    axes = [a % x.ndim for a in axes] if axes is not None else [i for i in range(1, x.ndim) if x.shape[i] == 1]
    if 0 in axes:
        axes = [a for a in axes if a != 0]
    return [np.squeeze(x, axis=tuple(axes))]


def k_unsqueeze(attrs, ins, f32):
    x = ins[0]
    axes = attrs.get("axes")
    if axes is None:
        axes = [int(a) for a in np.asarray(ins[1]).ravel()]
    out_nd = x.ndim + len(axes)
    axes = sorted(a % out_nd for a in axes)
    if 0 in axes:
        raise UnsupportedOp("Unsqueeze at the batch axis")
    for a in axes:
        x = np.expand_dims(x, a)
    return [x]


def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


KERNELS = {
    "Quant": k_quant,
    "IntQuant": k_quant,
    "BipolarQuant": k_bipolar_quant,
    "Trunc": k_trunc,
    "MultiThreshold": k_multithreshold,
    "BiPer": k_biper,
    "MatMul": k_matmul,
    "Gemm": k_gemm,
    "Conv": k_conv,
    "Add": k_add,
    "Sub": k_sub,
    "Mul": k_mul,
    "Div": k_div,
    "Pow": k_pow,
    "Relu": k_relu,
    "Identity": k_identity,
    "Sigmoid": k_sigmoid,
    "Softmax": k_softmax,
    "BatchNormalization": k_batchnorm,
    "MaxPool": k_maxpool,
    "AveragePool": k_averagepool,
    "GlobalAveragePool": k_globalaveragepool,
    "GlobalMaxPool": k_globalmaxpool,
    "Flatten": k_flatten,
    "Reshape": k_reshape,
    "Transpose": k_transpose,
    "Concat": k_concat,
    "Squeeze": k_squeeze,
    "Unsqueeze": k_unsqueeze,
}

# Ops that are always float (no fixed-point grid): computed in float32 like onnxruntime.
FLOAT_OPS = {"Softmax", "Sigmoid", "BatchNormalization", "Pow"}
