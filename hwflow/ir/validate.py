"""Checks of a QONNX graph that every backend relies on, made once at load time.

``load_model`` calls ``validate_proto`` on the parsed ONNX proto before anything else
looks at the graph, and ``validate_sizes`` once shapes are known. One rule for all
backends, so ``inspect``, ``exec``, ``rtl`` and ``hls`` accept and refuse the same models:

- graph inputs: real numeric element types (no STRING, BOOL, complex), no zero or negative
  dimension, each used by some node; one value_info per tensor name;
- quantizer parameters (Quant/IntQuant, BipolarQuant, Trunc, MultiThreshold): finite, scale
  > 0, whole bit widths from 1 to ``MAX_QUANT_BITS``, at least two representable values;
- initializers (weights, biases) finite (MultiThreshold thresholds may be +-inf);
- ``finn_datatype`` annotations name a known type and, on constants, hold for the values;
- per-sample tensor sizes below ``HWFLOW_MAX_TENSOR_ELEMENTS``.

Every refusal is a ``ModelError`` subclass naming the file, the node and what to change.
``resolve_external_data`` loads ONNX external data, only from files beside the model.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hwflow.errors import InvalidModelFile, ModelError, TooLarge
from hwflow.limits import env_limit

# The widest quantizer any backend implements bit-exactly: the reference executor keeps
# products of two such values exact in float64 (< 2**52 with accumulation headroom), hls4ml
# and the RTL backend size their ports from it.
MAX_QUANT_BITS = 32
MAX_TENSOR_ELEMENTS_ENV = "HWFLOW_MAX_TENSOR_ELEMENTS"
DEFAULT_MAX_TENSOR_ELEMENTS = 1 << 24  # per sample; the range analysis keeps 2 float64 per element

REAL_INPUT_TYPES = {
    TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16,
    TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64,
    TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
}
FLOAT_INIT_TYPES = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
ROUNDING_MODES = {"ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"}  # for messages


def _type_name(elem: int) -> str:
    try:
        return TensorProto.DataType.Name(elem)
    except ValueError:
        return f"type {elem}"


def validate_proto(proto: onnx.ModelProto, where: str | None = None) -> None:
    """Every check that needs only the proto as parsed (see the module docstring)."""
    g = proto.graph
    _check_names(g, where)
    _check_inputs(g, where)
    consts = _Constants(g, where)
    _check_initializers(g, consts, where)
    for n in g.node:
        check = _NODE_CHECKS.get(n.op_type)
        if check is not None:
            check(n, consts, where)
    _check_annotations(g, consts, where)


def _check_names(g, where):
    counts = Counter(v.name for v in list(g.input) + list(g.output) + list(g.value_info))
    dup = sorted(k for k, c in counts.items() if c > 1)
    if dup:
        raise InvalidModelFile(
            f"tensor {dup[0]!r} is described {counts[dup[0]]} times (graph input/output/value_info"
            f"{', and ' + str(len(dup) - 1) + ' more tensors' if len(dup) > 1 else ''}): keep one "
            "description per tensor", path=where)
    inits = Counter(i.name for i in g.initializer)
    dup = sorted(k for k, c in inits.items() if c > 1)
    if dup:
        raise InvalidModelFile(f"initializer {dup[0]!r} is defined {inits[dup[0]]} times: keep one",
                               path=where)
    produced: dict[str, str] = {}
    for n in g.node:
        for o in n.output:
            if o and o in produced:
                raise InvalidModelFile(f"tensor {o!r} is produced by two nodes ({produced[o]!r} and "
                                       f"{n.name or n.op_type!r}): each tensor needs one producer",
                                       node=n.name or n.op_type, path=where)
            if o:
                produced[o] = n.name or n.op_type


def _check_inputs(g, where):
    inits = {i.name for i in g.initializer}
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for vi in g.input:
        if vi.name in inits:
            continue
        if not vi.type.HasField("tensor_type"):
            raise ModelError(f"graph input {vi.name!r} is not a tensor (sequence/map/optional): "
                             "hwflow takes tensor inputs only", path=where)
        tt = vi.type.tensor_type
        if tt.elem_type not in REAL_INPUT_TYPES:
            raise ModelError(f"graph input {vi.name!r} has element type {_type_name(tt.elem_type)}: "
                             "inputs must be real numbers (FLOAT, DOUBLE, FLOAT16 or an integer type)",
                             path=where)
        if tt.HasField("shape"):
            if len(tt.shape.dim) == 0:
                raise ModelError(f"graph input {vi.name!r} has no dimensions (a scalar): declare it as "
                                 "[batch, features...]", path=where)
            for k, d in enumerate(tt.shape.dim):
                if k == 0 or not d.HasField("dim_value"):
                    continue  # the batch axis, or a symbol: _fix_dynamic_shapes decides
                if d.dim_value < 0:
                    raise ModelError(f"graph input {vi.name!r} has negative dimension {k} "
                                     f"({d.dim_value}): not a valid shape", path=where)
                if d.dim_value == 0:
                    raise ModelError(f"graph input {vi.name!r} has dimension {k} of size 0 (an empty "
                                     "tensor): give it a positive size", path=where)
            dims = [d.dim_value for d in tt.shape.dim if d.HasField("dim_value") and d.dim_value > 0]
            total, limit = math.prod(dims), max_tensor_elements()
            if total > limit:
                # checked with the batch axis: qonnx's clean-up materialises declared shapes
                raise TooLarge(f"graph input {vi.name!r} declares shape {dims}: {total:,} values, over the "
                               f"limit of {limit:,} (declare batch 1 or a symbolic batch; set "
                               f"{MAX_TENSOR_ELEMENTS_ENV} to raise the limit)", path=where)
        if vi.name not in used:
            raise ModelError(f"graph input {vi.name!r} is not used by any node: remove it from the "
                             "graph inputs", path=where)


class _Constants:
    """Values of initializers and Constant nodes, decoded on first use."""

    def __init__(self, g, where):
        self.where = where
        self.protos = {i.name: i for i in g.initializer}
        for n in g.node:
            if n.op_type == "Constant" and n.output:
                for a in n.attribute:
                    if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                        self.protos[n.output[0]] = a.t
        self.cache: dict[str, np.ndarray] = {}

    def get(self, name: str, node=None) -> np.ndarray | None:
        if name not in self.protos:
            return None
        if name not in self.cache:
            t = self.protos[name]
            if any(d < 0 for d in t.dims):
                raise InvalidModelFile(f"initializer {name!r} has a negative dimension {list(t.dims)}",
                                       node=getattr(node, "name", None), path=self.where)
            try:
                self.cache[name] = numpy_helper.to_array(t)
            except Exception as e:  # wrong byte count for its dims, unknown type
                raise InvalidModelFile(f"initializer {name!r} cannot be decoded ({type(e).__name__}: "
                                       f"{str(e).splitlines()[0] if str(e) else ''})",
                                       node=getattr(node, "name", None), path=self.where) from None
        return self.cache[name]


def _check_initializers(g, consts, where):
    thresholds = {n.input[1] for n in g.node if n.op_type == "MultiThreshold" and len(n.input) > 1}
    consumer: dict[str, str] = {}
    for n in g.node:
        for i in n.input:
            consumer.setdefault(i, n.name or n.op_type)
    for name, t in consts.protos.items():
        if t.data_type not in FLOAT_INIT_TYPES:
            if t.data_type in (TensorProto.STRING, TensorProto.COMPLEX64, TensorProto.COMPLEX128):
                raise ModelError(f"constant {name!r} has element type {_type_name(t.data_type)}: only "
                                 "real numbers are supported", node=consumer.get(name), path=where)
            continue
        v = consts.get(name)
        bad = np.isnan(v) if name in thresholds else ~np.isfinite(v)
        if np.any(bad):
            what = "NaN" if np.any(np.isnan(v)) else "an infinite value"
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ModelError(f"constant {name!r} (weights/bias/parameter) holds {what} at index {idx}: "
                             "every value must be finite; re-export the trained model",
                             node=consumer.get(name), path=where)


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _param(node, consts, k, what, where) -> np.ndarray | None:
    if len(node.input) <= k or not node.input[k]:
        raise ModelError(f"{node.op_type} has no {what} input (input {k})", node=node.name, path=where)
    v = consts.get(node.input[k], node)
    if v is None:
        return None  # computed at run time: the range analysis checks what it can
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        raise ModelError(f"{node.op_type} {what} is empty", node=node.name, path=where)
    if not np.all(np.isfinite(v)):
        raise ModelError(f"{node.op_type} {what} is not finite ({_first_bad(v)}): give a finite value",
                         node=node.name, path=where)
    return v


def _first_bad(v):
    bad = v[~np.isfinite(v)]
    return bad.ravel()[0] if bad.size else v.ravel()[0]


def _positive(node, v, what, where):
    if v is not None and np.any(v <= 0):
        raise ModelError(f"{node.op_type} {what} must be > 0, got {v[v <= 0].ravel()[0]:g}: a zero "
                         "or negative scale has no fixed-point meaning", node=node.name, path=where)


def _bits(node, v, what, where):
    if v is None:
        return None
    if np.any(v != np.round(v)):
        raise ModelError(f"{node.op_type} {what} must be a whole number of bits, got {v.ravel()[0]:g}",
                         node=node.name, path=where)
    if np.any(v < 1):
        raise ModelError(f"{node.op_type} {what} must be at least 1, got {int(v.min())}",
                         node=node.name, path=where)
    if np.any(v > MAX_QUANT_BITS):
        raise ModelError(f"{node.op_type} {what} is {int(v.max())} bits; backends support at most "
                         f"{MAX_QUANT_BITS}", node=node.name, path=where)
    return v


def _flag(node, attrs, name, default, where) -> int:
    v = attrs.get(name, default)
    if v not in (0, 1):
        raise ModelError(f"{node.op_type} attribute {name}={v!r} must be 0 or 1", node=node.name, path=where)
    return int(v)


def _rounding(node, attrs, default, where):
    """A rounding mode the executor can run: qonnx's own resolver decides (its list is the one
    that executes)."""
    from qonnx.custom_op.general.intquant import resolve_rounding_mode

    mode = attrs.get("rounding_mode", default)
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    try:
        resolve_rounding_mode(mode.upper())
    except ValueError:
        raise ModelError(f"{node.op_type} rounding_mode {mode!r} unknown (one of "
                         f"{', '.join(sorted(ROUNDING_MODES))})", node=node.name, path=where) from None


def _check_quant(node, consts, where):
    attrs = _attrs(node)
    signed = _flag(node, attrs, "signed", 1, where)
    # qonnx's Quant defaults narrow to 1 (as hwflow's kernel does): the range that executes
    narrow = _flag(node, attrs, "narrow", 1, where)
    _rounding(node, attrs, "ROUND", where)
    _positive(node, _param(node, consts, 1, "scale", where), "scale", where)
    _param(node, consts, 2, "zero point", where)
    bits = _bits(node, _param(node, consts, 3, "bitwidth", where), "bitwidth", where)
    if bits is not None:
        from qonnx.custom_op.general.intquant import max_int, min_int

        b = int(bits.min())
        lo, hi = int(min_int(bool(signed), bool(narrow), b)), int(max_int(bool(signed), bool(narrow), b))
        if hi <= lo:
            raise ModelError(f"{node.op_type} with bitwidth {b}, signed={signed}, narrow={narrow} can only "
                             f"represent {max(hi - lo + 1, 0)} value(s) ([{lo}, {hi}]): use more bits or "
                             "narrow=0", node=node.name, path=where)


def _check_bipolar(node, consts, where):
    _positive(node, _param(node, consts, 1, "scale", where), "scale", where)


def _check_trunc(node, consts, where):
    attrs = _attrs(node)
    _rounding(node, attrs, "FLOOR", where)
    _positive(node, _param(node, consts, 1, "scale", where), "scale", where)
    _param(node, consts, 2, "zero point", where)
    ib = _bits(node, _param(node, consts, 3, "input bitwidth", where), "input bitwidth", where)
    ob = _bits(node, _param(node, consts, 4, "output bitwidth", where), "output bitwidth", where)
    if ib is not None and ob is not None and np.any(ob > ib):
        raise ModelError(f"Trunc output bitwidth {int(ob.max())} exceeds its input bitwidth {int(ib.min())}",
                         node=node.name, path=where)


def _check_multithreshold(node, consts, where):
    attrs = _attrs(node)
    if len(node.input) < 2:
        raise ModelError("MultiThreshold has no thresholds input", node=node.name, path=where)
    t = consts.get(node.input[1], node)
    if t is not None:
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 2 or t.shape[1] == 0:
            raise ModelError(f"MultiThreshold thresholds must be a non-empty 2-D array [channels, steps], "
                             f"got shape {list(t.shape)}", node=node.name, path=where)
        if np.any(np.isnan(t)):
            raise ModelError("MultiThreshold thresholds contain NaN", node=node.name, path=where)
    for name, default in (("out_scale", 1.0), ("out_bias", 0.0)):
        v = attrs.get(name, default)
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ModelError(f"MultiThreshold {name}={v!r} must be a finite number", node=node.name, path=where)
        if name == "out_scale" and v == 0:
            raise ModelError("MultiThreshold out_scale must not be 0", node=node.name, path=where)
    dt = attrs.get("out_dtype")
    if dt is not None:
        _datatype(dt.decode() if isinstance(dt, bytes) else str(dt), f"MultiThreshold out_dtype",
                  node.name, where)


_NODE_CHECKS = {
    "Quant": _check_quant, "IntQuant": _check_quant, "BipolarQuant": _check_bipolar,
    "Trunc": _check_trunc, "MultiThreshold": _check_multithreshold,
}


def _datatype(name: str, what: str, node, where):
    from qonnx.core.datatype import DataType

    try:
        dt = DataType[name]
        ok = dt.bitwidth() >= 1 and dt.min() < dt.max()  # qonnx parses "INT-3" and "UINT0" too
    except (KeyError, ValueError, AttributeError, IndexError, TypeError, AssertionError):
        ok = False
    if not ok:
        raise ModelError(f"{what} {name!r} is not a QONNX data type with at least two values (e.g. INT8, "
                         "UINT4, BIPOLAR, FLOAT32)", node=node, path=where) from None
    return dt


def _check_annotations(g, consts, where):
    for qa in g.quantization_annotation:
        for kv in qa.quant_parameter_tensor_names:
            if kv.key != "finn_datatype":
                continue
            dt = _datatype(kv.value, f"annotation of tensor {qa.tensor_name!r}:", None, where)
            v = consts.get(qa.tensor_name)
            if v is None or v.size == 0 or dt.name in ("FLOAT32", "FLOAT16"):
                continue
            v = np.asarray(v, dtype=np.float64)
            if not np.all(np.isfinite(v)):
                continue  # reported by _check_initializers
            if dt.is_integer():
                ok = np.all(v == np.round(v)) and v.min() >= dt.min() and v.max() <= dt.max()
            elif dt.is_fixed_point():
                q = v / dt.scale_factor()
                ok = np.all(q == np.round(q)) and v.min() >= dt.min() and v.max() <= dt.max()
            else:
                ok = True
            if not ok:
                bad = v.ravel()[0]
                if dt.is_integer():
                    off = v[(v != np.round(v)) | (v < dt.min()) | (v > dt.max())]
                    bad = off.ravel()[0] if off.size else bad
                raise ModelError(f"constant {qa.tensor_name!r} is annotated {dt.name} but holds {bad:g}, "
                                 f"which {dt.name} cannot represent: quantize it (a Quant node) or fix the "
                                 "annotation", path=where)


def max_tensor_elements() -> int:
    return env_limit(MAX_TENSOR_ELEMENTS_ENV, DEFAULT_MAX_TENSOR_ELEMENTS, "number of elements")


def validate_sizes(model, where: str | None = None) -> None:
    """Every tensor with a known shape holds at most ``max_tensor_elements()`` values per
    sample (the batch axis is not counted): the range analysis and the executor allocate
    per element, so a model declaring 10^9-element tensors is refused before that."""
    limit = max_tensor_elements()
    g = model.graph
    producer = {o: n.name or n.op_type for n in g.node for o in n.output}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else 1 for d in tt.shape.dim]
        n = math.prod(max(d, 1) for d in dims[1:]) if dims else 1
        if n > limit:
            raise TooLarge(f"tensor {vi.name!r} has shape {dims}: {n:,} values per sample, over the limit "
                           f"of {limit:,} (set {MAX_TENSOR_ELEMENTS_ENV} to raise it)",
                           node=producer.get(vi.name), path=where)


def resolve_external_data(proto: onnx.ModelProto, where: str | None) -> None:
    """Load initializers stored as ONNX external data into the proto.

    A location must be a plain file name or relative path below the model's folder (no
    absolute path, no ``..``, no symlink leading out of it) and a regular file within the
    size limit; offset and length must lie inside it. Anything else is ``InvalidModelFile``."""
    from hwflow.artifacts import read_input_file

    ext = [t for t in _all_tensors(proto) if t.data_location == TensorProto.EXTERNAL]
    if not ext:
        return
    if where is None:
        raise InvalidModelFile(f"initializer {ext[0].name!r} is stored as external data, but the model was "
                               "given as bytes: pass the model's path")
    base = Path(where).resolve().parent
    files: dict[Path, bytes] = {}
    for t in ext:
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        rel = Path(loc)
        if not loc or rel.is_absolute() or ".." in rel.parts or "\x00" in loc:
            raise InvalidModelFile(f"initializer {t.name!r}: external data location {loc!r} is not a file "
                                   "beside the model (absolute paths and '..' are refused)", path=where)
        target = (base / rel).resolve()
        if base not in target.parents:
            raise InvalidModelFile(f"initializer {t.name!r}: external data {loc!r} leads outside the "
                                   f"model's folder (to {target})", path=where)
        if target not in files:
            files[target] = read_input_file(base / rel, f"external data of initializer {t.name!r}")
        blob = files[target]
        try:
            off = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else len(blob) - off
        except ValueError:
            raise InvalidModelFile(f"initializer {t.name!r}: external data offset/length are not numbers",
                                   path=where) from None
        if off < 0 or length < 0 or off + length > len(blob):
            raise InvalidModelFile(f"initializer {t.name!r}: external data range [{off}, {off + length}) lies "
                                   f"outside {loc!r} ({len(blob)} bytes)", path=where)
        t.raw_data = blob[off:off + length]
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


def _all_tensors(proto):
    yield from proto.graph.initializer
    for n in proto.graph.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                yield a.t
