"""hls4ml C simulation (g++, hls4ml's ``compile()``) checked sample by sample against the IR.

Inputs are fed as float64 (hls4ml's ``*_double`` entry point) so every fixed-point value up
to 53 bits crosses the boundary exactly. hls4ml represents a bipolar value (-1/+1) as the bit
0/1; outputs of bipolar tensors are mapped back. Every layer is compiled with tracing, so a
mismatch is located at its first layer without recompiling.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import time
from dataclasses import dataclass, field

import numpy as np

from hwflow.backends.hls4ml.convert import Converted
from hwflow.backends.hls4ml.prepare import PreparedModel, TensorRef, as_array, to_layout
from hwflow.errors import ToolFailed


@dataclass
class CsimResult:
    samples: int
    mismatches: int
    compile_time_s: float
    run_time_s: float
    compared: list[str]
    first_mismatch: dict | None = None
    outputs: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict:
        return {"samples": self.samples, "mismatches": self.mismatches, "compile_time_s": round(self.compile_time_s, 3),
                "run_time_s": round(self.run_time_s, 3), "compared_tensors": self.compared,
                "first_mismatch": self.first_mismatch}


# hls4ml's build_lib.sh compiles the C-sim library with -O3; -O1 takes ~30% less CPU here and
# cannot change a result (ap_types are exact integer arithmetic, no floating point involved).
CSIM_OPT_LEVEL = "-O1"


def write_project(conv: Converted) -> None:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        conv.hmodel.write()
    script = os.path.join(conv.hmodel.config.get_output_dir(), "build_lib.sh")
    if os.path.isfile(script):
        with open(script) as f:
            text = f.read()
        with open(script, "w") as f:
            f.write(text.replace('CFLAGS="-O3 -fPIC"', f'CFLAGS="{CSIM_OPT_LEVEL} -fPIC"'))


def compile_project(conv: Converted) -> float:
    """Write the project and build the C-sim library with g++; returns the seconds taken."""
    from hwflow.tools import Gxx

    Gxx().locate()
    t0 = time.perf_counter()
    buf = io.StringIO()
    try:
        write_project(conv)
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            conv.hmodel._compile()
    except Exception as e:  # hls4ml raises bare Exception('Failed to compile project ...')
        out = conv.hmodel.config.get_output_dir()
        raise ToolFailed("g++ (hls4ml compile)", 1, os.path.join(out, "build_lib.sh"),
                         f"{type(e).__name__}: {e}\n{buf.getvalue()[-2000:]}") from e
    return time.perf_counter() - t0


def _is_binary(var) -> bool:
    """hls4ml holds this variable as one bit meaning -1 (0) or +1 (1)."""
    from hls4ml.model.types import XnorPrecisionType

    return isinstance(var.type.precision, XnorPrecisionType)


def _bipolar_outputs(conv: Converted, prepared: PreparedModel) -> list[bool]:
    return [_is_binary(v) for v in conv.hmodel.get_output_variables()]


def _inputs_for_hls(conv: Converted, prepared: PreparedModel, x) -> list[np.ndarray]:
    """Stimulus (one array or dict by input name) -> flattened float64 arrays in hls4ml order."""
    n_in = len(conv.hmodel.get_input_variables())
    names = [i.name for i in prepared.model.graph.input if prepared.model.get_initializer(i.name) is None]
    if isinstance(x, dict):
        xs = [x[n] for n in names]
    else:
        xs = [x]
    if len(xs) != n_in:
        raise ValueError(f"{len(xs)} input arrays for {n_in} hls4ml inputs")
    out = []
    for var, xi in zip(conv.hmodel.get_input_variables(), xs):
        xi = as_array(xi).reshape(len(xi), -1)
        if _is_binary(var):
            xi = (xi > 0).astype(np.float64)  # hls4ml's binary encoding: -1 -> 0, +1 -> 1
        out.append(np.ascontiguousarray(xi))
    return out


def predict(conv: Converted, prepared: PreparedModel, x) -> list[np.ndarray]:
    """C-sim outputs, one array per graph output, shape (n, elements), bipolar mapped to -1/+1."""
    hm = conv.hmodel
    xs = _inputs_for_hls(conv, prepared, x)
    top, ctype = hm._get_top_function(xs[0])
    n = xs[0].shape[0]
    outs = [np.zeros((n, v.size()), dtype=np.float64) for v in hm.get_output_variables()]
    row = [np.zeros(v.size(), dtype=np.float64) for v in hm.get_output_variables()]
    for i in range(n):
        for r in row:
            r[:] = 0
        top(*[np.ascontiguousarray(xi[i]) for xi in xs], *row)
        for o, r in zip(outs, row):
            o[i] = r
    for o, bip in zip(outs, _bipolar_outputs(conv, prepared)):
        if bip:
            o[:] = 2 * o - 1
    return outs


def trace(conv: Converted, prepared: PreparedModel, x_one) -> dict[str, np.ndarray]:
    """Per-layer outputs of one sample from the already compiled (traced) library."""
    hm = conv.hmodel
    lib = hm._top_function_lib
    xs = _inputs_for_hls(conv, prepared, x_one)
    top, ctype = hm._get_top_function(xs[0])

    class TraceData(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("data", ctypes.c_void_p)]

    sizes = {}
    n_traced = 0
    for layer in hm.get_layers():
        if layer.get_attr("function_cpp", None) and layer.get_attr("trace", False):
            n_traced += len(layer.get_variables())
            sizes[layer.name] = int(np.prod(layer.get_output_variable().shape))
    collect = lib.collect_trace_output
    collect.argtypes = [ctypes.POINTER(TraceData)]
    collect.restype = None
    alloc = lib.allocate_trace_storage
    alloc.argtypes = [ctypes.c_size_t]
    alloc.restype = None
    free = lib.free_trace_storage
    free.argtypes = None
    free.restype = None
    data = (TraceData * n_traced)()
    result: dict[str, np.ndarray] = {}
    alloc(ctypes.sizeof(ctype))
    try:
        row = [np.zeros(v.size(), dtype=np.float64) for v in hm.get_output_variables()]
        top(*[np.ascontiguousarray(xi[0]) for xi in xs], *row)
        collect(data)
        for tr in data:
            if not tr.name or tr.name.decode() not in sizes:
                continue
            name = tr.name.decode()
            arr = np.ctypeslib.as_array(ctypes.cast(tr.data, ctypes.POINTER(ctypes.c_double)), shape=(sizes[name],))
            result[name] = np.array(arr, dtype=np.float64)
    finally:
        free()
    return result


def reference_outputs(prepared: PreparedModel, x) -> tuple[list[np.ndarray], dict]:
    """Reference outputs in the hls4ml graph's layout (and every tensor, for locating mismatches)."""
    from hwflow.ir import ReferenceExecutor

    allt = ReferenceExecutor(prepared.ref_model).run(x, intermediate=True)
    outs = []
    for ob, oa in zip(prepared.model.graph.output, prepared.ref_model.graph.output):
        ref = prepared.ref(ob.name) or TensorRef(oa.name)
        v = to_layout(np.asarray(allt[oa.name], dtype=np.float64), ref)
        outs.append(v.reshape(len(v), -1))
    return outs, allt


def check_preparation(prepared: PreparedModel, x) -> None:
    """The hls4ml rewrites (Gemm->MatMul, channels-last, cut float outputs) kept the values."""
    from hwflow.errors import MismatchError
    from hwflow.ir import ReferenceExecutor

    allt = ReferenceExecutor(prepared.source).run(x, intermediate=True)
    after = ReferenceExecutor(prepared.ref_model).run(x, intermediate=True)
    for name, oa in zip(prepared.source_outputs, prepared.ref_model.graph.output):
        src = np.asarray(allt[name], dtype=np.float64)
        ref = np.asarray(after[oa.name], dtype=np.float64)
        if src.shape != ref.shape or not np.array_equal(src, ref):
            raise MismatchError(f"preparing the graph for hls4ml changed tensor {name!r} (reference before/after)")


def locate_mismatch(conv: Converted, prepared: PreparedModel, x, sample: int, ref_all: dict) -> dict:
    """First hls4ml layer (in graph order) whose traced output differs from the reference."""
    x_one = {k: np.asarray(v)[sample:sample + 1] for k, v in x.items()} if isinstance(x, dict) \
        else np.asarray(x)[sample:sample + 1]
    traced = trace(conv, prepared, x_one)
    tensors = {p.layer: p.tensor for p in conv.precisions}
    for layer in conv.hmodel.get_layers():
        tref = prepared.ref(tensors.get(layer.name))
        if layer.name not in traced or tref is None or not tref.comparable or tref.name not in ref_all:
            continue
        tensor = tref.name
        ref = to_layout(np.asarray(ref_all[tensor], dtype=np.float64)[sample:sample + 1], tref).ravel()
        got = traced[layer.name]
        if _is_binary(layer.get_output_variable()):
            got = 2 * got - 1
        if ref.size != got.size:
            # channels-last layers hold a transposed layout; compare as multisets is meaningless
            continue
        if not np.array_equal(ref, got):
            idx = int(np.flatnonzero(ref != got)[0])
            return {"layer": layer.name, "tensor": tensor, "element": idx, "hls": float(got[idx]),
                    "reference": float(ref[idx])}
    return {"layer": None, "tensor": None, "note": "no traced layer differs; the difference is at the output"}


def run_check(conv: Converted, prepared: PreparedModel, x, compile_time_s: float) -> CsimResult:
    t0 = time.perf_counter()
    got = predict(conv, prepared, x)
    ref, ref_all = reference_outputs(prepared, x)
    run_time = time.perf_counter() - t0
    check_preparation(prepared, x)
    n = got[0].shape[0]
    bad = np.zeros(n, dtype=bool)
    for g, r in zip(got, ref):
        if g.shape != r.shape:
            raise ValueError(f"C-sim output shape {g.shape} != reference {r.shape}")
        bad |= np.any(g != r, axis=1)
    mism = int(bad.sum())
    first = None
    if mism:
        s = int(np.flatnonzero(bad)[0])
        oi = next(i for i, (g, r) in enumerate(zip(got, ref)) if np.any(g[s] != r[s]))
        e = int(np.flatnonzero(got[oi][s] != ref[oi][s])[0])
        first = {"sample": s, "output": prepared.model.graph.output[oi].name, "element": e,
                 "hls": float(got[oi][s, e]), "reference": float(ref[oi][s, e]),
                 "first_layer": locate_mismatch(conv, prepared, x, s, ref_all)}
    return CsimResult(samples=n, mismatches=mism, compile_time_s=compile_time_s, run_time_s=run_time,
                      compared=[o.name for o in prepared.model.graph.output], first_mismatch=first,
                      outputs={"hls": got, "reference": ref})
