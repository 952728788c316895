"""QONNX core of hwflow: load, clean, fixed-point types, bit-exact reference execution.

Public API (docs: docs/INTERFACES.md section 1)::

    m = load_model(path_or_bytes)
    m = clean_model(m)
    types = infer_fixed_point(m)          # tensor name -> FixedType
    y = ReferenceExecutor(m).run(x)
    x = make_stimulus(m, n=1000, seed=0, corners=True)
"""

from hwflow.ir.clean import clean_model, split_preprocessing
from hwflow.ir.executor import ReferenceExecutor
from hwflow.ir.fixed import FixedType
from hwflow.ir.infer import infer_fixed_point, ir_summary, node_macs, write_ir_json
from hwflow.ir.load import load_model
from hwflow.ir.ort_check import ort_cross_check
from hwflow.ir.stimulus import DEFAULT_INPUT_TYPE, input_types, make_stimulus

__all__ = [
    "load_model", "clean_model", "infer_fixed_point", "ReferenceExecutor", "FixedType", "make_stimulus",
    "split_preprocessing", "ort_cross_check", "write_ir_json", "ir_summary", "node_macs", "input_types", "DEFAULT_INPUT_TYPE",
]
