"""`infer_fixed_point` and `ir.json`: the per-tensor fixed-point view of a QONNX graph.

The source of truth for hls4ml precisions and Verilog widths. Types come from the exact
range analysis of ``hwflow.ir.analysis``; a graph input gets the type of the values it can
take (its datatype annotation, or the grid of the quantizer that consumes it, or
``DEFAULT_INPUT_TYPE``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from hwflow.ir.analysis import GraphAnalysis, attrs_of
from hwflow.ir.fixed import FixedType
from hwflow.ir.load import ensure_shapes
from hwflow.ir.stimulus import input_types


def infer_fixed_point(model) -> dict[str, FixedType]:
    """dict tensor name -> FixedType for every tensor of the graph (inputs, weights, activations)."""
    model = ensure_shapes(model)
    it = input_types(model)
    ana = GraphAnalysis(model, input_types=it)
    types = {name: inf.fixed_type() for name, inf in ana.info.items()}
    types.update(it)
    return types


def node_macs(model, node) -> int:
    """Multiply-accumulates of one node per sample (0 for non-MAC ops)."""
    shp = lambda t: model.get_tensor_shape(t) or []
    if node.op_type == "MatMul":
        return math.prod(shp(node.output[0])[1:]) * int(shp(node.input[1])[0])
    if node.op_type == "Gemm":
        a = attrs_of(node)
        wshape = shp(node.input[1])
        k = wshape[1] if a.get("transB", 0) else wshape[0]
        return math.prod(shp(node.output[0])[1:]) * int(k)
    if node.op_type == "Conv":
        w = shp(node.input[1])
        return math.prod(shp(node.output[0])[1:]) * math.prod(w[1:])
    return 0


def ir_summary(model, types: dict[str, FixedType] | None = None) -> dict:
    """The content of ``ir.json``: per tensor its FixedType + shape, per node op/inputs/outputs/MACs."""
    from hwflow.ir.streamline import streamlining_record

    model = ensure_shapes(model)
    types = types or infer_fixed_point(model)
    inits = {i.name for i in model.graph.initializer}
    tensors = {}
    for name, t in types.items():
        tensors[name] = {"shape": list(model.get_tensor_shape(name) or []), "type": t.to_json(),
                         "constant": name in inits}
    nodes = []
    for n in model.graph.node:
        macs = node_macs(model, n)
        entry = {"name": n.name, "op_type": n.op_type, "domain": n.domain, "inputs": list(n.input),
                 "outputs": list(n.output), "macs": macs}
        if macs:
            tx, tw = types.get(n.input[0]), types.get(n.input[1])
            if tx and tw and not tx.is_float and not tw.is_float:
                entry["bit_ops"] = macs * tx.width * tw.width
        nodes.append(entry)
    weights = {n.input[1] for n in model.graph.node if n.op_type in ("MatMul", "Gemm", "Conv")}
    param_bits = sum(math.prod(model.get_tensor_shape(w) or [1]) * types[w].width
                     for w in weights if w in types and not types[w].is_float)
    pre = model.get_metadata_prop("hwflow.preprocessing")
    return {
        "preprocessing_stripped": json.loads(pre) if pre else None,
        "streamlining": streamlining_record(model),
        "inputs": [i.name for i in model.graph.input if i.name not in inits],
        "outputs": [o.name for o in model.graph.output],
        "tensors": tensors,
        "nodes": nodes,
        "total_macs": sum(e["macs"] for e in nodes),
        "total_bit_ops": sum(e.get("bit_ops", 0) for e in nodes),
        "weight_bits": int(param_bits),
    }


def write_ir_json(model, model_path: str | Path, types: dict[str, FixedType] | None = None) -> Path:
    """Write ``ir.json`` next to ``model_path`` (atomically) and return its path."""
    from hwflow.artifacts import write_json

    out = Path(model_path).with_name("ir.json")
    write_json(out, ir_summary(model, types))
    return out
