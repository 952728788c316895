"""A timing estimate right after synthesis: Yosys ``sta`` on the mapped netlist.

Yosys' ``sta`` sums the cell delays of the ``specify`` blocks in its iCE40 cell library
(``+/ice40/cells_sim.v``, per device class: ``ICE40_HX``, ``ICE40_LP``, ``ICE40_U``) along the
longest register-to-register or port-to-register path. It has no routing delays, so the
frequency it gives is an upper bound; nextpnr's figure after routing (``hwflow bitstream``)
is the achievable one. Yosys ships no such cell timing for the other families: there the
record says so and names the command that measures it.
"""

from __future__ import annotations

import re
from pathlib import Path

from hwflow.tools import Yosys

TOOL = "yosys sta (cell delays of Yosys' iCE40 cell library, no routing)"
_ARRIVAL = re.compile(r"Latest arrival time in '([^']+)' is (\d+)")


# Yosys `sta` on a mapped iCE40 netlist takes seconds; a run this long is stuck, not slow
STA_TIMEOUT_S = 1800


def _ice40_class(device: str) -> str:
    d = device.upper()
    return "ICE40_U" if "UP" in d or d.startswith("ICE5") else "ICE40_LP" if "LP" in d else "ICE40_HX"


def estimate_timing(family: str, device: str, netlist: Path, top: str, clock_mhz: float | None = None) -> dict:
    """{"tool", "critical_path_ns", "fmax_upper_bound_mhz", ...} for iCE40; for other families
    {"tool": None, "note": ...}. ``clock_mhz``: also the slack against that clock."""
    if family != "ice40":
        return {"tool": None, "note": f"Yosys has no cell timing for {family}: `hwflow bitstream RUN --board NAME` "
                                      "reports nextpnr's Fmax after place and route"}
    out_dir = Path(netlist).parent
    script = out_dir / "sta.ys"
    script.write_text(f"read_json {Path(netlist).name}\n"
                      f"read_verilog -lib -specify -D {_ice40_class(device)} +/ice40/cells_sim.v\n"
                      f"hierarchy -top {top}\nsta\n")
    log = out_dir / "sta.log"
    Yosys().run_script(script.name, cwd=out_dir, log=log, timeout=STA_TIMEOUT_S)
    m = _ARRIVAL.search(log.read_text(errors="replace"))
    if m is None:
        return {"tool": TOOL, "critical_path_ns": None, "note": f"no timing path found (see {log.name})",
                "log": log.name}
    ns = int(m.group(2)) / 1000.0  # the library's delays are in ps
    rec = {"tool": TOOL, "critical_path_ns": ns, "fmax_upper_bound_mhz": round(1e3 / ns, 2) if ns else None,
           "note": "cell delays only: routing adds to every path, so the achievable Fmax is lower "
                   "(hwflow bitstream reports nextpnr's)", "log": log.name}
    if clock_mhz:
        rec["clock_mhz"] = clock_mhz
        rec["slack_ns"] = round(1e3 / clock_mhz - ns, 3)
    return rec
