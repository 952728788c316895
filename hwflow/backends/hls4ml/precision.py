"""IR ``FixedType`` -> hls4ml precisions, and the check that a generated project holds only them.

``exact_precision`` holds every value of a type without rounding or wrapping;
``quantizer_precision`` is the cast of a QONNX ``Quant`` (its rounding and saturation on the
IR's grid); ``accum_precision`` a wrapping accumulator for an exact sum; ``values_precision``
the narrowest exact type of a constant array. The per-layer rules that use them are in
``layer_types``.
"""

from __future__ import annotations

import re

import numpy as np

from hwflow.errors import ModelError, UnsupportedOp

# hls4ml's default precision: nothing in a generated project may keep it unless the IR chose it
HLS4ML_DEFAULT = "ap_fixed<16,6>"

# ---------------------------------------------------------------------------------------------
# FixedType -> hls4ml precision
# ---------------------------------------------------------------------------------------------
def hls_types():
    from hls4ml.model import types as ht

    return ht


def exact_precision(t, min_int_bits: bool = True):
    """hls4ml precision holding every value of IR type ``t`` exactly (TRN/WRAP never act)."""
    ht = hls_types()
    if t.is_float:
        raise ModelError("a float tensor cannot get a fixed-point hls4ml type")
    if t.scale != 1.0:
        raise UnsupportedOp(f"non-power-of-two scale {t.scale!r}: hls4ml fixed point cannot hold it exactly")
    if t.is_bipolar:
        return ht.XnorPrecisionType()
    width, integer = int(t.width), int(t.width - t.frac)
    if t.frac <= 0 and integer == width:
        return ht.IntegerPrecisionType(width=width, signed=bool(t.signed))
    if min_int_bits:
        # ap_fixed with I < 1 (I < 0 unsigned) is legal but unusual; widening the integer part
        # never changes an exact value.
        floor = 1 if t.signed else 0
        if integer < floor:
            width += floor - integer
            integer = floor
    return ht.FixedPrecisionType(width=width, integer=integer, signed=bool(t.signed))


def quantizer_precision(t, like):
    """IR type ``t`` with the rounding/saturation of hls4ml's quantizer precision ``like``."""
    ht = hls_types()
    if t.is_bipolar:
        return ht.XnorPrecisionType()
    if t.scale != 1.0:
        raise UnsupportedOp(f"non-power-of-two scale {t.scale!r} on a quantizer output")
    q_frac = like.width - like.integer
    if q_frac != t.frac:
        raise ModelError(f"IR grid 2**-{t.frac} differs from the quantizer's 2**-{q_frac}")
    return ht.FixedPrecisionType(width=int(t.width), integer=int(t.width - t.frac), signed=bool(t.signed),
                                 rounding_mode=like.rounding_mode, saturation_mode=like.saturation_mode,
                                 saturation_bits=like.saturation_bits)


def values_precision(values, what: str):
    """Narrowest exact precision of a constant array (all values dyadic, as float32 ones are)."""
    from hwflow.ir.fixed import FixedType

    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        v = np.zeros(1)
    for frac in range(0, 160):
        q = np.ldexp(v, frac)
        if np.all(q == np.round(q)):
            return exact_precision(FixedType.from_range(int(q.min()), int(q.max()), frac))
    raise ModelError(f"{what}: values are not dyadic fixed-point numbers")


def is_quantizer(p) -> bool:
    """A precision whose cast rounds or saturates (hls4ml made it from a QONNX Quant)."""
    ht = hls_types()
    if not isinstance(p, ht.FixedPrecisionType):
        return False
    return p.rounding_mode != ht.RoundingMode.TRN or p.saturation_mode != ht.SaturationMode.WRAP


def accum_precision(out_t, frac: int):
    """Wrapping accumulator with ``frac`` fractional bits holding the range of ``out_t``."""
    ht = hls_types()
    from hwflow.ir.fixed import bits_for_range

    if out_t.scale != 1.0:
        raise UnsupportedOp(f"non-power-of-two scale {out_t.scale!r} on an accumulator")
    shift = frac - out_t.frac
    if shift < 0:
        raise ModelError(f"accumulator grid 2**-{frac} coarser than its result's 2**-{out_t.frac}")
    lo, hi = int(out_t.int_min) << shift, int(out_t.int_max) << shift
    _, width = bits_for_range(min(lo, -1), max(hi, 0))  # always signed: products may be negative
    width += 1  # one guard bit: the final sum is checked against the IR range, never trusted to wrap
    return ht.FixedPrecisionType(width=width, integer=width - frac, signed=True)


def check_representable(values: np.ndarray, p, what: str) -> None:
    """Every value of a weight/bias array must be exactly representable in ``p``."""
    ht = hls_types()
    v = np.asarray(values, dtype=np.float64).ravel()
    if isinstance(p, ht.XnorPrecisionType):
        ok = np.isin(v, (0.0, 1.0)) | np.isin(v, (-1.0, 1.0))
        bad = v[~ok]
    else:
        frac = p.width - getattr(p, "integer", p.width)
        q = v * 2.0 ** frac
        lo = -(2 ** (p.width - 1)) if p.signed else 0
        hi = 2 ** (p.width - 1) - 1 if p.signed else 2 ** p.width - 1
        bad = v[(q != np.round(q)) | (q < lo) | (q > hi)]
    if bad.size:
        raise ModelError(f"{what}: value {bad[0]!r} is not exactly representable in {p}")


def expected_typedefs(set_types: list) -> dict[str, str]:
    """typedef name -> C++ type of every type hwflow set, as hls4ml will write it.

    hls4ml converts and renames types after we set them (streams pack them into
    ``nnet::array``, the output's becomes ``result_t``), so they are looked up at the end.
    """
    out: dict[str, str] = {}
    for layer, kind, key in set_types:
        if kind == "type":
            t = layer.types[key]
        elif kind == "weight":
            t = layer.weights[key].type
        else:
            t = layer.get_output_variable().type
        if hasattr(t, "definition_cpp"):
            m = re.match(r"\s*typedef\s+(.+?)\s+(\w+)\s*;", t.definition_cpp(), re.S)
            if m:
                out[m.group(2)] = m.group(1).replace(" ", "")
    return out


# typedefs hls4ml declares that are no numeric type of a value (sparse-weight index types)
NON_VALUE_TYPEDEF_SUFFIXES = ("_index",)


def typedefs_not_set(typedefs: dict[str, str], set_types: list) -> dict[str, str]:
    """typedefs of the generated project hwflow did not set, or set differently (must be empty)."""
    expected = expected_typedefs(set_types)
    return {n: t for n, t in typedefs.items()
            if not n.endswith(NON_VALUE_TYPEDEF_SUFFIXES) and expected.get(n) != t.replace(" ", "")}

