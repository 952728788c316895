"""hwflow's own qonnx ``Transformation`` subclasses, where qonnx has none.

Each one rewrites the graph without changing its outputs for the inputs it is meant to
get (tests run the model before and after, on every input of the stimulus).
"""

from __future__ import annotations

import base64
import json

import numpy as np
from onnx import TensorProto, helper

from qonnx.transformation.base import Transformation

from hwflow.ir.fixed import FixedType

PRE_ARITH = {"Mul", "Sub", "Add", "Div"}
PRE_SHAPE = {"Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze", "Transpose"}
INPUT_QUANTIZERS = {"Quant", "IntQuant", "BipolarQuant"}


class FoldStaticShapes(Transformation):
    """``Shape(x)`` of a tensor whose shape is fully known becomes a constant (exporters'
    ``Shape/Gather/Unsqueeze/Concat/Reshape`` chains then fold with qonnx FoldConstants)."""

    def apply(self, model):
        changed = False
        for node in list(model.graph.node):
            if node.op_type != "Shape":
                continue
            shp = model.get_tensor_shape(node.input[0])
            if not shp or any((not isinstance(d, int)) or d <= 0 for d in shp):
                continue
            start = next((a.i for a in node.attribute if a.name == "start"), 0)
            end = next((a.i for a in node.attribute if a.name == "end"), len(shp))
            model.set_initializer(node.output[0], np.asarray(shp[start:end], dtype=np.int64))
            model.graph.node.remove(node)
            changed = True
        return model, changed


def _single_consumer(model, tensor):
    cons = model.find_consumers(tensor) or []
    return cons[0] if len(cons) == 1 else None


def find_preprocessing_chain(model):
    """(input name, [nodes], quantizer) of a float pre-processing chain from the single graph
    input to its first quantizer, if the chain contains arithmetic; else None."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        return None
    t, chain = inputs[0], []
    while True:
        n = _single_consumer(model, t)
        if n is None:
            return None
        if n.op_type in INPUT_QUANTIZERS:
            break
        if n.op_type not in PRE_ARITH | PRE_SHAPE:
            return None
        others = [i for i in n.input[1:] if i]
        if n.input[0] != t or any(model.get_initializer(i) is None for i in others):
            return None
        chain.append(n)
        t = n.output[0]
    if not any(c.op_type in PRE_ARITH for c in chain):
        return None
    return inputs[0], chain, n


PREPROCESSING_MODEL_KEY = "hwflow.preprocessing_model"


def chain_model(model, chain, inp: str, out: str):
    """The nodes ``chain`` of ``model`` (graph input ``inp`` -> tensor ``out``) as their own
    ONNX model (a ModelProto), with the constants they use."""
    used = {i for n in chain for i in n.input[1:] if i}
    inits = [i for i in model.graph.initializer if i.name in used]
    in_vi = [i for i in model.graph.input if i.name == inp]
    out_vi = helper.make_tensor_value_info(out, TensorProto.FLOAT, model.get_tensor_shape(out))
    m = helper.make_model(helper.make_graph(list(chain), "preprocessing", in_vi, [out_vi], initializer=inits),
                          opset_imports=list(model.model.opset_import))
    m.ir_version = model.model.ir_version
    return m


class StripPreprocessing(Transformation):
    """Cut a float pre-processing chain (``Reshape``, ``Mul/Sub`` normalisation, ...) that
    runs from the graph input to the first quantizer: the quantizer's input becomes the
    graph input. The quantizer stays, so the new model still says which grid its input is
    on; what was cut is described in the metadata property ``hwflow.preprocessing``
    (``split_preprocessing`` returns it as a model)."""

    def apply(self, model):
        found = find_preprocessing_chain(model)
        if found is None:
            return model, False
        inp, chain, quant = found
        new_in = quant.input[0]
        desc = []
        for n in chain:
            consts = {i: model.get_initializer(i).tolist() for i in n.input[1:] if i}
            desc.append({"op_type": n.op_type, "constants": consts})
        shape = model.get_tensor_shape(new_in)
        # the cut chain itself, so software can run it in front of the hardware
        # (hwflow.ir.boundary); base64 of a small ONNX model
        chain_b64 = base64.b64encode(chain_model(model, chain, inp, new_in).SerializeToString()).decode("ascii")
        old_vi = [i for i in model.graph.input if i.name == inp][0]
        model.graph.input.remove(old_vi)
        for n in chain:
            model.graph.node.remove(n)
        vi = [v for v in model.graph.value_info if v.name == new_in]
        for v in vi:
            model.graph.value_info.remove(v)
        # the cut tensor takes the old input's name (users know the model by it)
        for n in model.graph.node:
            for k, i in enumerate(n.input):
                if i == new_in:
                    n.input[k] = inp
        model.graph.input.insert(0, helper.make_tensor_value_info(inp, TensorProto.FLOAT, shape))
        model.set_metadata_prop("hwflow.preprocessing", json.dumps({"input": inp, "chain": desc}))
        model.set_metadata_prop(PREPROCESSING_MODEL_KEY, chain_b64)
        return model, False


class InsertInputQuant(Transformation):
    """Give a float graph input that feeds anything other than quantizers an explicit
    input ``Quant`` node of type ``ftype`` (default ap_fixed<16,6>): the model then says
    exactly which inputs are valid, and every backend reads the same input precision.
    Outputs are unchanged for every input on that grid."""

    def __init__(self, ftype: FixedType):
        super().__init__()
        self.ftype = ftype

    def apply(self, model):
        from hwflow.ir.analysis import annotated_input_type

        inits = {i.name for i in model.graph.initializer}
        changed = False
        t = self.ftype
        for inp in model.graph.input:
            name = inp.name
            if name in inits or annotated_input_type(model, name) is not None:
                continue
            cons = model.find_consumers(name) or []
            if not cons or all(c.op_type in INPUT_QUANTIZERS for c in cons):
                continue
            q_out = f"{name}_quant"
            prefix = f"{name}_hwflow_inq"
            model.set_initializer(prefix + "_scale", np.asarray(t.step, dtype=np.float32))
            model.set_initializer(prefix + "_zeropt", np.asarray(0.0, dtype=np.float32))
            model.set_initializer(prefix + "_bits", np.asarray(float(t.width), dtype=np.float32))
            qn = helper.make_node("Quant", [name, prefix + "_scale", prefix + "_zeropt", prefix + "_bits"],
                                  [q_out], name=f"{name}_input_quant", domain="qonnx.custom_op.general",
                                  signed=int(t.signed), narrow=0, rounding_mode="ROUND")
            for c in cons:
                for k, i in enumerate(c.input):
                    if i == name:
                        c.input[k] = q_out
            model.graph.node.insert(0, qn)
            model.set_tensor_shape(q_out, model.get_tensor_shape(name))
            changed = True
        return model, changed
