"""Graph rewrites that make float islands exact before hls4ml sees the graph.

``fold_float_thresholds``: Brevitas folds a scale and a batch norm in front of a binary
activation as ``BipolarQuant(Mul(Sub(x, c), s))``; the IR types the ``Sub``/``Mul`` results
float32 (their exact values need more bits than float32 has), so hls4ml could not compute
them bit-exactly. But the chain feeds only a sign test. Every float32 operation is monotone
non-decreasing in x when the multipliers are positive, so ``f(x) >= 0`` holds exactly for
``x >= t``, where t is the smallest value on x's fixed-point grid with ``f(t) >= 0``. We find
t per channel by evaluating f in float32 (the reference executor's arithmetic) on every
grid value of x's IR range, and replace the chain by ``BipolarQuant(Add(x, -t))``, which
is exact fixed point and which hls4ml turns into its binary threshold layer.
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from hwflow.errors import UnsupportedOp

AFFINE_OPS = ("Sub", "Add", "Mul", "Div")
MAX_GRID_POINTS = 1 << 20  # x ranges wider than this are not enumerated


def _const(model, name):
    v = model.get_initializer(name)
    return None if v is None else np.asarray(v)


def _float_chain(model, types, bq):
    """(x, [(op, const, const_is_second)]) of the float affine chain before BipolarQuant bq."""
    ops = []
    t = bq.input[0]
    while types.get(t) is not None and types[t].is_float:
        node = model.find_producer(t)
        if node is None or node.op_type not in AFFINE_OPS or len(model.find_consumers(t) or []) != 1:
            return None
        a, b = node.input
        ca, cb = _const(model, a), _const(model, b)
        if cb is not None and ca is None:
            ops.append((node, cb, True))
            t = a
        elif ca is not None and cb is None and node.op_type in ("Add", "Mul"):
            ops.append((node, ca, False))
            t = b
        else:
            return None
    if not ops or types.get(t) is None or types[t].is_float:
        return None
    return t, list(reversed(ops))


def _evaluate(x: np.ndarray, ops) -> np.ndarray:
    """The chain in float32, as the reference executor computes float operations."""
    y = x.astype(np.float32)
    for node, c, second in ops:
        c = c.astype(np.float32)
        fn = {"Sub": np.subtract, "Add": np.add, "Mul": np.multiply, "Div": np.divide}[node.op_type]
        y = fn(y, c) if second else fn(c, y)
    return y


def fold_float_thresholds(model, types) -> list[str]:
    """Rewrite every foldable float chain feeding a BipolarQuant; returns the folded node names."""
    folded = []
    for bq in [n for n in model.graph.node if n.op_type == "BipolarQuant"]:
        scale = _const(model, bq.input[1]) if len(bq.input) > 1 else None
        if scale is None or np.any(scale <= 0):
            continue
        chain = _float_chain(model, types, bq)
        if chain is None:
            continue
        x, ops = chain
        for node, c, second in ops:
            if node.op_type in ("Mul", "Div") and np.any(c <= 0):
                raise UnsupportedOp("threshold folding needs positive multipliers", node=node.name)
        tx = types[x]
        if tx.scale != 1.0 or tx.int_max - tx.int_min + 1 > MAX_GRID_POINTS:
            raise UnsupportedOp(f"cannot enumerate the range of {x!r} to fold this float chain", node=ops[0][0].name)
        q = np.arange(tx.int_min, tx.int_max + 1, dtype=np.float64)
        grid = np.ldexp(q, -tx.frac)
        # the chain differs only where its constants differ: evaluate it on their shape
        cshape = np.broadcast_shapes(*[np.shape(c) for _, c, _ in ops])
        xs = grid.reshape((-1,) + (1,) * len(cshape))
        y = _evaluate(np.broadcast_to(xs, (len(grid),) + tuple(cshape)), ops)
        pos = y >= 0
        # monotone: once positive, stays positive; the threshold is the first positive grid value
        if np.any(pos[:-1] & ~pos[1:]):
            raise UnsupportedOp("float chain before BipolarQuant is not monotone", node=ops[0][0].name)
        first = np.where(pos.any(axis=0), pos.argmax(axis=0), len(grid))  # len(grid): never positive
        thr_q = tx.int_min + first  # as integer on x's grid; int_max + 1 means "never"
        thr = np.ldexp(thr_q.astype(np.float64), -tx.frac)
        if thr.size and np.all(thr == thr.reshape(-1)[0]):
            thr = np.asarray(thr.reshape(-1)[0])
        name = f"{ops[0][0].name}_threshold"
        init = numpy_helper.from_array((-thr).astype(np.float32), name)
        if not np.array_equal((-thr).astype(np.float32).astype(np.float64), -thr):
            raise UnsupportedOp("folded threshold not representable in float32", node=ops[0][0].name)
        model.graph.initializer.append(init)
        add = helper.make_node("Add", [x, name], [ops[-1][0].output[0]], name=f"{ops[0][0].name}_fold")
        idx = list(model.graph.node).index(ops[0][0])
        for node, _, _ in ops:
            model.graph.node.remove(node)
        model.graph.node.insert(idx, add)
        folded.append(" + ".join(n.name for n, _, _ in ops))
    return folded



def fold_conv_bias_add(model) -> list[str]:
    """``Add(Conv(x, W), c)`` with a per-channel constant c -> ``Conv(x, W, c)``.

    QKeras/Brevitas exports keep a bias that follows a binary convolution as a separate
    ``Add``; hls4ml's ONNX converter gives such an ``Add`` of a 4-D constant no shape. The
    sum is the same exact fixed-point sum either way (conv output and c are on fixed grids).
    """
    folded = []
    for conv in [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) == 2]:
        cons = model.find_consumers(conv.output[0]) or []
        if len(cons) != 1 or cons[0].op_type != "Add":
            continue
        add = cons[0]
        other = add.input[1] if add.input[0] == conv.output[0] else add.input[0]
        c = model.get_initializer(other)
        shape = model.get_tensor_shape(conv.output[0])
        if c is None or shape is None or len(shape) < 3:
            continue
        n_ch = shape[1]
        c = np.asarray(c)
        try:
            full = np.broadcast_to(c, shape)
        except ValueError:
            continue
        per_ch = full.reshape(shape[0], n_ch, -1)[0]
        if not np.all(per_ch == per_ch[:, :1]):
            continue
        name = f"{conv.name}_bias"
        model.graph.initializer.append(numpy_helper.from_array(per_ch[:, 0].astype(np.float32), name))
        conv.input.append(name)
        old_out = conv.output[0]
        conv.output[0] = add.output[0]
        model.graph.node.remove(add)
        for vi in [v for v in model.graph.value_info if v.name == old_out]:
            model.graph.value_info.remove(vi)
        folded.append(f"{add.name} -> {conv.name}")
    return folded


def multithreshold_to_bipolar(model, types) -> list[str]:
    """A one-level bipolar ``MultiThreshold`` -> ``BipolarQuant(Add(x, -t))`` (hls4ml has no
    MultiThreshold; it reads this pair as its binary threshold layer or a biased layer + sign).

    MultiThreshold gives ``2 * (x >= t) - 1``; with x on the grid 2**-f, ``x >= t`` holds
    exactly when ``x >= ceil(t * 2**f) * 2**-f``, so the new constant is exact fixed point.
    """
    from hwflow.errors import UnsupportedOp

    rewritten = []
    for node in [n for n in model.graph.node if n.op_type == "MultiThreshold"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        thr = _const(model, node.input[1])
        out_dtype = attrs.get("out_dtype", b"")
        out_dtype = out_dtype.decode() if isinstance(out_dtype, bytes) else str(out_dtype)
        tx = types.get(node.input[0])
        shape = model.get_tensor_shape(node.input[0])
        if thr is None or thr.ndim != 2:
            raise UnsupportedOp("MultiThreshold with computed or non-(C, T) thresholds", node=node.name)
        if thr.shape[1] != 1 or out_dtype != "BIPOLAR" \
                or float(attrs.get("out_scale", 1.0)) != 2.0 or float(attrs.get("out_bias", 0.0)) != -1.0:
            # multi-level: hwflow's MultiThreshold extension layer takes it (on a feature map once
            # prepare() has moved the layout transposes through it and set its data_layout)
            continue
        if tx is None or tx.is_float or tx.scale != 1.0:
            raise UnsupportedOp("MultiThreshold on a tensor without a power-of-two fixed-point type",
                                node=node.name)
        layout = attrs.get("data_layout", b"")
        layout = layout.decode() if isinstance(layout, bytes) else str(layout)
        t = np.ldexp(np.ceil(np.ldexp(thr[:, 0].astype(np.float64), tx.frac)), -tx.frac)
        if thr.shape[0] == 1:
            const = np.asarray(-t[0])
        elif layout.endswith("C") or len(shape) == 2:   # NC / NHWC: channels last
            const = -t
        else:                                           # NCHW / NCW: channels on axis 1
            const = (-t).reshape((len(t),) + (1,) * (len(shape) - 2))
        if not np.array_equal(const.astype(np.float32).astype(np.float64), const):
            raise UnsupportedOp("threshold not representable in float32", node=node.name)
        c_name, one_name, mid = f"{node.name}_negthr", f"{node.name}_one", f"{node.name}_shifted"
        model.graph.initializer.append(numpy_helper.from_array(const.astype(np.float32), c_name))
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(1.0, dtype=np.float32), one_name))
        add = helper.make_node("Add", [node.input[0], c_name], [mid], name=f"{node.name}_add")
        bq = helper.make_node("BipolarQuant", [mid, one_name], [node.output[0]], name=f"{node.name}_sign",
                              domain="qonnx.custom_op.general")
        idx = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(idx, bq)
        model.graph.node.insert(idx, add)
        rewritten.append(node.name)
    return rewritten
