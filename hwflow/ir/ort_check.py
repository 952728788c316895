"""Cross-check with plain onnxruntime: QONNX -> QCDQ (qonnx's ``QuantToQCDQ``), then the
whole graph in one onnxruntime session, compared with our executor sample by sample.

Where onnxruntime cannot run the graph (ops without a QCDQ form: ``BipolarQuant``,
``MultiThreshold``, ``Trunc``, ``BiPer``, Quant wider than 8 bits or not ROUND), the report
says so and names the nodes. Where it runs, it is run twice: with graph optimizations off
(the QCDQ graph as written) and with onnxruntime's defaults (which may fuse
DequantizeLinear -> MatMul -> QuantizeLinear into integer kernels with their own
requantization); each difference is reported with the first mismatching sample and the
likely reason.
"""

from __future__ import annotations

import warnings

import numpy as np

QONNX_ONLY = {"Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold", "BiPer"}


def to_qcdq(model):
    """(qcdq model, [names of nodes onnxruntime cannot run])."""
    from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = model.transform(QuantToQCDQ())
    left = [f"{n.name or n.op_type} ({n.op_type})" for n in q.graph.node
            if n.op_type in QONNX_ONLY or n.domain not in ("", "ai.onnx")]
    return q, left


def _session(model, optimize: bool):
    import onnxruntime as rt

    opts = rt.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = rt.GraphOptimizationLevel.ORT_DISABLE_ALL
    return rt.InferenceSession(model.model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def ort_cross_check(model, x=None, n: int = 200, seed: int = 0) -> dict:
    """Compare onnxruntime on the QCDQ form of ``model`` with ``ReferenceExecutor(model)``.

    Returns a JSON-able report: ``ran`` (bool), ``reason`` if not, else per optimization
    level and output: mismatching samples, first one, max difference, and ``why``.
    """
    from hwflow.ir.executor import ReferenceExecutor
    from hwflow.ir.infer import infer_fixed_point
    from hwflow.ir.stimulus import make_stimulus

    ex = ReferenceExecutor(model)
    if x is None:
        x = make_stimulus(model, n=n, seed=seed)
    feeds = x if isinstance(x, dict) else {ex.inputs[0]: x}
    qcdq, left = to_qcdq(model)
    if left:
        return {"ran": False, "reason": "onnxruntime cannot run these nodes (no QCDQ form in qonnx's "
                                        "QuantToQCDQ: BipolarQuant, MultiThreshold, Trunc, BiPer, Quant "
                                        "outside 2..8 bits or not ROUND): " + ", ".join(left)}
    ours = ex.run(feeds, intermediate=True)
    types = infer_fixed_point(model)
    wide = sorted(t for t, ft in types.items() if not ft.is_float and ft.width > 24)
    floats = sorted({n.op_type for n in model.graph.node if types.get(n.output[0]) and types[n.output[0]].is_float})
    report = {"ran": True, "samples": int(next(iter(feeds.values())).shape[0]), "levels": {}}
    nsamp = report["samples"]
    for level, opt in (("no_graph_optimization", False), ("default_optimization", True)):
        try:
            sess = _session(qcdq, opt)
        except Exception as e:  # onnxruntime refuses the QCDQ graph
            report["levels"][level] = {"ran": False, "reason": f"{type(e).__name__}: {e}"}
            continue
        outs = {o.name: [] for o in sess.get_outputs()}
        for i in range(nsamp):
            r = sess.run(None, {k: np.asarray(v[i:i + 1], dtype=np.float32) for k, v in feeds.items()})
            for o, v in zip(outs, r):
                outs[o].append(v)
        res = {}
        for o, vals in outs.items():
            got = np.concatenate(vals).astype(np.float64)
            want = ours[o].reshape(got.shape)
            diff = np.abs(got - want).reshape(nsamp, -1).max(axis=1)
            bad = np.nonzero(diff > 0)[0]
            entry = {"mismatching_samples": int(bad.size), "max_abs_diff": float(diff.max()) if nsamp else 0.0}
            if bad.size:
                entry["first_mismatch_sample"] = int(bad[0])
                why = []
                if opt:
                    why.append("onnxruntime's default optimizations fuse QDQ patterns into integer kernels "
                               "(QLinearMatMul/QLinearConv) whose requantization rounds differently")
                if wide:
                    why.append(f"float32 in onnxruntime is exact only up to 24 bits; these tensors need more: {wide[:5]}")
                if floats:
                    why.append(f"float ops in the graph ({', '.join(floats)}) round differently in one fused "
                               f"session than node by node")
                entry["why"] = why or ["unexplained: inspect the first mismatching sample"]
            res[o] = entry
        report["levels"][level] = {"ran": True, "outputs": res}
    return report
