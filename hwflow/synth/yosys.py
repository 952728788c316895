"""Yosys synthesis for an FPGA family (through pyosys, one process per job).

``YosysSynth(family).run(files, top, out_dir)`` writes ``synth.ys`` (the script, kept for
reproduction), ``yosys.log``, ``netlist.json`` and ``stat.json`` (``stat -json``) into
``out_dir`` and returns the parsed result. Xilinx numbers come from Yosys' ``synth_xilinx``
and are an estimate of what Vivado would use, labelled as such.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from hwflow.artifacts import read_json
from hwflow.boards import FAMILIES, family_info
from hwflow.errors import ConfigError, ToolFailed
from hwflow.synth.resources import Resources, count_resources
from hwflow.tools import Yosys
from hwflow.tools.yosys import yosys_path

ESTIMATE_NOTE = {
    "xilinx": "estimate: Yosys synth_xilinx (7-series primitives), not Vivado; Vivado's counts differ",
    "gowin": "Yosys synth_gowin; no open place-and-route for Gowin on this machine",
}


_STEP = re.compile(r"^(\d+(?:\.\d+)?)\. Executing (.+?)(?: pass)?(?: \(.*\))?\.?$")


def yosys_progress(progress: Callable[[str], None] | None, prefix: str = "yosys") -> Callable[[str], None] | None:
    """An ``on_line`` for ``Yosys.run_script`` that turns Yosys' log into progress lines: one
    per pass at the top two levels of its numbering ("13.43 ABC9"), consecutive repeats of the
    same pass and the per-file frontends left out, with the seconds since the start."""
    if progress is None:
        return None
    t0, last = time.time(), [None]

    def on_line(line: str) -> None:
        m = _STEP.match(line.rstrip())
        if not m or "frontend" in m.group(2):
            return
        name = m.group(2).split(":")[0]
        if name != last[0]:
            last[0] = name
            progress(f"{prefix}: {m.group(1)} {name} ({time.time() - t0:.0f} s)")

    return on_line


@dataclass(frozen=True)
class SynthResult:
    family: str
    top: str
    resources: Resources
    design_cells: dict[str, int]
    netlist: Path
    stat: Path
    log: Path
    script: Path
    seconds: float
    note: str | None


class YosysSynth:
    """Yosys ``synth_<family>`` of a Verilog design; one instance per family."""

    def __init__(self, family: str) -> None:
        if family not in FAMILIES:
            raise ConfigError(f"unknown FPGA family {family!r}; choose one of: {', '.join(FAMILIES)}")
        self.family = family
        self.command = family_info(family).yosys

    def script(self, files: Sequence[Path], top: str, io_buffers: bool) -> str:
        """The Yosys script. ``io_buffers=False`` (synthesis of a core alone) leaves out the
        I/O cells that Xilinx and Gowin flows insert at the top level."""
        lines = [f"read_verilog -sv -defer {yosys_path(f)}" for f in files]
        lines.append(f"hierarchy -check -top {top}")
        synth = f"{self.command} -top {top}"
        if self.family == "xilinx":
            synth += " -family xc7 -flatten" + ("" if io_buffers else " -noiopad")
        elif self.family == "gowin":
            synth += "" if io_buffers else " -noiopads"
        if self.family in ("ice40", "ecp5"):
            synth += " -json netlist.json"
            lines.append(synth)
        else:
            lines += [synth, "write_json netlist.json"]
        lines += ["tee -q -o stat.json stat -json", "stat"]
        return "\n".join(lines) + "\n"

    def run(self, files: Sequence[Path], top: str, out_dir: str | Path, io_buffers: bool = False,
            timeout: float | None = None, progress: Callable[[str], None] | None = None) -> SynthResult:
        out_dir = Path(out_dir).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        script = out_dir / "synth.ys"
        script.write_text(self.script(files, top, io_buffers))
        log = out_dir / "yosys.log"
        stat = out_dir / "stat.json"
        for stale in (stat, out_dir / "netlist.json"):
            stale.unlink(missing_ok=True)
        t0 = time.time()
        Yosys().run_script(script.name, cwd=out_dir, log=log, timeout=timeout,
                           on_line=yosys_progress(progress, f"yosys synth_{self.family}"))
        seconds = time.time() - t0
        if not stat.exists():
            raise ToolFailed("yosys", 0, str(log), "Yosys finished without writing stat.json")
        data = read_json(stat)
        design = data.get("design") or data["modules"].get(f"\\{top}") or {}
        submodules = {name.lstrip("\\") for name in data.get("modules", {})}
        cells = {t: int(n) for t, n in design.get("num_cells_by_type", {}).items()
                 if t not in submodules and not t.startswith("$scopeinfo")}
        return SynthResult(
            family=self.family, top=top, resources=count_resources(self.family, cells),
            design_cells={k: design[k] for k in ("num_cells", "num_wires", "num_wire_bits") if k in design},
            netlist=out_dir / "netlist.json", stat=stat, log=log, script=script, seconds=round(seconds, 2),
            note=ESTIMATE_NOTE.get(self.family),
        )
