"""Shared helpers of the RTL/sim tests: small QONNX models built in code, and a check of
the traced logic (da4ml's own evaluator of the CombLogic) against the reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from _ir_models import QDOM, GraphBuilder


def tiny_mlp(path: Path, seed: int = 0) -> Path:
    """8 -> 6 -> 3 MLP, 4-bit weights, 4-bit ReLU activations, 6-bit input: small enough
    that its Verilator build takes seconds."""
    b = GraphBuilder(seed)
    x = b.quant("x", 2.0**-3, 6)
    h = b.node("MatMul", [x, b.qweight((8, 6), bits=4, frac=2)])
    h = b.node("Add", [h, b.qweight((6,), bits=4, frac=2)])
    h = b.quant(b.node("Relu", [h]), 2.0**-2, 4, signed=0)
    y = b.node("MatMul", [h, b.qweight((6, 3), bits=4, frac=2)])
    m = b.model("x", [1, 8], y)
    m.save(str(path))
    return path


def single_op(path: Path, build) -> Path:
    """Model x[1,16] -> Quant(ap_fixed<8,4>) -> build(b, x) -> y."""
    b = GraphBuilder(0)
    x = b.quant("x", 2.0**-4, 8)
    y = build(b, x)
    m = b.model("x", [1, 16], y, extra_domains=("hwflow.ir.custom_op",))
    m.save(str(path))
    return path


def trace_vs_reference(model_path: Path, n: int = 200, seed: int = 0, exhaustive_input: bool = False) -> int:
    """Number of samples where the traced logic differs from ReferenceExecutor."""
    from da4ml.trace import comb_trace

    from hwflow.backends.rtl.model_io import input_format, prepare_model
    from hwflow.backends.rtl.tracer import trace_model
    from hwflow.ir import ReferenceExecutor, make_stimulus

    m, _, _ = prepare_model(model_path)
    fmt = input_format(m)
    tr = trace_model(m, fmt)
    comb = comb_trace(tr.inputs, tr.outputs, keep_dead_inputs=True)
    if exhaustive_input:
        q = np.arange(fmt.int_min, fmt.int_max + 1)
        q = np.resize(q, (int(np.ceil(q.size / len(tr.inputs))), len(tr.inputs)))
        x = (q * 2.0**-fmt.frac).reshape((-1, *tr.input_shape[1:]))
    else:
        x = make_stimulus(m, n=n, seed=seed, corners=True)
    y = np.asarray(ReferenceExecutor(m).run(x), dtype=np.float64).reshape(len(x), -1)
    bad = 0
    for s in range(len(x)):
        if not np.array_equal(np.asarray(comb(np.asarray(x[s]).ravel()), dtype=np.float64), y[s]):
            bad += 1
    return bad


__all__ = ["QDOM", "GraphBuilder", "tiny_mlp", "single_op", "trace_vs_reference"]
