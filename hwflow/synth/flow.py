"""The FPGA stages of a run directory: ``synthesize`` (``synth.json``) and ``build_bitstream``
(``bitstream.json``).

``synthesize(run, target)`` synthesizes the core of ``rtl.json`` alone for a family and
reports its resources (against the family's default device, for reference). With a board,
it synthesizes the board top (UART bridge + core) for the board's device and checks that it
fits (``FitError`` with the numbers). ``build_bitstream(run, board)`` does the latter and
then places, routes and packs with nextpnr + icepack/ecppack, or runs Vivado for Xilinx
boards. Files go to ``<run>/fpga/<board or family>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hwflow.artifacts import file_digest, is_up_to_date, read_json, stage
from hwflow.backends.rtl.design import RtlDesign, load_design
from hwflow.boards import FAMILIES, OPEN_BITSTREAM_FAMILIES, Board, family_info, load_board, load_devices
from hwflow.errors import ConfigError, FitError
from hwflow.synth.board_top import TOP_NAME, BoardTopParams, write_board_top
from hwflow.synth.constraints import render_constraints
from hwflow.synth.nextpnr import BitstreamPacker, NextpnrPnR
from hwflow.synth.resources import check_fit, utilization
from hwflow.synth.vivado import VivadoFlow
from hwflow.synth.yosys import YosysSynth
from hwflow.tools import Nextpnr, Packer, Vivado, Yosys, recorded_versions

ASIC_TARGETS = ("asic-osu018",)


def resolve_target(target: str | None, board: Board | None) -> str:
    if target in ASIC_TARGETS:
        raise ConfigError(f"--target {target} is an ASIC flow: use `hwflow profile RUN --target {target}` "
                          f"for area, power and energy")
    if target is None:
        if board is None:
            raise ConfigError(f"give --target ({' | '.join(FAMILIES)}) or --board")
        return board.family
    if target not in FAMILIES:
        raise ConfigError(f"unknown target {target!r}; choose one of: {', '.join(FAMILIES)} (ASIC area and power: "
                          f"`hwflow profile`)")
    if board is not None and board.family != target:
        raise ConfigError(f"board {board.name} is an {board.family} board, not {target}")
    return target


def board_top_params(board: Board, baud: int | None = None) -> BoardTopParams:
    return BoardTopParams(clk_hz=board.clock.frequency_hz, baud=baud or board.uart.baud, n_leds=len(board.leds),
                          led_inverted=tuple(l.inverted for l in board.leds),
                          n_tie_high=len(board.constraints.tie_high))


def _board_sources(design: RtlDesign, board: Board, out_dir: Path, baud: int | None) -> tuple[list[Path], Path]:
    files = write_board_top(design, board_top_params(board, baud), out_dir)
    cons = out_dir / f"{board.name}.{board.constraints.format}"
    cons.write_text(render_constraints(board))
    return files, cons


# The RTL generator's own LUT estimate (rtl.json "pipeline.estimated_luts_da4ml") is used to
# refuse, before a long synthesis, a design that is far too big for the board. Only a clear
# case is refused (estimate above PRESCREEN_FACTOR x the device's LUTs), so an imprecise
# estimate never stops a design that could fit; Yosys' counts remain the real fit check.
PRESCREEN_FACTOR = 2.0


def prescreen(design: RtlDesign, capacity_lut: int, device: str) -> None:
    est = (design.raw.get("pipeline") or {}).get("estimated_luts_da4ml")
    if est is not None and float(est) > PRESCREEN_FACTOR * capacity_lut:
        raise FitError(f"design does not fit (pre-synthesis screen): the RTL generator estimates "
                       f"{float(est):,.0f} LUTs; {device} has {capacity_lut:,}, less than half of that. "
                       f"Synthesis skipped (pass --no-prescreen to synthesize anyway); choose a larger "
                       f"device/board or a smaller model.")


def synthesize(run_dir: str | Path, target: str | None = None, board: str | Board | None = None,
               baud: int | None = None, prescreen_fit: bool = True,
               progress: Callable[[str], None] | None = None, clock_mhz: float | None = None) -> dict:
    """Yosys synthesis; writes ``synth.json`` and returns its stage-specific result.

    With a board, a design whose generator estimate is far above the device is refused
    before synthesis (``prescreen``), and the synthesized counts are checked (``check_fit``).
    ``progress`` gets a line per Yosys pass. The record has a timing estimate
    (``hwflow.synth.timing``: Yosys ``sta``, iCE40 only), with the slack at ``clock_mhz``."""
    run_dir = Path(run_dir).resolve()  # the tools run in other working directories
    b = load_board(board) if isinstance(board, (str, Path)) else board
    family = resolve_target(target, b)
    design = load_design(run_dir)
    params = {"target": family, "board": b.name if b else None, "baud": baud, "design_id": f"{design.design_id:08x}"}
    if clock_mhz is not None:  # only when set: records of runs without it stay valid
        params["clock_mhz"] = clock_mhz
    with stage(run_dir, "synth", inputs={"rtl.json": run_dir / "rtl.json"}, params=params) as st:
        st.tools = recorded_versions(Yosys())
        out_dir = run_dir / "fpga" / (b.name if b else family)
        if b is None:
            files, top, device = list(design.files), design.top, family_info(family).default_device
        else:
            if prescreen_fit:
                prescreen(design, b.capacity.lut, f"{b.device} ({b.title})")
            files, cons = _board_sources(design, b, out_dir, baud)
            top, device = TOP_NAME, b.device
            st.output(cons)
        res = YosysSynth(family).run(files, top, out_dir, io_buffers=b is not None, progress=progress)
        cap = load_devices()[device].capacity
        result = {
            "family": family, "device": device, "board": b.name if b else None,
            "synthesized": "board top (UART bridge + core)" if b else "core",
            "top": top, "core": design.top,
            "resources": {k: v for k, v in res.resources.to_json().items() if k not in ("cells", "family")},
            "cells": res.resources.cells, "design_stats": res.design_cells,
            "yosys_seconds": res.seconds, "note": res.note,
        }
        if b is not None:
            result["utilization"] = check_fit(res.resources, cap, f"{b.device} ({b.title})")
            result["fits"] = True
        else:
            util = utilization(res.resources, cap)
            result["utilization"] = util
            result["fits"] = all(row["used"] <= row["available"] for row in util.values())
            result["utilization_note"] = f"against {device}, the default {family} device (no board given)"
        for f in (res.netlist, res.stat, res.log, res.script):
            st.output(f)
        result["netlist"] = str(res.netlist.relative_to(run_dir))
        from hwflow.synth.timing import estimate_timing

        result["timing"] = estimate_timing(family, device, res.netlist, top, clock_mhz)
        if result["timing"].get("log"):
            st.output(res.netlist.parent / result["timing"]["log"])
        st.result = result
    return result


def build_bitstream(run_dir: str | Path, board: str | Board, baud: int | None = None,
                    seed: int = 1, prescreen_fit: bool = True, router: str | None = None,
                    progress: Callable[[str], None] | None = None, pnr_timeout: float | None = None,
                    clock_mhz: float | None = None) -> dict:
    """Board top -> synthesis with fit check -> place and route -> bitstream; writes
    ``synth.json`` and ``bitstream.json``. ``router``: nextpnr's router1 or router2 (None:
    nextpnr's default for the family); ``progress`` gets a line per placer/router iteration;
    ``pnr_timeout`` (seconds) stops nextpnr with ``ToolTimeout`` (the stage is recorded failed);
    ``clock_mhz``: nextpnr's timing target instead of the board's clock (the board top still
    runs at the board's oscillator)."""
    run_dir = Path(run_dir).resolve()  # the tools run in other working directories
    b = load_board(board) if isinstance(board, (str, Path)) else board
    if b.family not in OPEN_BITSTREAM_FAMILIES:
        Vivado().locate()   # VendorToolMissing before any work when Vivado is absent
        return _vivado_bitstream(run_dir, b, baud, prescreen_fit)
    # ConfigError for an unknown router, before any work
    pnr_tool = NextpnrPnR(b, seed=seed, router=router, clock_mhz=clock_mhz)
    synth_params = {"target": b.family, "board": b.name, "baud": baud,
                    "design_id": f"{load_design(run_dir).design_id:08x}"}
    if is_up_to_date(run_dir, "synth", inputs={"rtl.json": run_dir / "rtl.json"}, params=synth_params):
        synth = read_json(run_dir / "synth.json")     # `hwflow synth --board` already did this
    else:
        synth = synthesize(run_dir, board=b, baud=baud, prescreen_fit=prescreen_fit, progress=progress)
    out_dir = run_dir / "fpga" / b.name
    params = {"board": b.name, "baud": baud or b.uart.baud, "seed": seed, "router": router}
    if clock_mhz is not None:  # only when set: records of runs without it stay valid
        params["clock_mhz"] = clock_mhz
    with stage(run_dir, "bitstream", inputs={"netlist": run_dir / synth["netlist"]}, params=params) as st:
        st.tools = recorded_versions(Nextpnr(b.family), Packer(b.family))
        cons = out_dir / f"{b.name}.{b.constraints.format}"
        pnr = pnr_tool.run(run_dir / synth["netlist"], cons, out_dir, timeout=pnr_timeout, progress=progress)
        bitstream, pack_log = BitstreamPacker(b).run(pnr.routed, out_dir)
        for f in (pnr.routed, pnr.report, pnr.log, bitstream, pack_log):
            st.output(f)
        st.result = {
            "board": b.name, "device": b.device, "package": b.package, "part": b.part,
            "bitstream": str(bitstream.relative_to(run_dir)), "bitstream_sha256": file_digest(bitstream),
            "bitstream_bytes": bitstream.stat().st_size,
            "fmax_mhz": pnr.fmax_mhz, "fmax_min_mhz": pnr.fmax_min_mhz, "clock_constraint_mhz": pnr.constraint_mhz,
            "timing_met": pnr.timing_met, "utilization": pnr.utilization,
            "baud": baud or b.uart.baud, "design_id": f"{load_design(run_dir).design_id:08x}",
            "pnr_seconds": pnr.seconds, "synth_seconds": synth["yosys_seconds"],
            "router": router or "nextpnr default",
        }
        result = st.result
    return result


def _vivado_bitstream(run_dir: Path, b: Board, baud: int | None, prescreen_fit: bool) -> dict:
    design = load_design(run_dir)
    out_dir = run_dir / "fpga" / b.name
    if prescreen_fit:
        prescreen(design, b.capacity.lut, f"{b.device} ({b.title})")
    params = {"board": b.name, "baud": baud or b.uart.baud, "flow": "vivado"}
    with stage(run_dir, "bitstream", inputs={"rtl.json": run_dir / "rtl.json"}, params=params) as st:
        st.tools = recorded_versions(Vivado())
        files, xdc = _board_sources(design, b, out_dir, baud)
        res = VivadoFlow(b).run(files, TOP_NAME, xdc, out_dir)
        for f in (xdc, res.tcl, res.log, res.bitstream):
            st.output(f)
        st.result = {
            "board": b.name, "device": b.device, "part": b.part, "flow": "vivado",
            "bitstream": str(res.bitstream.relative_to(run_dir)), "bitstream_sha256": file_digest(res.bitstream),
            "fmax_mhz": {"clk": res.fmax_mhz} if res.fmax_mhz else {}, "fmax_min_mhz": res.fmax_mhz,
            "wns_ns": res.wns_ns, "clock_constraint_mhz": b.clock.frequency_hz / 1e6,
            "timing_met": res.wns_ns is not None and res.wns_ns >= 0, "utilization": res.utilization,
            "baud": baud or b.uart.baud, "design_id": f"{design.design_id:08x}", "vivado_seconds": res.seconds,
        }
        result = st.result
    return result
