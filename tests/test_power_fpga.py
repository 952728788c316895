"""FPGA power estimate on the hand-written test design: mapped-netlist simulation checked
against the RTL, activity x per-resource energy, labelled as an estimate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hwflow.power import profile
from hwflow.power.fpga import C_EFF_FF, CORE_VOLTAGE

pytestmark = pytest.mark.tools

DATA = Path(__file__).parent / "data" / "power"


def test_ice40_estimate_is_labelled_and_follows_the_model(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(DATA, run)
    r = profile(run, target="ice40", clock_mhz=12.0, samples=24)
    assert r["estimate"] is True and any("ESTIMATE" in a for a in r["assumptions"])
    assert r["gate_level_check"]["mismatches"] == 0
    assert r["resources"]["lut"] > 50 and r["resources"]["ff"] == 17
    assert r["activity"]["unmeasured_outputs"] == 0
    # the model: class power = toggles/cycle x 1/2 C V^2 x f
    v, f = CORE_VOLTAGE["ice40"], 12e6
    lut = r["activity"]["toggles_per_cycle_by_class"]["lut"]
    assert r["power_by_group_mw"]["lut"]["switching"] == pytest.approx(0.5 * C_EFF_FF["lut"] * 1e-15 * v * v * lut * f * 1e3)
    assert r["total_power_mw"] == pytest.approx(sum(g["switching"] for g in r["power_by_group_mw"].values()))
    assert r["energy_per_inference_nj"] == pytest.approx(r["total_power_mw"] * 1e-3 / f * 1e9)
    assert "hwflow assumptions" in r["coefficients"]["source"]
