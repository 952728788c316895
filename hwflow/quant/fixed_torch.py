"""Brevitas quantizers on a fixed power-of-two grid, with QKeras' bit conventions.

Brevitas' stock fixed-point quantizers learn or measure their radix point; hwflow's zoo
models need a *fixed* grid that matches the QKeras twin of each model, so these factories
build Brevitas injectors with constant power-of-two scales:

- ``signed_fixed(bits, integer)`` == QKeras ``quantized_bits(bits, integer)`` (keep_negative,
  not symmetric): integers in [-2**(bits-1), 2**(bits-1)-1], step ``2**-(bits-1-integer)``.
- ``unsigned_fixed(bits, integer)`` == QKeras ``quantized_relu(bits, integer)`` /
  ``quantized_bits(bits, integer, keep_negative=False)``: integers in [0, 2**bits-1], step
  ``2**-(bits-integer)``.

Brevitas derives scale = scaling_const / 2**(bits-1) (signed) or / 2**bits (unsigned)
(``PowerOfTwoIntScaling``), hence ``scaling_const = 2**integer`` in both cases. Rounding is
round-half-to-even (``torch.round``), the same as QKeras (``tf.round``) and QONNX ``Quant``
with ``rounding_mode=ROUND`` (``np.round``).
"""

from __future__ import annotations

from functools import lru_cache

from hwflow.quant import check_fixed_bits

from brevitas.inject.enum import ScalingImplType
from brevitas.quant.fixed_point import (
    Int8ActPerTensorFixedPoint,
    Int8BiasPerTensorFixedPointInternalScaling,
    Int8WeightPerTensorFixedPoint,
    Uint8ActPerTensorFixedPoint,
)


@lru_cache(maxsize=None)
def signed_weight(bits: int, integer: int = 0):
    """Weight quantizer == QKeras ``quantized_bits(bits, integer, alpha=1)``."""
    check_fixed_bits(bits, integer)
    return type(
        f"SignedFixedWeight{bits}_{integer}",
        (Int8WeightPerTensorFixedPoint,),
        dict(bit_width=bits, narrow_range=False, scaling_impl_type=ScalingImplType.CONST,
             scaling_const=float(2.0**integer)),
    )


@lru_cache(maxsize=None)
def signed_bias(bits: int, integer: int = 0):
    """Bias quantizer with its own grid (not the accumulator's), like QKeras' bias_quantizer."""
    check_fixed_bits(bits, integer)
    return type(
        f"SignedFixedBias{bits}_{integer}",
        (Int8BiasPerTensorFixedPointInternalScaling,),
        dict(bit_width=bits, narrow_range=False, scaling_impl_type=ScalingImplType.CONST,
             scaling_const=float(2.0**integer)),
    )


@lru_cache(maxsize=None)
def signed_act(bits: int, integer: int = 0):
    """Signed activation/input quantizer == QKeras ``quantized_bits(bits, integer)``."""
    check_fixed_bits(bits, integer)
    return type(
        f"SignedFixedAct{bits}_{integer}",
        (Int8ActPerTensorFixedPoint,),
        # activation solvers take the constant threshold from max(|min_val|, |max_val|)
        dict(bit_width=bits, narrow_range=False, scaling_impl_type=ScalingImplType.CONST,
             min_val=-float(2.0**integer), max_val=float(2.0**integer)),
    )


@lru_cache(maxsize=None)
def unsigned_act(bits: int, integer: int = 0):
    """Unsigned activation quantizer == QKeras ``quantized_relu(bits, integer)``."""
    check_fixed_bits(bits, integer)
    return type(
        f"UnsignedFixedAct{bits}_{integer}",
        (Uint8ActPerTensorFixedPoint,),
        dict(bit_width=bits, scaling_impl_type=ScalingImplType.CONST, max_val=float(2.0**integer)),
    )
