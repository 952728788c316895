"""BiPer (CVPR 2024, "BiPer: Binary Neural Networks using a Periodic Function") for QKeras.

Faithful to the paper and its public code:

- :class:`BiPerWeight` -- weight quantizer. Stage 2 (``binarize=True``): forward
  ``b = sign(sin(w0 * w))`` with ``sign(0) = +1``, backward ``db/dw = w0 * cos(w0 * w)``
  (the derivative of the sine; straight-through on the sign). Stage 1
  (``binarize=False``): the real-valued ``sin(w0 * w)`` is the weight. ``w0`` is a fixed
  hyper-parameter (20 in the paper's scripts), not learned.
- :class:`ApproxSign` -- activation quantizer: forward ``sign`` (0 -> +1), backward the
  Bi-Real "ApproxSign" gradient ``max(0, 2 - 2|x|)``.
- :class:`BinaryScale` -- the learnable per-output-channel scale (and shift) on a binary
  layer's output, ``alpha_c * y + beta_c`` with ``alpha_c = exp(log_alpha_c) > 0``. When a
  sign activation follows, it becomes an integer threshold at export
  (:meth:`BinaryScale.integer_thresholds`).
- :class:`BiPerActivation` -- the "binary periodic" activation quantizer, forward the
  square wave ``sign(sin(2 pi x / P))`` with ``P = 2**log2_period`` and the exact convention
  of docs/INTERFACES.md section 2 (``+1`` iff ``(x mod P) < P/2``), backward
  ``(2 pi / P) cos(2 pi x / P)``. With the input on a grid of step ``2**-f``, the period is
  ``2**(log2_period + f)`` steps, a power of two, so hardware tests one bit of the integer.
- :class:`SignSTE` -- the plain BNN baseline (sign forward, clipped straight-through
  backward), used by the benchmark.

All are registered as Keras serialisables (package ``hwflow``) and returned by
:func:`custom_objects`, so QKeras models that use them save and load.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from hwflow.quant import keras_env

tf, keras = keras_env()
from qkeras.quantizers import BaseQuantizer  # noqa: E402

DEFAULT_W0 = 20.0

# QKeras layers serialise their quantizers through keras.constraints.serialize, which warns
# for every non-Constraint object (QKeras' own quantizers included); harmless here
warnings.filterwarnings("ignore", message=r"The `keras.constraints.serialize\(\)` API",
                        category=UserWarning)


def _sign(x):
    """sign with sign(0) = +1 (QKeras binary / QONNX BipolarQuant convention)."""
    return tf.where(x >= 0, tf.ones_like(x), -tf.ones_like(x))


@keras.utils.register_keras_serializable(package="hwflow")
class BiPerWeight(BaseQuantizer):
    """BiPer weight quantizer; use as ``kernel_quantizer=BiPerWeight(w0=20)``."""

    def __init__(self, w0: float = DEFAULT_W0, binarize: bool = True):
        super().__init__()
        self.w0 = float(w0)
        self.binarize = bool(binarize)
        self.bits = 1 if binarize else 32

    def __call__(self, w):
        w = tf.convert_to_tensor(w, dtype=tf.float32)
        if not self.binarize:
            return tf.sin(self.w0 * w)  # stage 1: real-valued periodic weights
        w0 = self.w0

        @tf.custom_gradient
        def _biper(v):
            def grad(dy):
                return dy * w0 * tf.cos(w0 * v)

            return _sign(tf.sin(w0 * v)), grad

        return _biper(w)

    def max(self):
        return 1.0

    def min(self):
        return -1.0

    def __str__(self):
        return f"BiPerWeight(w0={self.w0:g}, binarize={int(self.binarize)})"

    def get_config(self):
        return {"w0": self.w0, "binarize": self.binarize}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.utils.register_keras_serializable(package="hwflow")
class ApproxSign(BaseQuantizer):
    """sign forward (0 -> +1), Bi-Real ApproxSign gradient ``max(0, 2 - 2|x|)``."""

    def __init__(self):
        super().__init__()
        self.bits = 1

    def __call__(self, x):
        @tf.custom_gradient
        def _approx_sign(v):
            def grad(dy):
                return dy * tf.maximum(0.0, 2.0 - 2.0 * tf.abs(v))

            return _sign(v), grad

        return _approx_sign(tf.convert_to_tensor(x, dtype=tf.float32))

    def max(self):
        return 1.0

    def min(self):
        return -1.0

    def __str__(self):
        return "ApproxSign()"

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.utils.register_keras_serializable(package="hwflow")
class SignSTE(BaseQuantizer):
    """Plain BNN sign: forward sign (0 -> +1), backward ``dy * 1{|x| <= clip}`` (the
    straight-through estimator of BinaryConnect / XNOR-Net; ``clip=None`` for identity)."""

    def __init__(self, clip: float | None = 1.0):
        super().__init__()
        self.clip = None if clip is None else float(clip)
        self.bits = 1

    def __call__(self, x):
        clip = self.clip

        @tf.custom_gradient
        def _sign_ste(v):
            def grad(dy):
                if clip is None:
                    return dy
                return dy * tf.cast(tf.abs(v) <= clip, dy.dtype)

            return _sign(v), grad

        return _sign_ste(tf.convert_to_tensor(x, dtype=tf.float32))

    def max(self):
        return 1.0

    def min(self):
        return -1.0

    def __str__(self):
        return f"SignSTE(clip={self.clip})"

    def get_config(self):
        return {"clip": self.clip}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.utils.register_keras_serializable(package="hwflow")
class BiPerActivation(BaseQuantizer):
    """Binary periodic activation: +1 iff ``(x mod 2**log2_period) < 2**(log2_period-1)``.

    Backward: ``(2 pi / P) cos(2 pi x / P)``, the derivative of ``sin(2 pi x / P)``.
    The forward value is computed as ``floor(x * 2**(1-k)) mod 2`` which is exact in
    float32 for every input on a power-of-two grid.
    """

    def __init__(self, log2_period: int = 0):
        super().__init__()
        self.log2_period = int(log2_period)
        self.bits = 1

    @property
    def period(self) -> float:
        return 2.0**self.log2_period

    def __call__(self, x):
        k = self.log2_period
        omega = 2.0 * math.pi / 2.0**k

        @tf.custom_gradient
        def _biper_act(v):
            def grad(dy):
                return dy * omega * tf.cos(omega * v)

            half_periods = tf.floor(v * (2.0 ** (1 - k)))
            odd = tf.equal(tf.math.floormod(half_periods, 2.0), 1.0)
            return tf.where(odd, -tf.ones_like(v), tf.ones_like(v)), grad

        return _biper_act(tf.convert_to_tensor(x, dtype=tf.float32))

    def max(self):
        return 1.0

    def min(self):
        return -1.0

    def __str__(self):
        return f"BiPerActivation(log2_period={self.log2_period})"

    def get_config(self):
        return {"log2_period": self.log2_period}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.utils.register_keras_serializable(package="hwflow")
class BinaryScale(keras.layers.Layer):
    """Learnable per-channel ``alpha * y + beta`` (alpha = exp(log_alpha) > 0) on the
    output of a binary layer; folded into the next sign activation's threshold at export."""

    def __init__(self, center: bool = True, alpha_init: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.center = bool(center)
        # 1/sqrt(fan-in) brings a binary accumulator (|y| <= fan-in) to O(1), where the
        # sign surrogates (ApproxSign, clipped STE) have non-zero gradient
        self.alpha_init = float(alpha_init)

    def build(self, input_shape):
        c = int(input_shape[-1])
        self.log_alpha = self.add_weight(
            name="log_alpha", shape=(c,),
            initializer=keras.initializers.Constant(math.log(self.alpha_init)))
        self.beta = (self.add_weight(name="beta", shape=(c,), initializer="zeros")
                     if self.center else None)
        super().build(input_shape)

    def call(self, x):
        y = x * tf.exp(self.log_alpha)
        return y + self.beta if self.center else y

    def integer_thresholds(self, bound: int) -> np.ndarray:
        """Per channel the smallest integer t in [-bound, bound + 1] with
        ``self(y) >= 0  <=>  y >= t`` for every integer y in [-bound, bound], evaluated with
        this layer's own float32 computation (so the fold is bit-exact)."""
        ys = np.arange(-bound, bound + 1, dtype=np.float32)
        c = int(self.log_alpha.shape[0])
        vals = np.asarray(self(tf.constant(np.repeat(ys[:, None], c, axis=1))))
        pos = vals >= 0
        if np.any(pos[:-1] & ~pos[1:]):
            raise ValueError(f"{self.name}: sign of alpha*y+beta is not monotone in y")
        first = np.where(pos.any(0), pos.argmax(0), len(ys))
        return (first - bound).astype(np.int64)

    def get_config(self):
        return {**super().get_config(), "center": self.center, "alpha_init": self.alpha_init}


def accumulator_bound(layer) -> int | None:
    """|y| bound of a bias-free dense/conv layer with binary (+-1) weights, assuming binary
    inputs (the exporter checks them): the fan-in. None if the layer is not of that kind."""
    q = getattr(layer, "kernel_quantizer_internal", None)
    binary = isinstance(q, (SignSTE,)) or (isinstance(q, BiPerWeight) and q.binarize)
    if not binary or getattr(layer, "use_bias", True):
        return None
    k = getattr(layer, "kernel", None)
    if k is None:
        return None
    return int(np.prod(k.shape[:-1]))


def set_biper_stage(model, stage: int) -> int:
    """Switch every BiPerWeight of ``model`` to stage 1 (sin) or 2 (binary); returns the
    number of quantizers switched. Recompile the model afterwards (the training function
    captured the old forward pass)."""
    if stage not in (1, 2):
        raise ValueError(f"BiPer stage must be 1 or 2, not {stage!r}")
    n = 0
    for layer in model.layers:
        for attr in ("kernel_quantizer_internal", "depthwise_quantizer_internal"):
            q = getattr(layer, attr, None)
            if isinstance(q, BiPerWeight):
                q.binarize = stage == 2
                q.bits = 1 if stage == 2 else 32
                n += 1
                # keep the layer's serialised config in step with the quantizer
                name = attr.replace("_internal", "")
                if hasattr(layer, name) and isinstance(getattr(layer, name), BiPerWeight):
                    setattr(layer, name, q)
    return n


def _register_plain_names() -> None:
    """QKeras deserialises quantizers by their plain class name (``get_quantizer`` looks in
    Keras' global custom objects), so register them under those names too: with this module
    imported, ``qkeras.utils.load_qmodel`` and ``keras.models.load_model`` find them."""
    objs = keras.utils.get_custom_objects()
    for cls in (BiPerWeight, ApproxSign, SignSTE, BiPerActivation, BinaryScale):
        objs.setdefault(cls.__name__, cls)


def custom_objects() -> dict:
    return {
        "BiPerWeight": BiPerWeight,
        "ApproxSign": ApproxSign,
        "SignSTE": SignSTE,
        "BiPerActivation": BiPerActivation,
        "BinaryScale": BinaryScale,
        "hwflow>BiPerWeight": BiPerWeight,
        "hwflow>ApproxSign": ApproxSign,
        "hwflow>SignSTE": SignSTE,
        "hwflow>BiPerActivation": BiPerActivation,
        "hwflow>BinaryScale": BinaryScale,
    }


_register_plain_names()
