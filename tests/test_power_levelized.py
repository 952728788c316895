"""Levelized gate-level simulation (hwflow/power/levelized_sim.py) and the activities OpenSTA
uses: the numpy simulation equals the RTL word for word and sees what Yosys `sim` sees, a
broken netlist is caught, and OpenSTA's power follows the simulated activity of every pin
(it used to propagate its own through combinational logic). On tests/data/power."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hwflow.artifacts import read_json, write_json
from hwflow.backends.rtl.design import load_design
from hwflow.errors import MismatchError
from hwflow.power import profile
from hwflow.power.levelized_sim import run_levelized
from hwflow.power.opensta import PinActivity, run_sta
from hwflow.power.simulate import compare_outputs
from hwflow.tools import Liberty

pytestmark = pytest.mark.tools

DATA = Path(__file__).parent / "data" / "power"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("power_levelized") / "run"
    shutil.copytree(DATA, d)
    return d


@pytest.fixture(scope="module")
def levelized(run_dir):
    return profile(run_dir, clock_mhz=40.0, samples=64, simulator="levelized", plots=False)


def test_levelized_equals_rtl_and_yosys_power(levelized, run_dir):
    chk = levelized["gate_level_check"]
    assert chk["simulator"] == "levelized" and chk["compared_with_rtl"] and chk["mismatches"] == 0
    assert chk["levels"] > 1
    ys = profile(run_dir, clock_mhz=40.0, samples=64, simulator="yosys", check_rtl=False, plots=False)
    assert levelized["power_mw"]["switching"] == pytest.approx(ys["power_mw"]["switching"], rel=0.03)
    assert levelized["power_mw"]["total"] == pytest.approx(ys["power_mw"]["total"], rel=0.03)


def test_levelized_catches_a_broken_netlist(levelized, run_dir, tmp_path):
    design = load_design(run_dir)
    net_json = run_dir / "profile" / "asic-osu018" / "synth" / "netlist.json"
    nl = read_json(net_json)
    mod = nl["modules"][design.top]
    out_bit = mod["ports"]["m_axis_tdata_0"]["bits"][0]
    flop = next(c for c in mod["cells"].values() if c["type"].startswith("DFF") and c["connections"]["Q"] == [out_bit])
    flop["connections"]["D"] = ["1"]  # the register of output bit 0 holds 1
    broken = write_json(tmp_path / "broken.json", nl)
    words = design.input.pack(np.random.default_rng(0).integers(design.input.int_min, design.input.int_max + 1,
                                                                 size=(32, design.input.elements)))
    good, _, _, _ = run_levelized(design, net_json, Liberty("osu018").path, words)
    bad, _, _, _ = run_levelized(design, broken, Liberty("osu018").path, words)
    compare_outputs(good, good, "same")
    with pytest.raises(MismatchError):
        compare_outputs(good, bad, "broken netlist")


@pytest.fixture(scope="module")
def mlp_levelized(tmp_path_factory):
    """The 8-6-3 test MLP in one stage (registered input, as every hwflow design)."""
    from _rtl_util import tiny_mlp

    from hwflow.backends.rtl import generate_rtl

    d = tmp_path_factory.mktemp("power_levelized_mlp")
    generate_rtl(tiny_mlp(d / "tiny.onnx"), d / "run", latency_cutoff=0, lint=False)
    return d / "run", profile(d / "run", clock_mhz=40.0, samples=50, simulator="levelized", plots=False)


def test_opensta_uses_the_annotated_activity_of_combinational_pins(mlp_levelized):
    """Ports keep their measured activity, every cell output gets ~0: combinational switching
    must (nearly) vanish. Annotations made before OpenSTA's own propagation were overwritten by
    activity it propagated from the ports and flip-flops (the pins in the direct fan-out of an
    input port still are: hwflow designs register their inputs, so those are a few cells)."""
    run_dir, real = mlp_levelized
    work = run_dir / "profile" / "asic-osu018"
    acts = []
    for line in (work / "sta.tcl").read_text().splitlines():
        if line.startswith("sta::set_power_input_port_activity"):
            a, d = map(float, line.split()[-2:])
            acts.append(PinActivity(line.split("{")[1].split("}")[0], a, d, is_port=True))
        elif line.startswith("hwflow_net_activity"):
            acts.append(PinActivity(line.split("{")[1].split("}")[0], 1e-6, 0.5))  # 0 reads as "not set"
    assert acts and any(a.is_port and a.activity > 0 for a in acts)
    silent = run_sta(work, Liberty("osu018").path, work / "synth" / "netlist_sta.v", load_design(run_dir).top, "clk",
                     25.0, acts, name="sta_silent")
    real_sw = real["power_by_group_mw"]["Combinational"]["switching"]
    assert silent.power_w["Combinational"]["switching"] * 1e3 < 0.2 * real_sw
