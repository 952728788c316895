"""QKeras (tf-keras 2) -> QONNX exporter.

qonnx 1.0 no longer ships a QKeras converter, so this one is ours. It walks the Keras layer
graph and emits standard ONNX ops plus QONNX ``Quant`` / ``BipolarQuant`` (and hwflow's
``BiPer``) nodes that compute exactly what QKeras computes:

- ``quantized_bits(bits, integer, symmetric, keep_negative, alpha)`` computes
  ``step * clip(round_half_even(x / step), lo, hi)`` with ``step = 2**(integer - bits +
  keep_negative)``, ``lo = -2**(bits-1) + symmetric`` (or 0), ``hi = 2**(bits-1) - 1`` (or
  ``2**bits - 1`` unsigned): QONNX ``Quant(scale=step, bitwidth=bits, signed=keep_negative,
  narrow=symmetric, rounding_mode=ROUND)`` (``np.round`` is half-to-even like ``tf.round``;
  clip-then-round equals round-then-clip for integer bounds).
- ``quantized_relu(bits, integer)``: ``Relu`` + unsigned ``Quant`` with step
  ``2**(integer - bits)``.
- ``binary``: ``BipolarQuant`` (``x >= 0 -> +1``, like QKeras' sign with 0 -> +1).
- ``ternary`` (activations): ``Quant`` with ``HALF_UP`` rounding on ``x / (2 * threshold)``.
- Weights are exported already quantized (the tensor QKeras itself multiplies with) behind
  a ``Quant``/``BipolarQuant`` that is the identity on them; the exporter checks that
  identity exactly, so any quantizer whose values are a fixed-point grid (``quantized_bits``
  with ``alpha`` 1 / ``auto_po2`` per channel, ``binary``, ``ternary``, ``quantized_po2``,
  hwflow's BiPer) is exported bit-exactly, and anything else is a typed error.

Layout: 4-D tensors are NCHW in the ONNX graph (Keras holds NHWC), so a 4-D graph input is
``x_keras.transpose(0, 3, 1, 2)``. ``Flatten`` of a 4-D tensor flattens in ONNX (NCHW)
order and the permutation to Keras' (NHWC) order is folded into the weight rows of the
following dense layer (or materialised as a ``Gather`` where nothing can absorb it).

Loading a model file never executes code from it: the JSON configuration is checked for
``Lambda``-like layers and foreign modules *before* Keras deserialises anything.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from hwflow.errors import InvalidModelFile, MissingQuantization, ModelError, UnsupportedOp

QONNX_DOMAIN = "qonnx.custom_op.general"
HWFLOW_DOMAIN = "hwflow.ir.custom_op"
OPSET = 13

# ---------------------------------------------------------------------------------------
# safe loading


_CODE_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda", "TFLambda"}
_SAFE_MODULE_PREFIXES = ("keras", "tf_keras", "qkeras", "hwflow", "builtins")


def _check_config_safe(cfg: Any, where: str) -> None:
    """Reject configurations that would make Keras execute or import code."""
    if isinstance(cfg, dict):
        cls = cfg.get("class_name")
        if isinstance(cls, str) and cls in _CODE_LAYERS:
            name = (cfg.get("config") or {}).get("name", cls)
            raise UnsupportedOp(
                f"{cls} layer refused: loading it would deserialise and run Python code "
                "from the model file",
                node=str(name),
                path=where,
            )
        mod = cfg.get("module")
        if isinstance(mod, str) and not mod.startswith(_SAFE_MODULE_PREFIXES):
            raise UnsupportedOp(
                f"object of class {cls!r} from module {mod!r} refused (only keras/qkeras/hwflow "
                "objects are loaded)",
                path=where,
            )
        if "function_type" in cfg or ("function" in cfg and cls is None):
            raise UnsupportedOp("serialised Python function refused", path=where)
        for v in cfg.values():
            _check_config_safe(v, where)
    elif isinstance(cfg, list):
        for v in cfg:
            _check_config_safe(v, where)


def custom_objects() -> dict[str, Any]:
    """QKeras' custom objects plus hwflow's BiPer quantizers and layers."""
    from hwflow.quant import keras_env

    keras_env()
    from qkeras.utils import _add_supported_quantized_objects

    objs: dict[str, Any] = {}
    _add_supported_quantized_objects(objs)
    from hwflow.quant import biper_keras

    objs.update(biper_keras.custom_objects())
    return objs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidModelFile(f"not a Keras JSON model: {e}", path=str(path)) from None


def _weights_beside(json_path: Path) -> Path | None:
    for cand in (
        json_path.with_name(json_path.stem + "_weights.h5"),
        json_path.with_suffix(".h5"),
        json_path.with_name(json_path.stem + ".weights.h5"),
    ):
        if cand.is_file():
            return cand
    return None


def load_keras_model(path: str | Path, weights: str | Path | None = None):
    """Load a QKeras model from ``.json`` (+ ``.h5`` weights), ``.h5`` or ``.keras``.

    The architecture is checked by :func:`_check_config_safe` before Keras sees it; Lambda
    layers raise ``UnsupportedOp`` naming the layer. For ``.json`` the weights file is
    ``weights`` or, if omitted, ``<stem>_weights.h5`` / ``<stem>.h5`` beside it.
    """
    from hwflow.quant import keras_env

    tf, keras = keras_env()
    path = Path(path)
    if not path.is_file():
        raise InvalidModelFile("model file not found", path=str(path))
    objs = custom_objects()
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            cfg = _read_json(path)
            _check_config_safe(cfg, str(path))
            model = keras.models.model_from_json(json.dumps(cfg), custom_objects=objs)
            wpath = Path(weights) if weights else _weights_beside(path)
            if wpath is None:
                raise InvalidModelFile(
                    "no weights file found beside the JSON architecture (<stem>_weights.h5)",
                    path=str(path),
                )
            model.load_weights(str(wpath))
            return model
        if suffix in (".h5", ".hdf5"):
            import h5py

            try:
                with h5py.File(path, "r") as f:
                    raw = f.attrs.get("model_config")
            except OSError as e:
                raise InvalidModelFile(f"not an HDF5 file: {e}", path=str(path)) from None
            if raw is None:
                raise InvalidModelFile(
                    "HDF5 file has no model architecture (weights only?); pass the .json",
                    path=str(path),
                )
            _check_config_safe(json.loads(raw if isinstance(raw, str) else raw.decode()), str(path))
            return keras.models.load_model(str(path), custom_objects=objs, compile=False)
        if suffix == ".keras":
            try:
                with zipfile.ZipFile(path) as z:
                    cfg = json.loads(z.read("config.json"))
            except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
                raise InvalidModelFile(f"not a .keras archive: {e}", path=str(path)) from None
            _check_config_safe(cfg, str(path))
            return keras.models.load_model(
                str(path), custom_objects=objs, compile=False, safe_mode=True
            )
    except ModelError:
        raise
    except (ValueError, TypeError, KeyError, OSError) as e:
        raise InvalidModelFile(f"Keras could not load the model: {type(e).__name__}: {e}",
                               path=str(path)) from None
    raise InvalidModelFile(
        f"unsupported Keras model file type {suffix!r} (use .json+.h5, .h5 or .keras)",
        path=str(path),
    )


# ---------------------------------------------------------------------------------------
# graph building


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


# ---------------------------------------------------------------------------------------
# quantizers


def _qname(q) -> str:
    return type(q).__name__


def _is_pow2(v: float) -> bool:
    m, _ = math.frexp(v)
    return v > 0 and m == 0.5


def _is_one(a) -> bool:
    return a is None or (not isinstance(a, str) and np.all(np.asarray(a, dtype=float) == 1.0))


def _fixed_params(q, layer: str) -> tuple[float, int, bool, bool]:
    """(step, bits, signed, narrow) of an activation ``quantized_bits``/``quantized_relu``."""
    if getattr(q, "use_stochastic_rounding", False):
        raise UnsupportedOp(f"{q}: stochastic rounding has no deterministic export", node=layer)
    qnoise = getattr(q, "qnoise_factor", 1.0)
    if float(np.asarray(qnoise)) != 1.0:
        raise UnsupportedOp(f"{q}: qnoise_factor != 1 is not a quantized forward pass",
                            node=layer)
    bits, integer = int(q.bits), int(np.asarray(q.integer))
    if _qname(q) == "quantized_relu":
        if q.use_sigmoid or q.negative_slope:
            raise UnsupportedOp(f"{q}: use_sigmoid/negative_slope not supported", node=layer)
        return 2.0 ** (integer - bits), bits, False, False
    keep_neg = bool(q.keep_negative)
    return 2.0 ** (integer - bits + keep_neg), bits, keep_neg, bool(q.symmetric)


def _act_quant(g: _Graph, q, x: str, base: str, layer: str) -> str:
    """Emit the ONNX nodes of a QKeras activation quantizer applied to tensor ``x``."""
    from hwflow.quant import biper_keras

    kind = _qname(q)
    if isinstance(q, biper_keras.BiPerActivation):
        out = g.node("BiPer", [x], base, domain=HWFLOW_DOMAIN, log2_period=int(q.log2_period))
        g.datatypes[out] = "BIPOLAR"
        return out
    if isinstance(q, (biper_keras.ApproxSign, biper_keras.SignSTE)):
        return g.bipolar(x, base)
    if kind == "quantized_bits":
        if not _is_one(q.alpha):
            raise UnsupportedOp(f"{q}: activation alpha must be None or 1 (got {q.alpha!r})",
                                node=layer)
        if int(q.bits) - int(bool(q.keep_negative)) <= 0:  # 1-bit signed: sign with 0 -> +1
            return g.bipolar(x, base)
        step, bits, signed, narrow = _fixed_params(q, layer)
        return g.quant(x, base, step, bits, signed, narrow)
    if kind == "quantized_relu":
        step, bits, signed, narrow = _fixed_params(q, layer)
        if q.relu_upper_bound is not None and not q.is_quantized_clip:
            raise UnsupportedOp(f"{q}: relu_upper_bound without quantized clip", node=layer)
        r = g.node("Relu", [x], f"{base}_relu")
        return g.quant(r, base, step, bits, signed, narrow)
    if kind == "binary":
        if getattr(q, "use_stochastic_rounding", False) or isinstance(q.alpha, str):
            raise UnsupportedOp(f"{q}: data-dependent scale/stochastic binary activation",
                                node=layer)
        scale = 1.0 if q.alpha is None else float(q.alpha)
        y = g.bipolar(x, base, scale)
        if q.use_01:  # {-s, s} -> {0, s}
            y = g.node("Mul", [g.node("Add", [y, g.const(f"{base}_one", scale)], f"{base}_add"),
                               g.const(f"{base}_half", 0.5)], f"{base}_01")
        return y
    if kind == "ternary":
        if isinstance(q.alpha, str) or isinstance(q.threshold, str) or q.use_stochastic_rounding:
            raise UnsupportedOp(f"{q}: data-dependent ternary activation", node=layer)
        thr = q.default_threshold if q.threshold is None else float(q.threshold)
        scale = 1.0 if q.alpha is None else float(q.alpha)
        if not _is_pow2(2.0 * thr):  # e.g. the default 0.33: exact float32 thresholds
            return _staircase(g, q, x, base, layer)
        # |x| >= thr  <=>  |x / (2 thr)| >= 1/2 (exact: power-of-two factor): HALF_UP
        # rounding, clipped to {-1, 0, 1}
        pre = g.node("Mul", [x, g.const(f"{base}_inv2thr", 1.0 / (2.0 * thr))], f"{base}_pre")
        y = g.quant(pre, base, 1.0, 2, True, True, rounding="HALF_UP")
        if scale != 1.0:
            y = g.node("Mul", [y, g.const(f"{base}_alpha", scale)], f"{base}_scaled")
        return y
    if kind in ("quantized_po2", "quantized_relu_po2"):
        if getattr(q, "use_stochastic_rounding", False):
            raise UnsupportedOp(f"{q}: stochastic rounding", node=layer)
        return _staircase(g, q, x, base, layer)
    raise UnsupportedOp(f"activation quantizer {q} is not supported by the QONNX exporter",
                        node=layer)


MAX_STAIRCASE_THRESHOLDS = 256


def _f32_key(x: np.ndarray) -> np.ndarray:
    """float32 -> int64 that orders like the floats (+0 and -0 both map to 0)."""
    i = np.asarray(x, np.float32).view(np.int32).astype(np.int64)
    return np.where(i >= 0, i, -(i & 0x7FFFFFFF))


def _key_f32(k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, np.int64)
    bits = np.where(k >= 0, k, (-k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def _staircase(g: _Graph, q, x: str, base: str, layer: str) -> str:
    """A monotone non-uniform quantizer (power-of-two levels) as QONNX MultiThreshold(s).

    The levels and the exact float32 switching points are read off the QKeras quantizer
    itself (bisection over the ordered float32 values, the quantizer as oracle), so the
    thresholds reproduce TensorFlow's float32 decisions (log2 + round) bit for bit. Steps
    between levels that are k times the smallest step repeat their threshold k times, so
    ``y = lowest + unit * #(x >= t_i)`` gives exactly the levels; when that would need more
    than ``MAX_STAIRCASE_THRESHOLDS`` thresholds, one MultiThreshold per distinct step size
    is emitted and the results are added.
    """
    from hwflow.quant import keras_env

    tf, _ = keras_env()

    def f(v: np.ndarray) -> np.ndarray:
        return np.asarray(q(tf.constant(np.asarray(v, np.float32))), np.float64)

    # |x| <= 2**20: beyond that QKeras' own straight-through form x + (xq - x) loses the
    # level to float32 cancellation (at ~1e38 it returns 0), i.e. no activation range
    probe = [0.0] + [s * 2.0**e for e in range(-40, 21) for s in (1, -1)]
    probe += [s * 2.0 ** (e + 0.5) for e in range(-40, 20) for s in (1, -1)]
    pv = np.sort(np.asarray(probe, np.float32))
    fv = f(pv)
    if np.any(np.diff(fv) < 0):
        raise UnsupportedOp(f"{q}: not monotone, no threshold export", node=layer)
    levels = np.unique(fv)
    gaps = np.diff(levels)
    if gaps.size == 0:
        raise UnsupportedOp(f"{q}: constant output", node=layer)
    # bracket every switching point between the probes, then bisect all at once
    lo = np.array([_f32_key(pv[np.nonzero(fv == levels[i])[0].max()]) for i in range(len(gaps))])
    hi = np.array([_f32_key(pv[np.nonzero(fv == levels[i + 1])[0].min()]) for i in range(len(gaps))])
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        up = f(_key_f32(mid)) >= levels[1:]
        hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
    thr = _key_f32(hi).astype(np.float32)
    unit = float(gaps.min())
    reps = np.rint(gaps / unit).astype(np.int64)
    if np.array_equal(reps * unit, gaps) and reps.sum() <= MAX_STAIRCASE_THRESHOLDS:
        # one node: y = lowest + unit * #(x >= t_i), each t_i repeated gap_i / unit times
        return _multithreshold(g, x, np.repeat(thr, reps), unit, float(levels[0]), base)
    # many thresholds: one node per distinct step size, summed (y = lowest + sum_k gap_k * #)
    y = None
    for k, gap in enumerate(np.unique(gaps)):
        t = thr[gaps == gap]
        bias = float(levels[0]) if k == 0 else 0.0
        term = _multithreshold(g, x, t, float(gap), bias, f"{base}_step{k}")
        y = term if y is None else g.node("Add", [y, term], f"{base}_sum{k}")
    return y


def _multithreshold(g: _Graph, x: str, thr: np.ndarray, scale: float, bias: float,
                    base: str) -> str:
    t_name = g.const(f"{base}_thresholds", np.asarray(thr, np.float32)[None, :])
    bits = max(1, int(np.ceil(np.log2(len(thr) + 1))))
    return g.node("MultiThreshold", [x, t_name], base, domain=QONNX_DOMAIN,
                  out_dtype=f"UINT{bits}", out_scale=scale, out_bias=bias)


def _weight_grid(q, wq: np.ndarray, layer: str, channel_axis: int | None
                 ) -> tuple[np.ndarray | float, int, bool, bool, bool]:
    """(scale, bits, signed, narrow, bipolar) such that Quant(wq) == wq exactly."""
    from hwflow.quant import biper_keras

    kind = _qname(q)
    if isinstance(q, biper_keras.BiPerWeight):
        if not q.binarize:
            raise UnsupportedOp(
                "BiPer weight quantizer in stage 1 (real-valued sin(w0*w) weights) is not a "
                "binary network; export the stage-2 model", node=layer)
        return 1.0, 1, True, False, True
    if isinstance(q, biper_keras.SignSTE):
        return 1.0, 1, True, False, True
    if kind == "binary":
        s = np.abs(wq)
        scale = s.reshape(-1) if s.size else 1.0
        if channel_axis is not None and np.ndim(s) > 1:
            red = tuple(i for i in range(s.ndim) if i != channel_axis % s.ndim)
            scale = s.max(axis=red)
        else:
            scale = float(s.max()) if s.size else 1.0
        return scale, 1, True, False, True
    if kind == "quantized_bits":
        if getattr(q, "use_stochastic_rounding", False):
            raise UnsupportedOp(f"{q}: stochastic rounding", node=layer)
        bits, integer, keep_neg = int(q.bits), int(np.asarray(q.integer)), bool(q.keep_negative)
        ub = bits - keep_neg
        if ub <= 0:
            return float(np.abs(wq).max() or 1.0), 1, True, False, True
        step = 2.0 ** (integer - ub)
        if isinstance(q.alpha, str):
            sc = np.asarray(q.scale, dtype=np.float64).reshape(-1) * step
            scale = sc if sc.size > 1 else float(sc[0])
        elif q.alpha is None:
            scale = step
        else:
            a = np.asarray(q.alpha, dtype=np.float64).reshape(-1) * step
            scale = a if a.size > 1 else float(a[0])
        return scale, bits, keep_neg, bool(q.symmetric) or isinstance(q.alpha, str), False
    if kind == "ternary":
        scale = float(np.abs(wq).max() or 1.0)
        if channel_axis is not None and wq.ndim > 1:
            red = tuple(i for i in range(wq.ndim) if i != channel_axis % wq.ndim)
            m = np.abs(wq).max(axis=red)
            scale = np.where(m > 0, m, 1.0)
        return scale, 2, True, True, False
    if kind == "quantized_po2":
        nz = np.abs(wq[wq != 0])
        if nz.size == 0:
            return 1.0, 2, True, False, False
        e = np.log2(nz)
        lo, hi = int(np.floor(e.min())), int(np.ceil(e.max()))
        return 2.0**lo, hi - lo + 2, True, False, False
    raise UnsupportedOp(f"weight quantizer {q} is not supported by the QONNX exporter", node=layer)


def _quantize_weight(q, w: np.ndarray) -> np.ndarray:
    """The tensor QKeras multiplies with (its own quantizer run on the variable)."""
    from hwflow.quant import keras_env

    tf, _ = keras_env()
    return np.asarray(q(tf.constant(w, dtype=tf.float32)), dtype=np.float32)


def _emit_weight(g: _Graph, q, wq: np.ndarray, onnx_w: np.ndarray,
                 onnx_channel_axis: int, base: str, layer: str, what: str) -> str:
    """Initializer with the quantized values (already in ONNX layout) behind an identity
    Quant/BipolarQuant; checks the identity holds exactly."""
    if q is None:
        raise MissingQuantization(f"{what} of layer has no quantizer (use QKeras layers)",
                                  node=layer)
    scale, bits, signed, narrow, bipolar = _weight_grid(q, wq, layer, channel_axis=-1)
    scale_arr = np.asarray(scale, dtype=np.float64)
    if scale_arr.ndim == 1 and scale_arr.size > 1:
        shape = [1] * onnx_w.ndim
        shape[onnx_channel_axis] = scale_arr.size
        scale_arr = scale_arr.reshape(shape)
    from qonnx.custom_op.general.intquant import max_int, min_int

    w64 = onnx_w.astype(np.float64)
    if bipolar:
        back = np.where(w64 >= 0, 1.0, -1.0) * scale_arr
    else:
        z = np.round(w64 / scale_arr)
        z = np.clip(z, min_int(signed, narrow, bits), max_int(signed, narrow, bits))
        back = z * scale_arr
    if not np.array_equal(back, w64):
        bad = int(np.argmax((back != w64).reshape(-1)))
        raise UnsupportedOp(
            f"{what} quantized by {q} is not exactly representable as a QONNX "
            f"{'BipolarQuant' if bipolar else 'Quant'} (first offending value "
            f"{w64.reshape(-1)[bad]!r})", node=layer)
    init = g.const(f"{base}_{what}", onnx_w)
    if bipolar:
        return g.bipolar(init, f"{base}_{what}_quant", scale_arr.astype(np.float32))
    return g.quant(init, f"{base}_{what}_quant", scale_arr.astype(np.float32), bits, signed,
                   narrow)


# ---------------------------------------------------------------------------------------
# layers


def _kernel_quantizer(layer, attr: str = "kernel"):
    q = getattr(layer, f"{attr}_quantizer_internal", None)
    if q is None and isinstance(getattr(layer, f"{attr}_quantizer", None), str):
        from qkeras.quantizers import get_quantizer

        q = get_quantizer(getattr(layer, f"{attr}_quantizer"))
    return q


def _same_pads(in_hw, k, s, d) -> list[int]:
    """TensorFlow's 'same' padding: the extra pixel goes after (bottom/right)."""
    before, after = [], []
    for n, kk, ss, dd in zip(in_hw, k, s, d):
        out = math.ceil(n / ss)
        total = max((out - 1) * ss + (kk - 1) * dd + 1 - n, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


def _activation(g: _Graph, act, x: _Tensor, base: str, layer: str) -> _Tensor:
    """A layer's ``activation=`` (a QKeras quantizer or a Keras function)."""
    if act is None:
        return x
    if hasattr(act, "__call__") and not hasattr(act, "get_config") and hasattr(act, "__name__"):
        fname = act.__name__
        if fname == "linear":
            return x
        if fname == "relu":
            return _Tensor(g.node("Relu", [x.name], base), x.keras_shape, x.perm, x.src_hwc)
        if fname == "softmax":
            _need_flat(g, x, base)
            return _Tensor(g.node("Softmax", [x.name], base, axis=x.rank - 1 if x.rank != 4
                                  else 1), x.keras_shape)
        raise UnsupportedOp(f"activation {fname!r} has no bit-exact export", node=layer)
    return _Tensor(_act_quant(g, act, x.name, base, layer), x.keras_shape, x.perm, x.src_hwc)


def _need_flat(g: _Graph, x: _Tensor, base: str) -> _Tensor:
    """Materialise a pending NCHW->NHWC flatten permutation: Reshape back to NCHW,
    Transpose to NHWC, Flatten (ops every backend has)."""
    if x.perm is None:
        return x
    h, w, c = x.src_hwc
    shp = g.fresh(f"{base}_nchw_shape")
    g.inits.append(numpy_helper.from_array(np.array([1, c, h, w], np.int64), shp))
    y = g.node("Reshape", [x.name, shp], f"{base}_nchw")
    y = g.node("Transpose", [y], f"{base}_nhwc", perm=[0, 2, 3, 1])
    x.name = g.node("Flatten", [y], f"{base}_flat_nhwc", axis=1)
    x.perm, x.src_hwc = None, None
    return x


def _conv_like(g: _Graph, layer, x: _Tensor, base: str, depthwise: bool) -> _Tensor:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedOp("only channels_last convolutions are supported", node=layer.name)
    if x.rank != 4:
        raise UnsupportedOp(f"convolution on a rank-{x.rank} tensor", node=layer.name)
    h, w, cin = x.keras_shape
    k = tuple(layer.kernel_size)
    s = tuple(layer.strides)
    d = tuple(layer.dilation_rate)
    if depthwise:
        kernel = layer.depthwise_kernel.numpy()
        q = _kernel_quantizer(layer, "depthwise")
        wq = _quantize_weight(q, kernel) if q is not None else kernel
        mult = kernel.shape[3]
        onnx_w = wq.transpose(2, 3, 0, 1).reshape(cin * mult, 1, k[0], k[1])
        cout, group = cin * mult, cin
    else:
        kernel = layer.kernel.numpy()
        q = _kernel_quantizer(layer)
        wq = _quantize_weight(q, kernel) if q is not None else kernel
        onnx_w = wq.transpose(3, 2, 0, 1)
        cout, group = kernel.shape[3], 1
        if getattr(layer, "groups", 1) != 1:
            raise UnsupportedOp("grouped convolution", node=layer.name)
    wname = _emit_weight(g, q, wq, onnx_w, 0, base, layer.name, "weight")
    ins = [x.name, wname]
    if layer.use_bias:
        b = layer.bias.numpy()
        bq_ = _kernel_quantizer(layer, "bias")
        bq = _quantize_weight(bq_, b) if bq_ is not None else b
        ins.append(_emit_weight(g, bq_, bq, bq, 0, base, layer.name, "bias"))
    pad = layer.padding.lower()
    if pad == "valid":
        pads = [0, 0, 0, 0]
        oh = (h - (k[0] - 1) * d[0] - 1) // s[0] + 1
        ow = (w - (k[1] - 1) * d[1] - 1) // s[1] + 1
    elif pad == "same":
        pads = _same_pads((h, w), k, s, d)
        oh, ow = math.ceil(h / s[0]), math.ceil(w / s[1])
    else:
        raise UnsupportedOp(f"padding {layer.padding!r}", node=layer.name)
    y = g.node("Conv", ins, base, kernel_shape=list(k), strides=list(s), dilations=list(d),
               pads=pads, group=group)
    out = _Tensor(y, (oh, ow, cout))
    return _activation(g, getattr(layer, "activation", None), out, f"{base}_act", layer.name)


def _dense(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    if x.rank != 2:
        raise UnsupportedOp(f"dense layer on a rank-{x.rank} tensor (flatten first)",
                            node=layer.name)
    kernel = layer.kernel.numpy()
    q = _kernel_quantizer(layer)
    wq = _quantize_weight(q, kernel) if q is not None else kernel
    onnx_w = wq
    if x.perm is not None:  # keras_flat = onnx_flat[:, perm]  =>  W_onnx[perm] = W
        onnx_w = np.empty_like(wq)
        onnx_w[x.perm] = wq
    wname = _emit_weight(g, q, wq, onnx_w, 1, base, layer.name, "weight")
    y = g.node("MatMul", [x.name, wname], f"{base}_matmul")
    if layer.use_bias:
        b = layer.bias.numpy()
        bq_ = _kernel_quantizer(layer, "bias")
        bq = _quantize_weight(bq_, b) if bq_ is not None else b
        y = g.node("Add", [y, _emit_weight(g, bq_, bq, bq, 0, base, layer.name, "bias")], base)
    out = _Tensor(y, (int(kernel.shape[1]),))
    return _activation(g, getattr(layer, "activation", None), out, f"{base}_act", layer.name)


def _pool(g: _Graph, layer, x: _Tensor, base: str, op: str) -> _Tensor:
    if x.rank != 4:
        raise UnsupportedOp(f"2-D pooling on a rank-{x.rank} tensor", node=layer.name)
    h, w, c = x.keras_shape
    k, s = tuple(layer.pool_size), tuple(layer.strides)
    if layer.padding.lower() == "same":
        pads = _same_pads((h, w), k, s, (1, 1))
        oh, ow = math.ceil(h / s[0]), math.ceil(w / s[1])
    else:
        pads = [0, 0, 0, 0]
        oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    attrs = dict(kernel_shape=list(k), strides=list(s), pads=pads)
    if op == "AveragePool":
        attrs["count_include_pad"] = 0
    return _Tensor(g.node(op, [x.name], base, **attrs), (oh, ow, c))


def _average_quantizer(g: _Graph, layer, x: _Tensor, area: int, base: str) -> _Tensor:
    """QKeras' quantized averaging: mean * area * quantizer(1/area), then ``activation``
    (mirrors qkeras/qpooling.py operation by operation; exact when area is a power of 2)."""
    q = getattr(layer, "average_quantizer_internal", None)
    if q is not None:
        from hwflow.quant import keras_env

        tf, _ = keras_env()
        factor = float(np.asarray(q(tf.constant(1.0 / area, tf.float32)), np.float32))
        y = g.node("Mul", [x.name, g.const(f"{base}_area", float(area))], f"{base}_sum")
        x = _Tensor(g.node("Mul", [y, g.const(f"{base}_factor", factor)], f"{base}_qavg"),
                    x.keras_shape)
    return _activation(g, getattr(layer, "activation", None), x, f"{base}_act", layer.name)


def _batchnorm(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise UnsupportedOp("batch normalisation over several axes", node=layer.name)
        axis = axis[0]
    if axis not in (-1, x.rank - 1):
        raise UnsupportedOp("batch normalisation must be over the channel axis", node=layer.name)
    n = x.keras_shape[-1]
    gamma = layer.gamma.numpy() if layer.scale else np.ones(n, np.float32)
    beta = layer.beta.numpy() if layer.center else np.zeros(n, np.float32)
    mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    params = [gamma, beta, mean, var]
    if x.perm is not None:  # per-feature parameters in ONNX order
        params = [_to_onnx_order(p, x.perm) for p in params]
    names = [g.const(f"{base}_{k}", p) for k, p in zip(("scale", "bias", "mean", "var"), params)]
    y = g.node("BatchNormalization", [x.name] + names, base, epsilon=float(layer.epsilon))
    return _Tensor(y, x.keras_shape, x.perm, x.src_hwc)


def _to_onnx_order(p: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = np.empty_like(p)
    out[perm] = p  # keras feature i lives at onnx position perm[i]
    return out


def _flatten(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    if x.rank == 2:
        return x
    n = int(np.prod(x.keras_shape))
    y = g.node("Flatten", [x.name], base, axis=1)
    if x.rank == 4:
        h, w, c = x.keras_shape
        # keras flat index (i, j, ch) -> onnx flat index (ch, i, j)
        perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        if c == 1 or h * w == 1:
            return _Tensor(y, (n,))
        return _Tensor(y, (n,), perm, (h, w, c))
    return _Tensor(y, (n,))


def _reshape(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    target = tuple(int(v) for v in layer.target_shape)
    if len(target) == 1:
        return _flatten(g, layer, x, base)
    if x.rank == 2 and len(target) == 3:
        x = _need_flat(g, x, base)
        shp = g.fresh(f"{base}_shape")
        g.inits.append(numpy_helper.from_array(np.array((1,) + target, np.int64), shp))
        y = g.node("Reshape", [x.name, shp], f"{base}_nhwc")
        return _Tensor(g.node("Transpose", [y], base, perm=[0, 3, 1, 2]), target)
    raise UnsupportedOp(f"reshape {x.keras_shape} -> {target}", node=layer.name)


_BIPOLAR_PRESERVING = {"MaxPooling2D", "Flatten", "Reshape", "Dropout", "InputLayer"}
_SKIP = {"InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "ActivityRegularization"}


def _convert_layer(g: _Graph, layer, x: _Tensor) -> _Tensor:
    from hwflow.quant import biper_keras

    cls = type(layer).__name__
    base = layer.name
    if cls in _SKIP:
        return x
    if cls in ("QDense", "Dense"):
        if cls == "Dense":
            raise MissingQuantization("float Dense layer (use QDense)", node=layer.name)
        return _dense(g, layer, x, base)
    if cls in ("QConv2D", "Conv2D"):
        if cls == "Conv2D":
            raise MissingQuantization("float Conv2D layer (use QConv2D)", node=layer.name)
        return _conv_like(g, layer, x, base, depthwise=False)
    if cls == "QDepthwiseConv2D":
        return _conv_like(g, layer, x, base, depthwise=True)
    if cls == "QActivation":
        return _Tensor(_act_quant(g, layer.quantizer, x.name, base, layer.name), x.keras_shape,
                       x.perm, x.src_hwc)
    if cls == "Activation":
        return _activation(g, layer.activation, x, base, layer.name)
    if cls == "ReLU" and layer.max_value is None and not layer.negative_slope and not layer.threshold:
        return _Tensor(g.node("Relu", [x.name], base), x.keras_shape, x.perm, x.src_hwc)
    if cls == "BatchNormalization":
        return _batchnorm(g, layer, x, base)
    if cls == "MaxPooling2D":
        return _pool(g, layer, x, base, "MaxPool")
    if cls == "AveragePooling2D":
        return _pool(g, layer, x, base, "AveragePool")
    if cls in ("GlobalAveragePooling2D", "QGlobalAveragePooling2D"):
        if getattr(layer, "keepdims", False) or x.rank != 4:
            raise UnsupportedOp("GlobalAveragePooling2D(keepdims=True) / not on an image",
                                node=layer.name)
        y = g.node("GlobalAveragePool", [x.name], f"{base}_gap")
        out = _Tensor(g.node("Flatten", [y], base, axis=1), (x.keras_shape[-1],))
        if cls.startswith("Q"):
            out = _average_quantizer(g, layer, out, x.keras_shape[0] * x.keras_shape[1], base)
        return out
    if cls == "QAveragePooling2D":
        out = _pool(g, layer, x, f"{base}_avg", "AveragePool")
        return _average_quantizer(g, layer, out, int(np.prod(layer.pool_size)), base)
    if cls == "Flatten":
        return _flatten(g, layer, x, base)
    if cls == "Reshape":
        return _reshape(g, layer, x, base)
    if isinstance(layer, biper_keras.BinaryScale):
        raise UnsupportedOp("BinaryScale must be followed by a binary activation (it is folded "
                            "into that activation's threshold)", node=layer.name)
    raise UnsupportedOp(f"Keras layer type {cls} is not supported by the QONNX exporter",
                        node=layer.name)


# ---------------------------------------------------------------------------------------
# model


def _layer_sequence(model) -> list:
    """Layers of a single-input single-output chain, in order; typed error otherwise."""
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    if type(model).__name__ == "Sequential":
        return layers
    for l in layers:
        nodes = [n for n in l._inbound_nodes if n in _model_nodes(model)]
        if len(nodes) != 1:
            raise UnsupportedOp("layer used more than once (shared layers)", node=l.name)
        inbound = nodes[0].inbound_layers
        if isinstance(inbound, (list, tuple)) and len(inbound) != 1:
            raise UnsupportedOp("multi-input layers (Add, Concatenate, ...) are not supported",
                                node=l.name)
    # in a chain every layer feeds exactly the next one
    for a, b in zip(layers, layers[1:]):
        inbound = b._inbound_nodes[0].inbound_layers
        inbound = inbound[0] if isinstance(inbound, (list, tuple)) else inbound
        if inbound is not a:
            raise UnsupportedOp("only chain-structured (sequential) graphs are supported",
                                node=b.name)
    return layers


def _model_nodes(model) -> list:
    nodes = []
    for l in model.layers:
        nodes.extend(l._inbound_nodes)
    return nodes


def _fold_binary_scale(g: _Graph, layers: list, i: int, x: _Tensor,
                       layer_inputs: dict[str, str]) -> tuple[_Tensor, int]:
    """BinaryScale(alpha > 0, beta) followed by a sign activation: sign(alpha*y + beta) is a
    per-channel integer threshold on the integer accumulator y (exact; see biper_keras)."""
    from hwflow.quant import biper_keras

    layer = layers[i]
    nxt = layers[i + 1] if i + 1 < len(layers) else None
    q = getattr(nxt, "quantizer", None) if nxt is not None else None
    if not isinstance(q, (biper_keras.ApproxSign, biper_keras.SignSTE)) and (
        _qname(q) != "binary" or q.alpha is not None or q.use_01
    ):
        raise UnsupportedOp("BinaryScale must be followed by a binary activation",
                            node=layer.name)
    bound = biper_keras.accumulator_bound(layers[i - 1]) if i > 0 else None
    if bound is None or not g.is_bipolar(layer_inputs.get(layers[i - 1].name)):
        raise UnsupportedOp("BinaryScale must follow a binary-weight layer with binary inputs",
                            node=layer.name)
    thr = layer.integer_thresholds(bound)  # y >= thr  <=>  alpha*y + beta >= 0 (float32)
    thr_onnx = thr
    shape = [1, thr.size, 1, 1] if x.rank == 4 else [1, thr.size]
    if x.perm is not None:
        raise UnsupportedOp("BinaryScale after Flatten", node=layer.name)
    t = g.const(f"{layer.name}_threshold", (-thr_onnx.astype(np.float32)).reshape(shape))
    shifted = g.node("Add", [x.name, t], layer.name)
    y = g.bipolar(shifted, nxt.name)
    return _Tensor(y, x.keras_shape), i + 2


def export_keras_model(model, out_path: str | Path | None = None, *, name: str | None = None
                       ) -> onnx.ModelProto:
    """Convert an in-memory QKeras model to a QONNX ``ModelProto`` (saved if ``out_path``)."""
    from hwflow.quant import biper_keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedOp("only single-input single-output models are supported",
                            node=model.name)
    g = _Graph()
    in_shape = tuple(int(v) for v in model.inputs[0].shape[1:])
    if any(v is None for v in in_shape):
        raise UnsupportedOp("input shape must be fully known", node=model.name)
    in_name = g.fresh("global_in")
    onnx_in = (1,) + ((in_shape[2], in_shape[0], in_shape[1]) if len(in_shape) == 3 else in_shape)
    x = _Tensor(in_name, in_shape)
    layers = _layer_sequence(model)
    layer_inputs: dict[str, str] = {}
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, biper_keras.BinaryScale):
            x, i = _fold_binary_scale(g, layers, i, x, layer_inputs)
            continue
        layer_inputs[layer.name] = x.name
        y = _convert_layer(g, layer, x)
        if g.is_bipolar(x.name) and type(layer).__name__ in _BIPOLAR_PRESERVING:
            g.bipolar_derived.add(y.name)
        x = y
        i += 1
    x = _need_flat(g, x, "output")
    out_shape = (1,) + ((x.keras_shape[2], x.keras_shape[0], x.keras_shape[1])
                        if x.rank == 4 else x.keras_shape)
    out_name = x.name
    if out_name == in_name:
        raise UnsupportedOp("model has no layers to export", node=model.name)
    graph = helper.make_graph(
        g.nodes, name or model.name,
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, list(onnx_in))],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(out_shape))],
        initializer=g.inits,
    )
    domains = {n.domain for n in g.nodes}
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(QONNX_DOMAIN, 1)]
    if HWFLOW_DOMAIN in domains:
        opsets.append(helper.make_opsetid(HWFLOW_DOMAIN, 1))
    m = helper.make_model(graph, opset_imports=opsets, producer_name="hwflow.frontends.qkeras")
    m.ir_version = 8
    for tname, dt in g.datatypes.items():
        _annotate(m, tname, dt)
    m = _infer_shapes(m)
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(m, str(out_path))
    return m


def _annotate(m: onnx.ModelProto, tensor: str, datatype: str) -> None:
    qa = onnx.TensorAnnotation()
    qa.tensor_name = tensor
    kv = qa.quant_parameter_tensor_names.add()
    kv.key, kv.value = "finn_datatype", datatype
    m.graph.quantization_annotation.append(qa)


def _infer_shapes(m: onnx.ModelProto) -> onnx.ModelProto:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    return ModelWrapper(m).transform(InferShapes()).model


def _input_is_quantized(m: onnx.ModelProto) -> bool:
    name = m.graph.input[0].name
    consumers = [n for n in m.graph.node if name in n.input]
    return bool(consumers) and all(n.op_type in ("Quant", "BipolarQuant") for n in consumers)


def check_export(model, onnx_path, n: int = 1000, seed: int = 0) -> dict:
    """The Keras forward pass vs the IR's bit-exact ReferenceExecutor on the IR's stimulus
    (inputs on the graph's input grid, corners first). Exact (0 mismatches) when the graph
    input is quantized; a model whose first layer multiplies float inputs is computed in
    float32 by Keras, so there a float32 tolerance applies (and is reported).
    Raises MismatchError naming the first differing sample."""
    from hwflow.errors import MismatchError
    from hwflow.ir import ReferenceExecutor, load_model, make_stimulus

    m = load_model(str(onnx_path))
    exact = _input_is_quantized(m.model if hasattr(m, "model") else m)
    x_onnx = np.asarray(make_stimulus(m, n=n, seed=seed, corners=True), np.float32)
    x_keras = onnx_output_to_keras(x_onnx)  # NCHW -> NHWC (the same permutation)
    yk = np.asarray(model(x_keras), np.float64)
    yo = onnx_output_to_keras(np.asarray(ReferenceExecutor(m).run(x_onnx), np.float64))
    tol = 0.0 if exact else 1e-5 * max(1.0, float(np.abs(yk).max()))
    bad = np.argwhere(np.abs(yk - yo) > tol)
    if len(bad):
        s = tuple(bad[0])
        raise MismatchError(
            f"exported QONNX graph differs from the QKeras model on {len(bad)} values; first: "
            f"sample {s[0]}, index {s[1:]}: keras {yk[s]!r} vs reference {yo[s]!r}")
    return {"samples": int(len(x_onnx)), "mismatches": 0, "exact": exact,
            "max_abs_diff": float(np.abs(yk - yo).max()) if yk.size else 0.0,
            "checked_with": "hwflow.ir.ReferenceExecutor"}


def export_file(path: str | Path, out_path: str | Path, weights: str | Path | None = None,
                check_samples: int = 1000, **_ignored) -> Path:
    """``hwflow export``: a Keras model file -> QONNX file, checked against the Keras model
    on ``check_samples`` stimulus samples + corners (the file is removed on a mismatch)."""
    from hwflow.errors import MismatchError

    model = load_keras_model(path, weights=weights)
    export_keras_model(model, out_path)
    if check_samples:
        try:
            check_export(model, out_path, n=check_samples + 5)
        except MismatchError:
            Path(out_path).unlink(missing_ok=True)
            raise
    return Path(out_path)


def keras_input_to_onnx(x: np.ndarray) -> np.ndarray:
    """Keras (NHWC) input batch -> the exported graph's (NCHW) layout."""
    x = np.asarray(x)
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def onnx_output_to_keras(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y


def load_trained(trained):
    """A Keras model from ``trained``: a model object, a model file, or a run directory
    written by ``hwflow train`` (``model.keras`` inside)."""
    if trained is None or hasattr(trained, "layers"):
        return trained
    p = Path(trained)
    if p.is_dir():
        for cand in ("model.keras", "model.h5", "model.json"):
            if (p / cand).is_file():
                return load_keras_model(p / cand)
        raise InvalidModelFile("no model.keras/.h5/.json in the run directory", path=str(p))
    return load_keras_model(p)


def export_zoo_model(name: str, out_path: str | Path, seed: int = 0, trained=None) -> Path:
    """Build (or load ``trained``) zoo model ``name`` and export it to QONNX."""
    from hwflow import zoo

    model = load_trained(trained)
    if model is None:
        model = zoo.build_model(name, "qkeras", seed=seed)
    export_keras_model(model, out_path, name=name)
    return Path(out_path)
