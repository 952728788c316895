"""Vivado batch flow for Xilinx boards: a generated TCL script, run when Vivado is installed.

``VivadoFlow(board).tcl(...)`` is the whole flow (non-project mode): read the sources and
the XDC, ``synth_design``, ``opt_design``, ``place_design``, ``route_design``, utilization,
timing and power reports, ``write_bitstream``. ``run`` raises ``VendorToolMissing`` when
``vivado`` is not on PATH (nor at ``HWFLOW_VIVADO``); the script is written either way so a
user can take it to a machine with Vivado.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hwflow.boards import Board
from hwflow.errors import ConfigError, ToolFailed
from hwflow.tools import Vivado, run_tool

REPORTS = {"utilization": "utilization.rpt", "timing": "timing_summary.rpt", "power": "power.rpt"}


def _tcl_path(p: Path) -> str:
    s = str(Path(p).resolve())
    if re.search(r"[\s{}\[\]$\\\"]", s):
        raise ConfigError(f"path {s!r} has characters that a Vivado TCL script cannot take as they are")
    return s


@dataclass(frozen=True)
class VivadoResult:
    bitstream: Path
    log: Path
    tcl: Path
    utilization: dict[str, dict]
    wns_ns: float | None
    fmax_mhz: float | None
    seconds: float


class VivadoFlow:
    def __init__(self, board: Board) -> None:
        if board.family != "xilinx":
            raise ConfigError(f"the Vivado flow is for Xilinx boards; {board.name} is {board.family}")
        self.board = board

    def tcl(self, files: Sequence[Path], top: str, xdc: Path, bitstream_name: str) -> str:
        part = self.board.part
        lines = [
            f"# hwflow: Vivado batch flow for {self.board.title} ({part}); run with",
            "#   vivado -mode batch -nojournal -log vivado.log -source flow.tcl",
            "set_param general.maxThreads 2",
            f"create_project -in_memory -part {part}",
        ]
        lines += [f"read_verilog -sv {{{_tcl_path(f)}}}" for f in files]
        lines += [
            f"read_xdc {{{_tcl_path(xdc)}}}",
            f"synth_design -top {top} -part {part}",
            "opt_design",
            "place_design",
            "route_design",
            f"report_utilization -file {REPORTS['utilization']}",
            f"report_timing_summary -file {REPORTS['timing']}",
            f"report_power -file {REPORTS['power']}",
            f"write_bitstream -force {bitstream_name}",
            "exit",
        ]
        return "\n".join(lines) + "\n"

    def run(self, files: Sequence[Path], top: str, xdc: Path, out_dir: str | Path,
            timeout: float | None = None) -> VivadoResult:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        bit_name = f"{self.board.name}.bit"
        tcl = out_dir / "flow.tcl"
        tcl.write_text(self.tcl(files, top, xdc, bit_name))
        vivado = Vivado().locate()          # VendorToolMissing when absent
        log = out_dir / "vivado.log"
        bitstream = out_dir / bit_name
        bitstream.unlink(missing_ok=True)
        t0 = time.time()
        run_tool([vivado, "-mode", "batch", "-nojournal", "-log", log.name, "-source", tcl.name],
                 cwd=out_dir, log=out_dir / "vivado_stdout.log", tool="vivado", timeout=timeout)
        seconds = time.time() - t0
        if not bitstream.exists():
            raise ToolFailed("vivado", 0, str(log), f"Vivado finished without writing {bitstream.name}")
        util_rpt, timing_rpt = out_dir / REPORTS["utilization"], out_dir / REPORTS["timing"]
        util = parse_utilization(util_rpt.read_text()) if util_rpt.exists() else {}
        wns = parse_wns(timing_rpt.read_text()) if timing_rpt.exists() else None
        period = 1e9 / self.board.clock.frequency_hz
        fmax = round(1000.0 / (period - wns), 2) if wns is not None and period - wns > 0 else None
        return VivadoResult(bitstream, log, tcl, util, wns, fmax, round(seconds, 2))


_UTIL_ROWS = ("Slice LUTs", "Slice Registers", "Block RAM Tile", "DSPs")


def parse_utilization(text: str) -> dict[str, dict]:
    """Used/available of the main rows of ``report_utilization`` (first table hit wins)."""
    out: dict[str, dict] = {}
    for line in text.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 5:
            continue
        name = re.sub(r"\*+$", "", cols[1]).strip()
        if name in _UTIL_ROWS and name not in out:
            nums = [c for c in cols[2:] if re.fullmatch(r"-?\d+(\.\d+)?", c)]
            if len(nums) >= 3:
                out[name] = {"used": float(nums[0]), "available": float(nums[-2]), "percent": float(nums[-1])}
    return out


def parse_wns(text: str) -> float | None:
    """Worst negative slack (ns) from the Design Timing Summary of ``report_timing_summary``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "WNS(ns)" in line:
            for follow in lines[i + 1:i + 4]:
                m = re.match(r"\s*(-?\d+\.\d+)", follow)
                if m:
                    return float(m.group(1))
    return None
