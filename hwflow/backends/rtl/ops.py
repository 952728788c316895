"""One tracing function per QONNX operator.

Each handler gets the node, its input tensors (constants as float64 arrays, traced values
as object arrays of da4ml ``FixedVariable``) and returns its output tensors. Everything a
handler builds is exact fixed-point arithmetic: constants must be dyadic where they touch
traced values (powers of two for scales), otherwise the handler raises ``UnsupportedOp``
naming the node instead of producing an approximation.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from da4ml.trace import FixedVariable
from onnx import helper
from qonnx.custom_op.general.quant import max_int, min_int, quant, resolve_rounding_mode

from hwflow.backends.rtl.rounding import clip, round_to_int
from hwflow.backends.rtl.tensors import as_const, const_matmul, elementwise, is_symbolic, matmul_const
from hwflow.errors import UnsupportedOp

Handler = Callable[["NodeCtx"], list]


class NodeCtx:
    """What a handler sees of one node."""

    def __init__(self, node, inputs: list):
        self.node = node
        self.inputs = inputs
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for k, v in list(self.attrs.items()):
            if isinstance(v, bytes):
                self.attrs[k] = v.decode()

    @property
    def name(self) -> str:
        return self.node.name or self.node.output[0]

    def fail(self, what: str) -> UnsupportedOp:
        return UnsupportedOp(f"RTL backend: {self.node.op_type} {what}", node=self.name)

    def const(self, i: int) -> np.ndarray:
        a = self.inputs[i]
        if a is None or is_symbolic(a):
            raise self.fail(f"needs input {i} ({self.node.input[i]!r}) to be a constant")
        return as_const(a)

    def attr(self, name: str, default=None):
        return self.attrs.get(name, default)


def _pow2_exponent(ctx: NodeCtx, s: np.ndarray, what: str) -> np.ndarray:
    s = as_const(s)
    if np.any(s <= 0):
        raise ctx.fail(f"{what} must be positive, got {s.ravel()[:4]}")
    e = np.log2(s)
    if not np.all(e == np.round(e)):
        raise ctx.fail(
            f"{what} {s.ravel()[:4]} is not a power of two; the RTL backend implements only "
            "power-of-two scales exactly (retrain with power-of-two scaling)"
        )
    return e.astype(np.int64)


# ---------------------------------------------------------------- quantizers


def op_quant(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    scale, zeropt, bitwidth = ctx.const(1), ctx.const(2), ctx.const(3)
    signed, narrow = int(ctx.attr("signed", 1)), int(ctx.attr("narrow", 0))
    mode = str(ctx.attr("rounding_mode", "ROUND")).upper()
    if not is_symbolic(x):
        return [quant(as_const(x), scale, zeropt, bitwidth, signed=signed, narrow=narrow, rounding_mode=mode)]
    if bitwidth.size != 1:
        raise ctx.fail("with a per-element bit width")
    bits = float(bitwidth.ravel()[0])
    if bits != int(bits):
        raise ctx.fail(f"with non-integer bit width {bits}")
    if bits == 1 and signed:
        # qonnx: a 1-bit signed Quant is bipolar, x >= 0 -> +1 else -1 (times scale)
        return [op_bipolar_values(ctx, x, scale)]
    resolve_rounding_mode(mode)  # raises ValueError for unknown modes, like qonnx
    _pow2_exponent(ctx, scale, "scale")
    if not np.all(zeropt == np.round(zeropt)):
        raise ctx.fail("with a non-integer zero point")
    lo = float(min_int(bool(signed), bool(narrow), bits))
    hi = float(max_int(bool(signed), bool(narrow), bits))

    def q(v, s, z):
        y = v * (1.0 / s) + z if isinstance(v, FixedVariable) else v / s + z
        y = round_to_int(clip(y, lo, hi), mode) if isinstance(y, FixedVariable) else y
        return (y - z) * s

    return [elementwise(q, x, scale, zeropt)]


def op_bipolar_values(ctx: NodeCtx, x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    def b(v, s):
        if not isinstance(v, FixedVariable):
            return s if v >= 0 else -s
        if v.low >= 0:
            return s
        if v.high < 0:
            return -s
        # +s if v >= 0 else -s: one sign bit, y = s * (1 - 2 * msb)
        return (v.is_negative() * -2.0 + 1.0) * s

    _ = ctx
    return elementwise(b, x, scale)


def op_bipolar_quant(ctx: NodeCtx) -> list:
    x, scale = ctx.inputs[0], ctx.const(1)
    if is_symbolic(x):
        _pow2_exponent(ctx, scale, "scale")
    return [op_bipolar_values(ctx, x, scale)]


def op_biper(ctx: NodeCtx) -> list:
    """hwflow BiPer activation (docs/INTERFACES.md section 2): y = -1 iff the bit of weight
    2**(k-1) of x is 1 (period P = 2**k); one bit test in hardware."""
    x = ctx.inputs[0]
    k = int(ctx.attr("log2_period"))

    def bp(v):
        if not isinstance(v, FixedVariable):
            p = 2.0**k
            return 1.0 if (v % p) < p / 2 else -1.0
        f = int(v.kif[2])
        if k + f < 1:
            raise ctx.fail(f"log2_period={k} with input fraction bits {f}: needs k + f >= 1")
        bit = v.quantize(0, k, 1 - k, "WRAP", "TRN")  # value in {0, 2**(k-1)}
        return bit * -(2.0 ** (2 - k)) + 1.0

    return [elementwise(bp, x)]


def op_multithreshold(ctx: NodeCtx) -> list:
    x, thr = ctx.inputs[0], ctx.const(1)
    out_scale = float(ctx.attr("out_scale", 1.0))
    out_bias = float(ctx.attr("out_bias", 0.0))
    layout = str(ctx.attr("data_layout", "NCHW"))
    if not is_symbolic(x):
        from qonnx.custom_op.general.multithreshold import multithreshold

        return [multithreshold(as_const(x), thr, out_scale, out_bias, channels_last=layout.endswith("C"))]
    caxis = -1 if layout.endswith("C") else 1
    xm = np.moveaxis(x, caxis, -1) if x.ndim > 1 else x
    nch = xm.shape[-1]
    if thr.shape[0] not in (1, nch):
        raise ctx.fail(f"threshold rows {thr.shape[0]} do not match {nch} channels")
    out = np.empty(xm.shape, dtype=object)
    for idx in np.ndindex(xm.shape):
        v = xm[idx]
        row = thr[0 if thr.shape[0] == 1 else idx[-1]]
        step = float(v.step)
        acc = 0
        for t in row:
            # on the grid of v, v >= t  <=>  v >= ceil(t / step) * step (exact)
            tg = math.ceil(float(t) / step) * step
            if v.low >= tg:
                acc = acc + 1
            elif v.high < tg:
                continue
            else:
                acc = acc + (1 - (v - tg).is_negative())
        out[idx] = acc
    out = elementwise(lambda a: a * out_scale + out_bias, out)
    return [np.moveaxis(out, -1, caxis) if x.ndim > 1 else out]


# ---------------------------------------------------------------- linear algebra


def op_matmul(ctx: NodeCtx) -> list:
    a, b = ctx.inputs
    if is_symbolic(a) and is_symbolic(b):
        raise ctx.fail("of two traced tensors (only constant weights are supported)")
    if not is_symbolic(a) and not is_symbolic(b):
        return [as_const(a) @ as_const(b)]
    if is_symbolic(a):
        if b.ndim != 2:
            raise ctx.fail(f"with {b.ndim}-d weights")
        return [matmul_const(a, b)]
    if a.ndim != 2:
        raise ctx.fail(f"with {a.ndim}-d weights")
    return [const_matmul(a, b)]


def op_gemm(ctx: NodeCtx) -> list:
    a, b = ctx.inputs[0], ctx.inputs[1]
    c = ctx.inputs[2] if len(ctx.inputs) > 2 else None
    alpha, beta = float(ctx.attr("alpha", 1.0)), float(ctx.attr("beta", 1.0))
    if int(ctx.attr("transA", 0)):
        a = np.swapaxes(a, -1, -2)
    if int(ctx.attr("transB", 0)):
        b = np.swapaxes(b, -1, -2)
    if is_symbolic(b):
        raise ctx.fail("with traced weights")
    y = matmul_const(a, as_const(b) * alpha) if is_symbolic(a) else as_const(a) @ (as_const(b) * alpha)
    if c is not None:
        y = elementwise(lambda u, v: u + v, y, elementwise(lambda v: v * beta, c))
    return [y]


def _conv_patches(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int, pads, fill):
    """x [C, H, W] -> patches [OH, OW, C, kh, kw] (object or float), zero padded."""
    c, h, w = x.shape
    pt, pl, pb, pr = pads
    xp = np.empty((c, h + pt + pb, w + pl + pr), dtype=x.dtype)
    xp[...] = fill
    xp[:, pt : pt + h, pl : pl + w] = x
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((oh, ow, c, kh, kw), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[i, j] = xp[:, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw]
    return out


def _pads_2d(ctx: NodeCtx, kshape) -> tuple:
    if str(ctx.attr("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
        raise ctx.fail(f"auto_pad={ctx.attr('auto_pad')}")
    p = list(ctx.attr("pads", [0] * 2 * len(kshape)))
    return (p[0], p[1], p[2], p[3])


def op_conv(ctx: NodeCtx) -> list:
    x, w = ctx.inputs[0], ctx.const(1)
    bias = ctx.inputs[2] if len(ctx.inputs) > 2 else None
    if not is_symbolic(x):
        raise ctx.fail("on a constant input (fold it in the IR)")
    if x.ndim != 4 or x.shape[0] != 1:
        raise ctx.fail(f"with input shape {x.shape} (only NCHW, batch 1)")
    kh, kw = w.shape[2], w.shape[3]
    sh, sw = ctx.attr("strides", [1, 1])
    dh, dw = ctx.attr("dilations", [1, 1])
    group = int(ctx.attr("group", 1))
    pads = _pads_2d(ctx, (kh, kw))
    zero = FixedVariable.from_const(0.0, hwconf=next(v for v in x.ravel()).hwconf)
    cin, cout = x.shape[1], w.shape[0]
    cin_g, cout_g = cin // group, cout // group
    outs = []
    for g in range(group):
        xg = x[0, g * cin_g : (g + 1) * cin_g]
        patches = _conv_patches(xg, kh, kw, sh, sw, dh, dw, pads, zero)
        oh, ow = patches.shape[:2]
        wg = w[g * cout_g : (g + 1) * cout_g].reshape(cout_g, -1).T  # [C*kh*kw, cout_g]
        y = matmul_const(patches.reshape(oh * ow, -1), wg)  # [OH*OW, cout_g]
        outs.append(y.reshape(oh, ow, cout_g).transpose(2, 0, 1))
    y = np.concatenate(outs, axis=0)[None]
    if bias is not None:
        y = elementwise(lambda u, v: u + v, y, as_const(bias).reshape(1, -1, 1, 1))
    return [y]


def op_maxpool(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    kshape = ctx.attr("kernel_shape")
    if len(kshape) != 2 or x.ndim != 4 or x.shape[0] != 1:
        raise ctx.fail(f"with kernel {kshape} on shape {x.shape} (only 2-d NCHW, batch 1)")
    if int(ctx.attr("ceil_mode", 0)):
        raise ctx.fail("with ceil_mode=1")
    kh, kw = kshape
    sh, sw = ctx.attr("strides", [1, 1])
    pads = _pads_2d(ctx, kshape)
    if any(pads):
        raise ctx.fail("with padding")
    patches = _conv_patches(x[0], kh, kw, sh, sw, 1, 1, pads, 0.0)  # [OH, OW, C, kh, kw]
    oh, ow, c = patches.shape[:3]
    out = np.empty((c, oh, ow), dtype=object)
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                vals = list(patches[i, j, ch].ravel())
                while len(vals) > 1:  # balanced comparator tree
                    vals = [_max(vals[k], vals[k + 1]) for k in range(0, len(vals) - 1, 2)] + (
                        [vals[-1]] if len(vals) % 2 else []
                    )
                out[ch, i, j] = vals[0]
    return [out[None]]


def _max(a, b):
    if isinstance(a, FixedVariable):
        return a.max_of(b)
    if isinstance(b, FixedVariable):
        return b.max_of(a)
    return max(a, b)


# ---------------------------------------------------------------- elementwise


def _binary(fn_const, fn_sym):
    def handler(ctx: NodeCtx) -> list:
        a, b = ctx.inputs
        if not is_symbolic(a) and not is_symbolic(b):
            return [fn_const(as_const(a), as_const(b))]
        return [elementwise(lambda u, v: fn_sym(ctx, u, v), a, b)]

    return handler


def _mul(ctx, u, v):
    return u * v


def _div(ctx, u, v):
    if isinstance(v, FixedVariable):
        if v.low != v.high:
            raise ctx.fail("by a traced tensor")
        v = float(v.low)
    e = math.log2(abs(v)) if v else 0.5
    if e != int(e):
        raise ctx.fail(f"by {v}, which is not a power of two")
    return u * (1.0 / v)


op_add = _binary(np.add, lambda ctx, u, v: u + v)
op_sub = _binary(np.subtract, lambda ctx, u, v: u - v)
op_mul = _binary(np.multiply, _mul)
op_div = _binary(np.divide, _div)


def op_relu(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    return [elementwise(lambda v: v.relu() if isinstance(v, FixedVariable) else max(v, 0.0), x)]


def op_neg(ctx: NodeCtx) -> list:
    return [elementwise(lambda v: -v, ctx.inputs[0])]


def op_clip(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    lo = float(ctx.const(1)) if len(ctx.inputs) > 1 and ctx.inputs[1] is not None else -math.inf
    hi = float(ctx.const(2)) if len(ctx.inputs) > 2 and ctx.inputs[2] is not None else math.inf
    return [elementwise(lambda v: clip(v, lo, hi) if isinstance(v, FixedVariable) else min(max(v, lo), hi), x)]


# ---------------------------------------------------------------- shapes


def op_identity(ctx: NodeCtx) -> list:
    return [ctx.inputs[0]]


def op_reshape(ctx: NodeCtx) -> list:
    x, shape = ctx.inputs[0], ctx.const(1).astype(np.int64)
    shape = [x.shape[i] if (s == 0 and not int(ctx.attr("allowzero", 0))) else int(s) for i, s in enumerate(shape)]
    return [x.reshape(shape)]


def op_flatten(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    axis = int(ctx.attr("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def op_transpose(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    perm = ctx.attr("perm")
    return [np.transpose(x, perm)]


def _axes(ctx: NodeCtx):
    if len(ctx.inputs) > 1 and ctx.inputs[1] is not None:
        return [int(a) for a in ctx.const(1).ravel()]
    a = ctx.attr("axes")
    return None if a is None else list(a)


def op_squeeze(ctx: NodeCtx) -> list:
    axes = _axes(ctx)
    x = ctx.inputs[0]
    return [np.squeeze(x, axis=tuple(axes)) if axes is not None else np.squeeze(x)]


def op_unsqueeze(ctx: NodeCtx) -> list:
    x = ctx.inputs[0]
    for a in sorted(_axes(ctx)):
        x = np.expand_dims(x, a)
    return [x]


def op_concat(ctx: NodeCtx) -> list:
    axis = int(ctx.attr("axis"))
    parts = ctx.inputs
    if any(is_symbolic(p) for p in parts):
        hw = next(v.hwconf for p in parts if is_symbolic(p) for v in p.ravel())
        parts = [
            p if is_symbolic(p) else elementwise(lambda v: FixedVariable.from_const(float(v), hwconf=hw), p) for p in parts
        ]
        return [np.concatenate(parts, axis=axis)]
    return [np.concatenate([as_const(p) for p in parts], axis=axis)]


HANDLERS: dict[str, Handler] = {
    "Quant": op_quant,
    "IntQuant": op_quant,
    "BipolarQuant": op_bipolar_quant,
    "BiPer": op_biper,
    "MultiThreshold": op_multithreshold,
    "MatMul": op_matmul,
    "Gemm": op_gemm,
    "Conv": op_conv,
    "MaxPool": op_maxpool,
    "Add": op_add,
    "Sub": op_sub,
    "Mul": op_mul,
    "Div": op_div,
    "Relu": op_relu,
    "Neg": op_neg,
    "Clip": op_clip,
    "Identity": op_identity,
    "Reshape": op_reshape,
    "Flatten": op_flatten,
    "Transpose": op_transpose,
    "Squeeze": op_squeeze,
    "Unsqueeze": op_unsqueeze,
    "Concat": op_concat,
}
