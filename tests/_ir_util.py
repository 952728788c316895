"""Helpers of the IR tests: compare our executor with qonnx's execute_onnx."""

from __future__ import annotations

import warnings

import numpy as np


def execute_onnx_samples(model, x, full=True):
    """Run qonnx execute_onnx sample by sample (its graphs are written for batch 1).

    Returns a list (one entry per sample) of dicts tensor -> array.
    """
    from qonnx.core.onnx_exec import execute_onnx

    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    feeds = x if isinstance(x, dict) else {names[0]: x}
    n = next(iter(feeds.values())).shape[0]
    res = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in range(n):
            d = {k: np.asarray(v[s:s + 1], dtype=np.float32) for k, v in feeds.items()}
            res.append(execute_onnx(model, d, return_full_exec_context=full))
    return res


def compare_every_tensor(model, ex, x, ref=None):
    """Mismatches between ReferenceExecutor ``ex`` and execute_onnx on every non-constant
    tensor: dict tensor -> (count, first sample, max abs difference). Empty when bit-exact."""
    ref = ref if ref is not None else execute_onnx_samples(model, x)
    ours = ex.run(x, intermediate=True)
    bad = {}
    checked = set()
    for s, ctx in enumerate(ref):
        for name, v in ctx.items():
            if v is None or name not in ours:
                continue
            checked.add(name)
            if name in ex.consts:  # constants (initializers, folded weight quantizers)
                if s == 0 and not np.array_equal(np.asarray(ours[name], dtype=np.float64),
                                                 np.asarray(v, dtype=np.float64)):
                    bad[name] = (1, 0, float(np.max(np.abs(ours[name] - v))))
                continue
            g = ours[name][s:s + 1]
            r = np.asarray(v, dtype=np.float64).reshape(g.shape)
            if not np.array_equal(g, r):
                cnt, first, d = bad.get(name, (0, s, 0.0))
                bad[name] = (cnt + 1, first, max(d, float(np.max(np.abs(g - r)))))
    return bad, checked


def execute_onnx_batched(model, x, full=False):
    """execute_onnx on the whole batch at once (qonnx ChangeBatchSize + InferShapes): the
    same node-by-node onnxruntime/qonnx evaluation, much faster than sample by sample.
    Returns one dict tensor -> array."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    feeds = x if isinstance(x, dict) else {names[0]: x}
    n = next(iter(feeds.values())).shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mb = model.transform(ChangeBatchSize(n)).transform(InferShapes())
        return execute_onnx(mb, {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()},
                            return_full_exec_context=full)
