"""Resource counts from Yosys cell statistics, per FPGA family, and the fit check.

Yosys maps a design to the family's primitives; counting those primitives gives LUTs,
flip-flops, carry cells, block RAMs and hard multipliers. ``lut_equivalent`` is what the
fit check compares with the device's LUT count: on ECP5 a CCU2C carry cell occupies two
LUT4s of a slice and on Gowin an ALU cell occupies one, so they are added; on iCE40 the
carry sits beside the LUT of the same logic cell and adds nothing. These are counts after
synthesis (before packing), which is what the fit check needs: a design whose synthesized
LUTs already exceed the device cannot be placed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from hwflow.boards import Capacity
from hwflow.errors import FitError


@dataclass(frozen=True)
class FamilyCells:
    lut_unit: str               # how the family's LUT is called in messages
    lut: str                    # regexes over cell type names
    ff: str
    carry: str
    bram: str
    dsp: str
    lutram: str = r"$^"
    carry_luts: int = 0         # LUTs a carry cell occupies on top of the counted LUT cells
    bram_weights: tuple[tuple[str, float], ...] = ()   # fractional blocks (Xilinx RAMB18)


FAMILY_CELLS: dict[str, FamilyCells] = {
    "ice40": FamilyCells("LUT4", r"SB_LUT4", r"SB_DFF\w*", r"SB_CARRY", r"SB_RAM40_4K\w*", r"SB_MAC16"),
    "ecp5": FamilyCells("LUT4", r"LUT4", r"TRELLIS_FF", r"CCU2C", r"DP16KD|PDPW16KD", r"MULT18X18D|ALU54B",
                        lutram=r"TRELLIS_DPR16X4", carry_luts=2),
    "gowin": FamilyCells("LUT4", r"LUT[1-4]", r"DFF\w*", r"ALU", r"(SP|DP|SDP)(X9)?B?|pROM(X9)?",
                         r"MULT\w*|ALU54D|PADD\w*", lutram=r"RAM16S\w*", carry_luts=1),
    "xilinx": FamilyCells("LUT", r"LUT[1-6]", r"FD[RSCP]E(_1)?|LD[CP]E?", r"CARRY[48]", r"RAMB(18|36)E[12]\w*",
                          r"DSP48E[12]", lutram=r"RAM\d+[MSX]\w*|SRL16E|SRLC32E",
                          bram_weights=((r"RAMB18E[12]\w*", 0.5),)),
}


@dataclass(frozen=True)
class Resources:
    family: str
    lut: int
    ff: int
    carry: int
    bram: float
    dsp: int
    lutram: int
    lut_equivalent: int
    cells: dict[str, int]

    def to_json(self) -> dict:
        return asdict(self)


def count_resources(family: str, cells_by_type: dict[str, int]) -> Resources:
    """Resources of one family from Yosys ``stat -json`` ``num_cells_by_type``."""
    spec = FAMILY_CELLS[family]

    def total(pattern: str) -> int:
        rx = re.compile(pattern)
        return sum(n for t, n in cells_by_type.items() if rx.fullmatch(t))

    bram = 0.0
    for t, n in cells_by_type.items():
        if re.fullmatch(spec.bram, t):
            weight = next((w for rx, w in spec.bram_weights if re.fullmatch(rx, t)), 1.0)
            bram += weight * n
    lut, carry, lutram = total(spec.lut), total(spec.carry), total(spec.lutram)
    return Resources(
        family=family, lut=lut, ff=total(spec.ff), carry=carry, bram=bram, dsp=total(spec.dsp),
        lutram=lutram, lut_equivalent=lut + spec.carry_luts * carry + lutram,
        cells=dict(sorted(cells_by_type.items())),
    )


def utilization(res: Resources, cap: Capacity) -> dict[str, dict]:
    rows = {"lut": (res.lut_equivalent, cap.lut), "ff": (res.ff, cap.ff), "bram": (res.bram, cap.bram),
            "dsp": (res.dsp, cap.dsp)}
    return {k: {"used": u, "available": a, "percent": round(100.0 * u / a, 2) if a else None}
            for k, (u, a) in rows.items()}


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,.1f}"


def check_fit(res: Resources, cap: Capacity, device: str) -> dict[str, dict]:
    """Raise ``FitError`` naming every resource the design needs more of than ``device``
    has; otherwise return the utilization table."""
    util = utilization(res, cap)
    unit = FAMILY_CELLS[res.family].lut_unit
    names = {"lut": unit, "ff": "flip-flops", "bram": "block RAMs", "dsp": "multipliers"}
    over = [k for k, row in util.items() if row["used"] > row["available"]]
    if over:
        needs = ", ".join(f"{_num(util[k]['used'])} {names[k]}" for k in over)
        has = ", ".join(f"{util[k]['available']:,} {names[k]}" for k in over)
        raise FitError(f"design does not fit: needs {needs}; {device} has {has}. "
                       f"Choose a larger device/board or a smaller model.")
    return util
