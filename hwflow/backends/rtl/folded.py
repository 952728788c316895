"""Folded (II > 1) architecture for convolutional networks: one kernel per conv layer,
applied pixel after pixel, instead of one copy of the kernel per output pixel.

Why this exists: fully parallel, a conv layer instantiates its kernel at every output
pixel. For the BiPer BNN (3x3x32 -> 32 binary conv on an 8x8 map) that is 64 copies of a
288 x 32 adder matrix: far beyond the FPGAs here, and more than da4ml traces in reasonable
time. hls4ml's io_stream folds convolutions the same way in HLS; da4ml has no sequential
architecture, so this module (with ``folded_verilog.py``) adds the smallest one that works.

The cleaned graph is cut into segments ``P0 K1 P1 K2 ... Kn Pn``:

- ``K``: a foldable Conv (stride 1, dilation 1) with the per-channel elementwise nodes that
  follow it (bias, scale, threshold, quantizer, activation). da4ml traces it once, on one
  kh x kw x Cin window. In hardware the layer's input map sits in a register that rotates
  by one pixel per clock; the window is read at fixed taps, masked to zero outside the map
  (the conv's zero padding), and each result pixel shifts into the layer's output register.
- ``P``: everything else (max-pooling, reshape, the final dense layer, a first input
  quantizer), traced fully parallel on the whole feature map, as the II = 1 backend does.

One image is in flight at a time: the initiation interval equals the latency. All values
are the same exact fixed-point values as in the fully parallel design; only the schedule
differs, so the same reference and testbench apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from da4ml.trace import FixedVariable, comb_trace, to_pipeline
from da4ml.types import CombLogic, QInterval
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper

from hwflow.backends.rtl.tensors import is_symbolic
from hwflow.backends.rtl.tracer import DEFAULT_HWCONF, ElementFormat, declare_input, declare_qints, run_nodes
from hwflow.errors import ConfigError, ModelError, UnsupportedOp

# elementwise ops that act on each pixel independently: absorbed into a conv kernel when
# their constant operands are per channel (or scalar)
PER_PIXEL_OPS = {"Add", "Sub", "Mul", "Div", "Quant", "IntQuant", "BipolarQuant", "BiPer", "MultiThreshold",
                 "Relu", "Clip", "Identity", "Neg"}
# above this many weight applications (output pixels x kernel size x output channels) a
# conv is folded when the architecture is "auto": the II = 1 ECON-T encoder (864) stays
# parallel, the BiPer BNN's binary conv (589,824) is folded
AUTO_FOLD_MACS = 50_000


@dataclass
class ParallelSegment:
    """Nodes traced fully parallel on a whole tensor; no nodes = identity."""

    nodes: list
    input: str
    output: str
    in_qints: list = field(default_factory=list)  # per input element, C order
    out_qints: list = field(default_factory=list)  # per output element, C order
    out_shape: tuple = ()
    stages: list[CombLogic] = field(default_factory=list)

    @property
    def identity(self) -> bool:
        return not self.nodes


@dataclass
class ConvSegment:
    """A folded conv layer: the Conv node plus the per-pixel nodes absorbed after it."""

    nodes: list
    input: str
    output: str
    in_shape: tuple  # (C, H, W)
    out_shape: tuple  # (Cout, OH, OW)
    kernel: tuple  # (kh, kw)
    pads: tuple  # (top, left, bottom, right)
    channel_qints: list = field(default_factory=list)  # storage format of each input channel (contains 0)
    out_qints: list = field(default_factory=list)  # per output channel
    stages: list[CombLogic] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.nodes[0].name or self.nodes[0].output[0]

    @property
    def steps(self) -> int:
        """Clock cycles of the layer: every column of every output row (columns past the
        last valid output are computed and dropped, so the map rotates uniformly)."""
        return self.out_shape[1] * self.in_shape[2]

    @property
    def macs(self) -> int:
        return self.out_shape[1] * self.out_shape[2] * self.in_shape[0] * self.kernel[0] * self.kernel[1] * self.out_shape[0]


@dataclass
class FoldedTrace:
    input_name: str
    input_shape: tuple
    input_format: ElementFormat
    input_qints: list  # per element of the graph input
    output_name: str
    output_shape: tuple
    segments: list  # ParallelSegment, ConvSegment, ParallelSegment, ...

    def output_qints(self) -> list[QInterval]:
        """The output elements (C order) as the last hardware stage produces them."""
        last = self.segments[-1]
        if last.stages:
            return list(last.stages[-1].out_qint)
        conv = next(s for s in reversed(self.segments) if isinstance(s, ConvSegment))
        return [q for q in conv.stages[-1].out_qint for _ in range(conv.out_shape[1] * conv.out_shape[2])]


def _qint(v) -> QInterval:
    if isinstance(v, FixedVariable):
        return QInterval(float(v.low), float(v.high), float(v.step))
    return QInterval(float(v), float(v), 1.0)


def _union_with_zero(qints: list[QInterval]) -> QInterval:
    """Smallest interval holding every value of ``qints`` and 0 (the padding value)."""
    lo = min(min(q.min for q in qints), 0.0)
    hi = max(max(q.max for q in qints), 0.0)
    step = min(q.step for q in qints if q.step > 0) if any(q.step > 0 for q in qints) else 1.0
    if any(q.min % step or q.max % step for q in qints):
        step = min(step, 1.0)  # values not on the step grid through 0 (for example +-1 with step 2)
    return QInterval(lo, hi, step)


def _conv_geometry(model: ModelWrapper, node) -> tuple:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    w = model.get_tensor_shape(node.input[1])  # weights: an initializer or a weight quantizer's output
    x_shape = model.get_tensor_shape(node.input[0])
    y_shape = model.get_tensor_shape(node.output[0])
    return attrs, w, x_shape, y_shape


def foldable_reason(model: ModelWrapper, node) -> str | None:
    """Why this Conv cannot be folded, or None when it can."""
    attrs, w, x_shape, y_shape = _conv_geometry(model, node)
    if w is None or len(w) != 4:
        return f"weight shape {w} is not 4-d"
    if x_shape is None or len(x_shape) != 4 or x_shape[0] != 1:
        return f"input shape {x_shape} is not NCHW with batch 1"
    if list(attrs.get("strides", [1, 1])) != [1, 1] or list(attrs.get("dilations", [1, 1])) != [1, 1]:
        return "stride or dilation is not 1 (only stride-1 convolutions are folded)"
    if str(attrs.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
        return f"auto_pad={attrs.get('auto_pad')}"
    if y_shape[3] > x_shape[3]:
        return "padding makes the output wider than the input"
    return None


def _conv_macs(model: ModelWrapper, node) -> int:
    _attrs, w, _x, y_shape = _conv_geometry(model, node)
    return int(np.prod(y_shape[2:]) * np.prod(w))


def choose_folding(model: ModelWrapper, architecture: str) -> set[str]:
    """Names (first output) of the Conv nodes to fold for ``architecture``
    (``parallel``; ``folded``: every conv with more than one output pixel; ``auto``: as
    ``folded`` when any conv has more than AUTO_FOLD_MACS weight applications, folding
    then those that can be -- one image is in flight anyway, so folding the small convs
    too costs cycles but no throughput beyond that of the big one)."""
    if architecture not in ("parallel", "folded", "auto"):
        raise ConfigError(f"architecture must be parallel, folded or auto, not {architecture!r}")
    if architecture == "parallel":
        return set()
    out, big = set(), False
    for node in model.graph.node:
        if node.op_type != "Conv" or model.get_initializer(node.input[0]) is not None:
            continue
        y_shape = model.get_tensor_shape(node.output[0])
        if y_shape is None or int(np.prod(y_shape[2:])) <= 1:
            continue
        reason = foldable_reason(model, node)
        if architecture == "folded":
            if reason:
                raise UnsupportedOp(f"RTL backend: cannot fold this Conv: {reason}", node=node.name or node.output[0])
            out.add(node.output[0])
        elif not reason:
            out.add(node.output[0])
            big = big or _conv_macs(model, node) > AUTO_FOLD_MACS
    return out if architecture == "folded" or big else set()


def _per_channel_const(model: ModelWrapper, node, data_input: str) -> bool:
    for t in node.input[1:] if node.op_type != "MultiThreshold" else []:
        if not t or t == data_input:
            continue
        c = model.get_initializer(t)
        shape = list(c.shape) if c is not None else model.get_tensor_shape(t)  # or a constant node's output
        if shape is None:
            return False
        # a scalar, or [.., C, 1, 1]; a [C] or [W]-shaped constant broadcasts along the
        # width in numpy/ONNX and would mean something else on a 1x1 kernel output
        scalar = int(np.prod(shape)) == 1
        if not scalar and not (3 <= len(shape) <= 4 and list(shape[-2:]) == [1, 1]):
            return False
    if node.op_type == "MultiThreshold":
        layout = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "data_layout"), b"NCHW")
        return (layout.decode() if isinstance(layout, bytes) else layout) == "NCHW"
    return True


def partition(model: ModelWrapper, sym_nodes: list, fold: set[str], graph_input: str) -> list:
    """Cut the symbolic nodes (in graph order) into P K P K ... P segments."""
    consumers: dict[str, list] = {}
    for n in sym_nodes:
        for t in n.input:
            consumers.setdefault(t, []).append(n)
    segments: list = []
    current = ParallelSegment(nodes=[], input=graph_input, output=graph_input)
    i = 0
    while i < len(sym_nodes):
        node = sym_nodes[i]
        if node.op_type == "Conv" and node.output[0] in fold:
            current.output = node.input[0]
            segments.append(current)
            attrs, w, x_shape, y_shape = _conv_geometry(model, node)
            p = list(attrs.get("pads", [0, 0, 0, 0]))
            conv = ConvSegment(nodes=[node], input=node.input[0], output=node.output[0],
                               in_shape=tuple(int(d) for d in x_shape[1:]), out_shape=tuple(int(d) for d in y_shape[1:]),
                               kernel=(int(w[2]), int(w[3])), pads=(p[0], p[1], p[2], p[3]))
            i += 1
            while i < len(sym_nodes):
                nxt = sym_nodes[i]
                t = conv.output
                if (nxt.op_type not in PER_PIXEL_OPS or nxt.input[0] != t or len(consumers.get(t, [])) != 1
                        or t in [o.name for o in model.graph.output] or not _per_channel_const(model, nxt, t)):
                    break
                conv.nodes.append(nxt)
                conv.output = nxt.output[0]
                i += 1
            segments.append(conv)
            current = ParallelSegment(nodes=[], input=conv.output, output=conv.output)
            continue
        current.nodes.append(node)
        current.output = node.output[0]
        i += 1
    segments.append(current)
    _check_chain(segments)
    return segments


def _check_chain(segments: list) -> None:
    """Each segment may read only its own input and the tensors it produces itself."""
    for seg in segments:
        known = {seg.input}
        for n in seg.nodes:
            for t in n.input:
                if t and t not in known and t in _produced_elsewhere(segments, seg):
                    raise UnsupportedOp(
                        f"RTL backend (folded): {t!r} skips over a folded conv layer; only chains of layers fold",
                        node=n.name or n.output[0])
            known.update(n.output)


def _produced_elsewhere(segments: list, seg) -> set[str]:
    return {t for s in segments if s is not seg for n in s.nodes for t in n.output} | {
        s.input for s in segments if s is not seg}


def _pipeline(inputs: list, outputs: list, latency_cutoff: float) -> list[CombLogic]:
    comb = comb_trace(inputs, outputs, keep_dead_inputs=False)
    if latency_cutoff > 0:
        return list(to_pipeline(comb, float(latency_cutoff), retiming=True, verbose=False).solutions)
    return [comb]


def _as_symbolic(y: np.ndarray, hwconf) -> np.ndarray:
    if is_symbolic(y):
        return y
    return np.vectorize(lambda v: FixedVariable.from_const(float(v), hwconf=hwconf), otypes=[object])(y)


def trace_folded(model: ModelWrapper, input_format: ElementFormat, fold: set[str], latency_cutoff: float,
                 hwconf=DEFAULT_HWCONF, progress=None) -> FoldedTrace:
    g = model.graph
    inits = {i.name for i in g.initializer}
    graph_inputs = [i.name for i in g.input if i.name not in inits]
    if len(graph_inputs) != 1 or len(g.output) != 1:
        raise UnsupportedOp(f"RTL backend needs exactly one input and one output, got {graph_inputs}")
    in_name = graph_inputs[0]
    in_shape = tuple(int(d) for d in model.get_tensor_shape(in_name))
    consts: dict[str, np.ndarray] = {n: np.asarray(model.get_initializer(n), dtype=np.float64) for n in inits}
    sym, sym_nodes = {in_name}, []
    for node in g.node:
        if any(t in sym for t in node.input if t):
            sym_nodes.append(node)
            sym.update(node.output)
        else:
            run_nodes([node], consts)  # weight quantizers and other constant subgraphs
    segments = partition(model, sym_nodes, fold, in_name)

    x = declare_input(in_shape, input_format, hwconf)
    prev_qints, prev_shape = [_qint(v) for v in x.ravel()], in_shape
    for k, seg in enumerate(segments):
        if progress:
            progress(f"tracing segment {k + 1}/{len(segments)} ({'conv ' + seg.name if isinstance(seg, ConvSegment) else 'parallel'})")
        if isinstance(seg, ParallelSegment):
            seg.in_qints = prev_qints
            if seg.identity:
                seg.out_qints, seg.out_shape = prev_qints, prev_shape
            else:
                xin = declare_qints(prev_qints, prev_shape, hwconf)
                env = dict(consts)
                env[seg.input] = xin
                run_nodes(seg.nodes, env)
                y = _as_symbolic(env[seg.output], hwconf)
                seg.out_shape = tuple(y.shape)
                seg.out_qints = [_qint(v) for v in y.ravel()]
                seg.stages = _pipeline(list(xin.ravel()), list(y.ravel()), latency_cutoff)
            prev_qints, prev_shape = seg.out_qints, seg.out_shape
            continue
        c, h, w = seg.in_shape
        if tuple(prev_shape) != (1, c, h, w):
            raise ModelError(f"folded conv input shape {prev_shape} != {(1, c, h, w)}", node=seg.name)
        seg.channel_qints = [_union_with_zero(prev_qints[ch * h * w:(ch + 1) * h * w]) for ch in range(c)]
        kh, kw = seg.kernel
        window = declare_qints([seg.channel_qints[ch] for ch in range(c) for _ in range(kh * kw)], (1, c, kh, kw), hwconf)
        conv = seg.nodes[0]
        pads_off = helper.make_node("Conv", list(conv.input), list(conv.output), name=conv.name,
                                    **{a.name: helper.get_attribute_value(a) for a in conv.attribute if a.name != "pads"})
        env = dict(consts)
        env[seg.input] = window
        run_nodes([pads_off, *seg.nodes[1:]], env)
        y = _as_symbolic(env[seg.output], hwconf)
        if y.shape != (1, seg.out_shape[0], 1, 1):
            raise ModelError(f"folded conv kernel gave shape {y.shape}", node=seg.name)
        seg.out_qints = [_qint(v) for v in y.ravel()]
        seg.stages = _pipeline(list(window.ravel()), list(y.ravel()), latency_cutoff)
        cout, oh, ow = seg.out_shape
        prev_qints = [seg.out_qints[ch] for ch in range(cout) for _ in range(oh * ow)]
        prev_shape = (1, cout, oh, ow)
    last = segments[-1]
    return FoldedTrace(input_name=in_name, input_shape=in_shape, input_format=input_format,
                       input_qints=[_qint(v) for v in x.ravel()], output_name=g.output[0].name,
                       output_shape=tuple(last.out_shape), segments=segments)
