"""`load_model`: read a QONNX model from a path or bytes and validate it.

Every rejection is a typed ``ModelError`` subclass naming the file and, where one is to
blame, the node: not an ONNX file / truncated / empty (``InvalidModelFile``), an op no
stage of hwflow implements (``UnsupportedOp``), a multiply-accumulate whose weight or
activation input carries no quantization (``MissingQuantization``), shapes that cannot be
fixed, unsupported opsets (``ModelError``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from hwflow.errors import InvalidModelFile, MissingQuantization, ModelError, UnsupportedOp
from hwflow.ir.kernels import KERNELS
from hwflow.ir.validate import resolve_external_data, validate_proto, validate_sizes

# ops that may appear in a model as loaded: what the executor runs plus the shape
# arithmetic of exporters' pre-processing chains, which clean_model folds away
PREPROCESSING_OPS = {"Shape", "Gather", "Constant", "Cast", "Slice", "ConstantOfShape", "Expand"}
LOADABLE_OPS = set(KERNELS) | PREPROCESSING_OPS
MIN_OPSET, MAX_OPSET = 7, onnx.defs.onnx_opset_version()
WEIGHT_SOURCES = {"Quant", "IntQuant", "BipolarQuant", "Trunc", "MultiThreshold"}
PASS_THROUGH = {"Transpose", "Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze"}
# ops whose output is float by nature: a MAC fed by them (no quantizer between) has no
# fixed-point input (a graph input without quantizer is fine: clean_model adds one)
FLOAT_SOURCES = {"Softmax", "Sigmoid", "BatchNormalization", "Pow"}


def _read_bytes(src) -> tuple[bytes, str | None]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), None
    from hwflow.artifacts import read_input_file

    path = Path(os.fspath(src))
    # the file gate: regular file within the size limit, never a FIFO/device/directory
    return read_input_file(path, "model file"), str(path)


def _parse(data: bytes, where: str | None) -> onnx.ModelProto:
    if len(data) == 0:
        raise InvalidModelFile("empty file: not an ONNX model", path=where)
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise InvalidModelFile(f"not an ONNX file or truncated ({e})", path=where) from e
    if not proto.HasField("graph") or len(proto.graph.node) == 0:
        raise InvalidModelFile("not an ONNX model: no graph or no nodes (wrong file or truncated)", path=where)
    if len(proto.graph.output) == 0:
        raise InvalidModelFile("graph has no outputs (truncated file?)", path=where)
    # QONNX files often lack opset imports for their custom domains: add them to a copy
    # for the checker only (qonnx resolves those domains itself)
    resolve_external_data(proto, where)  # only files beside the model
    check = onnx.ModelProto()
    check.CopyFrom(proto)
    have = {o.domain for o in check.opset_import}
    for dom in {n.domain for n in check.graph.node} - have - {"", "ai.onnx"}:
        check.opset_import.append(onnx.helper.make_opsetid(dom, 1))
    try:
        onnx.checker.check_model(check)
    except onnx.checker.ValidationError as e:
        # one paragraph, whole: the node the checker blames is on a later line of its text
        first = " ".join(str(e).split())[:600] or "invalid"
        raise InvalidModelFile(f"ONNX checker rejects the model: {first}", path=where) from e
    return proto


def _check_opset(proto, where):
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx") and not (MIN_OPSET <= o.version <= MAX_OPSET):
            raise ModelError(f"ONNX opset {o.version} not supported (need {MIN_OPSET}..{MAX_OPSET})", path=where)


def _fix_dynamic_shapes(proto, where):
    """Batch dims given as a symbol become 1; any other symbolic dim is an error."""
    inits = {i.name for i in proto.graph.initializer}
    for vi in list(proto.graph.input) + list(proto.graph.output):
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            if vi in proto.graph.input:
                raise ModelError(f"input {vi.name!r} has no shape: cannot fix it", path=where)
            continue
        for k, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                continue
            if k == 0:
                d.Clear()
                d.dim_value = 1
            elif any(vi.name == i.name for i in proto.graph.input):
                raise ModelError(f"input {vi.name!r} has a dynamic dimension {k} "
                                 f"({d.dim_param or '?'}) that cannot be fixed", path=where)
            else:
                tt.ClearField("shape")  # outputs: let shape inference redo them
                break


def _check_ops(proto, where):
    for n in proto.graph.node:
        if n.op_type not in LOADABLE_OPS:
            raise UnsupportedOp(f"unsupported op {n.op_type!r} (domain {n.domain or 'ai.onnx'!r})",
                                node=n.name or n.op_type, path=where)
        if n.op_type in ("BiPer",) and n.domain not in ("hwflow.ir.custom_op",):
            raise UnsupportedOp(f"BiPer must use domain hwflow.ir.custom_op, got {n.domain!r}",
                                node=n.name, path=where)


def _all_ranks_known(model) -> bool:
    for vi in list(model.graph.value_info) + list(model.graph.output):
        if not vi.type.tensor_type.HasField("shape"):
            return False
    return True


def ensure_shapes(model):
    """Infer shapes (qonnx InferShapes, custom ops included) if any tensor lacks one."""
    from qonnx.transformation.infer_shapes import InferShapes

    if model.check_all_tensor_shapes_specified() and _all_ranks_known(model):
        return model
    try:
        return model.transform(InferShapes())
    except Exception as e:
        raise ModelError(f"shape inference failed: {type(e).__name__}: {e}") from e


def check_quantized_macs(model, where=None):
    """Every MatMul/Gemm/Conv weight must come from a quantizer (maybe via Transpose/Reshape),
    and every activation input from a quantizer, a fixed-point op chain, or a graph input."""
    g = model.graph
    producers = {o: n for n in g.node for o in n.output}

    def source_op(t):
        seen = 0
        while t in producers and seen < 100:
            n = producers[t]
            if n.op_type not in PASS_THROUGH:
                return n.op_type
            t, seen = n.input[0], seen + 1
        return None

    for n in g.node:
        if n.op_type not in ("MatMul", "Gemm", "Conv"):
            continue
        w = n.input[1]
        src = source_op(w)
        if src not in WEIGHT_SOURCES and model.get_tensor_datatype(w).name == "FLOAT32":
            raise MissingQuantization(f"{n.op_type} weight {w!r} is not quantized (no Quant/BipolarQuant on it)",
                                      node=n.name, path=where)
        x = n.input[0]
        src = source_op(x)
        if src in FLOAT_SOURCES:
            raise MissingQuantization(f"{n.op_type} input {x!r} comes from a float {src} without quantization",
                                      node=n.name, path=where)


def load_model(src, validate: bool = True):
    """Load and validate a QONNX model from a path or bytes; returns a qonnx ModelWrapper."""
    from hwflow.ir.linear import LinearModelWrapper  # qonnx's wrapper, linear-time graph passes

    data, where = _read_bytes(src)
    proto = _parse(data, where)
    _check_opset(proto, where)
    validate_proto(proto, where)
    _fix_dynamic_shapes(proto, where)
    if validate:
        _check_ops(proto, where)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # qonnx's note about old-style "finn" domains
        model = LinearModelWrapper(proto)
    try:
        model = ensure_shapes(model)
    except ModelError as e:
        raise ModelError(str(e), path=where) from e
    validate_sizes(model, where)
    if validate:
        check_quantized_macs(model, where)
    return model
