"""Walk a cleaned QONNX graph op by op and trace it into da4ml fixed-point variables.

The graph input is declared with the fixed-point type the IR inferred for it
(``infer_fixed_point``); every operator is then executed symbolically by its handler in
``ops.py``. The result is the list of input and output ``FixedVariable``s, from which
da4ml builds the combinational logic (``comb_trace``) and its pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from da4ml.trace import FixedVariable, HWConfig
from da4ml.types import QInterval
from qonnx.core.modelwrapper import ModelWrapper

from hwflow.backends.rtl.ops import HANDLERS, NodeCtx
from hwflow.backends.rtl.tensors import is_symbolic
from hwflow.errors import ModelError, UnsupportedOp

# da4ml's default cost model: 1-bit adder granularity, no carry-chain model
DEFAULT_HWCONF = HWConfig(1, -1, -1)


@dataclass
class ElementFormat:
    """Fixed-point format of every element of an input/output port: x = q * scale * 2**-frac."""

    signed: bool
    width: int
    frac: int
    scale: float = 1.0
    int_min: int | None = None
    int_max: int | None = None

    def to_json(self) -> dict:
        return {"element_width": self.width, "signed": self.signed, "frac": self.frac, "scale": self.scale}


@dataclass
class Trace:
    input_name: str
    input_shape: tuple
    input_format: ElementFormat
    inputs: list  # FixedVariable per element, C order
    output_name: str
    output_shape: tuple
    outputs: list  # FixedVariable per element, C order


def declare_input(shape: tuple, fmt: ElementFormat, hwconf: HWConfig = DEFAULT_HWCONF) -> np.ndarray:
    lo = fmt.int_min if fmt.int_min is not None else (-(1 << (fmt.width - 1)) if fmt.signed else 0)
    hi = fmt.int_max if fmt.int_max is not None else ((1 << (fmt.width - 1)) - 1 if fmt.signed else (1 << fmt.width) - 1)
    step = 2.0**-fmt.frac
    return declare_qints([QInterval(lo * step, hi * step, step)] * int(np.prod(shape)), shape, hwconf)


def declare_qints(qints: list, shape: tuple, hwconf: HWConfig = DEFAULT_HWCONF) -> np.ndarray:
    """Fresh traced inputs, one per interval (C order), shaped ``shape``."""
    arr = np.empty(len(qints), dtype=object)
    for i, q in enumerate(qints):
        arr[i] = FixedVariable(q.min, q.max, q.step, hwconf=hwconf, latency=0.0)
    return arr.reshape(shape)


def run_nodes(nodes, env: dict[str, np.ndarray]) -> None:
    """Execute ``nodes`` (in order) symbolically, adding their outputs to ``env``."""
    for node in nodes:
        handler = HANDLERS.get(node.op_type)
        if handler is None:
            raise UnsupportedOp(f"RTL backend has no implementation of {node.op_type}", node=node.name or node.output[0])
        ins = []
        for t in node.input:
            if t == "":
                ins.append(None)
                continue
            if t not in env:
                raise ModelError(f"tensor {t!r} is used before it is produced", node=node.name)
            ins.append(env[t])
        outs = handler(NodeCtx(node, ins))
        for t, v in zip(node.output, outs):
            env[t] = v


def trace_model(model: ModelWrapper, input_format: ElementFormat, hwconf: HWConfig = DEFAULT_HWCONF) -> Trace:
    g = model.graph
    inits = {i.name for i in g.initializer}
    graph_inputs = [i for i in g.input if i.name not in inits]
    if len(graph_inputs) != 1 or len(g.output) != 1:
        raise UnsupportedOp(
            f"RTL backend needs exactly one input and one output, got {len(graph_inputs)} inputs "
            f"and {len(g.output)} outputs"
        )
    if input_format.scale != 1.0:
        raise UnsupportedOp(
            f"RTL backend: input {graph_inputs[0].name!r} has a non-power-of-two scale {input_format.scale}"
        )
    in_name = graph_inputs[0].name
    in_shape = tuple(int(d) for d in model.get_tensor_shape(in_name))
    env: dict[str, np.ndarray] = {in_name: declare_input(in_shape, input_format, hwconf)}
    for name in inits:
        env[name] = np.asarray(model.get_initializer(name), dtype=np.float64)

    run_nodes(g.node, env)

    out_name = g.output[0].name
    y = env[out_name]
    if not is_symbolic(y):
        # output does not depend on the input: still valid hardware (constants)
        y = np.vectorize(lambda v: FixedVariable.from_const(float(v), hwconf=hwconf), otypes=[object])(y)
    return Trace(
        input_name=in_name,
        input_shape=in_shape,
        input_format=input_format,
        inputs=list(env[in_name].ravel()),
        output_name=out_name,
        output_shape=tuple(y.shape),
        outputs=list(y.ravel()),
    )
