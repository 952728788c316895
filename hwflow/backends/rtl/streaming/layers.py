"""The cleaned QONNX graph of an MLP as a list of integer matrix-vector layers.

Each layer is ``y_c = tail_c(sum_i x_i * W[i, c])`` on integers: ``x`` the integer codes of
the layer input (grid ``2**-in_frac``), ``W`` the integer weight codes, and the per-channel
tail one of

* ``affine``: ``s = (acc << sa) + bias_c``, optional ReLU, ``q = round(s / 2**rshift)`` with
  the quantizer's rounding mode, optional clip to ``[lo, hi]`` -- MatMul/Gemm -> Add ->
  Relu -> Quant (power-of-two scale) and plain MatMul -> Add at the output;
* ``thresholds``: ``q = out_add + out_mul * #{j : acc >= T[c, j]}`` -- a qonnx
  ``MultiThreshold`` (what the IR makes of batch-norm / float-scale chains), with the bias
  and the input grid folded into integer thresholds on the accumulator.

Everything is derived from the reference's own semantics with exact rational arithmetic,
and :func:`check_against_reference` runs the integer model against ``ReferenceExecutor``
before any Verilog is written, so a pattern read wrongly fails here, not in simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from onnx import helper

from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import ModelError, UnsupportedOp
from hwflow.ir.fixed import bits_for_range

# op types the streaming architecture takes; anything else is refused up front
LINEAR_OPS = ("MatMul", "Gemm")
CONV_OPS = ("Conv",)
POOL_OPS = ("MaxPool",)
TAIL_OPS = ("Add", "Sub", "Mul", "Div", "Relu", "Quant", "IntQuant", "BipolarQuant", "MultiThreshold")
SHAPE_OPS = ("Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze")
SUPPORTED_OPS = LINEAR_OPS + CONV_OPS + POOL_OPS + TAIL_OPS + SHAPE_OPS

# Verilog codes of the rounding modes (hwflow_mvu_tail.v RMODE)
RMODES = {"FLOOR": 0, "CEIL": 1, "ROUND": 2, "HALF_EVEN": 2, "HALF_UP": 3, "HALF_DOWN": 4,
          "DOWN": 5, "ROUND_TO_ZERO": 5, "TO_ZERO": 5, "UP": 6}


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement width holding every integer of [lo, hi]."""
    return bits_for_range(min(int(lo), -1), hi)[1]


def format_bits(lo: int, hi: int) -> tuple[bool, int]:
    """(signed, width) of the narrowest format holding [lo, hi]."""
    return bits_for_range(lo, hi)


@dataclass
class Tail:
    kind: str                      # "affine" | "thresholds"
    # affine
    sa: int = 0                    # accumulator shift left before the bias add
    bias: np.ndarray | None = None  # int per channel, on the grid 2**-(acc_frac + sa)
    relu: bool = False
    rshift: int = 0                # right shift with rounding after the bias (and ReLU)
    rounding: str = "FLOOR"
    clip: tuple[int, int] | None = None
    # thresholds
    thresholds: np.ndarray | None = None  # int [channels, n] on the accumulator
    out_mul: int = 1
    out_add: int = 0

    def to_json(self) -> dict:
        if self.kind == "affine":
            return {"kind": "affine", "acc_shift": self.sa, "relu": self.relu, "rshift": self.rshift,
                    "rounding": self.rounding, "clip": list(self.clip) if self.clip else None}
        return {"kind": "thresholds", "thresholds_per_channel": int(self.thresholds.shape[1]),
                "out_mul": self.out_mul, "out_add": self.out_add}


@dataclass(frozen=True)
class ConvGeometry:
    """A convolution's input map (c x h x w, NCHW graph), kernel, stride and zero padding
    (top, left, bottom, right); the weight matrix rows are ordered (ky, kx, c)."""

    c: int
    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    pads: tuple[int, int, int, int]

    @property
    def oh(self) -> int:
        return (self.h + self.pads[0] + self.pads[2] - self.kh) // self.sh + 1

    @property
    def ow(self) -> int:
        return (self.w + self.pads[1] + self.pads[3] - self.kw) // self.sw + 1

    def to_json(self) -> dict:
        return {"input": [self.c, self.h, self.w], "kernel": [self.kh, self.kw], "stride": [self.sh, self.sw],
                "pads": list(self.pads), "output": [self.oh, self.ow]}


@dataclass(frozen=True)
class PoolGeometry:
    """Max pooling k x k at stride k of a c x h x w map (rows/columns past the last whole
    window dropped, as ONNX floors)."""

    c: int
    h: int
    w: int
    k: int

    @property
    def oh(self) -> int:
        return self.h // self.k

    @property
    def ow(self) -> int:
        return self.w // self.k

    def to_json(self) -> dict:
        return {"kind": "max", "input": [self.c, self.h, self.w], "kernel": self.k, "stride": self.k,
                "output": [self.oh, self.ow]}


@dataclass
class DenseLayer:
    """One matrix-vector layer on integers; ``weights`` is [inputs, outputs]."""

    name: str
    ops: list[str]
    weights: np.ndarray
    in_lo: int
    in_hi: int
    in_frac: int
    w_frac: int
    tail: Tail
    out_lo: int = 0
    out_hi: int = 0
    out_frac: int = 0
    acc_lo: int = 0
    acc_hi: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def mw(self) -> int:
        return int(self.weights.shape[0])

    @property
    def conv(self) -> ConvGeometry | None:
        """The sliding window in front of the unit (a convolution), or None (a Dense layer)."""
        return self.extra.get("conv")

    @property
    def pool(self) -> PoolGeometry | None:
        """The max pooling behind the unit's tail, or None."""
        return self.extra.get("pool")

    @property
    def spatial_in(self) -> bool:
        """The unit's input arrives as pixels (C elements per beat): a convolution, or a
        Dense layer after a flattened feature map."""
        return self.conv is not None or "flat_from" in self.extra

    @property
    def vectors(self) -> int:
        """Input vectors per inference: output pixels of a convolution, else 1."""
        c = self.conv
        return c.oh * c.ow if c is not None else 1

    @property
    def out_pixels(self) -> tuple[int, int, int] | None:
        """(channels, height, width) of the feature map the layer (and its pooling) puts
        out, or None for a vector."""
        c = self.conv
        if c is None:
            return None
        p = self.pool
        return (self.mh, p.oh, p.ow) if p is not None else (self.mh, c.oh, c.ow)

    @property
    def mh(self) -> int:
        return int(self.weights.shape[1])

    @property
    def in_format(self) -> tuple[bool, int]:
        return format_bits(self.in_lo, self.in_hi)

    @property
    def w_width(self) -> int:
        return signed_bits(int(self.weights.min(initial=0)), int(self.weights.max(initial=0)))

    @property
    def acc_width(self) -> int:
        in_signed, in_w = self.in_format
        # at least a full product: the MVU sign-extends products to the accumulator
        return max(signed_bits(self.acc_lo, self.acc_hi), in_w + 1 + self.w_width)

    @property
    def out_format(self) -> tuple[bool, int]:
        return format_bits(self.out_lo, self.out_hi)

    @property
    def weight_bits(self) -> int:
        return self.mw * self.mh * self.w_width


# ------------------------------------------------------------------ integer semantics


def _round_shift(s: np.ndarray, r: int, mode: str) -> np.ndarray:
    """round(s / 2**r) for int64 s, exactly as the rounding mode (r >= 0)."""
    if r == 0:
        return s
    fl = s >> r
    rem = s - (fl << r)
    half = 1 << (r - 1)
    neg = s < 0
    nz, ge, gt, tie = rem != 0, rem >= half, rem > half, rem == half
    inc = {
        "FLOOR": np.zeros_like(nz),
        "CEIL": nz,
        "HALF_EVEN": gt | (tie & ((fl & 1) == 1)),
        "HALF_UP": np.where(neg, gt, ge),
        "HALF_DOWN": np.where(neg, ge, gt),
        "TO_ZERO": neg & nz,
        "UP": ~neg & nz,
    }[_canonical_mode(mode)]
    return fl + inc.astype(np.int64)


def _canonical_mode(mode: str) -> str:
    m = mode.upper()
    return {"ROUND": "HALF_EVEN", "DOWN": "TO_ZERO", "ROUND_TO_ZERO": "TO_ZERO"}.get(m, m)


def apply_tail(tail: Tail, acc: np.ndarray) -> np.ndarray:
    """The per-channel tail on accumulators ``acc`` [n, channels] (int64)."""
    if tail.kind == "affine":
        s = (acc << tail.sa) + tail.bias[None, :]
        if tail.relu:
            s = np.maximum(s, 0)
        q = _round_shift(s, tail.rshift, tail.rounding)
        if tail.clip is not None:
            q = np.clip(q, tail.clip[0], tail.clip[1])
        return q
    cnt = (acc[:, :, None] >= tail.thresholds[None, :, :]).sum(axis=2).astype(np.int64)
    return tail.out_add + tail.out_mul * cnt


def im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """Windows of pixel-ordered maps ``x`` [n, h*w*c] ((y, x, c) order): [n, oh*ow, kh*kw*c]
    in the weight matrix's row order (ky, kx, c), zero (code 0) in the padding."""
    n = x.shape[0]
    m = np.asarray(x, dtype=np.int64).reshape(n, g.h, g.w, g.c)
    pt, pl, pb, pr = g.pads
    m = np.pad(m, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    cols = [m[:, ky:ky + g.sh * (g.oh - 1) + 1:g.sh, kx:kx + g.sw * (g.ow - 1) + 1:g.sw, :]
            for ky in range(g.kh) for kx in range(g.kw)]
    return np.stack(cols, axis=3).reshape(n, g.oh * g.ow, g.kh * g.kw * g.c)


def max_pool(x: np.ndarray, p: PoolGeometry) -> np.ndarray:
    """[n, h*w*c] pixel-ordered -> [n, oh*ow*c] pixel-ordered."""
    n = x.shape[0]
    m = x.reshape(n, p.h, p.w, p.c)[:, :p.oh * p.k, :p.ow * p.k, :]
    return m.reshape(n, p.oh, p.k, p.ow, p.k, p.c).max(axis=(2, 4)).reshape(n, -1)


def run_layer(layer: DenseLayer, x: np.ndarray) -> np.ndarray:
    """One layer on integer codes in stream order: [n, inputs] -> [n, outputs]; a
    convolution takes and gives pixel-ordered maps ((y, x, c), flattened)."""
    x = np.asarray(x, dtype=np.int64)
    g = layer.conv
    if g is None:
        return apply_tail(layer.tail, x @ layer.weights.astype(np.int64))
    win = im2col(x, g)
    n = x.shape[0]
    acc = win.reshape(n * g.oh * g.ow, -1) @ layer.weights.astype(np.int64)
    y = apply_tail(layer.tail, acc).reshape(n, -1)
    return max_pool(y, layer.pool) if layer.pool is not None else y


def run_layers(layers: list[DenseLayer], x: np.ndarray) -> np.ndarray:
    """Integer input codes [n, inputs] in stream order -> integer output codes in stream
    order (see :func:`graph_to_stream`)."""
    for ly in layers:
        x = run_layer(ly, x)
    return x


def graph_to_stream(x: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    """Flattened NCHW (the graph's order) -> stream order (pixels in raster order, channels
    within a pixel); vectors (``chw`` None) are unchanged."""
    if chw is None:
        return x
    c, h, w = chw
    return x.reshape(x.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(x.shape[0], -1)


def stream_to_graph(x: np.ndarray, chw: tuple[int, int, int] | None) -> np.ndarray:
    if chw is None:
        return x
    c, h, w = chw
    return x.reshape(x.shape[0], h, w, c).transpose(0, 3, 1, 2).reshape(x.shape[0], -1)


def input_map(layers: list[DenseLayer]) -> tuple[int, int, int] | None:
    """(c, h, w) of the input feature map when the first layer is a convolution."""
    g = layers[0].conv
    return (g.c, g.h, g.w) if g is not None else None


def output_map(layers: list[DenseLayer]) -> tuple[int, int, int] | None:
    return layers[-1].out_pixels


# ------------------------------------------------------------------ graph -> layers


def refuse_unsupported(model) -> None:
    """``UnsupportedOp`` naming the first node the streaming architecture does not take
    (Conv, pooling, ...), before anything expensive runs."""
    for n in model.graph.node:
        if n.op_type not in SUPPORTED_OPS:
            raise UnsupportedOp(
                f"streaming architecture: {n.op_type} is not supported (only "
                f"{', '.join(LINEAR_OPS + CONV_OPS + POOL_OPS)} with per-channel tails); use --architecture "
                "parallel or folded",
                node=n.name or n.output[0])


def _dyadic_frac(values: np.ndarray, what: str, node: str, limit: int = 48) -> int:
    """Smallest f >= 0 with every value * 2**f an integer (exactly)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ModelError(f"{what} has non-finite values", node=node)
    for f in range(limit + 1):
        s = v * 2.0**f
        if np.all(s == np.round(s)):
            return f
    raise UnsupportedOp(f"streaming architecture: {what} is not on a power-of-two grid (fixed point)", node=node)


def _pow2(value: float, what: str, node: str) -> int:
    """e with value == 2**e (exactly), else UnsupportedOp."""
    if not math.isfinite(value) or value <= 0:
        raise UnsupportedOp(f"streaming architecture: {what} {value} is not a positive power of two", node=node)
    e = math.log2(value)
    if e != round(e):
        raise UnsupportedOp(f"streaming architecture: {what} {value} is not a power of two", node=node)
    return int(round(e))


def _attrs(node) -> dict:
    d = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in d.items()}


class _Builder:
    """Walks the single chain input -> ... -> output and closes a layer at each MatMul."""

    def __init__(self, model, consts: dict):
        self.model = model
        self.consts = consts
        self.spatial = False  # the current value is a feature map (per-channel constants on axis 1)

    def const(self, node, i: int) -> np.ndarray:
        name = node.input[i]
        if name not in self.consts:
            raise UnsupportedOp(f"streaming architecture: {node.op_type} needs input {i} ({name!r}) to be a "
                                "constant", node=node.name)
        return np.asarray(self.consts[name], dtype=np.float64)

    def per_channel(self, node, i: int, channels: int) -> np.ndarray:
        c = self.const(node, i)
        if c.size == 1:
            return np.full(channels, float(c.ravel()[0]))
        if self.spatial and c.size == channels and c.ndim >= 3 and c.shape[-3] == channels:
            return c.reshape(channels)  # NCHW: [1, C, 1, 1] or [C, 1, 1]
        if self.spatial or c.size != channels or (c.ndim > 1 and c.shape[-1] != channels):
            raise UnsupportedOp(f"streaming architecture: {node.op_type} with a constant of shape {c.shape} "
                                f"(per-tensor or per-channel over {channels} channels only)", node=node.name)
        return c.reshape(channels)


def extract_layers(model, in_fmt: ElementFormat) -> list[DenseLayer]:
    """The matrix-vector layers of the cleaned model (``prepare_model``'s output)."""
    from hwflow.ir import ReferenceExecutor

    refuse_unsupported(model)
    g = model.graph
    inits = {i.name for i in g.initializer}
    graph_in = [i.name for i in g.input if i.name not in inits]
    if len(graph_in) != 1 or len(g.output) != 1:
        raise ModelError("streaming architecture needs one graph input and one output")
    # constant tensors (weights behind their Quant nodes, biases): the reference computes them
    x0 = np.zeros([1, *[int(d) for d in model.get_tensor_shape(graph_in[0])[1:]]], dtype=np.float64)
    env = ReferenceExecutor(model).run(x0, intermediate=True)
    const_names = set(inits)
    for n in g.node:
        if all((not i) or i in const_names for i in n.input):
            const_names.update(n.output)
    consts = {k: env[k] for k in const_names if k in env}
    for k in inits:
        consts.setdefault(k, np.asarray(model.get_initializer(k)))
    b = _Builder(model, consts)

    if in_fmt.scale != 1.0:
        raise UnsupportedOp("streaming architecture: input with a non-power-of-two scale", node=graph_in[0])
    cur = graph_in[0]
    # the current value: integer codes on the grid 2**-frac in [lo, hi]
    lo, hi, frac = int(in_fmt.int_min), int(in_fmt.int_max), int(in_fmt.frac)
    layers: list[DenseLayer] = []
    open_layer: DenseLayer | None = None
    # state of the open layer's tail: real value = (acc * 2**sa + bias) * 2**-(acc_frac + sa)
    st: dict = {}

    def consumer(t: str):
        users = [n for n in g.node if t in n.input]
        if len(users) > 1:
            raise UnsupportedOp(f"streaming architecture: tensor {t!r} feeds {len(users)} nodes (a chain is needed)",
                                node=users[1].name)
        return users[0] if users else None

    def close_layer():
        nonlocal lo, hi, frac, open_layer
        ly = open_layer
        if st["kind"] == "sum":  # no requantization: the sum itself (exact, no rounding)
            ly.tail = Tail("affine", sa=st["sa"], bias=st["bias"], relu=st["relu"], rshift=0, rounding="FLOOR")
            frac_out = st["frac"]
            s_lo = (ly.acc_lo << st["sa"]) + int(st["bias"].min())
            s_hi = (ly.acc_hi << st["sa"]) + int(st["bias"].max())
            if st["relu"]:
                s_lo, s_hi = max(s_lo, 0), max(s_hi, 0)
            lo, hi = s_lo, s_hi
        else:
            ly.tail = st["tail"]
            lo, hi, frac_out = st["lo"], st["hi"], st["frac"]
        ly.out_lo, ly.out_hi, ly.out_frac = lo, hi, frac_out
        frac = frac_out
        layers.append(ly)
        open_layer = None

    seen_first = False
    in_shape = [int(d) for d in model.get_tensor_shape(graph_in[0])]
    # (c, h, w) of the current value while it is a feature map, else None
    spatial = tuple(in_shape[1:]) if len(in_shape) == 4 else None
    flat_from = None  # the map a Flatten turned into the current vector
    while True:
        node = consumer(cur)
        if node is None:
            break
        op, name = node.op_type, node.name or node.output[0]
        a = _attrs(node)
        if op in SHAPE_OPS:
            shp = model.get_tensor_shape(node.output[0])
            if shp is not None and int(np.prod(shp[1:] if len(shp) > 1 else shp)) != int(np.prod(
                    (model.get_tensor_shape(cur) or [1])[1:])):
                raise UnsupportedOp(f"streaming architecture: {op} changes the element count", node=name)
            if spatial is not None and (shp is None or [int(d) for d in shp[1:]] != list(spatial)):
                if shp is None or len(shp) != 2:
                    raise UnsupportedOp(f"streaming architecture: {op} of a feature map to shape {shp} (only "
                                        "flattening to [N, C*H*W] before a MatMul/Gemm)", node=name)
                # NCHW flatten: the next Dense layer's weight rows are permuted to the pixel order
                flat_from, spatial = spatial, None
                b.spatial = False
            cur = node.output[0]
            continue
        if op in CONV_OPS:
            if open_layer is not None:
                close_layer()
            if spatial is None or node.input[0] != cur:
                raise UnsupportedOp("streaming architecture: Conv of a value that is not a feature map "
                                    "(NCHW) or with the weights as first operand", node=name)
            w = b.const(node, 1)
            if w.ndim != 4 or int(a.get("group", 1)) != 1 or any(int(d) != 1 for d in a.get("dilations", [1, 1])):
                raise UnsupportedOp("streaming architecture: Conv other than 2-d, group 1, dilation 1", node=name)
            if str(a.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID"):
                raise UnsupportedOp(f"streaming architecture: Conv auto_pad {a.get('auto_pad')}", node=name)
            cout, cin, kh, kw = (int(d) for d in w.shape)
            if cin != spatial[0]:
                raise ModelError(f"Conv weights for {cin} input channels on a {spatial[0]}-channel map", node=name)
            pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]  # ONNX: top, left, bottom, right
            if len(pads) != 4 or min(pads) < 0:
                raise UnsupportedOp(f"streaming architecture: Conv pads {pads}", node=name)
            sh, sw = (int(v) for v in a.get("strides", [1, 1]))
            geo = ConvGeometry(c=cin, h=spatial[1], w=spatial[2], kh=kh, kw=kw, sh=sh, sw=sw, pads=tuple(pads))
            if geo.oh < 1 or geo.ow < 1 or geo.w + pads[1] + pads[3] < 2:
                raise UnsupportedOp(f"streaming architecture: Conv window {kh}x{kw} on a {spatial[1]}x{spatial[2]} "
                                    "map (needs a padded width of 2 or more)", node=name)
            wmat = w.transpose(2, 3, 1, 0).reshape(kh * kw * cin, cout)  # rows (ky, kx, c)
            fw = _dyadic_frac(wmat, "Conv weights", name)
            wq = np.rint(wmat * 2.0**fw).astype(np.int64)
            if max(pads) > 0:  # the padding's zero joins the input range
                lo, hi = min(lo, 0), max(hi, 0)
            acc_lo, acc_hi = _acc_bounds(wq, lo, hi)
            open_layer = DenseLayer(name=name, ops=[op], weights=wq, in_lo=lo, in_hi=hi, in_frac=frac, w_frac=fw,
                                    tail=Tail("affine"), acc_lo=acc_lo, acc_hi=acc_hi, extra={"conv": geo})
            st = {"kind": "sum", "sa": 0, "frac": frac + fw, "bias_real": np.zeros(cout), "relu": False,
                  "bias": np.zeros(cout, dtype=np.int64)}
            if len(node.input) > 2 and node.input[2]:
                _add_bias(st, b.const(node, 2).reshape(cout), name)
            spatial = (cout, geo.oh, geo.ow)
            b.spatial = True
            seen_first = True
            cur = node.output[0]
            continue
        if op in POOL_OPS:
            ks = [int(v) for v in a.get("kernel_shape", [])]
            strides = [int(v) for v in a.get("strides", ks)]
            if open_layer is None or open_layer.conv is None or spatial is None or open_layer.pool is not None:
                raise UnsupportedOp("streaming architecture: MaxPool only behind a convolution's tail", node=name)
            if st["kind"] != "quant":
                raise UnsupportedOp("streaming architecture: MaxPool before the layer's requantization", node=name)
            if (len(ks) != 2 or ks[0] != ks[1] or strides != ks or any(int(p) for p in a.get("pads", [0] * 4))
                    or int(a.get("ceil_mode", 0)) or any(int(d) != 1 for d in a.get("dilations", [1, 1]))
                    or str(a.get("auto_pad", "NOTSET")) not in ("NOTSET", "VALID")):
                raise UnsupportedOp(f"streaming architecture: MaxPool {ks} stride {strides} (square, stride = "
                                    "kernel, no padding only)", node=name)
            pg = PoolGeometry(c=spatial[0], h=spatial[1], w=spatial[2], k=ks[0])
            open_layer.extra["pool"] = pg
            open_layer.ops.append(op)
            spatial = (spatial[0], pg.oh, pg.ow)
            cur = node.output[0]
            continue
        if op in LINEAR_OPS:
            if open_layer is not None:
                close_layer()
            if spatial is not None:
                raise UnsupportedOp(f"streaming architecture: {op} of a feature map (flatten it first)", node=name)
            if op == "MatMul":
                if node.input[0] != cur:
                    raise UnsupportedOp("streaming architecture: MatMul with the weights as first operand", node=name)
                w = b.const(node, 1)
                bias0 = None
            else:
                if int(a.get("transA", 0)) or node.input[0] != cur:
                    raise UnsupportedOp("streaming architecture: Gemm with transA", node=name)
                w = b.const(node, 1)
                if w.ndim != 2:
                    raise UnsupportedOp(f"streaming architecture: {op} with {w.ndim}-d weights", node=name)
                if int(a.get("transB", 0)):
                    w = w.T
                w = w * float(a.get("alpha", 1.0))
                bias0 = b.per_channel(node, 2, w.shape[1]) * float(a.get("beta", 1.0)) if len(node.input) > 2 \
                    and node.input[2] else None
            if w.ndim != 2:
                raise UnsupportedOp(f"streaming architecture: {op} with {w.ndim}-d weights", node=name)
            fw = _dyadic_frac(w, f"{op} weights", name)
            wq = np.rint(w * 2.0**fw).astype(np.int64)
            extra = {}
            if flat_from is not None:
                c_, h_, w_ = flat_from
                if wq.shape[0] != c_ * h_ * w_:
                    raise ModelError(f"{op} with {wq.shape[0]} inputs after a {c_}x{h_}x{w_} map", node=name)
                # graph row c*H*W + y*W + x -> stream row (y*W + x)*C + c (pixels in raster order)
                wq = wq.reshape(c_, h_, w_, -1).transpose(1, 2, 0, 3).reshape(c_ * h_ * w_, -1)
                extra["flat_from"] = flat_from
                flat_from = None
            acc_lo, acc_hi = _acc_bounds(wq, lo, hi)
            open_layer = DenseLayer(name=name, ops=[op], weights=wq, in_lo=lo, in_hi=hi, in_frac=frac, w_frac=fw,
                                    tail=Tail("affine"), acc_lo=acc_lo, acc_hi=acc_hi, extra=extra)
            st = {"kind": "sum", "sa": 0, "frac": frac + fw, "bias_real": np.zeros(w.shape[1]), "relu": False}
            st["bias"] = np.zeros(w.shape[1], dtype=np.int64)
            if bias0 is not None:
                _add_bias(st, bias0, name)
            seen_first = True
            cur = node.output[0]
            continue
        if not seen_first:
            # before the first layer only an input quantizer that is the identity on the input grid
            if op in ("Quant", "IntQuant"):
                _check_identity_quant(b, node, lo, hi, frac)
                cur = node.output[0]
                continue
            if op == "BipolarQuant" and (lo, hi, frac) == (-1, 1, 0) and \
                    float(b.const(node, 1).ravel()[0]) == 1.0:
                # a bipolar input ({-1, +1} codes, the IR's input type) through its own quantizer
                cur = node.output[0]
                continue
            raise UnsupportedOp(f"streaming architecture: {op} before the first MatMul/Conv", node=name)
        if open_layer is None:
            raise UnsupportedOp(f"streaming architecture: {op} between layers", node=name)
        open_layer.ops.append(op)
        ch = open_layer.mh
        if st["kind"] == "sum":
            if op in ("Add", "Sub"):
                other = 1 if node.input[0] == cur else 0
                c = b.per_channel(node, other, ch)
                if op == "Sub":
                    if other == 0:
                        raise UnsupportedOp("streaming architecture: Sub of the layer output from a constant",
                                            node=name)
                    c = -c
                if st["relu"]:
                    raise UnsupportedOp("streaming architecture: bias after ReLU", node=name)
                _add_bias(st, c, name)
            elif op == "Mul" and b.const(node, 1 if node.input[0] == cur else 0).size > 1 and not st["relu"]:
                # per-channel sign (the IR's MultiThreshold of a negative scale): negate the
                # channel's weights and bias, exact
                sign = b.per_channel(node, 1 if node.input[0] == cur else 0, ch)
                if not np.all(np.abs(sign) == 1.0):
                    raise UnsupportedOp("streaming architecture: Mul by a per-channel constant other than +-1 "
                                        "before requantization (the IR folds scales into MultiThreshold)",
                                        node=name)
                _negate_channels(open_layer, st, sign < 0)
            elif op in ("Mul", "Div"):
                other = 1 if node.input[0] == cur else 0
                c = b.const(node, other)
                if c.size != 1 or (op == "Div" and other == 0):
                    raise UnsupportedOp(f"streaming architecture: {op} by a per-channel constant before "
                                        "requantization (the IR folds these into MultiThreshold)", node=name)
                e = _pow2(float(c.ravel()[0]), f"{op} constant", name)
                e = -e if op == "Div" else e
                st["frac"] -= e  # the integer stays, its grid scales
                st["bias_real"] = st["bias_real"] * 2.0**e
            elif op == "Relu":
                st["relu"] = True
            elif op in ("Quant", "IntQuant"):
                _requant(b, node, a, st, open_layer)
            elif op == "BipolarQuant":
                _bipolar(b, node, st, open_layer, 1.0 if len(node.input) < 2 else float(b.const(node, 1).ravel()[0]))
            elif op == "MultiThreshold":
                _multithreshold(b, node, a, st, open_layer)
            else:
                raise UnsupportedOp(f"streaming architecture: {op} in a layer tail", node=name)
        else:
            # after the requantization: only grid changes and a ReLU (a clip at 0)
            if op in ("Mul", "Div"):
                other = 1 if node.input[0] == cur else 0
                c = b.const(node, other)
                if c.size != 1 or (op == "Div" and other == 0):
                    raise UnsupportedOp(f"streaming architecture: {op} by a per-channel constant after "
                                        "requantization", node=name)
                e = _pow2(float(c.ravel()[0]), f"{op} constant", name)
                st["frac"] -= -e if op == "Div" else e
            elif op == "Relu":
                t = st["tail"]
                if t.kind == "affine":
                    t.clip = (max(0, t.clip[0]), max(0, t.clip[1])) if t.clip else (0, max(0, st["hi"]))
                    st["lo"], st["hi"] = max(0, st["lo"]), max(0, st["hi"])
                else:
                    raise UnsupportedOp("streaming architecture: Relu after MultiThreshold", node=name)
            else:
                raise UnsupportedOp(f"streaming architecture: {op} after a layer's requantization "
                                    "(one quantizer per layer)", node=name)
        cur = node.output[0]
    if open_layer is not None:
        close_layer()
    if cur != g.output[0].name:
        raise ModelError(f"streaming architecture: the chain ends at {cur!r}, not at the output {g.output[0].name!r}")
    if not layers:
        raise UnsupportedOp("streaming architecture: the model has no MatMul/Gemm/Conv layer", node=cur)
    for ly in layers:
        _finish_tail(ly)
    return layers


def _acc_bounds(wq: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """Exact bounds of every partial sum of x @ wq for x in [lo, hi] (0 included: the
    accumulator starts there)."""
    pos, neg = np.maximum(wq, 0), np.minimum(wq, 0)
    acc_hi = int(np.max(np.maximum(pos * hi, 0).sum(0) + np.maximum(neg * lo, 0).sum(0), initial=0))
    acc_lo = int(np.min(np.minimum(pos * lo, 0).sum(0) + np.minimum(neg * hi, 0).sum(0), initial=0))
    return acc_lo, acc_hi


def _negate_channels(ly: DenseLayer, st: dict, neg: np.ndarray) -> None:
    s = np.where(neg, -1, 1)
    ly.weights = ly.weights * s[None, :]
    st["bias"] = st["bias"] * s
    st["bias_real"] = st["bias_real"] * s
    ly.acc_lo, ly.acc_hi = _acc_bounds(ly.weights, ly.in_lo, ly.in_hi)


def _add_bias(st: dict, c: np.ndarray, node: str) -> None:
    """bias (real, per channel) into the integer bias of the sum; refines the grid when
    the bias is finer than the accumulator (shift the accumulator left, exact)."""
    st["bias_real"] = st["bias_real"] + c
    f_all = _dyadic_frac(st["bias_real"], "bias", node)
    if f_all > st["frac"]:
        st["sa"] += f_all - st["frac"]
        st["frac"] = f_all
    st["bias"] = np.rint(st["bias_real"] * 2.0 ** st["frac"]).astype(np.int64)


def _check_identity_quant(b: _Builder, node, lo: int, hi: int, frac: int) -> None:
    a = _attrs(node)
    scale, zp, bits = (b.const(node, i) for i in (1, 2, 3))
    if scale.size != 1 or zp.size != 1 or float(zp.ravel()[0]) != 0.0:
        raise UnsupportedOp("streaming architecture: input quantizer with per-channel scale or a zero point",
                            node=node.name)
    from qonnx.custom_op.general.quant import max_int, min_int

    fq = -_pow2(float(scale.ravel()[0]), "input quantizer scale", node.name)
    nb = float(bits.ravel()[0])
    qlo = int(min_int(bool(int(a.get("signed", 1))), bool(int(a.get("narrow", 0))), nb))
    qhi = int(max_int(bool(int(a.get("signed", 1))), bool(int(a.get("narrow", 0))), nb))
    if fq != frac or lo < qlo or hi > qhi:
        raise UnsupportedOp(f"streaming architecture: the input quantizer (grid 2**-{fq}, [{qlo}, {qhi}]) is not the "
                            f"identity on the input format (grid 2**-{frac}, [{lo}, {hi}])", node=node.name)


def _requant(b: _Builder, node, a: dict, st: dict, ly: DenseLayer) -> None:
    from qonnx.custom_op.general.quant import max_int, min_int

    scale, zp, bits = (b.const(node, i) for i in (1, 2, 3))
    if scale.size != 1 or zp.size != 1 or bits.size != 1 or float(zp.ravel()[0]) != 0.0:
        raise UnsupportedOp("streaming architecture: Quant with per-channel scale, bit width or a zero point",
                            node=node.name)
    signed, narrow, nb = bool(int(a.get("signed", 1))), bool(int(a.get("narrow", 0))), float(bits.ravel()[0])
    s = float(scale.ravel()[0])
    if nb == 1 and signed:
        _bipolar(b, node, st, ly, s)
        return
    mode = str(a.get("rounding_mode", "ROUND")).upper()
    if mode not in RMODES:
        raise UnsupportedOp(f"streaming architecture: rounding mode {mode!r}", node=node.name)
    fq = -_pow2(s, "Quant scale", node.name)
    r = st["frac"] - fq
    if r < 0:  # the quantizer's grid is finer than the sum: shift the sum left (exact)
        st["sa"] += -r
        st["bias"] = st["bias"] << -r
        st["frac"] = fq
        r = 0
    qlo, qhi = int(min_int(signed, narrow, nb)), int(max_int(signed, narrow, nb))
    st["tail"] = Tail("affine", sa=st["sa"], bias=st["bias"], relu=st["relu"], rshift=r, rounding=mode,
                      clip=(qlo, qhi))
    lo, hi = qlo, qhi
    if st["relu"]:
        lo, hi = max(lo, 0), max(hi, 0)
    st.update(kind="quant", lo=lo, hi=hi, frac=fq)


def _thresholds_on_acc(st: dict, ly: DenseLayer, thr_real: np.ndarray) -> np.ndarray:
    """v >= t on the real sum v = ((acc << sa) + bias) * 2**-frac (after ReLU when set), as
    acc >= T with integer T, clamped to [acc_lo, acc_hi + 1] (always / never true)."""
    out = np.empty(thr_real.shape, dtype=np.int64)
    sa, f = st["sa"], st["frac"]
    for c in range(thr_real.shape[0]):
        bias = int(st["bias"][c])
        for j in range(thr_real.shape[1]):
            t = Fraction(float(thr_real[c, j]))
            if st["relu"] and t <= 0:
                out[c, j] = ly.acc_lo  # relu(v) >= t <= 0 always
                continue
            # (acc << sa) + bias >= ceil(t * 2**f)  <=>  acc >= ceil((ceil(t 2^f) - bias) / 2**sa)
            tt = math.ceil(t * (1 << f)) if f >= 0 else math.ceil(t / (1 << -f))
            ta = -((-(tt - bias)) // (1 << sa))
            out[c, j] = min(max(ta, ly.acc_lo), ly.acc_hi + 1)
    return out


def _bipolar(b: _Builder, node, st: dict, ly: DenseLayer, scale: float) -> None:
    # qonnx: y = +scale if x >= 0 else -scale: one threshold at 0, codes {-1, +1}
    fq = -_pow2(scale, "bipolar scale", node.name)
    thr = _thresholds_on_acc(st, ly, np.zeros((ly.mh, 1)))
    st["tail"] = Tail("thresholds", thresholds=thr, out_mul=2, out_add=-1)
    st.update(kind="quant", lo=-1, hi=1, frac=fq)


def _multithreshold(b: _Builder, node, a: dict, st: dict, ly: DenseLayer) -> None:
    thr = b.const(node, 1)
    if thr.ndim != 2 or thr.shape[0] not in (1, ly.mh):
        raise UnsupportedOp(f"streaming architecture: MultiThreshold thresholds of shape {thr.shape}", node=node.name)
    if thr.shape[0] == 1:
        thr = np.repeat(thr, ly.mh, axis=0)
    out_scale, out_bias = float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0))
    fq = max(_dyadic_frac(np.array([out_scale]), "MultiThreshold out_scale", node.name),
             _dyadic_frac(np.array([out_bias]), "MultiThreshold out_bias", node.name))
    mul, add = out_scale * 2.0**fq, out_bias * 2.0**fq
    if mul != int(mul) or add != int(add) or mul == 0:
        raise UnsupportedOp("streaming architecture: MultiThreshold out_scale/out_bias not on a common grid",
                            node=node.name)
    # qonnx sorts nothing: the count of thresholds passed is order-free
    tq = _thresholds_on_acc(st, ly, thr)
    n = thr.shape[1]
    vals = [int(add), int(add + mul * n)]
    st["tail"] = Tail("thresholds", thresholds=tq, out_mul=int(mul), out_add=int(add))
    st.update(kind="quant", lo=min(vals), hi=max(vals), frac=fq)


def _finish_tail(ly: DenseLayer) -> None:
    """Exact output range of the tail on the accumulator range (for the output widths)."""
    t = ly.tail
    if t.kind == "affine":
        acc = np.array([[ly.acc_lo] * ly.mh, [ly.acc_hi] * ly.mh], dtype=np.int64)
        q = apply_tail(t, acc)  # monotone in acc: the bounds are attained at the ends
        ly.out_lo, ly.out_hi = int(q.min()), int(q.max())
    else:
        vals = [t.out_add, t.out_add + t.out_mul * t.thresholds.shape[1]]
        ly.out_lo, ly.out_hi = min(vals), max(vals)


def check_against_reference(model, layers: list[DenseLayer], in_fmt: ElementFormat, out_frac: int,
                            n: int = 300, seed: int = 0) -> None:
    """Run the integer layers and ``ReferenceExecutor`` on ``n`` stimulus samples (corners
    first); ``ModelError`` naming the first differing sample when they disagree."""
    from hwflow.ir import ReferenceExecutor, make_stimulus

    x = make_stimulus(model, n=n, seed=seed, corners=True)
    xf = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    q = graph_to_stream(np.rint(xf * 2.0**in_fmt.frac).astype(np.int64), input_map(layers))
    y_int = stream_to_graph(run_layers(layers, q), output_map(layers))
    y = y_int.astype(np.float64) * 2.0**-out_frac
    ref = np.asarray(ReferenceExecutor(model).run(x), dtype=np.float64).reshape(len(x), -1)
    bad = np.nonzero(np.any(y != ref, axis=1))[0]
    if bad.size:
        i = int(bad[0])
        raise ModelError(f"streaming architecture: the integer layer model differs from the reference in "
                         f"{bad.size} of {len(x)} samples (first: sample {i}, expected {ref[i][:8].tolist()}, "
                         f"got {y[i][:8].tolist()}); this graph pattern is not handled correctly")
