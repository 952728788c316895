"""`FixedType`: the exact fixed-point type of one tensor.

A value of the tensor is ``q * scale * 2**-frac`` with ``q`` an integer in
``[int_min, int_max]``. ``scale == 1.0`` means the values lie on a power-of-two grid (pure
fixed point, what hls4ml ``ap_fixed`` and Verilog registers hold). ``scale != 1.0`` means a
non-power-of-two factor is needed (a Brevitas float scale, say): backends must reject the
tensor or carry the factor themselves. ``is_float`` marks tensors that have no fixed-point
grid at all (float pre-processing, Softmax/Sigmoid outputs): they are computed in float32
like onnxruntime does and are not meant for hardware.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


def bits_for_range(int_min: int, int_max: int) -> tuple[bool, int]:
    """(signed, width) of the narrowest two's-complement/unsigned integer holding the range."""
    int_min, int_max = int(int_min), int(int_max)
    if int_min >= 0:
        return False, max(1, int_max.bit_length())
    # signed: -2**(w-1) <= int_min and int_max <= 2**(w-1) - 1
    w_neg = (-int_min - 1).bit_length() + 1
    w_pos = int_max.bit_length() + 1 if int_max > 0 else 1
    return True, max(w_neg, w_pos, 1)


@dataclass(frozen=True)
class FixedType:
    signed: bool
    width: int
    frac: int
    scale: float = 1.0
    int_min: int = 0
    int_max: int = 0
    is_bipolar: bool = False
    is_float: bool = False

    # ---- constructors ---------------------------------------------------------------
    @classmethod
    def from_range(cls, int_min: int, int_max: int, frac: int, scale: float = 1.0,
                   is_bipolar: bool = False) -> "FixedType":
        """Narrowest type holding the exact integer range [int_min, int_max]."""
        int_min, int_max = int(int_min), int(int_max)
        if int_min > int_max:
            int_min, int_max = int_max, int_min
        signed, width = bits_for_range(int_min, int_max)
        return cls(signed=signed, width=width, frac=int(frac), scale=float(scale),
                   int_min=int_min, int_max=int_max, is_bipolar=is_bipolar)

    @classmethod
    def float32(cls) -> "FixedType":
        return cls(signed=True, width=32, frac=0, scale=1.0, int_min=0, int_max=0, is_float=True)

    @classmethod
    def bipolar(cls) -> "FixedType":
        return cls(signed=True, width=2, frac=0, scale=1.0, int_min=-1, int_max=1, is_bipolar=True)

    # ---- views ----------------------------------------------------------------------
    @property
    def is_power_of_two(self) -> bool:
        """True when the values are on a pure power-of-two grid (scale == 1.0)."""
        return not self.is_float and self.scale == 1.0

    @property
    def step(self) -> float:
        """Distance between two neighbouring representable values."""
        return self.scale * math.ldexp(1.0, -self.frac)

    @property
    def int_bits(self) -> int:
        """Integer bits including the sign bit (hls4ml's ``I`` of ``ap_fixed<W,I>``)."""
        return self.width - self.frac

    @property
    def min_value(self) -> float:
        return self.int_min * self.step

    @property
    def max_value(self) -> float:
        return self.int_max * self.step

    def hls_type(self) -> str:
        """hls4ml/Vitis type string, e.g. ``ap_fixed<10,4>``, ``ap_int<6>``, ``ap_uint<1>``.

        Bipolar tensors use ``ap_int<2>`` (values -1/+1). Non-power-of-two scales give the
        type of the integer ``q`` times ``2**-frac``; the caller must carry ``scale``.
        """
        if self.is_float:
            return "float"
        if self.frac == 0:
            return f"ap_int<{self.width}>" if self.signed else f"ap_uint<{self.width}>"
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.int_bits}>"

    def to_json(self) -> dict:
        d = asdict(self)
        d["hls_type"] = self.hls_type()
        d["power_of_two"] = self.is_power_of_two
        return d

    @classmethod
    def from_json(cls, d: dict) -> "FixedType":
        keys = {"signed", "width", "frac", "scale", "int_min", "int_max", "is_bipolar", "is_float"}
        return cls(**{k: v for k, v in d.items() if k in keys})

    def __str__(self) -> str:
        if self.is_float:
            return "float32"
        if self.is_bipolar:
            return "bipolar{-1,+1}"
        s = self.hls_type()
        if self.scale != 1.0:
            s += f"*{self.scale!r}"
        return s
