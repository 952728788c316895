"""Streamlining: the float scales and batch norms of QAT exports become integer MACs, with
every float operation collected in front of the next quantizer (where
``FoldFloatIntoThresholds`` turns it into integer thresholds) or at the end of the graph
(the software output tail).

Brevitas' default quantizers (``Int8ActPerTensorFloat``, ``Int8WeightPerTensorFloat``, ...)
and FINN-style exports compute ``Quant(x, s)`` with a float scale ``s`` that is no power of
two, so no fixed-point type holds their values. Written as ``s * q`` with an integer ``q``,
the scales can be moved behind the linear layers, whose integer products are then exact:

1. ``PrepareLinear`` (qonnx): Gemm -> MatMul + Add, weight transposes folded into the weight
   quantizers, conv biases as their own Add -- so each scale has one place to go.
2. ``ExtractFloatScales``: ``Quant(x, s)`` -> ``Mul(Quant(Div(x, s), 1), s)`` and
   ``BipolarQuant(x, s)`` -> ``Mul(BipolarQuant(x, 1), s)``. Bit-identical: qonnx's quantizer
   divides by the scale and multiplies by it in float32, exactly like the new Div and Mul.
   (qonnx's ``ExtractQuantScaleZeroPt`` also extracts power-of-two scales, which every
   backend carries natively as fixed point; this one leaves them alone.)
3. ``MoveScalesPastLinear``: a constant ``Mul`` in front of a MatMul/Conv (a scalar on the
   activation, a per-output-channel scale on the weight), a Relu or MaxPool (positive), or a
   reshape (scalar) moves behind it. This is the one step that changes float32 rounding: the
   product is now computed exactly on integers and scaled once, where the export multiplied
   scaled floats and summed them in float32 (in an order that onnxruntime itself changes
   with the batch size). From here on the streamlined graph is the contract the hardware
   meets bit for bit; tests bound its distance to the float export.
4. ``MoveMonotonePastMaxPool``: an element-wise non-decreasing op (Relu, Add, Mul/BN with
   positive factors) in front of a MaxPool moves behind it; exact, because a max commutes with
   any non-decreasing function, float rounding included.

``streamline(model)`` runs them (only when the model has a non-power-of-two scale or a
BatchNormalization, so other models are not touched) and records each rewrite in the
metadata property ``hwflow.streamlining``.
"""

from __future__ import annotations

import json

import numpy as np
from onnx import helper

from qonnx.transformation.base import Transformation

from hwflow.errors import ModelError

RECORD_KEY = "hwflow.streamlining"
RESHAPES = {"Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity"}
QUANTIZERS = {"Quant", "IntQuant", "BipolarQuant"}


def record(model, entry: dict) -> None:
    """Append ``entry`` to the model's streamlining record (metadata ``hwflow.streamlining``)."""
    entries = streamlining_record(model)
    entries.append(entry)
    model.set_metadata_prop(RECORD_KEY, json.dumps(entries))


def streamlining_record(model) -> list[dict]:
    raw = model.get_metadata_prop(RECORD_KEY)
    return json.loads(raw) if raw else []


def refusal_reasons(model) -> str:
    """`` (streamlining left float chains: ...)`` for a backend's refusal message, or ''."""
    refused = [f"{r['node']}: {r['reason']}" for r in streamlining_record(model) if r.get("applied") is False]
    return f" (streamlining left float chains: {'; '.join(refused)})" if refused else ""


def _is_pow2(v) -> bool:
    """Every element a (positive) power of two (each may differ)."""
    v = np.asarray(v, dtype=np.float64).ravel()
    if v.size == 0 or np.any(v <= 0) or not np.all(np.isfinite(v)):
        return False
    m, _ = np.frexp(v)
    return bool(np.all(m == 0.5))


def needs_streamlining(model) -> bool:
    for n in model.graph.node:
        if n.op_type == "BatchNormalization":
            return True
        if n.op_type in QUANTIZERS and len(n.input) > 1:
            s = model.get_initializer(n.input[1])
            if s is not None and not _is_pow2(s):
                return True
    return False


def _fresh(model, base: str) -> str:
    """A tensor name not used in the graph yet."""
    used = {t for n in model.graph.node for t in list(n.input) + list(n.output)}
    used |= {i.name for i in model.graph.initializer} | {i.name for i in model.graph.input}
    name, k = base, 0
    while name in used:
        k += 1
        name = f"{base}_{k}"
    return name


class PrepareLinear(Transformation):
    """qonnx's Gemm -> MatMul (+ Add) and transposes folded into weight quantizers; a conv's
    float bias becomes an Add behind it (qonnx's ExtractBiasFromConv also takes quantized
    biases, and fails on a scalar bias scale; those stay in the Conv, where a scale cannot
    move past it)."""

    def apply(self, model):
        from qonnx.transformation.fold_constants import FoldConstants
        from qonnx.transformation.gemm_to_matmul import GemmToMatMul
        from qonnx.transformation.general import GiveUniqueNodeNames
        from qonnx.transformation.infer_shapes import InferShapes
        from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

        keep = ["Quant", "BipolarQuant", "IntQuant", "Trunc", "MultiThreshold", "BiPer"]
        gemms = [n.name for n in model.graph.node if n.op_type == "Gemm"]
        conv_bias = [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) > 2 and n.input[2]
                     and model.get_initializer(n.input[2]) is not None]
        if not gemms and not conv_bias:
            return model, False
        for conv in conv_bias:
            b = np.asarray(model.get_initializer(conv.input[2]))
            rank = len(model.get_tensor_shape(conv.output[0]))
            b_name = _fresh(model, conv.name + "_bias")
            model.set_initializer(b_name, b.reshape([1, -1] + [1] * (rank - 2)))
            out, acc = conv.output[0], _fresh(model, conv.name + "_acc")
            del conv.input[2:]
            conv.output[0] = acc
            g = model.graph
            g.node.insert(list(g.node).index(conv) + 1,
                          helper.make_node("Add", [acc, b_name], [out], name=conv.name + "_bias"))
        for gemm in [n for n in model.graph.node if n.op_type == "Gemm" and (len(n.input) < 3 or not n.input[2])]:
            _biasless_gemm_to_matmul(model, gemm)  # qonnx's GemmToMatMul needs the C input
        if any(n.op_type == "Gemm" for n in model.graph.node):
            model = model.transform(GemmToMatMul())
        model = model.transform(InferShapes())
        model = model.transform(FoldTransposeIntoQuantInit())
        model = model.transform(FoldConstants(exclude_op_types=keep))
        model = model.transform(InferShapes())
        model = model.transform(GiveUniqueNodeNames())
        if gemms:
            record(model, {"transformation": "GemmToMatMul", "nodes": gemms})
        if conv_bias:
            record(model, {"transformation": "ExtractConvBias", "nodes": [c.name for c in conv_bias]})
        return model, False


def _biasless_gemm_to_matmul(model, gemm) -> None:
    """Gemm(A, B) without C -> MatMul(A, B or Transpose(B)), scaled by alpha if it is not 1."""
    a = {x.name: helper.get_attribute_value(x) for x in gemm.attribute}
    if a.get("transA", 0):
        raise ModelError("Gemm with transA=1 on an activation", node=gemm.name)
    g = model.graph
    idx = list(g.node).index(gemm)
    b = gemm.input[1]
    new = []
    if a.get("transB", 0):
        bt = _fresh(model, gemm.name + "_weight_t")
        new.append(helper.make_node("Transpose", [b], [bt], perm=[1, 0], name=gemm.name + "_weight_t"))
        b = bt
    out = gemm.output[0]
    alpha = float(a.get("alpha", 1.0))
    mm_out = out if alpha == 1.0 else _fresh(model, gemm.name + "_unscaled")
    new.append(helper.make_node("MatMul", [gemm.input[0], b], [mm_out], name=gemm.name))
    if alpha != 1.0:
        al = _fresh(model, gemm.name + "_alpha")
        model.set_initializer(al, np.asarray(alpha, dtype=np.float32))
        new.append(helper.make_node("Mul", [mm_out, al], [out], name=gemm.name + "_alpha"))
    g.node.remove(gemm)
    for k, n in enumerate(new):
        g.node.insert(idx + k, n)


class ExtractFloatScales(Transformation):
    """``Quant(x, s)`` with a non-power-of-two scale -> ``Mul(Quant(Div(x, s), 1), s)``;
    ``BipolarQuant(x, s)`` -> ``Mul(BipolarQuant(x, 1), s)`` (bit-identical)."""

    def apply(self, model):
        for q in list(model.graph.node):
            if q.op_type not in ("Quant", "BipolarQuant") or len(q.input) < 2:
                continue
            s = model.get_initializer(q.input[1])
            if s is None or _is_pow2(s):
                continue
            sv = np.asarray(s, dtype=np.float64)
            if not np.all(np.isfinite(sv)) or np.any(sv <= 0):
                raise ModelError(f"{q.op_type} scale must be finite and > 0, got {sv.ravel()[:4].tolist()}",
                                 node=q.name)
            if q.op_type == "Quant":
                zp = model.get_initializer(q.input[2])
                if zp is None or np.any(np.asarray(zp) != 0):
                    continue  # non-zero zero-points are refused by the IR's analysis, naming the node
            idx = list(model.graph.node).index(q)
            one = _fresh(model, q.name + "_unit_scale")
            model.set_initializer(one, np.asarray(1.0, dtype=np.float32))
            if q.op_type == "Quant":
                divided = _fresh(model, q.name + "_div_scale")
                model.graph.node.insert(idx, helper.make_node("Div", [q.input[0], q.input[1]], [divided],
                                                              name=q.name + "_div_scale"))
                q.input[0] = divided
            out, integer = q.output[0], _fresh(model, q.name + "_int")
            q.output[0] = integer
            scale = q.input[1]
            q.input[1] = one
            pos = list(model.graph.node).index(q) + 1
            model.graph.node.insert(pos, helper.make_node("Mul", [integer, scale], [out], name=q.name + "_scale"))
            record(model, {"transformation": "ExtractFloatScales", "node": q.name,
                           "scale": sv.ravel()[:8].tolist() + (["..."] if sv.size > 8 else [])})
            return model, True
        return model, False


def _const_mul(model, n):
    """(dynamic input, constant value, constant's input index) of a Mul by a constant."""
    if n.op_type != "Mul" or len(n.input) != 2:
        return None
    for k in (1, 0):
        c = model.get_initializer(n.input[k])
        if c is not None and model.get_initializer(n.input[1 - k]) is None:
            return n.input[1 - k], np.asarray(c), k
    return None


def _per_axis(c: np.ndarray, shape: list[int], axis: int) -> np.ndarray | None:
    """``c`` broadcast to ``shape`` as a vector along ``axis`` (constant along every other
    axis), or None if it varies along another axis."""
    try:
        full = np.broadcast_to(c, shape)
    except ValueError:
        return None
    moved = np.moveaxis(full, axis, 0).reshape(shape[axis], -1)
    if not np.all(moved == moved[:, :1]):
        return None
    return moved[:, 0]


class MoveScalesPastLinear(Transformation):
    """A ``Mul`` by a constant moves behind the op consuming it (see the module text)."""

    def apply(self, model):
        for n in list(model.graph.node):
            found = _const_mul(model, n)
            if found is None:
                continue
            x, c, _ = found
            cons = model.find_consumers(n.output[0]) or []
            if len(cons) != 1 or n.output[0] in [o.name for o in model.graph.output]:
                continue
            m = cons[0]
            c_after = self._scale_after(model, n, c, m)
            if c_after is None:
                continue
            _move_behind(model, n, x, m, c_after)
            record(model, {"transformation": "MoveScalesPastLinear", "node": n.name, "past": m.name or m.op_type})
            return model, True
        return model, False

    @staticmethod
    def _scale_after(model, n, c, m):
        """The constant that multiplies ``m``'s output instead, or None if it cannot move."""
        scalar = c.size == 1
        positive = bool(np.all(c > 0))
        y = n.output[0]
        if m.op_type == "MatMul":
            if m.input[0] == y:
                return c.reshape(()) if scalar else None
            w_shape = model.get_tensor_shape(y)
            if w_shape is None or len(w_shape) != 2:
                return None
            v = _per_axis(c, w_shape, 1)  # per output column of the weight
            return None if v is None else v.reshape(1, -1)
        if m.op_type == "Conv":
            if len(m.input) > 2 and m.input[2]:
                return None  # PrepareLinear took biases out; a computed bias stays
            if m.input[0] == y:
                return c.reshape(()) if scalar else None
            w_shape = model.get_tensor_shape(y)
            if w_shape is None:
                return None
            v = _per_axis(c, w_shape, 0)  # per output channel of the kernel
            return None if v is None else v.reshape([1, -1] + [1] * (len(w_shape) - 2))
        if m.op_type in ("Relu", "MaxPool") and positive and m.input[0] == y:
            shape = model.get_tensor_shape(y)
            if scalar:
                return c.reshape(())
            if shape is None or len(shape) < 2 or _per_axis(c, shape, 1) is None:
                return None
            return c
        if m.op_type in RESHAPES and scalar and m.input[0] == y:
            return c.reshape(())
        return None


def _drop_value_info(model, *names: str) -> None:
    """Shapes of tensors that a rewrite renamed or gave new values (InferShapes redoes them)."""
    for vi in [v for v in model.graph.value_info if v.name in names]:
        model.graph.value_info.remove(vi)


def _move_behind(model, n, x, m, const: np.ndarray | None = None) -> None:
    """Element-wise ``n`` (dynamic input ``x``) whose only consumer is ``m``: afterwards ``m``
    reads ``x`` and ``n`` reads ``m``'s result and writes ``m``'s old output; ``const`` (if
    given) replaces ``n``'s constant input."""
    y, z = n.output[0], m.output[0]
    t = _fresh(model, (m.name or m.op_type) + "_before_" + (n.name or n.op_type))
    for k, i in enumerate(m.input):
        if i == y:
            m.input[k] = x
    m.output[0] = t
    c_name = None
    if const is not None:
        c_name = _fresh(model, (n.name or n.op_type) + "_moved")
        model.set_initializer(c_name, np.asarray(const, dtype=np.float32))
    for k, i in enumerate(n.input):
        if i == x:
            n.input[k] = t
        elif c_name is not None and i:
            n.input[k] = c_name
    n.output[0] = z
    _drop_value_info(model, y, z)
    g = model.graph
    g.node.remove(n)
    g.node.insert(list(g.node).index(m) + 1, n)


def _nondecreasing_factor(model, n) -> bool:
    """``n`` is element-wise, per channel, and non-decreasing in its dynamic input."""
    if n.op_type == "Relu":
        return True
    if n.op_type in ("Add", "Sub", "Mul", "Div"):
        dyn = [i for i in n.input if model.get_initializer(i) is None]
        if len(dyn) != 1 or (n.op_type in ("Sub", "Div") and n.input[0] != dyn[0]):
            return False
        c = model.get_initializer(n.input[1] if n.input[0] == dyn[0] else n.input[0])
        shape = model.get_tensor_shape(dyn[0])
        if shape is None or len(shape) < 3 or _per_axis(np.asarray(c), shape, 1) is None:
            return False
        return n.op_type in ("Add", "Sub") or bool(np.all(np.asarray(c) > 0))
    if n.op_type == "BatchNormalization":
        gamma = model.get_initializer(n.input[1])
        return gamma is not None and bool(np.all(np.asarray(gamma) > 0))
    return False


class MoveMonotonePastMaxPool(Transformation):
    """``MaxPool(f(x)) == f(MaxPool(x))`` for a per-channel non-decreasing ``f`` (exact)."""

    def apply(self, model):
        for p in list(model.graph.node):
            if p.op_type != "MaxPool":
                continue
            n = model.find_producer(p.input[0])
            if n is None or len(model.find_consumers(n.output[0]) or []) != 1 or not _nondecreasing_factor(model, n):
                continue
            x = next(i for i in n.input if model.get_initializer(i) is None)
            _move_behind(model, n, x, p)
            record(model, {"transformation": "MoveMonotonePastMaxPool", "node": n.name or n.op_type,
                           "past": p.name or "MaxPool"})
            return model, True
        return model, False


class AbsorbChannelSignIntoWeights(Transformation):
    """``Mul(MatMul/Conv(x, W), sign)`` with a +-1 per output channel (``FoldFloatIntoThresholds``
    puts one in front of thresholds of a chain that decreases, e.g. a negative batch-norm scale)
    -> the MAC with those weight columns negated: exact (the quantized weights are integers on
    a grid; the weight quantizer gets one more bit where the most negative value flipped), and
    the thresholds then read the MAC directly, as hls4ml's threshold layers expect."""

    def apply(self, model):
        from hwflow.ir.kernels import KERNELS

        for n in list(model.graph.node):
            found = _const_mul(model, n)
            if found is None:
                continue
            acc, c, _ = found
            mac = model.find_producer(acc)
            if (not np.all(np.abs(c) == 1) or mac is None or mac.op_type not in ("MatMul", "Conv")
                    or len(model.find_consumers(acc) or []) != 1 or mac.input[0] == mac.input[1]
                    or (mac.op_type == "Conv" and len(mac.input) > 2 and mac.input[2])):
                continue
            shape = model.get_tensor_shape(acc)
            if shape is None or (mac.op_type == "MatMul" and len(shape) != 2):
                continue
            signs = _per_axis(c, shape, 1)
            wq = model.find_producer(mac.input[1])
            if (signs is None or wq is None or wq.op_type not in ("Quant", "BipolarQuant")
                    or len(model.find_consumers(mac.input[1]) or []) != 1
                    or any(model.get_initializer(i) is None for i in wq.input if i)):
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in wq.attribute}
            vals = [np.asarray(model.get_initializer(i)) for i in wq.input]
            w = np.asarray(KERNELS[wq.op_type](attrs, vals, False)[0], dtype=np.float64)
            axis = 1 if mac.op_type == "MatMul" else 0
            flip = signs.reshape([-1 if k == axis else 1 for k in range(w.ndim)])
            neg = (w * flip).astype(np.float32)
            w_name = _fresh(model, wq.name + "_sign_absorbed")
            model.set_initializer(w_name, neg)
            wq.input[0] = w_name
            if wq.op_type == "Quant":
                vals[0] = neg
                if not np.array_equal(KERNELS["Quant"](attrs, vals, False)[0], neg):  # -min_int: one more bit
                    b_name = _fresh(model, wq.name + "_bits_plus_one")
                    model.set_initializer(b_name, np.asarray(float(np.asarray(vals[3]).item()) + 1, dtype=np.float32))
                    wq.input[3] = b_name
                    vals[3] = model.get_initializer(b_name)
                    if not np.array_equal(KERNELS["Quant"](attrs, vals, False)[0], neg):
                        raise ModelError("negated weights not representable by their quantizer", node=wq.name)
            mac.output[0] = n.output[0]
            _drop_value_info(model, acc)
            model.graph.node.remove(n)
            record(model, {"transformation": "AbsorbChannelSignIntoWeights", "node": n.name, "past": mac.name,
                           "negated_channels": int(np.sum(signs < 0))})
            return model, True
        return model, False


def streamline(model):
    """The streamlining steps above, to a fixed point, when the model needs them."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes

    if not needs_streamlining(model):
        return model
    keep = ["Quant", "BipolarQuant", "IntQuant", "Trunc", "MultiThreshold", "BiPer"]
    model = model.transform(PrepareLinear())
    model = model.transform(ExtractFloatScales())
    model = model.transform(InferShapes())
    model = model.transform(FoldConstants(exclude_op_types=keep))  # weight Div(W, s) -> constant
    model = model.transform(InferShapes())
    model = model.transform(MoveScalesPastLinear())
    model = model.transform(MoveMonotonePastMaxPool())
    model = model.transform(InferShapes())
    return model
