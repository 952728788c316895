"""Load and clean a QONNX model for the RTL backend and find its input's fixed-point format.

Uses the IR (``hwflow.ir``: ``load_model``, ``clean_model``, ``infer_fixed_point``) so
that the RTL, hls4ml and the reference executor all see the same canonical graph.
A model whose input has no quantizer and no datatype annotation (a float input, like
``qkeras_jettagging.onnx``) gets the IR's default input type (``ap_fixed<16,6>``, an
explicit input quantizer inserted by ``clean_model``) unless ``input_type`` says otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from qonnx.core.modelwrapper import ModelWrapper

from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from hwflow.ir.boundary import Boundary

_AP = re.compile(r"^\s*ap_(u?)(fixed|int)\s*<\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?>\s*$")


def parse_input_type(text: str) -> ElementFormat:
    """``ap_fixed<W,I>``, ``ap_ufixed<W,I>``, ``ap_int<W>``, ``ap_uint<W>`` -> format."""
    m = _AP.match(text)
    if not m:
        raise ConfigError(f"input type {text!r} is not one of ap_fixed<W,I>, ap_ufixed<W,I>, ap_int<W>, ap_uint<W>")
    unsigned, kind, w, i = m.group(1) == "u", m.group(2), int(m.group(3)), m.group(4)
    if w < 1:
        raise ConfigError(f"input type {text!r}: width must be >= 1")
    frac = 0 if kind == "int" else w - int(i if i is not None else w)
    return ElementFormat(signed=not unsigned, width=w, frac=frac)


def format_from_fixed_type(t) -> ElementFormat:
    return ElementFormat(
        signed=bool(t.signed), width=int(t.width), frac=int(t.frac), scale=float(t.scale),
        int_min=int(t.int_min), int_max=int(t.int_max),
    )


def prepare_model(model_path: str | Path, input_type: str | None = None) -> tuple[ModelWrapper, dict, "Boundary"]:
    """(hardware model, types dict tensor -> FixedType, the software boundary around it)
    through the IR (``hwflow.ir.boundary.hardware_model``).

    A trailing Softmax or float affine is float post-processing: the hardware stops at its
    input (the logits), and so does the saved reference model; the boundary runs the rest.
    """
    from hwflow.ir import FixedType, infer_fixed_point
    from hwflow.ir.boundary import hardware_model

    ftype = None
    if input_type is not None:
        f = parse_input_type(input_type)
        lo = -(1 << (f.width - 1)) if f.signed else 0
        hi = (1 << (f.width - 1)) - 1 if f.signed else (1 << f.width) - 1
        ftype = FixedType(signed=f.signed, width=f.width, frac=f.frac, int_min=lo, int_max=hi)
    model, boundary = hardware_model(model_path, input_type=ftype)
    types = infer_fixed_point(model)
    check_hardware_graph(model, types)
    return model, types, boundary


def check_hardware_graph(model: ModelWrapper, types: dict) -> None:
    """Refuse, before any tracing, a node the RTL has no implementation of or whose result
    is not fixed point (a float op streamlining could not move or fold; its reason, when
    streamlining recorded one, is part of the message)."""
    from hwflow.backends.rtl.ops import HANDLERS
    from hwflow.errors import UnsupportedOp
    from hwflow.ir.streamline import refusal_reasons

    why = refusal_reasons(model)
    for node in model.graph.node:  # topological order: the first offending node is the cause
        if node.op_type not in HANDLERS:
            raise UnsupportedOp(f"RTL backend has no implementation of {node.op_type}{why}",
                                node=node.name or node.output[0])
        for out in node.output:
            t = types.get(out)
            if t is not None and (t.is_float or t.scale != 1.0):
                kind = "floating point" if t.is_float else f"a non-power-of-two scale {t.scale!r}"
                raise UnsupportedOp(f"{node.op_type} computes in {kind}; integer hardware cannot be bit-exact "
                                    f"with it{why}", node=node.name or out)


def input_format(model: ModelWrapper) -> ElementFormat:
    """Format of the single graph input: the IR's type of the values it takes."""
    from hwflow.ir import input_types

    inits = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in inits]
    if len(names) != 1:
        raise ModelError(f"RTL backend needs exactly one graph input, found {names}")
    t = input_types(model)[names[0]]
    if t.is_float:
        raise ModelError(f"input {names[0]!r} has no fixed-point type", node=names[0])
    return format_from_fixed_type(t)
