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

