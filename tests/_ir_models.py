"""Small synthetic QONNX models built in code for the IR tests (every op of the issue)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

QDOM = "qonnx.custom_op.general"


class GraphBuilder:
    """Tiny helper: add initializers and nodes, get a qonnx ModelWrapper."""

    def __init__(self, seed=0):
        self.nodes, self.inits, self.k = [], [], 0
        self.rng = np.random.default_rng(seed)

    def name(self, p):
        self.k += 1
        return f"{p}{self.k}"

    def const(self, v, dtype=np.float32):
        n = self.name("c")
        self.inits.append(helper.make_tensor(n, TensorProto.FLOAT if dtype == np.float32 else TensorProto.INT64,
                                             np.shape(v), np.asarray(v, dtype=dtype).ravel().tolist()))
        return n

    def node(self, op, ins, domain="", **attrs):
        out = self.name(op.lower() + "_")
        self.nodes.append(helper.make_node(op, ins, [out], name=self.name(op), domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, signed=1, narrow=0, mode="ROUND"):
        return self.node("Quant", [x, self.const(scale), self.const(0.0), self.const(float(bits))], QDOM,
                         signed=signed, narrow=narrow, rounding_mode=mode)

    def qweight(self, shape, bits=4, frac=2, narrow=0):
        w = self.rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), size=shape) * 2.0 ** -frac
        return self.quant(self.const(w), 2.0 ** -frac, bits, narrow=narrow)

    def model(self, inp, in_shape, out, opset=13, extra_domains=()):
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.transformation.infer_shapes import InferShapes

        g = helper.make_graph(self.nodes, "test", [helper.make_tensor_value_info(inp, TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=self.inits)
        ops = [helper.make_opsetid("", opset), helper.make_opsetid(QDOM, 1)]
        ops += [helper.make_opsetid(d, 1) for d in extra_domains]
        m = helper.make_model(g, opset_imports=ops)
        m.ir_version = 8
        return ModelWrapper(m).transform(InferShapes())
