"""The hwflow ``BiPer`` activation as a QONNX custom op (docs/INTERFACES.md section 2).

y = +1 if (x mod P) < P/2 else -1, with P = 2**log2_period and x mod P in [0, P).
For x = q * 2**-f this is one bit test: y = -1 iff bit (k + f - 1) of the two's-complement
integer q is set. ``biper`` below computes it on the real values with floor, which is exact
for every dyadic x (np.floor of x * 2**(1-k) is an exact operation in binary floating
point), so it serves both qonnx's ``execute_onnx`` and our executor.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp


def biper(x: np.ndarray, log2_period: int) -> np.ndarray:
    """+1/-1 per element of x (same dtype as x): -1 iff floor(x / (P/2)) is odd."""
    half_periods = np.floor(np.ldexp(np.asarray(x, dtype=np.float64), 1 - int(log2_period)))
    odd = np.mod(half_periods, 2.0) == 1.0
    out = np.where(odd, -1.0, 1.0)
    return out.astype(np.asarray(x).dtype if np.asarray(x).dtype.kind == "f" else np.float32)


class BiPer(CustomOp):
    """QONNX custom op ``BiPer`` (domain ``hwflow.ir.custom_op``); attribute log2_period."""

    def get_nodeattr_types(self):
        return {"log2_period": ("i", True, 0)}

    def make_shape_compatible_op(self, model):
        node = self.onnx_node
        return helper.make_node("Identity", [node.input[0]], [node.output[0]])

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType["BIPOLAR"])

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = context[node.input[0]]
        context[node.output[0]] = biper(x, self.get_nodeattr("log2_period")).astype(np.float32)

    def verify_node(self):
        info = []
        if len(self.onnx_node.input) != 1:
            info.append("BiPer takes exactly one input")
        return info
