"""``hwflow profile``: area, power and energy per inference of a run directory's design."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from hwflow.artifacts import is_up_to_date, stage, stage_record, write_json
from hwflow.backends.rtl.design import load_design
from hwflow.errors import ConfigError
from hwflow.power.data import load_stimulus
from hwflow.units import parse_clock

ASIC_TARGETS = ("asic-osu018",)
FPGA_TARGETS = ("ecp5", "ice40")
TARGETS = ASIC_TARGETS + FPGA_TARGETS
# bumped whenever the analysis changes, so that a recorded profile of an older flow is
# never reused (2: fan-out buffer trees before OpenSTA; 3: OpenSTA takes the simulated activity on
# every pin instead of propagating its own through the logic, hwflow/power/opensta.py)
FLOW_VERSION = 3


def profile(run_dir: str | Path, target: str = "asic-osu018", clock_mhz: float | str = 40.0, samples: int = 200,
            data: str | Path | np.ndarray | None = None, dataset: str | None = None, seed: int = 0,
            check_rtl: bool = True, plots: bool = True, simulator: str = "yosys", reuse: bool = True,
            synth: str = "default", progress: Callable[[str], None] | None = None) -> dict:
    """Profile the design of ``run_dir/rtl.json`` on ``target``; writes ``profile.json``
    (a ``profile`` stage record) and ``profile/<target>/`` with netlist, reports and plots.

    ``reuse``: return the recorded result when ``profile.json`` is complete for the same
    design files and parameters (a gate-level run of a large design takes long).
    ``synth``: ASIC synthesis effort, "default" or "fast" (see profile_asic).
    ``progress``: called with progress lines (Yosys passes, simulation, STA)."""
    if target not in TARGETS:
        raise ConfigError(f"unknown profile target {target!r}; valid: {', '.join(TARGETS)}")
    run_dir = Path(run_dir).resolve()  # Yosys, Verilator and OpenSTA run in other working directories
    clock = parse_clock(clock_mhz)
    design = load_design(run_dir)
    params = {"flow_version": FLOW_VERSION, "target": target, "clock_mhz": clock, "samples": samples, "seed": seed,
              "data": ("array" if isinstance(data, np.ndarray) else data if data in (None, "zeros")
                       else str(Path(data).resolve())),
              "dataset": dataset, "simulator": simulator}
    if synth != "default":  # only when set: records of default runs stay valid
        params["synth"] = synth
    inputs = {"rtl": design.rtl_json, **{f"verilog_{i}": f for i, f in enumerate(design.files)}}
    work = run_dir / "profile" / target
    if reuse and not isinstance(data, np.ndarray) and is_up_to_date(run_dir, "profile", inputs=inputs, params=params):
        rec = stage_record(run_dir, "profile")
        if rec is not None and rec.get("target") == target:
            return rec
    with stage(run_dir, "profile", inputs=inputs, params=params) as st:
        from hwflow.ir.boundary import Boundary

        boundary = Boundary.load(run_dir, design.raw.get("software"), design.raw["input"]["shape"],
                                 design.raw["output"]["shape"])
        stim = load_stimulus(design.input, samples, data=data, dataset=dataset, seed=seed, boundary=boundary)
        if target in ASIC_TARGETS:
            from hwflow.power.asic import profile_asic

            result = profile_asic(design, stim, clock, work, library=target.split("-", 1)[1], check_rtl=check_rtl,
                                  simulator=simulator, synth=synth, progress=progress)
            from hwflow.tools import OpenSTA, Verilator, Yosys, recorded_versions

            st.tools = recorded_versions(Yosys(), Verilator(), OpenSTA())
        else:
            from hwflow.power.fpga import profile_fpga

            result = profile_fpga(design, stim, clock, work, family=target, progress=progress)
        if plots:
            from hwflow.power.plots import area_breakdown, power_breakdown

            result["plots"] = [str(st.output(power_breakdown(result, work / "power_breakdown.png")))]
            if "area_um2" in result:
                result["plots"].append(str(st.output(area_breakdown(result, work / "area_by_module.png"))))
        st.output(write_json(work / f"profile_{target}.json", result))
        st.result.update(result)
    return result
