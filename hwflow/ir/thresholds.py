"""``FoldFloatIntoThresholds``: float arithmetic between a fixed-point tensor and a
quantizer becomes a qonnx ``MultiThreshold`` (integer comparisons).

BatchNormalization, scalar/per-channel Mul/Add/Sub/Div and Relu sitting between an
integer accumulator and the next quantizer compute ``Quant(f(acc))`` with ``f`` in float32.
Because ``acc`` takes finitely many values (its exact range is known), ``Quant(f(acc))`` is
fully described per channel by the accumulator values at which the quantized output steps
up: the thresholds. They are found by evaluating the original float sub-graph with qonnx's
``execute_onnx`` on every possible accumulator value, so the rewrite reproduces the
original float32 rounding exactly (no re-derivation of BN algebra that could differ in the
last ulp). Applied only when each channel's result is non-decreasing in ``acc`` and the
quantizer has a power-of-two scale; otherwise the graph is left as it is.
"""

from __future__ import annotations

import warnings

import numpy as np
from onnx import TensorProto, helper

from qonnx.transformation.base import Transformation

from hwflow.ir.analysis import GraphAnalysis, pow2_exponent

CHAIN_OPS = {"BatchNormalization", "Mul", "Add", "Sub", "Div", "Relu"}
MAX_LEVELS = 1 << 16   # largest accumulator range enumerated


def _layout(rank: int) -> str:
    return {2: "NC", 3: "NCW", 4: "NCHW", 5: "NCDHW"}.get(rank, "")


class FoldFloatIntoThresholds(Transformation):
    def apply(self, model):
        ana = GraphAnalysis(model)
        producers = {o: n for n in model.graph.node for o in n.output}
        for q in list(model.graph.node):
            if q.op_type not in ("Quant", "BipolarQuant"):
                continue
            found = self._chain(model, ana, producers, q)
            if found is None:
                continue
            t0, chain = found
            rewrite = self._thresholds(model, ana, t0, chain, q)
            if rewrite is None:
                continue
            thr, out_scale, out_bias, out_dtype, signs = rewrite
            thr_name = q.output[0] + "_thresholds"
            model.set_initializer(thr_name, thr.astype(np.float32))
            rank = len(model.get_tensor_shape(t0))
            idx = list(model.graph.node).index(q)
            mt_in = t0
            if np.any(signs < 0):  # channels with a negative scale: negate them (exact)
                sign_name = q.output[0] + "_channel_sign"
                model.set_initializer(sign_name, signs.reshape([1, -1] + [1] * (rank - 2)).astype(np.float32))
                mt_in = q.output[0] + "_signed_acc"
                model.graph.node.insert(idx, helper.make_node("Mul", [t0, sign_name], [mt_in],
                                                              name=q.name + "_channel_sign"))
                model.set_tensor_shape(mt_in, model.get_tensor_shape(t0))
                idx += 1
            mt = helper.make_node("MultiThreshold", [mt_in, thr_name], [q.output[0]], name=q.name + "_thresholds",
                                  domain="qonnx.custom_op.general", out_dtype=out_dtype,
                                  out_scale=float(out_scale), out_bias=float(out_bias),
                                  data_layout=_layout(rank))
            model.graph.node.insert(idx, mt)
            for n in chain + [q]:
                model.graph.node.remove(n)
            return model, True  # one at a time: the analysis is redone
        return model, False

    @staticmethod
    def _chain(model, ana, producers, q):
        """(start tensor, chain nodes in order) if a foldable float chain feeds q."""
        chain, t = [], q.input[0]
        while True:
            inf = ana.info[t]
            if not inf.is_float and inf.scale == 1.0 and inf.const is None:
                break
            n = producers.get(t)
            if n is None or n.op_type not in CHAIN_OPS or len(model.find_consumers(t) or []) != 1:
                return None
            dyn = [i for i in n.input if i and ana.info[i].const is None]
            if len(dyn) != 1 or dyn[0] != n.input[0]:
                return None
            chain.insert(0, n)
            t = n.input[0]
        if not chain or not any(ana.info[n.output[0]].is_float for n in chain):
            return None
        return t, chain

    @staticmethod
    def _thresholds(model, ana, t0, chain, q):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes

        inf = ana.info[t0]
        shape = model.get_tensor_shape(t0)
        if len(shape) < 2:
            return None
        C = shape[1]
        step = np.ldexp(1.0, -inf.frac)
        red = tuple(i for i in range(inf.lo.ndim) if i != 1)
        lo_c = np.round(np.min(inf.lo, axis=red) / step).astype(np.int64)
        hi_c = np.round(np.max(inf.hi, axis=red) / step).astype(np.int64)
        lo, hi = int(lo_c.min()), int(hi_c.max())
        if hi - lo + 1 > MAX_LEVELS or max(abs(lo), abs(hi) + 1) >= 2 ** 24:
            return None
        # the quantizer's output levels: bias + scale * count
        if q.op_type == "Quant":
            from qonnx.custom_op.general.intquant import max_int, min_int

            s = model.get_initializer(q.input[1])
            zp = model.get_initializer(q.input[2])
            bits = model.get_initializer(q.input[3])
            if s is None or zp is None or bits is None or np.any(zp) or np.asarray(s).size != 1:
                return None
            e = pow2_exponent(s)
            a = {x.name: helper.get_attribute_value(x) for x in q.attribute}
            signed, narrow, b = bool(a.get("signed", 1)), bool(a.get("narrow", 0)), int(np.asarray(bits).item())
            if e is None or (b == 1 and signed):
                return None
            sv = float(np.asarray(s).item())
            mn, mx = min_int(signed, narrow, b), max_int(signed, narrow, b)
            out_bias, out_scale, T = mn * sv, sv, mx - mn
            out_dtype = (f"INT{b}" if signed else f"UINT{b}") if sv == 1.0 else "FLOAT32"
        else:
            s = model.get_initializer(q.input[1])
            if s is None or np.asarray(s).size != 1 or pow2_exponent(s) is None:
                return None
            sv = float(np.asarray(s).item())
            out_bias, out_scale, T = -sv, 2 * sv, 1
            out_dtype = "BIPOLAR" if sv == 1.0 else "FLOAT32"
        # evaluate the original float sub-graph on every accumulator value, every channel
        K = hi - lo + 1
        vals = (np.arange(lo, hi + 1, dtype=np.float64) * step).astype(np.float32)
        sub_shape = [K, C] + [1] * (len(shape) - 2)
        x = np.broadcast_to(vals.reshape([K, 1] + [1] * (len(shape) - 2)), sub_shape).copy()
        nodes, inits = [], []
        for n in chain + [q]:
            nodes.append(n)
            for i in n.input[1:]:
                if not i:
                    continue
                v = model.get_initializer(i)
                if v is None:
                    return None
                v = np.asarray(v)
                if n.op_type not in ("BatchNormalization", "Quant", "BipolarQuant") and v.ndim >= 1:
                    full = np.broadcast_to(v, [1] + list(shape[1:])) if v.ndim <= len(shape) else None
                    if full is None:
                        return None
                    ch = full.reshape(1, C, -1)
                    if not np.all(ch == ch[:, :, :1]):
                        return None  # not per-channel: thresholds would be per element
                    v = ch[:, :, 0].reshape([1, C] + [1] * (len(shape) - 2))
                inits.append(helper.make_tensor(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape,
                                                v.ravel().tolist()))
        g = helper.make_graph(nodes, "fold", [helper.make_tensor_value_info(t0, TensorProto.FLOAT, sub_shape)],
                              [helper.make_tensor_value_info(q.output[0], TensorProto.FLOAT, sub_shape)],
                              initializer=inits)
        sub = helper.make_model(g, opset_imports=list(model.model.opset_import))
        sub.ir_version = model.model.ir_version
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm = ModelWrapper(sub).transform(InferShapes())
            y = execute_onnx(sm, {t0: x})[q.output[0]].reshape(K, C).astype(np.float64)
        levels = np.round((y - out_bias) / out_scale)
        if not np.array_equal(levels * out_scale + out_bias, y) or levels.min() < 0 or levels.max() > T:
            return None
        thr = np.empty((C, T))
        signs = np.ones(C)
        accs = np.arange(lo, hi + 1)
        for c in range(C):
            sel = (accs >= lo_c[c]) & (accs <= hi_c[c])
            a_c, l_c = accs[sel], levels[sel, c]
            if np.any(np.diff(l_c) < 0):
                if np.any(np.diff(l_c) > 0):
                    return None  # neither non-decreasing nor non-increasing: keep the float graph
                # decreasing (negative BN scale): threshold the negated accumulator
                signs[c] = -1.0
                a_c, l_c = -a_c[::-1], l_c[::-1]
            for t in range(1, T + 1):
                idx = np.nonzero(l_c >= t)[0]
                thr[c, t - 1] = (a_c[idx[0]] if idx.size else a_c[-1] + 1) * step
            # self-check: counting thresholds reproduces every level of this channel
            cnt = np.sum(a_c[:, None] * step >= thr[c][None, :], axis=1)
            if not np.array_equal(cnt, l_c):
                return None
        return thr, out_scale, out_bias, out_dtype, signs
