"""QONNX (cleaned by the IR) -> the graph hls4ml is given, plus the facts needed to check it.

Steps, each checked by running the reference before and after (``csim.check_preparation``):

1. float operators at the end of the graph (``Softmax``, ``Sigmoid``: the IR types them
   ``is_float``) are cut off: they have no fixed-point result to be bit-exact with; the
   hardware output is their fixed-point input, and the cut is recorded;
2. float chains in front of a quantizer are already integer thresholds (``clean_model``:
   ``hwflow.ir.thresholds``); a one-level bipolar MultiThreshold becomes hls4ml's binary
   threshold layer; any other float operator is rejected by name;
3. ``Gemm`` -> ``MatMul`` + ``Add`` (hls4ml's QONNX preparation) -> graph ``A``, on which
   the IR infers types and the reference runs;
4. graphs with convolutions are converted channels-last (hls4ml requires it) -> graph
   ``B``, what hls4ml reads. qonnx renames tensors on the way, but keeps node names, so each
   tensor of ``B`` is mapped to the tensor of ``A`` holding the same values (possibly
   transposed); its IR type is that tensor's (a type describes a set of values, the layout
   does not change it).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from hwflow.errors import UnsupportedOp

SPATIAL_OPS = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
FLOAT_HINTS = {
    "BatchNormalization": "a float batch norm before a multi-bit Quant would need folding into integer "
                          "thresholds (a MultiThreshold evaluated on the input's integer range); hls4ml 1.3 has "
                          "no multi-bit threshold layer",
    "Div": "division by a non-power-of-two constant has no exact fixed-point result",
    "Sub": "a float offset is exact only when it feeds a sign test (BipolarQuant), which hwflow folds",
    "Mul": "a non-power-of-two scale needs the exact product carried through the next quantizer",
}


@dataclass
class TensorRef:
    """Where a tensor of the hls4ml graph lives in the reference graph."""

    name: str                      # tensor of ``ref_model``
    perm: tuple | None = None      # axes to transpose the reference value into this layout
    comparable: bool = True        # element-wise comparable (False: same values, other order)


@dataclass
class PreparedModel:
    model: ModelWrapper                 # what hls4ml converts (graph B)
    ref_model: ModelWrapper             # the reference runs on it (graph A)
    source: ModelWrapper                # the IR-cleaned model (stimulus comes from it)
    types: dict                         # tensor of ``model`` -> FixedType
    tensor_map: dict[str, TensorRef]    # tensor of ``model`` -> tensor of ``ref_model``
    stripped_ops: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    source_outputs: list[str] = field(default_factory=list)
    channels_last: bool = False

    def ref(self, tensor: str) -> TensorRef | None:
        return self.tensor_map.get(tensor)


def _consumers(model: ModelWrapper, tensor: str) -> list:
    return [n for n in model.graph.node if tensor in n.input]


def _is_float(t) -> bool:
    return t is not None and getattr(t, "is_float", False)


def strip_float_outputs(model: ModelWrapper, types: dict) -> tuple[list[str], list[str]]:
    """Cut the float operators at the end of the graph (Softmax, a float batch norm on the
    logits): nodes with a float output that is a graph output, one computed input and
    otherwise constants. Repeats until the outputs are fixed point; returns the cut nodes and
    the new outputs (tensor names of ``model``)."""
    from onnx import helper

    stripped: list[str] = []
    changed = True
    while changed:
        changed = False
        for i, out in enumerate([o.name for o in model.graph.output]):
            node = model.find_producer(out)
            if node is None or not _is_float(types.get(out)) or _consumers(model, out):
                continue
            computed = [t for t in node.input if t and model.get_initializer(t) is None]
            if len(computed) != 1 or model.find_producer(computed[0]) is None:
                continue
            src = computed[0]
            if len(_consumers(model, src)) != 1:
                continue
            shape = model.get_tensor_shape(src)
            for vi in [v for v in model.graph.value_info if v.name == src]:
                model.graph.value_info.remove(vi)
            model.graph.output.remove(model.graph.output[i])
            model.graph.output.insert(i, helper.make_tensor_value_info(src, 1, shape))
            model.graph.node.remove(node)
            stripped.append(f"{node.op_type} {node.name}")
            changed = True
            break
    return stripped, [o.name for o in model.graph.output]


def reject_float_nodes(model: ModelWrapper, types: dict) -> None:
    from hwflow.ir.streamline import refusal_reasons

    for node in model.graph.node:  # topological order: the first float node is the cause
        if any(_is_float(types.get(t)) for t in node.output):
            hint = FLOAT_HINTS.get(node.op_type, "")
            raise UnsupportedOp(
                f"{node.op_type} computes in floating point; its hls4ml hardware cannot be bit-exact with the "
                f"reference" + (f" ({hint})" if hint else "") + refusal_reasons(model), node=node.name)


def reject_non_po2_scales(model: ModelWrapper) -> None:
    """hls4ml turns a Quant with a non-power-of-two scale into an integer quantizer between two
    float rescales (ApplyAlpha with 1/s and s), whose rounding is not the Quant's."""
    for node in model.graph.node:
        if node.op_type not in ("Quant", "IntQuant", "BipolarQuant") or len(node.input) < 2:
            continue
        s = model.get_initializer(node.input[1])
        if s is None:
            raise UnsupportedOp("Quant with a computed scale", node=node.name)
        mant, _ = np.frexp(np.abs(np.asarray(s, dtype=np.float64)))
        if np.any((mant != 0.5) & (mant != 0.0)):
            raise UnsupportedOp(
                f"Quant scale {np.asarray(s).ravel()[:4].tolist()} is not a power of two; hls4ml would split it "
                "into an integer quantizer and float rescales that do not round like the Quant (export with "
                "power-of-two scales: Brevitas *FixedPoint quantizers, QKeras alpha=1/'auto_po2')", node=node.name)


def _perm(shape_a, shape_b) -> tuple | None | bool:
    """Axes taking A's layout to B's (None: same), or False when they are not a transpose."""
    a, b = list(shape_a or []), list(shape_b or [])
    if a == b:
        return None
    if len(a) == 4 and b == [a[0], a[2], a[3], a[1]]:
        return (0, 2, 3, 1)
    if len(a) == 3 and b == [a[0], a[2], a[1]]:
        return (0, 2, 1)
    return False


def map_tensors(a: ModelWrapper, b: ModelWrapper) -> dict[str, TensorRef]:
    """Tensor of B -> tensor of A with the same values, through node names (qonnx keeps them)."""
    a_nodes = {n.name: n for n in a.graph.node if n.name}
    tmap: dict[str, TensorRef] = {}
    for inp in b.graph.input:
        if any(i.name == inp.name for i in a.graph.input):
            tmap[inp.name] = TensorRef(inp.name)
    for init in b.graph.initializer:
        if a.get_initializer(init.name) is not None:
            p = _perm(a.get_tensor_shape(init.name), b.get_tensor_shape(init.name))
            tmap[init.name] = TensorRef(init.name, p or None, p is not False)
    for node in b.graph.node:
        an = a_nodes.get(node.name)
        if an is not None and an.op_type == node.op_type and len(an.output) == len(node.output):
            for ob, oa in zip(node.output, an.output):
                p = _perm(a.get_tensor_shape(oa), b.get_tensor_shape(ob))
                tmap[ob] = TensorRef(oa, p or None, p is not False)
        elif node.input and node.input[0] in tmap and node.op_type in ("Transpose", "Reshape", "Flatten"):
            # layout-only node qonnx inserted: same values as its input, in another order
            src = tmap[node.input[0]]
            p = _perm(a.get_tensor_shape(src.name), b.get_tensor_shape(node.output[0]))
            tmap[node.output[0]] = TensorRef(src.name, p or None, p is not False)
        else:
            raise UnsupportedOp(f"cannot relate {node.op_type} of the channels-last graph to the original graph",
                                node=node.name or node.op_type)
    return tmap


@contextlib.contextmanager
def _elementwise_ops_movable():
    """Let qonnx move layout transposes through BipolarQuant and BiPer (element-wise, scalar
    parameters) as it does through Quant; otherwise every binary activation sits between
    two Transpose nodes. Also through MultiThreshold: its thresholds are per channel whatever
    the layout, which its ``data_layout`` attribute names (``_multithreshold_layouts`` sets it
    afterwards; qonnx only moves chan-last transposes upstream through these ops, a plain swap)."""
    from qonnx.transformation import channels_last as cl

    added = [op for op in ("BipolarQuant", "BiPer", "MultiThreshold") if op not in cl._move_through_nodes]
    cl._move_through_nodes.extend(added)
    try:
        yield
    finally:
        for op in added:
            cl._move_through_nodes.remove(op)


def prepare(path_or_model) -> PreparedModel:
    """Load + clean (IR), cut float outputs, fold float thresholds, rewrite for hls4ml."""
    import qonnx.util.cleanup
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul

    from hwflow.backends.hls4ml.rewrite import fold_conv_bias_add, multithreshold_to_bipolar
    from hwflow.ir import clean_model, infer_fixed_point, load_model

    source = path_or_model if isinstance(path_or_model, ModelWrapper) else clean_model(load_model(path_or_model))
    a = ModelWrapper(copy.deepcopy(source.model))
    types0 = infer_fixed_point(a)
    stripped, source_outputs = strip_float_outputs(a, types0)
    folded = [f"MultiThreshold {n} -> Add + BipolarQuant" for n in multithreshold_to_bipolar(a, types0)]
    folded += fold_conv_bias_add(a)
    a = a.transform(GemmToMatMul())
    a = qonnx.util.cleanup.cleanup_model(a)
    types_a = infer_fixed_point(a)
    reject_float_nodes(a, types_a)
    reject_non_po2_scales(a)
    channels_last = any(n.op_type in SPATIAL_OPS for n in a.graph.node)
    if channels_last:
        with _elementwise_ops_movable():
            b = a.transform(ConvertToChannelsLastAndClean(make_input_channels_last=False))
        tmap = map_tensors(a, b)
        _multithreshold_layouts(b, tmap)
        # hls4ml needs a name on every node; qonnx left the nodes it inserted unnamed
        taken = {n.name for n in b.graph.node}
        for i, node in enumerate(b.graph.node):
            if not node.name:
                name = f"{node.op_type}_cl{i}"
                while name in taken:
                    name += "_"
                node.name = name
                taken.add(name)
    else:
        b = a
        tmap = {t: TensorRef(t) for t in types_a}
    _value_info_for_initializers(b)
    types = {tb: types_a[r.name] for tb, r in tmap.items() if r.name in types_a}
    return PreparedModel(model=b, ref_model=a, source=source, types=types, tensor_map=tmap,
                         stripped_ops=stripped, folded=folded, source_outputs=source_outputs,
                         channels_last=channels_last)


def _multithreshold_layouts(b: ModelWrapper, tmap: dict[str, TensorRef]) -> None:
    """A MultiThreshold that now reads a channels-last tensor says so in ``data_layout``."""
    from onnx import helper

    names = {(0, 2, 3, 1): "NHWC", (0, 2, 1): "NWC"}
    for node in b.graph.node:
        ref = tmap.get(node.input[0]) if node.op_type == "MultiThreshold" else None
        if ref is None or ref.perm not in names:
            continue
        for a in [a for a in node.attribute if a.name == "data_layout"]:
            node.attribute.remove(a)
        node.attribute.append(helper.make_attribute("data_layout", names[ref.perm]))


def _value_info_for_initializers(model: ModelWrapper) -> None:
    """hls4ml's ONNX parser looks every node input's shape up in ``value_info``."""
    from onnx import TensorProto, helper

    known = {v.name for v in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)}
    for init in model.graph.initializer:
        if init.name not in known:
            model.graph.value_info.append(
                helper.make_tensor_value_info(init.name, TensorProto.FLOAT, list(init.dims)))


def onnx_name_map(model: ModelWrapper) -> dict[str, str]:
    """hls4ml variable name -> ONNX tensor name (hls4ml replaces '.' by '_')."""
    names: dict[str, str] = {}
    for vi in list(model.graph.input) + list(model.graph.output) + list(model.graph.value_info):
        names[vi.name.replace(".", "_")] = vi.name
    for init in model.graph.initializer:
        names[init.name.replace(".", "_")] = init.name
    for node in model.graph.node:
        for t in node.output:
            names[t.replace(".", "_")] = t
    return names


def to_layout(value: np.ndarray, ref: TensorRef) -> np.ndarray:
    """Reference value (batch first) in the hls4ml graph's layout."""
    return np.transpose(value, ref.perm) if ref.perm else value


def as_array(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64))
