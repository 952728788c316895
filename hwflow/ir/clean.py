"""`clean_model`: the canonical QONNX form every backend consumes.

qonnx's own clean-up (shape inference, constant folding, transposes folded into weight
quantizers, static inputs removed, readable names), then hwflow's rewrites
(``hwflow.ir.transforms``): static shape chains folded, float pre-processing stripped,
an explicit input quantizer where the input had none, Gemm -> MatMul.
"""

from __future__ import annotations

import warnings

from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.gemm_to_matmul import GemmToMatMul
from qonnx.transformation.general import (GiveUniqueNodeNames, RemoveStaticGraphInputs, RemoveUnusedTensors,
                                          SortGraph)
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit
from qonnx.util.cleanup import cleanup_model

from hwflow.errors import ModelError
from hwflow.ir.fixed import FixedType
from hwflow.ir.stimulus import DEFAULT_INPUT_TYPE
from hwflow.ir.streamline import AbsorbChannelSignIntoWeights, streamline as streamline_model
from hwflow.ir.thresholds import FoldFloatIntoThresholds
from hwflow.ir.transforms import (FoldStaticShapes, InsertInputQuant, StripPreprocessing, chain_model,
                                  find_preprocessing_chain)

KEEP_OPS = ["Quant", "BipolarQuant", "IntQuant", "Trunc", "MultiThreshold", "BiPer"]


def _qonnx_cleanup(model):
    from hwflow.ir.load import ensure_shapes

    model = ensure_shapes(model)
    _default_domain_first(model)
    model = cleanup_model(model)
    model = model.transform(FoldStaticShapes())
    model = model.transform(FoldConstants(exclude_op_types=KEEP_OPS))
    model = model.transform(FoldTransposeIntoQuantInit())
    model = model.transform(RemoveStaticGraphInputs())
    return model


def _default_domain_first(model) -> None:
    """qonnx's FoldConstants runs each node at ``opset_import[0]``'s version; Brevitas
    exports list the qonnx domain (version 1 or 2) first, which onnxruntime then has no
    kernels for. The ONNX domain goes first."""
    imports = list(model.model.opset_import)
    default = [o for o in imports if o.domain in ("", "ai.onnx")]
    if default and imports[0] is not default[0]:
        rest = [o for o in imports if o not in default]
        del model.model.opset_import[:]
        model.model.opset_import.extend(default + rest)


def split_preprocessing(model):
    """(pre, core): ``pre`` is the float pre-processing chain as its own model (graph input
    -> input of the first quantizer), or None if there is none; ``core`` the model without
    it. ``core(pre(x)) == model(x)`` for every x."""
    from qonnx.core.modelwrapper import ModelWrapper

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _qonnx_cleanup(model)
        found = find_preprocessing_chain(m)
        if found is None:
            return None, m
        inp, chain, quant = found
        pre = ModelWrapper(chain_model(m, chain, inp, quant.input[0])).transform(InferShapes())
        core = m.transform(StripPreprocessing())
    return pre, core


def clean_model(model, input_type: FixedType | None = DEFAULT_INPUT_TYPE, strip_preprocessing: bool = True,
                thresholds: bool = True, gemm_to_matmul: bool = False, streamline: bool = True):
    """Canonical form of ``model`` (a new ModelWrapper; the argument is not modified).

    ``input_type``: type of the input quantizer given to a float input that has none
    (None: leave such inputs float). ``strip_preprocessing``: cut a float pre-processing
    chain before the first quantizer (see ``split_preprocessing``). ``streamline``: move
    non-power-of-two scales and batch norms behind the integer MACs (``streamline.py``; the
    one rewrite that changes float32 rounding). With all three off, the model computes
    exactly what the original computes for every input.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = _qonnx_cleanup(model)
            if streamline:
                model = streamline_model(model)
            if strip_preprocessing:
                model = model.transform(StripPreprocessing())
            if input_type is not None:
                model = model.transform(InsertInputQuant(input_type))
            if gemm_to_matmul and model.get_nodes_by_op_type("Gemm"):
                model = model.transform(GemmToMatMul())
                model = model.transform(InferShapes())
                model = model.transform(FoldTransposeIntoQuantInit())
                model = model.transform(FoldConstants(exclude_op_types=KEEP_OPS))
            model = model.transform(InferShapes())
            if thresholds:
                model = model.transform(FoldFloatIntoThresholds())
                model = model.transform(AbsorbChannelSignIntoWeights())
                model = model.transform(InferShapes())
            model = model.transform(RemoveUnusedTensors())
            model = model.transform(SortGraph())
            model = model.transform(GiveUniqueNodeNames())
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(f"clean-up failed: {type(e).__name__}: {e}") from e
    return model
