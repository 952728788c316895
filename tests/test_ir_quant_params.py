"""Quantizer parameters are validated with the rules that execute (qonnx's): narrow defaults to
1, and a rounding mode must be one qonnx's resolver knows."""

from __future__ import annotations

import pytest
from onnx import helper

from _ir_models import GraphBuilder
from hwflow.errors import ModelError
from hwflow.ir import load_model

pytestmark = pytest.mark.unit


def _one_quant(tmp_path, bits, signed, mode="ROUND", narrow=None):
    b = GraphBuilder(0)
    x = b.quant("x", 0.25, bits, signed=signed, mode=mode)
    m = b.model("x", [1, 4], x)
    for n in m.graph.node:  # drop or set narrow: qonnx's default (1) applies when absent
        if n.op_type == "Quant":
            for a in [a for a in n.attribute if a.name == "narrow"]:
                n.attribute.remove(a)
            if narrow is not None:
                n.attribute.append(helper.make_attribute("narrow", narrow))
    path = tmp_path / "q.onnx"
    m.save(str(path))
    return path


@pytest.mark.parametrize("signed", [0, 1])
def test_one_bit_quant_without_narrow_collapses_and_is_refused(tmp_path, signed):
    with pytest.raises(ModelError, match="represent 1 value"):
        load_model(_one_quant(tmp_path, 1, signed))
    load_model(_one_quant(tmp_path, 1, 0, narrow=0))  # {0, 1}: two values, taken


def test_rounding_mode_the_executor_cannot_run_is_refused(tmp_path):
    with pytest.raises(ModelError, match="rounding_mode"):
        load_model(_one_quant(tmp_path, 4, 1, mode="ROUND_TO_ZERO", narrow=0))
    load_model(_one_quant(tmp_path, 4, 1, mode="HALF_UP", narrow=0))
