"""The ONNX graph under construction and the Keras tensors it holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

QONNX_DOMAIN = "qonnx.custom_op.general"
HWFLOW_DOMAIN = "hwflow.ir.custom_op"
OPSET = 13



@dataclass
class _Tensor:
    """A Keras tensor as held in the ONNX graph."""

    name: str
    keras_shape: tuple  # without batch
    # for 2-D tensors produced by flattening an NCHW tensor: keras_flat = onnx_flat[:, perm]
    perm: np.ndarray | None = None
    src_hwc: tuple | None = None  # the (h, w, c) that was flattened, when perm is set

    @property
    def rank(self) -> int:
        return len(self.keras_shape) + 1


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.used: set[str] = set()
        self.datatypes: dict[str, str] = {}
        self.bipolar_derived: set[str] = set()  # e.g. max-pooled bipolar tensors

    def is_bipolar(self, name: str | None) -> bool:
        return name is not None and (self.datatypes.get(name) == "BIPOLAR"
                                     or name in self.bipolar_derived)

    def fresh(self, base: str) -> str:
        from hwflow.artifacts import sanitize_identifier

        base = sanitize_identifier(base)
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name

    def const(self, base: str, value) -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, domain: str = "", **attrs) -> str:
        out = self.fresh(base)
        self.nodes.append(
            helper.make_node(op, inputs, [out], name=self.fresh(f"{base}_{op}"), domain=domain,
                             **attrs)
        )
        return out

    def quant(self, x: str, base: str, scale, bits: int, signed: bool, narrow: bool,
              rounding: str = "ROUND") -> str:
        ins = [x, self.const(f"{base}_scale", scale), self.const(f"{base}_zeropt", 0.0),
               self.const(f"{base}_bitwidth", float(bits))]
        return self.node("Quant", ins, base, domain=QONNX_DOMAIN, signed=int(signed),
                         narrow=int(narrow), rounding_mode=rounding)

    def bipolar(self, x: str, base: str, scale=1.0) -> str:
        out = self.node("BipolarQuant", [x, self.const(f"{base}_scale", scale)], base,
                        domain=QONNX_DOMAIN)
        self.datatypes[out] = "BIPOLAR"
        return out
