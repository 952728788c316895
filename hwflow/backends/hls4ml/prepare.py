"""QONNX (cleaned by the IR) -> the graph hls4ml is given, plus the facts needed to check it.

hls4ml reads QONNX itself (``convert_from_onnx_model``) but expects ``Gemm`` as ``MatMul`` +
``Add`` and convolutions channels-last, the preparation hls4ml's own QONNX tests apply. Float
operators at the end of the graph (``Softmax``, ``Sigmoid``: the IR types them ``is_float``)
have no fixed-point result to be bit-exact with; they are cut off, the hardware output is
their fixed-point input, and the cut is recorded. A float operator anywhere else is rejected.

The reference executor and the type inference then run on exactly the graph hls4ml sees, so
every hls4ml layer's output tensor has an IR type under the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hwflow.errors import UnsupportedOp

# Ops hls4ml 1.3 parses from ONNX (its handlers) plus the ones our extensions add; anything
# else is reported by name before hls4ml's bare ``Exception`` could be.
SPATIAL_OPS = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}


@dataclass
class PreparedModel:
    """The graph handed to hls4ml and what the check needs about it."""

    model: ModelWrapper                 # what hls4ml converts (and the reference runs)
    source: ModelWrapper                # the IR-cleaned model (stimulus comes from it)
    types: dict                         # tensor name -> FixedType, for ``model``
    stripped_ops: list[str] = field(default_factory=list)   # float ops cut off the output
    source_outputs: list[str] = field(default_factory=list)  # ``source`` tensors = hw outputs
    channels_last: bool = False


def _consumers(model: ModelWrapper, tensor: str) -> list:
    return [n for n in model.graph.node if tensor in n.input]


def strip_float_outputs(model: ModelWrapper, types: dict) -> tuple[ModelWrapper, list[str], list[str]]:
    """Cut float-typed operators off the end of the graph.

    Returns the model, the names of the cut nodes and the new graph outputs. Raises
    ``UnsupportedOp`` for a float operator whose output feeds fixed-point hardware.
    """
    from onnx import helper

    stripped: list[str] = []
    changed = True
    while changed:
        changed = False
        outs = [o.name for o in model.graph.output]
        for i, out in enumerate(outs):
            node = model.find_producer(out)
            if node is None or not _is_float(types.get(out)):
                continue
            if len(node.input) != 1 or _consumers(model, out):
                raise UnsupportedOp(f"float operator {node.op_type} cannot be cut off the output", node=node.name)
            src = node.input[0]
            if model.find_producer(src) is None:
                raise UnsupportedOp("the graph computes nothing in fixed point before this float operator",
                                    node=node.name)
            shape = model.get_tensor_shape(src)
            for vi in [v for v in model.graph.value_info if v.name == src]:
                model.graph.value_info.remove(vi)
            model.graph.output.remove(model.graph.output[i])
            model.graph.output.insert(i, helper.make_tensor_value_info(src, 1, shape))
            model.graph.node.remove(node)
            stripped.append(f"{node.op_type} {node.name}")
            changed = True
            break
    for node in model.graph.node:
        for t in node.output:
            if _is_float(types.get(t)):
                raise UnsupportedOp(
                    f"{node.op_type} computes in floating point inside the graph; hls4ml hardware of it "
                    "cannot be bit-exact", node=node.name)
    return model, stripped, [o.name for o in model.graph.output]


def _is_float(t) -> bool:
    return t is not None and getattr(t, "is_float", False)


def prepare(path_or_model) -> PreparedModel:
    """Load + clean (IR), cut float outputs, rewrite for hls4ml, infer types on the result."""
    import copy

    import qonnx.util.cleanup
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul

    from hwflow.ir import clean_model, infer_fixed_point, load_model

    source = path_or_model if isinstance(path_or_model, ModelWrapper) else clean_model(load_model(path_or_model))
    model = ModelWrapper(copy.deepcopy(source.model))
    types0 = infer_fixed_point(model)
    model, stripped, outs = strip_float_outputs(model, types0)
    source_outputs = list(outs)

    model = model.transform(GemmToMatMul())
    channels_last = any(n.op_type in SPATIAL_OPS for n in model.graph.node)
    if channels_last:
        model = model.transform(ConvertToChannelsLastAndClean(make_input_channels_last=False))
    model = qonnx.util.cleanup.cleanup_model(model)
    types = infer_fixed_point(model)
    return PreparedModel(model=model, source=source, types=types, stripped_ops=stripped,
                         source_outputs=source_outputs, channels_last=channels_last)


def onnx_name_map(model: ModelWrapper) -> dict[str, str]:
    """hls4ml variable name -> ONNX tensor name (hls4ml replaces '.' by '_')."""
    names: dict[str, str] = {}
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        names[vi.name.replace(".", "_")] = vi.name
    for init in model.graph.initializer:
        names[init.name.replace(".", "_")] = init.name
    for node in model.graph.node:
        for t in node.output:
            names[t.replace(".", "_")] = t
    return names


def as_array(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))
