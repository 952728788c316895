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
from hwflow.ir.streamline import record

CHAIN_OPS = {"BatchNormalization", "Mul", "Add", "Sub", "Div", "Relu"}
MAX_LEVELS = 1 << 16   # largest accumulator range enumerated (wider ones are searched)
MAX_THRESHOLDS = 1 << 12  # output levels per channel a MultiThreshold may have


def _layout(rank: int) -> str:
    return {2: "NC", 3: "NCW", 4: "NCHW", 5: "NCDHW"}.get(rank, "")


class FoldFloatIntoThresholds(Transformation):
    def __init__(self):
        super().__init__()
        self.refused: dict[str, str] = {}  # quantizer -> why its chain stays float

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
            if isinstance(rewrite, str):
                if q.name not in self.refused:
                    self.refused[q.name] = rewrite
                    record(model, {"transformation": "FoldFloatIntoThresholds", "node": q.name, "applied": False,
                                   "reason": rewrite, "chain": [n.op_type for n in chain]})
                continue
            thr, out_scale, out_bias, out_dtype, signs = rewrite
            record(model, {"transformation": "FoldFloatIntoThresholds", "node": q.name,
                           "chain": [n.op_type for n in chain], "channels": int(thr.shape[0]),
                           "thresholds_per_channel": int(thr.shape[1]),
                           "negated_channels": int(np.sum(signs < 0))})
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
        """(thresholds [C, T], out_scale, out_bias, out_dtype, signs [C]) or a reason (str)."""
        inf = ana.info[t0]
        shape = model.get_tensor_shape(t0)
        if len(shape) < 2:
            return "the accumulator has no channel axis"
        C = shape[1]
        step = np.ldexp(1.0, -inf.frac)
        red = tuple(i for i in range(inf.lo.ndim) if i != 1)
        lo_c = np.round(np.min(inf.lo, axis=red) / step).astype(np.int64)
        hi_c = np.round(np.max(inf.hi, axis=red) / step).astype(np.int64)
        lo, hi = int(lo_c.min()), int(hi_c.max())
        if max(abs(lo), abs(hi) + 1) >= 2 ** 24:
            return f"accumulator range [{lo}, {hi}] LSBs is not exact in float32"
        levels_of = _quantizer_levels(model, q)
        if isinstance(levels_of, str):
            return levels_of
        out_bias, out_scale, T, out_dtype = levels_of
        if T > MAX_THRESHOLDS:
            return f"{T} output levels per channel (more than {MAX_THRESHOLDS} thresholds)"
        chain_fn = _ChainEvaluator(model, chain, q, t0, shape, step, out_bias, out_scale)
        if hi - lo + 1 <= MAX_LEVELS:
            found = _thresholds_enumerated(chain_fn, lo, hi, lo_c, hi_c, T, C)
        else:
            found = _thresholds_searched(model, chain, chain_fn, lo_c, hi_c, T, C)
        if isinstance(found, str):
            return found
        thr, signs = found
        return thr * step, out_scale, out_bias, out_dtype, signs


def _quantizer_levels(model, q):
    """(out_bias, out_scale, number of thresholds, out_dtype) of the quantizer's output
    levels ``bias + scale * count``, or a reason why it has none."""
    from qonnx.custom_op.general.intquant import max_int, min_int

    if q.op_type == "Quant":
        s = model.get_initializer(q.input[1])
        zp = model.get_initializer(q.input[2])
        bits = model.get_initializer(q.input[3])
        if s is None or zp is None or bits is None:
            return "quantizer with computed parameters"
        if np.any(zp) or np.asarray(s).size != 1:
            return "quantizer with a zero-point or per-channel scale"
        e = pow2_exponent(s)
        a = {x.name: helper.get_attribute_value(x) for x in q.attribute}
        signed, narrow, b = bool(a.get("signed", 1)), bool(a.get("narrow", 0)), int(np.asarray(bits).item())
        if e is None:
            return "quantizer scale is not a power of two (streamlining extracts such scales first)"
        if b == 1 and signed:
            return "signed 1-bit Quant"
        sv = float(np.asarray(s).item())
        mn, mx = min_int(signed, narrow, b), max_int(signed, narrow, b)
        out_dtype = (f"INT{b}" if signed else f"UINT{b}") if sv == 1.0 else "FLOAT32"
        return mn * sv, sv, int(mx - mn), out_dtype
    s = model.get_initializer(q.input[1])
    if s is None or np.asarray(s).size != 1 or pow2_exponent(s) is None:
        return "BipolarQuant scale is not a power of two"
    sv = float(np.asarray(s).item())
    return -sv, 2 * sv, 1, ("BIPOLAR" if sv == 1.0 else "FLOAT32")


class _ChainEvaluator:
    """The original float sub-graph (chain + quantizer) run by qonnx's ``execute_onnx`` on
    accumulator values given in LSBs, one column per channel: returns the output levels.
    Evaluating the graph itself (not re-derived algebra) reproduces its float32 rounding."""

    def __init__(self, model, chain, q, t0, shape, step, out_bias, out_scale):
        self.model, self.chain, self.q, self.t0 = model, chain, q, t0
        self.shape, self.step, self.out_bias, self.out_scale = shape, step, out_bias, out_scale
        self.C = shape[1]
        self._graphs = {}

    def _graph(self, n_rows):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.infer_shapes import InferShapes

        if n_rows in self._graphs:
            return self._graphs[n_rows]
        model, shape, C = self.model, self.shape, self.C
        sub_shape = [n_rows, C] + [1] * (len(shape) - 2)
        inits = []
        for n in self.chain + [self.q]:
            for i in n.input[1:]:
                if not i:
                    continue
                v = model.get_initializer(i)
                if v is None:
                    raise _NotFoldable("a chain operand is computed, not constant")
                v = np.asarray(v)
                if n.op_type not in ("BatchNormalization", "Quant", "BipolarQuant") and v.ndim >= 1:
                    if v.ndim > len(shape):
                        raise _NotFoldable("a chain constant has more axes than the accumulator")
                    ch = np.broadcast_to(v, [1] + list(shape[1:])).reshape(1, C, -1)
                    if not np.all(ch == ch[:, :, :1]):
                        raise _NotFoldable("a chain constant is not per channel (thresholds would be per element)")
                    v = ch[:, :, 0].reshape([1, C] + [1] * (len(shape) - 2))
                inits.append(helper.make_tensor(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape,
                                                v.ravel().tolist()))
        g = helper.make_graph(list(self.chain) + [self.q], "fold",
                              [helper.make_tensor_value_info(self.t0, TensorProto.FLOAT, sub_shape)],
                              [helper.make_tensor_value_info(self.q.output[0], TensorProto.FLOAT, sub_shape)],
                              initializer=inits)
        sub = helper.make_model(g, opset_imports=list(model.model.opset_import))
        sub.ir_version = model.model.ir_version
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm = ModelWrapper(sub).transform(InferShapes())
        self._graphs[n_rows] = (sm, sub_shape)
        return self._graphs[n_rows]

    def levels(self, acc: np.ndarray) -> np.ndarray:
        """acc [N, C] integers (LSBs) -> output level counts [N, C] (float64, exact integers)."""
        from qonnx.core.onnx_exec import execute_onnx

        acc = np.asarray(acc, dtype=np.float64)
        sm, sub_shape = self._graph(acc.shape[0])
        x = (acc * self.step).astype(np.float32).reshape(sub_shape)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = execute_onnx(sm, {self.t0: x})[self.q.output[0]].reshape(acc.shape).astype(np.float64)
        lv = np.round((y - self.out_bias) / self.out_scale)
        if not np.array_equal(lv * self.out_scale + self.out_bias, y):
            raise _NotFoldable("the quantizer produced a value off its own grid")
        return lv


class _NotFoldable(Exception):
    pass


def _thresholds_enumerated(chain_fn, lo, hi, lo_c, hi_c, T, C):
    """Every accumulator value evaluated: thresholds (in LSBs) and per-channel signs."""
    accs = np.arange(lo, hi + 1)
    try:
        levels = chain_fn.levels(np.broadcast_to(accs[:, None], (accs.size, C)))
    except _NotFoldable as e:
        return str(e)
    if levels.min() < 0 or levels.max() > T:
        return "the quantizer produced a level outside its range"
    thr = np.empty((C, T))
    signs = np.ones(C)
    for c in range(C):
        sel = (accs >= lo_c[c]) & (accs <= hi_c[c])
        a_c, l_c = accs[sel], levels[sel, c]
        if np.any(np.diff(l_c) < 0):
            if np.any(np.diff(l_c) > 0):
                return f"channel {c}: the float chain is neither non-decreasing nor non-increasing"
            signs[c] = -1.0  # decreasing (negative BN scale): threshold the negated accumulator
            a_c, l_c = -a_c[::-1], l_c[::-1]
        for t in range(1, T + 1):
            idx = np.nonzero(l_c >= t)[0]
            thr[c, t - 1] = a_c[idx[0]] if idx.size else a_c[-1] + 1
        # self-check: counting thresholds reproduces every level of this channel
        if not np.array_equal(np.sum(a_c[:, None] >= thr[c][None, :], axis=1), l_c):
            return f"channel {c}: thresholds do not reproduce the float chain"
    return thr, signs


def _per_channel(v, shape, C):
    """A chain constant as one value per channel (the evaluator has checked it is one)."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0 or v.size == 1:
        return np.full(C, float(v.ravel()[0]))
    return np.broadcast_to(v, [1] + list(shape[1:])).reshape(1, C, -1)[0, :, 0]


def _chain_direction(model, chain, shape, C):
    """Per channel +1 (non-decreasing) or -1 (non-increasing), from the ops themselves: each
    is monotone in its dynamic input (round-to-nearest is monotone), its direction the sign
    of its factor. None when an op's direction is not known."""
    d = np.ones(C)
    for n in chain:
        if n.op_type in ("Add", "Sub", "Relu"):  # the dynamic input is the first (see _chain)
            continue
        if n.op_type in ("Mul", "Div"):
            c = model.get_initializer(n.input[1])
            if c is None:
                return None
            v = _per_channel(c, shape, C)
            if n.op_type == "Div" and np.any(v == 0):
                return None
        elif n.op_type == "BatchNormalization":
            gamma = model.get_initializer(n.input[1])
            if gamma is None:
                return None
            v = np.asarray(gamma, dtype=np.float64).ravel()
        else:
            return None
        d = d * np.where(np.sign(v) == 0, 1.0, np.sign(v))  # a zero factor makes the channel constant
    return d


def _thresholds_searched(model, chain, chain_fn, lo_c, hi_c, T, C, n_check=4096, seed=0):
    """Accumulator ranges too wide to enumerate: each threshold is the first accumulator value
    whose level reaches t, found by bisection (the chain's direction per channel is known from
    its ops), then checked on the thresholds' neighbours and on random accumulator values."""
    d = _chain_direction(model, chain, chain_fn.shape, C)
    if d is None:
        return "an op of the float chain has no known direction (not provably monotone)"
    # search over b = d * acc, in which every channel's level is non-decreasing
    b_lo = np.where(d > 0, lo_c, -hi_c).astype(np.int64)
    b_hi = np.where(d > 0, hi_c, -lo_c).astype(np.int64)

    def level_b(b):  # b [N, C] -> levels
        return chain_fn.levels(b * d[None, :])

    try:
        t = np.arange(1, T + 1)[:, None]
        l_lo = level_b(b_lo[None, :])[0]
        l_hi = level_b(b_hi[None, :])[0]
        lo = np.broadcast_to(b_lo, (T, C)).copy()   # invariant: level(lo) < t <= level(hi)
        hi = np.broadcast_to(b_hi, (T, C)).copy()
        never, always = l_hi[None, :] < t, l_lo[None, :] >= t
        while True:
            open_ = (hi - lo > 1) & ~never & ~always
            if not open_.any():
                break
            mid = (lo + hi) // 2
            lv = level_b(np.where(open_, mid, lo))
            up = open_ & (lv >= t)
            hi = np.where(up, mid, hi)
            lo = np.where(open_ & ~up, mid, lo)
        thr = np.where(always, b_lo[None, :], np.where(never, b_hi[None, :] + 1, hi)).T.astype(np.float64)
        # check: the thresholds' neighbours and random accumulator values, every channel
        rng = np.random.default_rng(seed)
        probe = [np.clip(thr.T, b_lo, b_hi), np.clip(thr.T - 1, b_lo, b_hi), b_lo[None, :], b_hi[None, :],
                 rng.integers(b_lo, b_hi + 1, size=(n_check, C))]
        probe = np.concatenate([p.astype(np.int64) for p in probe])
        want = level_b(probe)
    except _NotFoldable as e:
        return str(e)
    if want.min() < 0 or want.max() > T:
        return "the quantizer produced a level outside its range"
    got = np.sum(probe[:, :, None] >= thr[None, :, :], axis=2)
    if not np.array_equal(got, want):
        bad = np.argwhere(got != want)[0]
        return (f"channel {bad[1]}: thresholds do not reproduce the float chain at accumulator "
                f"{int(probe[bad[0], bad[1]] * d[bad[1]])} (the chain is not monotone)")
    return thr, d
