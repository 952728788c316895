"""Power and timing of a gate-level netlist with OpenSTA (Debian ``sta``, 2.0.x era).

This OpenSTA reads no VCD/SAIF, so the per-net activities measured in simulation are
written as Tcl: ``sta::set_power_pin_activity PIN ACTIVITY DUTY`` on the driver pin of each
net and ``sta::set_power_input_port_activity`` on each input port. (The documented
``set_power_activity -pins`` of this version has a bug -- it loops over an unset variable --
and accepts only input pins, so we call the underlying commands.) Measured facts:
- activity is in transitions per clock period of the clock that reaches the pin; every
  input and output gets a zero input/output delay on the clock so that all logic is
  clocked (without them the activity of unclocked nets is not scaled by the period);
- activities must be set before the first ``report_power`` (they are cached afterwards);
- load pins take the activity of their net's driver; clock pins toggle twice per period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from hwflow.artifacts import read_json
from hwflow.errors import ToolFailed
from hwflow.power.vcd import Activity
from hwflow.tools import OpenSTA, run_tool

POWER_GROUPS = ("Sequential", "Combinational", "Macro", "Pad", "Total")


@dataclass
class PinActivity:
    pin: str          # "u12/Y" or a port name
    activity: float   # transitions per clock period
    duty: float
    is_port: bool = False


@dataclass
class StaResult:
    power_w: dict[str, dict[str, float]]        # group -> {internal, switching, leakage, total}
    clock_period_ns: float
    slack_ns: float | None
    critical_path_ns: float | None
    fmax_mhz: float | None
    startpoint: str | None
    endpoint: str | None
    critical_path: list[dict] = field(default_factory=list)
    report: Path | None = None

    @property
    def total_w(self) -> float:
        return self.power_w["Total"]["total"]


def driver_activities(netlist_json: Path, top: str, act: Activity, period: float,
                      clock_port: str) -> tuple[list[PinActivity], list[str]]:
    """One activity per driven net of the netlist: (activities, nets missing in the VCD)."""
    mod = read_json(netlist_json)["modules"][top]
    bit_names: dict[int, list[str]] = {}
    for name, nn in mod["netnames"].items():
        for b in nn["bits"]:
            if isinstance(b, int):
                bit_names.setdefault(b, []).append(name)

    def measured(bit: int) -> str | None:
        for n in bit_names.get(bit, []):
            if n in act.toggles:
                return n
        return None

    out: list[PinActivity] = []
    missing: list[str] = []
    for pname, port in mod["ports"].items():
        if port["direction"] != "input" or pname == clock_port:
            continue
        n = measured(port["bits"][0])
        if n is None:
            missing.append(pname)
            continue
        out.append(PinActivity(pname, act.rate(n, period), act.duty(n), is_port=True))
    for cname, cell in mod["cells"].items():
        for pin, direction in cell.get("port_directions", {}).items():
            if direction != "output":
                continue
            bit = cell["connections"][pin][0]
            if not isinstance(bit, int):
                continue
            n = measured(bit)
            if n is None:
                missing.append(f"{cname}/{pin}")
                continue
            out.append(PinActivity(f"{cname}/{pin}", act.rate(n, period), act.duty(n)))
    return out, missing


_NET_ACTIVITY_PROC = """proc hwflow_load_activity {nets a d} {
  foreach net $nets {
    foreach p [get_pins -quiet -of_objects $net] {
      if {[get_property $p direction] == "input"} { sta::set_power_pin_activity $p $a $d }
    }
  }
}
proc hwflow_net_activity {pin a d} {
  sta::set_power_pin_activity $pin $a $d
  hwflow_load_activity [get_nets -quiet -of_objects $pin] $a $d
}"""


def write_sta_script(path: Path, liberty: Path, netlist_v: Path, top: str, clock_port: str,
                     period_ns: float, activities: list[PinActivity] | None) -> Path:
    lines = [
        f"read_liberty {{{liberty}}}",
        f"read_verilog {{{netlist_v}}}",
        f"link_design {top}",
        f"create_clock -name clk -period {period_ns:.6g} [get_ports {{{clock_port}}}]",
        f"set_input_delay 0 -clock clk [delete_from_list [all_inputs] [get_ports {{{clock_port}}}]]",
        "set_output_delay 0 -clock clk [all_outputs]",
    ]
    if activities:
        # OpenSTA (2.0.17, Debian) propagates its own activities at the first power query --
        # probabilistically, from the ports and flip-flop outputs through the logic -- and
        # writes them over every other pin, annotated or not: with the annotations before it,
        # combinational power was OpenSTA's estimate, not the simulation's (deep logic: up to
        # ~28 toggles per cycle on a net that the simulation toggled 0.02 times). So: propagate
        # once, then set every driver pin and the load pins of its net to the measured activity.
        # OpenSTA still recomputes the cells in the direct fan-out of an input port at the final
        # query; hwflow designs register their inputs, so that is the input register's enable
        # logic (tests/test_power_levelized.py).
        lines += ["report_power > /dev/null", _NET_ACTIVITY_PROC]
    for a in activities or []:
        duty = min(max(a.duty, 0.0), 1.0)
        if a.is_port:
            lines.append(f"sta::set_power_input_port_activity [get_ports {{{a.pin}}}] {a.activity:.6g} {duty:.6g}")
            lines.append(f"hwflow_load_activity [get_nets -quiet {{{a.pin}}}] {a.activity:.6g} {duty:.6g}")
        else:
            lines.append(f"hwflow_net_activity [get_pins {{{a.pin}}}] {a.activity:.6g} {duty:.6g}")
    lines += [
        'puts "HWFLOW_POWER_BEGIN"',
        "report_power -digits 8",
        'puts "HWFLOW_POWER_END"',
        'puts "HWFLOW_CHECKS_BEGIN"',
        "report_checks -path_delay max -digits 4",
        'puts "HWFLOW_CHECKS_END"',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


_NUM = r"([-+0-9.eE]+)"


def parse_power(text: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for g in POWER_GROUPS:
        m = re.search(rf"^{g}\s+{_NUM}\s+{_NUM}\s+{_NUM}\s+{_NUM}", text, re.M)
        if m:
            out[g] = dict(zip(("internal", "switching", "leakage", "total"), map(float, m.groups())))
    return out


def parse_checks(text: str, period_ns: float) -> dict:
    res: dict = {"slack_ns": None, "critical_path_ns": None, "fmax_mhz": None, "startpoint": None,
                 "endpoint": None, "critical_path": []}
    m = re.search(r"^Startpoint:\s*(\S+)", text, re.M)
    res["startpoint"] = m.group(1) if m else None
    m = re.search(r"^Endpoint:\s*(\S+)", text, re.M)
    res["endpoint"] = m.group(1) if m else None
    m = re.search(rf"^\s*{_NUM}\s+slack", text, re.M)
    if m:
        slack = float(m.group(1))
        res["slack_ns"] = slack
        # period - slack = data arrival + setup (+ clock skew, ideal clock here)
        res["critical_path_ns"] = round(period_ns - slack, 6)
        res["fmax_mhz"] = round(1e3 / (period_ns - slack), 3) if period_ns - slack > 0 else None
    for mm in re.finditer(rf"^\s*{_NUM}\s+{_NUM}\s+([v^])\s+(\S+)\s+\((\S+)\)", text, re.M):
        res["critical_path"].append({"incr_ns": float(mm.group(1)), "time_ns": float(mm.group(2)),
                                     "edge": "rise" if mm.group(3) == "^" else "fall",
                                     "pin": mm.group(4), "cell": mm.group(5)})
    return res


def run_sta(work_dir: Path, liberty: Path, netlist_v: Path, top: str, clock_port: str, period_ns: float,
            activities: list[PinActivity] | None, name: str = "sta") -> StaResult:
    work_dir = Path(work_dir)
    script = write_sta_script(work_dir / f"{name}.tcl", Path(liberty).resolve(), Path(netlist_v).resolve(), top,
                              clock_port, period_ns, activities)
    log = work_dir / f"{name}.log"
    proc = run_tool([OpenSTA().locate(), "-no_splash", "-exit", script.name], cwd=work_dir, log=log, tool="sta")
    text = proc.stdout
    bad = re.findall(r"^Error:.*$", text, re.M)
    if bad:
        raise ToolFailed("sta", 0, str(log), "\n".join(bad[:10]))
    pw = text.split("HWFLOW_POWER_BEGIN")[-1].split("HWFLOW_POWER_END")[0]
    ck = text.split("HWFLOW_CHECKS_BEGIN")[-1].split("HWFLOW_CHECKS_END")[0]
    power = parse_power(pw)
    if "Total" not in power:
        raise ToolFailed("sta", 0, str(log), "no power report in the output")
    checks = parse_checks(ck, period_ns)
    (work_dir / f"{name}_power.txt").write_text(pw.strip() + "\n")
    (work_dir / f"{name}_timing.txt").write_text(ck.strip() + "\n")
    return StaResult(power_w=power, clock_period_ns=period_ns, report=log, **checks)
