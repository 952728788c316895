"""BiPer for Brevitas / PyTorch ("BiPer: Binary Neural Networks using a Periodic Function",
Vargas et al., CVPR 2024), and hwflow's periodic BiPer activation.

What is here, and how each piece exports to QONNX:

- :class:`BiPerWeightQuant` -- a Brevitas weight quantizer (``weight_quant=`` of
  ``QuantConv2d``/``QuantLinear``). Forward ``b = sign(sin(w0 * w))`` with ``sign(0) = +1``;
  backward through the sine, ``db/dw = w0 * cos(w0 * w)`` (identity straight-through on the
  sign), ``w0`` a fixed hyper-parameter (default 20, as the paper's scripts), not learned.
  Two-stage training (:func:`set_biper_stage`): stage 1 uses the real-valued ``sin(w0 * w)``
  as the weight (with binary activations), stage 2 starts from stage 1 and binarizes.
  Export: QONNX ``BipolarQuant`` on the weight; :func:`binarized_weights_for_export`
  temporarily replaces the latent weights by ``b`` so that ``BipolarQuant(b) == b``.
- :class:`ApproxSignActQuant` -- Brevitas binary activation quantizer: forward
  ``sign(x)`` (0 -> +1, as QONNX ``BipolarQuant``), backward Bi-Real's ApproxSign
  ``max(0, 2 - 2|x|)``. Export: ``BipolarQuant``.
- :class:`BinaryScale` -- the binary layer's learnable per-output-channel scale
  ``alpha * s + beta`` (alpha > 0) followed by the binary activation; folded at export into
  per-channel integer thresholds on the accumulator (``Add(-t)`` then ``BipolarQuant``),
  computed with the module's own float32 arithmetic so the fold is exact.
- :class:`BiPerAct` -- hwflow's periodic binary activation (docs/INTERFACES.md section 2):
  ``y = +1 if (x mod P) < P/2 else -1``, ``P = 2**log2_period`` in real units of ``x``,
  backward ``(2 pi / P) cos(2 pi x / P)``; exported as the custom op ``BiPer`` (domain
  ``hwflow.ir.custom_op``) with attribute ``log2_period``; output annotated ``BIPOLAR``.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
from brevitas.core.quant import BinaryQuant
from brevitas.quant.base import SignedBinaryClampedConst
from brevitas.quant.solver import ActQuantSolver, WeightQuantSolver
from torch import Tensor, nn

from hwflow.errors import ConfigError, ModelError

W0_DEFAULT = 20.0
BIPER_DOMAIN = "hwflow.ir.custom_op"


# ----------------------------------------------------------------------------- functions
def _sign01(x: Tensor) -> Tensor:
    """Two-valued sign with sign(0) = +1 (QONNX ``BipolarQuant``, Brevitas ``binary_sign``)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class BiPerSignFn(torch.autograd.Function):
    """``sign(sin(w0 * w))`` forward, ``w0 * cos(w0 * w)`` backward."""

    @staticmethod
    def forward(ctx, w: Tensor, w0: float) -> Tensor:
        ctx.save_for_backward(w)
        ctx.w0 = w0
        return _sign01(torch.sin(w0 * w))

    @staticmethod
    def backward(ctx, grad: Tensor):
        (w,) = ctx.saved_tensors
        return grad * ctx.w0 * torch.cos(ctx.w0 * w), None


class ApproxSignFn(torch.autograd.Function):
    """``sign(x)`` forward (0 -> +1), Bi-Real ApproxSign ``max(0, 2 - 2|x|)`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _sign01(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        return grad * torch.clamp(2.0 - 2.0 * x.abs(), min=0.0)


class PeriodicSquareFn(torch.autograd.Function):
    """hwflow BiPer activation: +1 where ``(x mod P) < P/2``, else -1, ``P = 2**log2_period``;
    backward ``(2 pi / P) cos(2 pi x / P)``; ONNX: the custom op ``BiPer``."""

    @staticmethod
    def forward(ctx, x: Tensor, log2_period: int) -> Tensor:
        period = float(2.0**log2_period)
        ctx.save_for_backward(x)
        ctx.period = period
        # remainder by a power of two is exact in float for values on a fixed-point grid
        r = torch.remainder(x, period)
        return torch.where(r < period / 2, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad: Tensor):
        (x,) = ctx.saved_tensors
        w = 2.0 * math.pi / ctx.period
        return grad * w * torch.cos(w * x), None

    @staticmethod
    def symbolic(g, x, log2_period: int):
        out = g.op(f"{BIPER_DOMAIN}::BiPer", x, log2_period_i=int(log2_period))
        out.setType(x.type())
        return out


def biper_sign(w: Tensor, w0: float = W0_DEFAULT) -> Tensor:
    return BiPerSignFn.apply(w, w0)


def approx_sign(x: Tensor) -> Tensor:
    return ApproxSignFn.apply(x)


def periodic_square(x: Tensor, log2_period: int) -> Tensor:
    return PeriodicSquareFn.apply(x, int(log2_period))


# ------------------------------------------------------------------ Brevitas tensor quants
class BiPerBinaryQuant(BinaryQuant):
    """Brevitas ``tensor_quant`` of :class:`BiPerWeightQuant`.

    ``stage`` 2 (default): ``sign(sin(w0 w)) * scale``; stage 1: the real ``sin(w0 w)``
    (scale ignored: the paper's stage 1 trains with real-valued periodic weights).
    """

    def __init__(self, scaling_impl: nn.Module, w0: float = W0_DEFAULT, biper_stage: int = 2):
        super().__init__(scaling_impl, signed=True)
        self.w0 = float(w0)
        self.stage = int(biper_stage)

    def forward(self, x: Tensor):
        scale = self.scaling_impl(x)
        if self.stage == 1:
            y = torch.sin(self.w0 * x)
        else:
            y = biper_sign(x, self.w0) * scale
        return y, scale, self.zero_point(), self.bit_width()


class ApproxSignBinaryQuant(BinaryQuant):
    """Brevitas ``tensor_quant`` of :class:`ApproxSignActQuant`."""

    def __init__(self, scaling_impl: nn.Module):
        super().__init__(scaling_impl, signed=True)

    def forward(self, x: Tensor):
        scale = self.scaling_impl(x)
        return approx_sign(x) * scale, scale, self.zero_point(), self.bit_width()


class BiPerWeightQuant(SignedBinaryClampedConst, WeightQuantSolver):
    """Binary BiPer weight quantizer, scale 1 (the per-channel scale lives on the layer's
    output, :class:`BinaryScale`). Subclass to change ``w0``::

        class BiPer30(BiPerWeightQuant):
            w0 = 30.0
    """

    tensor_quant = BiPerBinaryQuant
    scaling_const = 1.0
    w0 = W0_DEFAULT
    biper_stage = 2


class ApproxSignActQuant(SignedBinaryClampedConst, ActQuantSolver):
    """Binary activation quantizer (values +-1) with the ApproxSign surrogate gradient."""

    tensor_quant = ApproxSignBinaryQuant
    min_val = -1.0
    max_val = 1.0


def biper_weight_quant(w0: float = W0_DEFAULT):
    """A :class:`BiPerWeightQuant` with another ``w0``."""
    if not (isinstance(w0, (int, float)) and w0 > 0):
        raise ConfigError(f"BiPer w0 must be a positive number, got {w0!r}")
    return type(f"BiPerWeightQuant_w0_{w0:g}".replace(".", "p"), (BiPerWeightQuant,), {"w0": float(w0)})


# ------------------------------------------------------------------------ model helpers
def biper_quants(model: nn.Module) -> Iterator[tuple[nn.Module, BiPerBinaryQuant]]:
    """(layer, its BiPer tensor_quant) for every layer of ``model`` with BiPer weights."""
    for layer in model.modules():
        proxy = getattr(layer, "weight_quant", None)
        tq = getattr(proxy, "tensor_quant", None)
        if isinstance(tq, BiPerBinaryQuant):
            yield layer, tq


def set_biper_stage(model: nn.Module, stage: int) -> int:
    """Switch every BiPer weight quantizer of ``model`` to stage 1 or 2; returns how many."""
    if stage not in (1, 2):
        raise ConfigError(f"BiPer stage must be 1 or 2, got {stage!r}")
    n = 0
    for _, tq in biper_quants(model):
        tq.stage = stage
        n += 1
    return n


class binarized_weights_for_export:
    """Context manager: replace each BiPer layer's latent weight ``w`` by its binary value
    ``b = sign(sin(w0 w))`` (restored on exit). Brevitas exports a binary weight as
    ``BipolarQuant(weight_initializer)``, and ``BipolarQuant(b) == b`` exactly, so the graph
    computes the BiPer weights without having to know about the sine."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.saved: list[tuple[nn.Parameter, Tensor]] = []

    def __enter__(self):
        for layer, tq in biper_quants(self.model):
            if tq.stage != 2:
                raise ModelError(
                    "a BiPer stage-1 model has real-valued (sin) weights and cannot be exported "
                    "as a binary network; train stage 2 first", node=type(layer).__name__)
            w = layer.weight
            self.saved.append((w, w.data.clone()))
            with torch.no_grad():
                w.data.copy_(_sign01(torch.sin(tq.w0 * w.data)))
        return self.model

    def __exit__(self, *exc):
        with torch.no_grad():
            for w, data in self.saved:
                w.data.copy_(data)
        self.saved.clear()
        return False


# ------------------------------------------------------------------------------- modules
class BinaryScale(nn.Module):
    """Learnable per-channel ``alpha * s + beta`` (``alpha = exp(log_alpha) > 0``) on the
    integer output ``s`` of a binary layer, followed by the binary activation (ApproxSign).

    Twin of ``hwflow.quant.biper_keras.BinaryScale``. ``channels`` is axis 1 of the input
    (NCHW or NC); ``bound`` the accumulator bound ``|s| <= bound`` (the binary layer's fan-in).
    The forward pass is always ``sign(alpha * s + beta)`` in float32. For export,
    :meth:`freeze` folds it into per-channel integer thresholds ``t`` with
    ``sign(alpha * s + beta) == sign(s - t)`` for every integer ``s`` in [-bound, bound],
    evaluated with this module's own float32 arithmetic (so the fold is exact, not an
    algebraic approximation); the graph then holds ``Add(-t)`` and ``BipolarQuant``, as the
    QKeras exporter writes it.
    """

    def __init__(self, channels: int, bound: int):
        super().__init__()
        from brevitas.nn import QuantIdentity

        if not (isinstance(bound, int) and bound > 0):
            raise ConfigError(f"BinaryScale needs a positive integer accumulator bound, got {bound!r}")
        self.channels, self.bound = int(channels), int(bound)
        # alpha starts at 1/sqrt(fan-in): the accumulator of a binary layer is O(sqrt(fan-in)),
        # and ApproxSign passes gradient only for |alpha s + beta| < 1 (with alpha = 1 almost
        # nothing learns: 75% vs 96% test accuracy on digits with this init, measured)
        self.log_alpha = nn.Parameter(torch.full((channels,), -0.5 * math.log(bound)))
        self.beta = nn.Parameter(torch.zeros(channels))
        # a Brevitas binary quantizer, so that the sign exports as QONNX BipolarQuant
        self.sign = QuantIdentity(act_quant=ApproxSignActQuant, return_quant_tensor=False)
        self.register_buffer("frozen_threshold", torch.zeros(0), persistent=False)

    def _view(self, v: Tensor, ndim: int) -> Tensor:
        return v.reshape((1, self.channels) + (1,) * (ndim - 2))

    def affine(self, s: Tensor) -> Tensor:
        return s * self._view(torch.exp(self.log_alpha), s.dim()) + self._view(self.beta, s.dim())

    @torch.no_grad()
    def integer_thresholds(self) -> Tensor:
        """Per channel the smallest integer t in [-bound, bound + 1] with
        ``alpha*s + beta >= 0  <=>  s >= t`` for every integer s in [-bound, bound]."""
        ys = torch.arange(-self.bound, self.bound + 1, dtype=torch.float32)
        vals = self.affine(ys[:, None].repeat(1, self.channels))
        pos = vals >= 0
        if bool(torch.any(pos[:-1] & ~pos[1:])):  # alpha > 0: cannot happen, but be sure
            raise ModelError("sign(alpha*s + beta) is not monotone in s", node="BinaryScale")
        first = torch.where(pos.any(0), pos.float().argmax(0), torch.tensor(len(ys)))
        return (first - self.bound).to(torch.int64)

    def freeze(self) -> None:
        self.frozen_threshold = self.integer_thresholds().to(torch.float32)

    def unfreeze(self) -> None:
        self.frozen_threshold = torch.zeros(0)

    def forward(self, s: Tensor) -> Tensor:
        s = getattr(s, "value", s)  # QuantTensor -> its dequantized value
        if self.frozen_threshold.numel() and not self.training:
            # export form: s is an integer accumulator, the threshold test is exact
            return self.sign(s + self._view(-self.frozen_threshold, s.dim()))
        return self.sign(self.affine(s))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, bound={self.bound}"


class BiPerAct(nn.Module):
    """hwflow's periodic binary activation (docs/INTERFACES.md section 2), period
    ``2**log2_period``.

    The input should be a fixed-point tensor with step ``2**-f`` (give ``frac_bits=f``, or
    pass a Brevitas QuantTensor, whose power-of-two scale is checked); ``log2_period + f
    >= 1`` so that the output is one bit of the integer in hardware.
    """

    def __init__(self, log2_period: int, frac_bits: int | None = None):
        super().__init__()
        if not isinstance(log2_period, int):
            raise ConfigError(f"BiPer log2_period must be an int, got {log2_period!r}")
        if frac_bits is not None and log2_period + frac_bits < 1:
            raise ConfigError(
                f"BiPer period 2**{log2_period} is below two input steps (2**-{frac_bits}); "
                "need log2_period + frac_bits >= 1")
        self.log2_period = log2_period
        self.frac_bits = frac_bits

    @property
    def period(self) -> float:
        return float(2.0**self.log2_period)

    def _check_quant_tensor(self, x) -> None:
        scale = getattr(x, "scale", None)
        if scale is None or torch.onnx.is_in_onnx_export():
            return
        s = scale.detach().flatten()
        f = -torch.log2(s)
        if s.numel() != 1 or not torch.equal(f, torch.round(f)):
            raise ModelError("BiPer activation needs a per-tensor power-of-two input scale",
                             node=f"BiPer(log2_period={self.log2_period})")
        if self.log2_period + int(f.item()) < 1:
            raise ModelError(
                f"BiPer period 2**{self.log2_period} is below two input steps (2**{-int(f.item())})",
                node=f"BiPer(log2_period={self.log2_period})")

    def forward(self, x) -> Tensor:
        self._check_quant_tensor(x)
        return periodic_square(getattr(x, "value", x), self.log2_period)

    def extra_repr(self) -> str:
        return f"log2_period={self.log2_period}"


__all__ = [
    "W0_DEFAULT", "BIPER_DOMAIN", "BiPerSignFn", "ApproxSignFn", "PeriodicSquareFn", "biper_sign",
    "approx_sign", "periodic_square", "BiPerBinaryQuant", "ApproxSignBinaryQuant",
    "BiPerWeightQuant", "ApproxSignActQuant", "biper_weight_quant", "biper_quants",
    "set_biper_stage", "binarized_weights_for_export", "BinaryScale", "BiPerAct",
]
