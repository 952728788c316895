"""QONNX quantizer semantics on da4ml fixed-point variables, bit-exactly.

da4ml only offers truncation (floor) and round-half-up; QONNX ``Quant`` rounds with numpy
semantics (``ROUND`` = half to even, ``HALF_UP`` = half away from zero, ...). Every mode is
written here as ``floor(x + c)`` where ``c`` is a constant plus, where needed, one bit of
``x`` scaled to the input's LSB -- so the hardware is one adder and a truncation.
"""

from __future__ import annotations

import numpy as np
from da4ml.trace import FixedVariable

from hwflow.errors import UnsupportedOp

ROUNDING_MODES = ("ROUND", "HALF_EVEN", "FLOOR", "CEIL", "HALF_UP", "HALF_DOWN", "UP", "DOWN", "ROUND_TO_ZERO")


def _frac_bits(v: FixedVariable) -> int:
    return int(v.kif[2])


def _floor(v: FixedVariable) -> FixedVariable:
    """floor(v) as an integer-valued variable (two's-complement truncation of fraction bits)."""
    k, i, f = v.kif
    if f <= 0:
        return v
    if k + i <= 0:  # |v| < 1: floor is 0 or -1
        return v.quantize(k, max(i, 1), 0, "WRAP", "TRN")
    return v.quantize(k, i, 0, "WRAP", "TRN")


def _neg_bit(v: FixedVariable):
    """1 where v < 0 else 0 (a variable, or a Python int when the sign is known)."""
    if v.low >= 0:
        return 0
    if v.high < 0:
        return 1
    return v.is_negative()


def _lsb_int_bit(v: FixedVariable):
    """Bit of weight 2**0 of v (the LSB of floor(v))."""
    return v.quantize(0, 1, 0, "WRAP", "TRN")


def round_to_int(v: FixedVariable, mode: str) -> FixedVariable:
    """Round v to an integer exactly as qonnx ``resolve_rounding_mode(mode)`` does."""
    mode = mode.upper()
    f = _frac_bits(v)
    if f <= 0 or v.opr == "const":
        if v.opr == "const":
            from qonnx.custom_op.general.quant import resolve_rounding_mode

            val = float(resolve_rounding_mode(mode)(np.float64(float(v.low))))
            return FixedVariable.from_const(val, hwconf=v.hwconf)
        return v
    ulp = 2.0**-f
    if mode == "FLOOR":
        return _floor(v)
    if mode == "CEIL":
        return _floor(v + (1.0 - ulp))
    if mode in ("ROUND", "HALF_EVEN"):
        # floor(x + 1/2 - ulp + ulp*lsb(floor(x))): ties go to the even neighbour
        b = _lsb_int_bit(v)
        return _floor(v + (0.5 - ulp) + b * ulp)
    if mode == "HALF_UP":  # half away from zero
        return _floor(v + 0.5 - _neg_bit(v) * ulp)
    if mode == "HALF_DOWN":  # half towards zero
        return _floor(v + (0.5 - ulp) + _neg_bit(v) * ulp)
    if mode in ("DOWN", "ROUND_TO_ZERO"):  # np.fix
        return _floor(v + _neg_bit(v) * (1.0 - ulp))
    if mode == "UP":  # away from zero
        return _floor(v + (1.0 - ulp) - _neg_bit(v) * (1.0 - ulp))
    raise UnsupportedOp(f"rounding mode {mode!r} (supported: {', '.join(ROUNDING_MODES)})")


def clip(v: FixedVariable, lo: float, hi: float) -> FixedVariable:
    """Saturate v to [lo, hi] (no-op where the range already fits)."""
    if v.low < lo:
        v = v.max_of(lo)
    if v.high > hi:
        v = v.min_of(hi)
    return v
