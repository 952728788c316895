"""FPGA power ESTIMATE: per-net activity of the post-synthesis netlist x per-resource
energy per toggle.

No open FPGA flow reports power, so this is a model, labelled as such in every output:
- Yosys ``synth_ecp5 -nodsp`` / ``synth_ice40`` maps the design; the mapped netlist is
  simulated (Verilator + Yosys' own ``<family>/cells_sim.v``) with the same stimulus as the
  ASIC flow and checked bit-exact against the RTL; every cell output gets its toggle rate.
  (DSP blocks are disabled on ECP5 because Yosys ships no simulation model of
  MULT18X18D; the hwflow FPGA synthesis stage may use DSPs, so its counts can differ.)
- Each toggle costs E = 1/2 C_eff V^2, with C_eff an ASSUMED effective switched
  capacitance per resource class (net wire + fan-out inputs) and V the core voltage of the
  family (ECP5 VCC = 1.1 V, iCE40 VCC = 1.2 V, both nominal values of the Lattice data
  sheets DS1044 and iCE40 family data sheets). The capacitances below are round,
  order-of-magnitude values for a 40 nm FPGA fabric chosen by us -- not vendor numbers and
  not calibrated against the Lattice Power Calculator; treat absolute results as +-3x and
  compare designs on the same family relative to each other.
- The clock network costs C_clk per flip-flop per clock edge pair; static power is not
  modelled (it depends on the device size, not the design).
With Vivado installed, a SAIF-driven ``report_power`` would replace this for Xilinx parts
(not available on this machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hwflow.artifacts import read_json
from hwflow.backends.rtl.design import RtlDesign
from hwflow.errors import ConfigError
from hwflow.power.data import Stimulus
from hwflow.power.simulate import compare_outputs, run_stream
from hwflow.power.vcd import read_vcd_activity
from hwflow.tools import Yosys
from hwflow.tools.yosys import yosys_path

# resource class of each mapped cell type
CELL_CLASS = {
    "ecp5": {"LUT4": "lut", "TRELLIS_FF": "ff", "CCU2C": "carry", "PFUMX": "mux", "L6MUX21": "mux"},
    "ice40": {"SB_LUT4": "lut", "SB_CARRY": "carry"},   # SB_DFF* -> "ff" by prefix
}
# assumed effective switched capacitance per toggle of each class's output net (fF)
C_EFF_FF = {"lut": 80.0, "ff": 80.0, "carry": 20.0, "mux": 20.0, "port": 80.0}
C_CLK_PER_FF_FF = 15.0     # clock-tree share per flip-flop, per clock transition
CORE_VOLTAGE = {"ecp5": 1.1, "ice40": 1.2}
SYNTH = {"ecp5": "synth_ecp5 -nodsp", "ice40": "synth_ice40"}
# Verilator reads the iCE40 models' port default values (`input E = 1'b1`) as drivers that
# fight the real connection; the models' own switch turns them off
SIM_DEFINES = {"ecp5": (), "ice40": ("NO_ICE40_DEFAULT_ASSIGNMENTS",)}


def _class(family: str, cell_type: str) -> str | None:
    if family == "ice40" and cell_type.startswith("SB_DFF"):
        return "ff"
    return CELL_CLASS[family].get(cell_type)


def _script(design: RtlDesign, out: Path, family: str) -> str:
    files = " ".join(yosys_path(f) for f in design.files)
    return "\n".join([
        f"read_verilog -sv -defer {files}",
        f"hierarchy -check -top {design.top}",
        f"{SYNTH[family]} -top {design.top}",
        "splitnets -ports -format _",
        "opt_clean -purge",
        "rename -hide w:* t:*",
        "rename -enumerate -pattern n% w:*",
        "rename -enumerate -pattern u% t:*",
        f'tee -q -o "{out / "stat.json"}" stat -json',
        f'write_verilog -noattr "{out / "netlist.v"}"',
        f'write_json "{out / "netlist.json"}"',
    ]) + "\n"


def cells_sim(family: str) -> Path:
    p = Yosys().locate() / "share" / family / "cells_sim.v"
    if not p.exists():
        raise ConfigError(f"no Yosys simulation models for {family} at {p}")
    return p


def profile_fpga(design: RtlDesign, stim: Stimulus, clock_mhz: float, work_dir: Path, family: str,
                 check_rtl: bool = True, progress: Callable[[str], None] | None = None) -> dict:
    from hwflow.synth.yosys import yosys_progress

    work_dir = Path(work_dir).resolve()  # the tools run in other working directories
    synth_dir = work_dir / "synth"
    synth_dir.mkdir(parents=True, exist_ok=True)
    script = synth_dir / "fpga_synth.ys"
    script.write_text(_script(design, synth_dir.resolve(), family))
    Yosys().run_script(script, cwd=synth_dir, log=synth_dir / "fpga_synth.log",
                       on_line=yosys_progress(progress, f"yosys {family}"))
    if progress:
        progress(f"netlist simulation (Verilator) of {len(stim.q)} samples")
    counts = {k: int(v) for k, v in read_json(synth_dir / "stat.json")["design"]["num_cells_by_type"].items()}

    words = design.input.pack(stim.q)
    gate = run_stream(design, [synth_dir / "netlist.v", cells_sim(family)], design.top, words,
                      work_dir / "netsim", split_ports=True, vcd=True, defines=SIM_DEFINES[family])
    check = {"samples": len(words), "compared_with_rtl": False}
    if check_rtl:
        rtl = run_stream(design, design.files, design.top, words, work_dir / "rtlsim", vcd=False)
        compare_outputs(rtl.outputs, gate.outputs, f"{design.top} {family} netlist vs RTL")
        check.update(compared_with_rtl=True, mismatches=0)
    act = read_vcd_activity(gate.vcd, "dut", gate.t_start, gate.t_end)
    gate.vcd.unlink()

    mod = read_json(synth_dir / "netlist.json")["modules"][design.top]
    bit_names: dict[int, list[str]] = {}
    for name, nn in mod["netnames"].items():
        for b in nn["bits"]:
            if isinstance(b, int):
                bit_names.setdefault(b, []).append(name)

    def rate(bit) -> float | None:
        for n in bit_names.get(bit, []) if isinstance(bit, int) else []:
            if n in act.toggles:
                return act.rate(n, gate.period)
        return None

    toggles = {k: 0.0 for k in C_EFF_FF}      # toggles per cycle summed over a class's nets
    nets = {k: 0 for k in C_EFF_FF}
    unmeasured = 0
    n_ff = 0
    for cell in mod["cells"].values():
        cls = _class(family, cell["type"])
        if cls == "ff":
            n_ff += 1
        if cls is None:
            continue
        for pin, bits in cell["connections"].items():
            if cell.get("port_directions", {}).get(pin) != "output":
                continue
            r = rate(bits[0])
            if r is None:
                unmeasured += 1
                continue
            toggles[cls] += r
            nets[cls] += 1
    for pname, port in mod["ports"].items():
        if pname != design.clock_port:
            r = rate(port["bits"][0])
            if r is not None and port["direction"] == "input":
                toggles["port"] += r
                nets["port"] += 1

    v = CORE_VOLTAGE[family]
    f = clock_mhz * 1e6
    by_class_mw = {k: 0.5 * C_EFF_FF[k] * 1e-15 * v * v * toggles[k] * f * 1e3 for k in toggles}
    by_class_mw["clock"] = 0.5 * C_CLK_PER_FF_FF * 1e-15 * v * v * 2 * n_ff * f * 1e3
    total_mw = sum(by_class_mw.values())
    energy_nj = total_mw * 1e-3 * design.ii / f * 1e9
    return {
        "target": family,
        "estimate": True,
        "estimate_model": "activity-based: sum over nets of toggles/s x 1/2 C_eff V^2 (+ clock tree per FF)",
        "clock_mhz": clock_mhz,
        "ii": design.ii,
        "latency_cycles": design.latency_cycles,
        "weights": design.weights,
        "resources": {cls: sum(n for t, n in counts.items() if _class(family, t) == cls)
                      for cls in ("lut", "ff", "carry", "mux")},
        "cell_counts": counts,
        "power_mw": {"dynamic_estimate": total_mw, "total": total_mw},
        "power_by_group_mw": {k: {"switching": v_} for k, v_ in by_class_mw.items() if v_ > 0},
        "total_power_mw": total_mw,
        "dynamic_power_mw": total_mw,
        "energy_per_inference_nj": energy_nj,
        "fmax_mhz": None,
        "activity": {"source": stim.source, "samples": len(words), "cycles": gate.cycles,
                     "toggles_per_cycle_by_class": toggles, "nets_by_class": nets,
                     "unmeasured_outputs": unmeasured},
        "gate_level_check": check,
        "coefficients": {
            "core_voltage_v": v, "c_eff_fF": C_EFF_FF, "c_clock_per_ff_fF": C_CLK_PER_FF_FF,
            "energy_per_toggle_fJ": {k: 0.5 * c * v * v for k, c in C_EFF_FF.items()},
            "source": ("core voltage: Lattice data sheets (ECP5 DS1044 / iCE40 family data sheet, nominal VCC); "
                       "capacitances: hwflow assumptions (order of magnitude for a 40 nm FPGA fabric, "
                       "not vendor-calibrated)"),
        },
        "assumptions": [
            "ESTIMATE, not a vendor power report: absolute values +-3x; compare designs relative to each other",
            f"Yosys `{SYNTH[family]}` netlist (no place and route: real routing changes net capacitances)",
            "activity of each mapped cell output from a zero-delay simulation of the mapped netlist "
            "(Yosys cells_sim.v models), checked bit-exact against the RTL; glitches not counted",
            f"stimulus: {stim.source}",
            "static (quiescent) power of the device is not included",
            f"energy per inference = estimated dynamic power x II / f_clk = P x {design.ii} / {clock_mhz:g} MHz",
            "Fmax: not computed here (see `hwflow synth`/nextpnr timing)",
        ],
    }
