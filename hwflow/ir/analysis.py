"""Range and grid analysis of a QONNX graph: the engine behind ``infer_fixed_point`` and
the executor's per-tensor arithmetic choice.

For every tensor we track, per element (batch axis of size 1), an exact lower and upper
bound of its real value, its power-of-two grid ``2**-frac`` (or a scalar non-power-of-two
``scale``), and whether it is a float tensor (no grid). Bounds are propagated through the
ops exactly: linear ops split their constant weights into positive and negative parts
(hi = W+ . x_hi + W- . x_lo), quantizers and every other monotone op are applied to the
bounds themselves with the very kernels the executor runs. Accumulator widths therefore
come from the weight values and input ranges, never from a rule of thumb.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from hwflow.errors import ModelError, UnsupportedOp
from hwflow.ir.fixed import FixedType
from hwflow.ir.kernels import KERNELS

MAX_FRAC = 60          # a constant needing more fractional bits is treated as float
EXACT_BITS_F64 = 52    # |q| must stay below 2**52 for float64 arithmetic to be exact
EXACT_BITS_F32 = 24    # ... and below 2**24 for onnxruntime's float32 to be exact


@dataclass
class TensorInfo:
    lo: np.ndarray | None = None       # elementwise bounds of the real value
    hi: np.ndarray | None = None
    frac: int = 0
    scale: float = 1.0
    is_float: bool = False
    bipolar: bool = False
    const: np.ndarray | None = None    # value, if the tensor is a constant
    absbound: float = 0.0              # bound on |partial sums| in LSB units (MACs)
    raw_const: bool = False            # a model initializer with non-integer values (not from a quantizer)
    notes: list = field(default_factory=list)

    def fixed_type(self) -> FixedType:
        if self.is_float or self.lo is None:
            return FixedType.float32()
        if self.bipolar and self.scale == 1.0 and self.frac == 0:
            return FixedType.bipolar()
        k = math.ldexp(1.0, self.frac) / self.scale
        lo = float(np.min(self.lo)) * k if self.lo.size else 0.0
        hi = float(np.max(self.hi)) * k if self.hi.size else 0.0
        return FixedType.from_range(int(round(lo)), int(round(hi)), self.frac, self.scale)


def attrs_of(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def dyadic_frac(v: np.ndarray) -> int | None:
    """Smallest f (maybe negative) with v * 2**f all integers; None if f > MAX_FRAC."""
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return None if v.size else 0
    nz = v[v != 0]
    if nz.size == 0:
        return 0
    f = -64
    while f <= MAX_FRAC:
        if np.all(np.ldexp(nz, f) == np.round(np.ldexp(nz, f))):
            return f
        f += 1
    return None


def pow2_exponent(s) -> int | None:
    """k with s == 2**k (all elements equal to it), else None."""
    s = np.asarray(s, dtype=np.float64).ravel()
    if s.size == 0 or np.any(s <= 0):
        return None
    m, e = np.frexp(s)
    if np.all(m == 0.5) and np.all(e == e[0]):
        return int(e[0]) - 1
    return None


def const_info(v: np.ndarray) -> TensorInfo:
    v = np.asarray(v)
    if v.dtype.kind in "iub":
        v64 = v.astype(np.float64)
        return TensorInfo(lo=v64, hi=v64, frac=0, const=v)
    v64 = v.astype(np.float64)
    f = dyadic_frac(v64)
    if f is None:
        return TensorInfo(lo=v64, hi=v64, is_float=True, const=v)
    return TensorInfo(lo=v64, hi=v64, frac=f, const=v)


class GraphAnalysis:
    """Runs the analysis on a (shape-inferred) ModelWrapper; results in ``self.info``."""

    def __init__(self, model, input_types: dict | None = None):
        self.model = model
        self.graph = model.graph
        self.info: dict[str, TensorInfo] = {}
        self.opset = {o.domain: o.version for o in model.model.opset_import}.get("", 13)
        init_names = {i.name for i in self.graph.initializer}
        for init in self.graph.initializer:
            inf = const_info(numpy_helper.to_array(init))
            inf.raw_const = inf.is_float or inf.frac > 0
            self.info[init.name] = inf
        for inp in self.graph.input:
            if inp.name in init_names:
                continue
            self.info[inp.name] = self._input_info(inp.name, (input_types or {}).get(inp.name))
        for node in self.graph.node:
            self._node(node)

    # ---- graph inputs -----------------------------------------------------------------
    def _shape(self, name):
        shp = self.model.get_tensor_shape(name)
        if shp is None:
            raise ModelError(f"tensor {name!r} has no shape after shape inference")
        return [1] + [int(s) for s in shp[1:]] if shp else []

    def _input_info(self, name, ftype: FixedType | None) -> TensorInfo:
        shp = self._shape(name)
        if ftype is None:
            ftype = annotated_input_type(self.model, name)
        if ftype is None or ftype.is_float:
            return TensorInfo(lo=np.full(shp, -np.inf), hi=np.full(shp, np.inf), is_float=True)
        return TensorInfo(lo=np.full(shp, ftype.min_value), hi=np.full(shp, ftype.max_value),
                          frac=ftype.frac, scale=ftype.scale, bipolar=ftype.is_bipolar)

    # ---- nodes ------------------------------------------------------------------------
    def _node(self, node):
        op = node.op_type
        if op not in KERNELS:
            raise UnsupportedOp(f"unsupported op {op!r} (domain {node.domain!r})", node=node.name or op)
        ins = [self.info[i] if i else None for i in node.input]
        a = attrs_of(node)
        try:
            if all(x is None or x.const is not None for x in ins):
                outs = self._const_node(node, ins, a)
            else:
                outs = getattr(self, "_op_" + op, self._op_monotone)(node, ins, a)
        except (ModelError, UnsupportedOp):
            raise
        except Exception as e:  # a kernel rejected the bounds: name the node
            raise ModelError(f"cannot analyse {op}: {type(e).__name__}: {e}", node=node.name) from e
        for name, inf in zip(node.output, outs):
            self.info[name] = inf

    def _const_node(self, node, ins, a):
        """Constant sub-graph (e.g. a weight quantizer): evaluate once, exactly."""
        vals = [None if x is None else x.const for x in ins]
        if node.op_type in ("Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold", "BiPer",
                            "Add", "Sub", "Mul", "Div", "Relu", "Identity"):
            f32 = node.op_type in ("Add", "Sub", "Mul", "Div") and any(x.is_float for x in ins if x)
            outs = KERNELS[node.op_type](a, vals, f32)  # stored dtypes: qonnx's promotion
        else:
            from onnx.reference import ReferenceEvaluator

            undef = onnx.TensorProto.UNDEFINED
            g = helper.make_graph([node], "c", [helper.make_tensor_value_info(n, undef, None) for n in node.input if n],
                                  [helper.make_tensor_value_info(n, undef, None) for n in node.output])
            ev = ReferenceEvaluator(helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)]))
            feeds = {n: (np.asarray(v, dtype=np.float32) if np.asarray(v).dtype.kind == "f" else np.asarray(v))
                     for n, v in zip(node.input, vals) if n}
            outs = ev.run(None, feeds)
        res = []
        for o in outs:
            inf = const_info(np.asarray(o))
            if node.op_type in ("BipolarQuant", "BiPer") and inf.const is not None:
                inf.bipolar = bool(np.all(np.abs(np.asarray(o)) == 1))
            res.append(inf)
        return res

    # generic: apply the op's kernel to the bounds (monotone ops and data movement)
    def _op_monotone(self, node, ins, a):
        x = ins[0]
        if x.is_float:
            return [TensorInfo(is_float=True, lo=self._full(node.output[0], -np.inf),
                               hi=self._full(node.output[0], np.inf))]
        k = KERNELS[node.op_type]
        rest = [None if y is None else (y.const if y.const is not None else y.lo) for y in ins[1:]]
        lo = k(a, [x.lo] + rest, False)[0]
        hi = k(a, [x.hi] + rest, False)[0]
        return [TensorInfo(lo=lo, hi=hi, frac=x.frac, scale=x.scale, bipolar=x.bipolar)]

    def _full(self, name, v):
        return np.full(self._shape(name), v)

    def _float(self, node):
        return [TensorInfo(is_float=True, lo=self._full(o, -np.inf), hi=self._full(o, np.inf)) for o in node.output]

    _op_Softmax = _op_Sigmoid = _op_BatchNormalization = _op_Pow = lambda self, n, i, a: self._float(n)

    def _op_Quant(self, node, ins, a):
        x, s, zp, bw = ins
        if s.const is None or zp.const is None or bw.const is None:
            raise ModelError("Quant with non-constant scale/zero-point/bit width", node=node.name)
        zpv = np.asarray(zp.const, dtype=np.float64)
        if np.any(zpv != np.round(zpv)):
            raise UnsupportedOp("Quant with a non-integer zero-point (values off the grid)", node=node.name)
        bits = int(np.asarray(bw.const).item())
        signed = bool(a.get("signed", 1))
        k = KERNELS["Quant"]
        params = [s.const, zp.const, bw.const]
        lo_in = x.lo if x.lo is not None else self._full(node.input[0], -np.inf)
        hi_in = x.hi if x.hi is not None else self._full(node.input[0], np.inf)
        lo = k(a, [np.broadcast_to(lo_in, self._shape(node.output[0])).astype(np.float64)] + params, False)[0]
        hi = k(a, [np.broadcast_to(hi_in, self._shape(node.output[0])).astype(np.float64)] + params, False)[0]
        e = pow2_exponent(s.const)
        inf = TensorInfo(lo=lo, hi=hi, bipolar=(bits == 1 and signed))
        if e is not None:
            inf.frac = -e
        else:
            sv = np.asarray(s.const, dtype=np.float64)
            if sv.size == 1 or np.all(sv == sv.ravel()[0]):
                inf.scale = float(sv.ravel()[0])
                inf.frac = 0
            else:  # per-channel pow2 scales: common grid = finest step
                es = [pow2_exponent(v) for v in sv.ravel()]
                if all(v is not None for v in es):
                    inf.frac = -min(es)
                else:
                    inf.is_float = True
                    inf.notes.append("per-channel non-power-of-two scale")
        return [inf]

    _op_IntQuant = _op_Quant

    def _op_BipolarQuant(self, node, ins, a):
        s = ins[1].const
        if s is None:
            raise ModelError("BipolarQuant with non-constant scale", node=node.name)
        shp = self._shape(node.output[0])
        sv = np.broadcast_to(np.asarray(s, dtype=np.float64), shp)
        e = pow2_exponent(s)
        inf = TensorInfo(lo=-sv.copy(), hi=sv.copy(), bipolar=True)
        if e is not None:
            inf.frac = -e
        elif np.asarray(s).size == 1:
            inf.scale = float(np.asarray(s).ravel()[0])
        else:
            inf.is_float = True
        return [inf]

    def _op_BiPer(self, node, ins, a):
        x, k = ins[0], int(a.get("log2_period", 0))
        if not x.is_float and x.scale == 1.0 and k + x.frac < 1:
            raise ModelError(f"BiPer log2_period={k} on a tensor with {x.frac} fractional bits: "
                             f"half a period is below one LSB (need log2_period + frac >= 1)", node=node.name)
        shp = self._shape(node.output[0])
        return [TensorInfo(lo=np.full(shp, -1.0), hi=np.full(shp, 1.0), frac=0, bipolar=True)]

    def _op_MultiThreshold(self, node, ins, a):
        """out = out_bias + out_scale * (number of thresholds <= x): on a grid whatever x is."""
        x, thr = ins[0], ins[1]
        if thr.const is None:
            raise ModelError("MultiThreshold with non-constant thresholds", node=node.name)
        scale, bias = float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0))
        shp = self._shape(node.output[0])
        if x.is_float:  # any count 0..T may occur
            ends = [np.full(shp, bias), np.full(shp, bias + scale * np.asarray(thr.const).shape[-1])]
        else:
            k = KERNELS["MultiThreshold"]
            ends = [k(a, [x.lo, thr.const], False)[0], k(a, [x.hi, thr.const], False)[0]]
        out = TensorInfo(lo=np.minimum(*ends), hi=np.maximum(*ends))
        f = dyadic_frac(np.array([scale, bias]))
        if f is None:
            out.is_float = True
        else:
            out.frac = f
        return [out]

    def _op_Trunc(self, node, ins, a):
        x = ins[0]
        out = self._op_monotone(node, ins, a)[0]
        out_scale = ins[4].const if len(ins) >= 6 else ins[1].const
        e = pow2_exponent(out_scale)
        if e is None or x.is_float:
            out.is_float = True
        else:
            out.frac, out.scale = -e, 1.0
        return [out]

    # ---- arithmetic -------------------------------------------------------------------
    def _grid_check(self, node, ins):
        for x in ins:
            if x is not None and (x.is_float or x.scale != 1.0):
                return False
        return True

    def _op_Add(self, node, ins, a, sign=1.0):
        x, y = ins
        if not self._grid_check(node, ins):
            return self._float(node)
        ylo, yhi = (y.lo, y.hi) if sign > 0 else (-y.hi, -y.lo)
        return [self._raw_const_guard(node, ins, TensorInfo(lo=x.lo + ylo, hi=x.hi + yhi, frac=max(x.frac, y.frac)))]

    def _raw_const_guard(self, node, ins, out):
        """An op with a raw float constant (a normalisation, a BN tail) whose exact result
        needs more than 24 significant bits is rounded by onnxruntime's float32: such a
        tensor is float, not fixed point (this is float post-processing, not hardware)."""
        if any(x is not None and x.raw_const for x in ins):
            ft = out.fixed_type()
            if max(abs(ft.int_min), abs(ft.int_max)) >= 2 ** EXACT_BITS_F32:
                out.is_float = True
                out.notes.append("raw float constant; exact result wider than float32")
        return out

    def _op_Sub(self, node, ins, a):
        return self._op_Add(node, ins, a, sign=-1.0)

    def _op_Mul(self, node, ins, a):
        x, y = ins
        if not self._grid_check(node, ins):
            return self._float(node)
        c = np.stack(np.broadcast_arrays(x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi))
        c = np.nan_to_num(c, nan=0.0)
        return [self._raw_const_guard(node, ins, TensorInfo(lo=c.min(axis=0), hi=c.max(axis=0), frac=x.frac + y.frac))]

    def _op_Div(self, node, ins, a):
        x, y = ins
        e = pow2_exponent(np.abs(y.const)) if y.const is not None else None
        if e is None or x.is_float or x.scale != 1.0 or np.asarray(y.const).size != 1:
            return self._float(node)
        c = float(np.asarray(y.const).ravel()[0])
        return [TensorInfo(lo=np.minimum(x.lo / c, x.hi / c), hi=np.maximum(x.lo / c, x.hi / c), frac=x.frac + e)]

    def _linear_bounds(self, kernel, a, x, w_const, extra=()):
        wp, wn = np.maximum(w_const, 0.0), np.minimum(w_const, 0.0)
        hi = kernel(a, [x.hi, wp, *extra], False)[0] + kernel(a, [x.lo, wn], False)[0]
        lo = kernel(a, [x.lo, wp, *extra], False)[0] + kernel(a, [x.hi, wn], False)[0]
        mag = np.maximum(np.abs(x.lo), np.abs(x.hi))
        absb = kernel(a, [mag, np.abs(w_const)], False)[0]
        return lo, hi, absb

    def _mac(self, node, ins, a, kernel, bias_idx=2):
        x, w = ins[0], ins[1]
        if w.const is None or x.is_float or w.is_float or x.scale != 1.0 or w.scale != 1.0:
            return self._float(node)
        wv = np.asarray(w.const, dtype=np.float64)
        a2 = dict(a)
        a2.pop("alpha", None), a2.pop("beta", None)
        lo, hi, absb = self._linear_bounds(kernel, a2, x, wv)
        frac = x.frac + w.frac
        b = ins[bias_idx] if len(ins) > bias_idx else None
        if b is not None:
            if b.is_float or b.scale != 1.0:
                return self._float(node)
            if node.op_type == "Gemm" and (a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0):
                return self._float(node)
            bl, bh = b.lo, b.hi
            if node.op_type == "Conv":
                shp = (1, -1) + (1,) * (lo.ndim - 2)
                bl, bh = bl.reshape(shp), bh.reshape(shp)
            lo, hi = lo + bl, hi + bh
            absb = absb + np.maximum(np.abs(bl), np.abs(bh))
            frac = max(frac, b.frac)
        inf = TensorInfo(lo=lo, hi=hi, frac=frac)
        inf.absbound = float(np.max(absb)) * math.ldexp(1.0, frac) if absb.size else 0.0
        return [inf]

    def _op_MatMul(self, node, ins, a):
        return self._mac(node, ins, a, KERNELS["MatMul"])

    def _op_Gemm(self, node, ins, a):
        if a.get("transA", 0):
            raise UnsupportedOp("Gemm with transA=1 on an activation", node=node.name)
        return self._mac(node, ins, a, KERNELS["Gemm"])

    def _op_Conv(self, node, ins, a):
        return self._mac(node, ins, a, KERNELS["Conv"])

    def _pool_avg(self, node, ins, a):
        x = ins[0]
        if x.is_float or x.scale != 1.0:
            return self._float(node)
        k = KERNELS[node.op_type]
        lo, hi = k(a, [x.lo], False)[0], k(a, [x.hi], False)[0]
        if node.op_type == "GlobalAveragePool":
            divisors = [math.prod(self._shape(node.input[0])[2:])]
        else:
            divisors = _avgpool_divisors(a, self._shape(node.input[0]))
        es = [pow2_exponent(d) for d in divisors]
        if any(e is None for e in es):
            inf = TensorInfo(lo=lo, hi=hi, is_float=True)
            inf.notes.append(f"average over {sorted(set(divisors))} elements: not a power of two")
            return [inf]
        return [TensorInfo(lo=lo, hi=hi, frac=x.frac + max(es))]

    _op_AveragePool = _op_GlobalAveragePool = _pool_avg

    def _op_Concat(self, node, ins, a):
        if any(x.is_float or x.scale != 1.0 for x in ins):
            return self._float(node)
        k = KERNELS["Concat"]
        return [TensorInfo(lo=k(a, [x.lo for x in ins], False)[0], hi=k(a, [x.hi for x in ins], False)[0],
                           frac=max(x.frac for x in ins))]


def _avgpool_divisors(a, in_shape) -> list[int]:
    """The set of element counts AveragePool divides by (depends on padding mode)."""
    kernel = list(a["kernel_shape"])
    if a.get("ceil_mode", 0):
        return [0]  # partial windows past the end: left to onnxruntime (a float tensor)
    if a.get("count_include_pad", 0) or not any(a.get("pads", [0])):
        return [math.prod(kernel)]
    return sorted(set(int(round(v)) for v in np.ravel(_window_counts(a, in_shape, kernel))))


def _window_counts(a, in_shape, kernel):
    from hwflow.ir.kernels import _conv_geometry, _windows

    strides, dil, pads = _conv_geometry(a, in_shape[2:], kernel)
    ones = np.ones([1, 1] + list(in_shape[2:]))
    nd = len(kernel)
    return _windows(ones, kernel, strides, dil, pads, 0.0, bool(a.get("ceil_mode", 0))).sum(axis=tuple(range(-nd, 0)))


def annotated_input_type(model, name) -> FixedType | None:
    """FixedType from a QONNX datatype annotation (INT8, BIPOLAR, FIXED<..>, ...), or None."""
    dt = model.get_tensor_datatype(name)
    if dt is None or dt.name == "FLOAT32" or not dt.is_integer() and not dt.name.startswith("FIXED"):
        return None
    if dt.name == "BIPOLAR":
        return FixedType.bipolar()
    if dt.is_fixed_point():
        frac = dt.bitwidth() - dt.int_bits()
        return FixedType.from_range(int(round(dt.min() * 2**frac)), int(round(dt.max() * 2**frac)), frac)
    return FixedType.from_range(int(dt.min()), int(dt.max()), 0)
