"""ASIC profile: Yosys -> gate-level netlist -> gate-level simulation activity -> OpenSTA.

Energy per inference = total power x (II / f_clk): the design accepts one inference every
II cycles, so at full throughput each inference costs II clock periods of average power.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from hwflow.backends.rtl.design import RtlDesign
from hwflow.errors import ConfigError, MismatchError
from hwflow.power.asic_synth import synthesize_asic
from hwflow.power.data import Stimulus
from hwflow.power.liberty import read_liberty
from hwflow.power.buffering import buffer_netlist
from hwflow.power.opensta import PinActivity, driver_activities, run_sta
from hwflow.power.simulate import compare_outputs, run_stream
from hwflow.power.vcd import read_vcd_activity
from hwflow.tools import Liberty

NODE_NM = {"osu018": 180}
BUFFER_CELL = "BUFX4"
MAX_FANOUT = 16


SIMULATORS = ("yosys", "verilator", "bulk", "levelized")
SIM_NOTE = {
    "yosys": "Yosys `sim` of the netlist with every cell's logic imported from the liberty (`read_liberty`)",
    "verilator": "Verilator with the library's Verilog cell models (osu018_stdcells.v)",
    "bulk": "Verilator with cell models generated from the liberty's cell functions, driven by the C++ bulk "
            "harness at full rate; per-net toggles and time at 1 from Verilator's SAIF writer",
    "levelized": "cycle-based zero-delay simulation of the netlist in numpy, cells levelized once and evaluated "
                 "level by level from the liberty's cell functions (hwflow/power/levelized_sim.py); full-rate stream",
}


def _simulate(design: RtlDesign, net, lib: Liberty, words: list[int], work_dir: Path, simulator: str,
              check_rtl: bool, progress: Callable[[str], None] | None = None):
    """Gate-level run (+ the RTL run it is compared with): (activity, cycles, check)."""
    check = {"samples": len(words), "compared_with_rtl": False, "simulator": simulator}
    say = progress or (lambda line: None)
    t0 = time.time()
    say(f"gate-level simulation ({simulator}) of {len(words)} samples"
        + (", then the RTL for the check" if check_rtl else ""))
    if simulator == "bulk":
        from hwflow.power.bulk_gate import PERIOD, run_gate_level, run_rtl

        outputs, act, cycles, info = run_gate_level(design, net.netlist_v, lib.path, set(net.cell_counts), words,
                                                    work_dir / "gatesim_bulk", progress)
        check["build_time_s"] = info["build_time_s"]
        say(f"gate-level simulation done ({time.time() - t0:.0f} s)")
        if check_rtl:
            compare_outputs(run_rtl(design, words, progress), outputs, f"{design.top} gate-level netlist vs RTL")
            check.update(compared_with_rtl=True, mismatches=0)
        return act, PERIOD, cycles, check
    if simulator == "levelized":
        from hwflow.power.bulk_gate import run_rtl
        from hwflow.power.levelized_sim import PERIOD, run_levelized

        outputs, act, cycles, info = run_levelized(design, net.netlist_json, lib.path, words, progress)
        check.update(levels=info["levels"], sim_wall_time_s=info["sim_wall_time_s"])
        say(f"gate-level simulation done ({time.time() - t0:.0f} s)")
        if check_rtl:
            compare_outputs(run_rtl(design, words, progress), outputs, f"{design.top} gate-level netlist vs RTL")
            check.update(compared_with_rtl=True, mismatches=0)
        return act, PERIOD, cycles, check
    if simulator == "yosys":
        from hwflow.power.yosys_sim import run_yosys_stream

        gate = run_yosys_stream(design, [net.netlist_v], words, work_dir / "gatesim", gate_level_liberty=lib.path)
        rtl = run_yosys_stream(design, design.files, words, work_dir / "rtlsim", vcd_all=False) if check_rtl else None
        act = read_vcd_activity(gate.vcd, "hwflow_power_simtop", gate.t_start, gate.t_end, time_unit_s=None,
                                prefix="dut.")
    else:
        gate = run_stream(design, [net.netlist_v, lib.verilog_models], design.top, words, work_dir / "gatesim",
                          split_ports=True, vcd=True)
        rtl = run_stream(design, design.files, design.top, words, work_dir / "rtlsim", vcd=False) if check_rtl else None
        act = read_vcd_activity(gate.vcd, "dut", gate.t_start, gate.t_end)
    say(f"gate-level simulation done ({time.time() - t0:.0f} s)")
    if rtl is not None:
        compare_outputs(rtl.outputs, gate.outputs, f"{design.top} gate-level netlist vs RTL")
        check.update(compared_with_rtl=True, mismatches=0)
    if gate.vcd is not None and gate.vcd.exists():
        gate.vcd.unlink()  # large; the activities are kept in sta.tcl
    return act, gate.period, gate.cycles, check


SYNTH_EFFORTS = ("default", "fast")


def profile_asic(design: RtlDesign, stim: Stimulus, clock_mhz: float, work_dir: Path, library: str = "osu018",
                 check_rtl: bool = True, simulator: str = "yosys", synth: str = "default",
                 progress: Callable[[str], None] | None = None) -> dict:
    """``synth="fast"``: flat mapping only (no area-by-module pass) with ABC's fast script.
    ``progress``: called with progress lines (Yosys passes, simulation, STA)."""
    lib = Liberty(library)
    info = read_liberty(lib.path)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    period_ns = 1e3 / clock_mhz

    if simulator not in SIMULATORS:
        raise ConfigError(f"unknown simulator {simulator!r}; valid: {', '.join(SIMULATORS)}")
    if synth not in SYNTH_EFFORTS:
        raise ConfigError(f"unknown synthesis effort {synth!r}; valid: {', '.join(SYNTH_EFFORTS)}")
    net = synthesize_asic(design, lib.path, work_dir / "synth", hierarchical=synth == "default",
                          abc_fast=synth == "fast", progress=progress)
    words = design.input.pack(stim.q)
    act, period, cycles, check = _simulate(design, net, lib, words, work_dir, simulator, check_rtl, progress)
    activities, missing = driver_activities(net.netlist_json, design.top, act, period, design.clock_port)
    if missing:
        raise MismatchError(f"{len(missing)} nets of the netlist are not in the simulation's VCD, e.g. "
                            f"{', '.join(missing[:5])}")
    rates = np.array([a.activity for a in activities]) if activities else np.zeros(1)
    # fan-out buffer trees (see hwflow.power.buffering); each buffer carries its source net's activity
    buf = buffer_netlist(net.netlist_json, design.top, work_dir / "synth" / "netlist_sta.v",
                         buf_cell=BUFFER_CELL, max_fanout=MAX_FANOUT)
    for pin, src in buf.buffer_sources.items():
        if src not in act.toggles:
            raise MismatchError(f"buffered net {src} is not in the simulation's VCD")
        activities.append(PinActivity(pin, act.rate(src, period), act.duty(src)))
    if progress:
        progress(f"OpenSTA: timing and power of {net.top} with {len(activities)} pin activities")
    sta = run_sta(work_dir, lib.path, buf.verilog, design.top, design.clock_port, period_ns, activities)
    buffer_area = buf.cells_added * info.area(BUFFER_CELL)
    cell_counts = dict(net.cell_counts)
    if buf.cells_added:
        cell_counts[BUFFER_CELL] = cell_counts.get(BUFFER_CELL, 0) + buf.cells_added

    p = sta.power_w["Total"]
    mw = {k: p[k] * 1e3 for k in ("internal", "switching", "leakage", "total")}
    energy_j = p["total"] * design.ii / (clock_mhz * 1e6)
    dyn_energy_j = (p["internal"] + p["switching"]) * design.ii / (clock_mhz * 1e6)
    groups = {g: {k: v * 1e3 for k, v in d.items()} for g, d in sta.power_w.items()
              if g != "Total" and d["total"] > 0}
    node = NODE_NM.get(library)
    return {
        "target": f"asic-{library}",
        "top": design.top,
        "library": info.name,
        "liberty": str(lib.path),
        "node_nm": node,
        "voltage_v": info.nom_voltage,
        "clock_mhz": clock_mhz,
        "ii": design.ii,
        "latency_cycles": design.latency_cycles,
        "weights": design.weights,
        "synthesis": {"effort": synth,
                      "abc": "synth -noabc; abc -script +strash;dretime;map -liberty" if synth == "fast"
                      else "synth; abc -liberty"},
        "area_um2": round(net.area_um2 + buffer_area, 3),
        "area_mm2": round((net.area_um2 + buffer_area) * 1e-6, 6),
        "mapped_area_um2": round(net.area_um2, 3),
        "buffer_area_um2": round(buffer_area, 3),
        "sequential_area_um2": round(net.sequential_area_um2, 3),
        "cell_count": sum(cell_counts.values()),
        "cell_counts": cell_counts,
        "buffer_trees": {"cell": BUFFER_CELL, "max_fanout": MAX_FANOUT, "buffers": buf.cells_added,
                         "nets": len(buf.buffers)},
        "area_by_cell_type_um2": net.area_by_cell_type,
        "area_by_module": net.area_by_module,
        "power_mw": mw,
        "power_by_group_mw": groups,
        "total_power_mw": mw["total"],
        "dynamic_power_mw": mw["internal"] + mw["switching"],
        "leakage_power_mw": mw["leakage"],
        "energy_per_inference_nj": energy_j * 1e9,
        "dynamic_energy_per_inference_nj": dyn_energy_j * 1e9,
        "fmax_mhz": sta.fmax_mhz,
        "timing": {"clock_period_ns": period_ns, "slack_ns": sta.slack_ns,
                   "critical_path_ns": sta.critical_path_ns, "startpoint": sta.startpoint,
                   "endpoint": sta.endpoint, "met": sta.slack_ns is not None and sta.slack_ns >= 0,
                   "path_cells": [s["cell"] for s in sta.critical_path]},
        "activity": {"source": stim.source, "samples": len(words), "cycles": cycles, "simulator": simulator,
                     "nets": len(activities), "mean_toggles_per_cycle": float(rates.mean()),
                     "max_toggles_per_cycle": float(rates.max())},
        "gate_level_check": check,
        "files": {"netlist": str(net.netlist_v), "netlist_sta": str(buf.verilog), "sta_script": str(work_dir / "sta.tcl"),
                  "power_report": str(work_dir / "sta_power.txt"), "timing_report": str(work_dir / "sta_timing.txt")},
        "assumptions": [
            f"library {info.name} (Debian qflow-tech-osu018), {node} nm, typical corner, "
            f"{info.nom_voltage} V, 25 C; cell areas from the liberty (no placement, no wires, no fill/utilisation)",
            *(["Yosys `synth -noabc`, then ABC's fast script `strash; dretime; map` to the liberty (no SAT "
                "sweeping; a larger netlist than the default mapping)"]
              if synth == "fast" else []),
            f"every net with more than {MAX_FANOUT} loads (clock included) gets a balanced {BUFFER_CELL} buffer tree "
            "before OpenSTA (a stand-in for fan-out repair and clock-tree synthesis; area includes the buffers); "
            f"clock {clock_mhz:g} MHz, ideal timing (no skew)",
            f"switching activity of every net measured in a zero-delay gate-level simulation ({SIM_NOTE[simulator]}), "
            "whose outputs are checked word by word against the RTL: functional toggles only, glitches not counted",
            f"stimulus: {stim.source}, streamed back to back (one beat every II cycles at full throughput)",
            "net capacitance = pin capacitances of the loads only (no wire-load model, no parasitics)",
            f"energy per inference = total power x II / f_clk = P x {design.ii} / {clock_mhz:g} MHz "
            "(the design busy every cycle; leakage included)",
            "Fmax from OpenSTA report_checks: 1 / (clock period - worst setup slack), inputs and outputs "
            "constrained with zero external delay",
        ],
    }
