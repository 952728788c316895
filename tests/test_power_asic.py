"""ASIC power flow on the hand-written test design (tests/data/power): Yosys + osu018,
gate-level Verilator simulation, OpenSTA. The design is small so the whole flow runs in
about a minute; the ECON-T encoder runs in test_power_econt.py (slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwflow.artifacts import read_json
from hwflow.errors import ConfigError
from hwflow.power import profile
from hwflow.power.liberty import read_liberty
from hwflow.tools import Liberty

pytestmark = pytest.mark.tools

DATA = Path(__file__).parent / "data" / "power"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("power") / "run"
    shutil.copytree(DATA, d)
    return d


@pytest.fixture(scope="module")
def profiles(run_dir):
    """The same netlist profiled with random data, then all-zero data (one build of each
    simulation binary: the stimulus is read at run time)."""
    rand = profile(run_dir, clock_mhz="40MHz", samples=64)
    rand_record = read_json(run_dir / "profile.json")
    zeros = profile(run_dir, clock_mhz=40.0, samples=64, data="zeros", check_rtl=False)
    return rand, rand_record, zeros


def test_profile_record_has_area_power_energy(profiles, run_dir):
    rand, rec, _ = profiles
    assert rec["status"] == "complete" and rec["stage"] == "profile"
    lib = read_liberty(Liberty("osu018").path)
    # area is the sum of liberty cell areas of the netlist's cells
    assert rand["area_um2"] == pytest.approx(sum(n * lib.areas[c] for c, n in rand["cell_counts"].items()))
    assert rand["cell_counts"]["DFFPOSX1"] == 17          # 16 output bits + valid
    mods = {m["module"] for m in rand["area_by_module"]}
    assert {"dot_core", "dot_neuron"} <= mods
    p = rand["power_mw"]
    assert p["total"] == pytest.approx(p["internal"] + p["switching"] + p["leakage"], rel=1e-6)
    assert 0.05 < p["total"] < 50
    # energy per inference = P x II / f
    assert rand["energy_per_inference_nj"] == pytest.approx(p["total"] * 1e-3 * 1 / 40e6 * 1e9)
    assert rand["fmax_mhz"] > 40 and rand["timing"]["met"]
    assert rand["gate_level_check"] == {"samples": 64, "compared_with_rtl": True, "mismatches": 0,
                                        "simulator": "yosys"}
    assert rand["activity"]["nets"] > 600
    assert any("energy per inference" in a for a in rand["assumptions"])
    for png in rand["plots"]:
        assert Path(png).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((run_dir / "profile" / "asic-osu018" / "profile_asic-osu018.json").read_text())["area_um2"] \
        == rand["area_um2"]


def test_power_follows_activity(profiles):
    rand, _, zeros = profiles
    assert zeros["activity"]["mean_toggles_per_cycle"] < 0.01 < rand["activity"]["mean_toggles_per_cycle"]
    assert zeros["dynamic_power_mw"] < 0.5 * rand["dynamic_power_mw"]
    # what switches with all-zero data is the clock tree (buffered clock net) and little else
    assert zeros["power_mw"]["switching"] < 0.25 * rand["power_mw"]["switching"]
    # leakage depends on the cells, not on the data
    assert zeros["leakage_power_mw"] == pytest.approx(rand["leakage_power_mw"], rel=1e-9)
    assert zeros["area_um2"] == rand["area_um2"]


def test_bad_inputs_raise_config_errors(tmp_path, run_dir):
    with pytest.raises(ConfigError, match="rtl.json"):
        profile(tmp_path)
    with pytest.raises(ConfigError, match="valid: asic-osu018"):
        profile(run_dir, target="asic-nonexistent")
    with pytest.raises(ConfigError, match="clock"):
        profile(run_dir, clock_mhz="fast")
    with pytest.raises(ConfigError, match=".npy"):
        profile(run_dir, data=tmp_path / "missing.npy")
    with pytest.raises(ConfigError, match="elements"):
        profile(run_dir, data=np.zeros((4, 3)))


def test_verilator_and_yosys_gate_level_simulations_agree(profiles, run_dir):
    """The two gate-level simulators (Verilator + osu018_stdcells.v, Yosys sim + liberty
    functions) see the same activity, so OpenSTA reports the same power (the measurement
    windows differ by the pipeline drain, hence the tolerance)."""
    rand, _, _ = profiles
    ver = profile(run_dir, clock_mhz=40.0, samples=64, simulator="verilator", check_rtl=False)
    assert ver["activity"]["simulator"] == "verilator" and rand["activity"]["simulator"] == "yosys"
    assert ver["power_mw"]["switching"] == pytest.approx(rand["power_mw"]["switching"], rel=0.03)
    assert ver["power_mw"]["total"] == pytest.approx(rand["power_mw"]["total"], rel=0.03)


def test_buffer_trees_keep_the_logic_and_bound_fanout(profiles, run_dir, tmp_path):
    """Buffer insertion (before OpenSTA) must not change what the netlist computes."""
    import re

    from hwflow.backends.rtl.design import load_design
    from hwflow.power.buffering import buffer_netlist
    from hwflow.power.simulate import compare_outputs
    from hwflow.power.yosys_sim import run_yosys_stream

    synth = run_dir / "profile" / "asic-osu018" / "synth"
    buf = buffer_netlist(synth / "netlist.json", "dot_core", tmp_path / "buf.v", max_fanout=4)
    assert buf.cells_added > 10 and "clk" in buf.buffers
    text = buf.verilog.read_text()
    uses: dict[str, int] = {}
    for m in re.finditer(r"\.(?!Y\b|Q\b)\w+\(([\w]+)\)", text):
        uses[m.group(1)] = uses.get(m.group(1), 0) + 1
    assert max(uses.values()) <= 4
    d = load_design(run_dir)
    words = d.input.pack(np.random.default_rng(3).integers(-8, 8, size=(20, 8)))
    rtl = run_yosys_stream(d, d.files, words, tmp_path / "rtl", vcd_all=False)
    gate = run_yosys_stream(d, [buf.verilog], words, tmp_path / "gate", gate_level_liberty=Liberty("osu018").path,
                            vcd_all=False)
    compare_outputs(rtl.outputs, gate.outputs, "buffered netlist")
