"""Gate-level activity with the bulk harness (issue #15 item 2): Verilator on the mapped
netlist with cell models generated from the liberty's functions, SAIF toggle counts. Equals
the RTL word for word, catches a broken netlist, sees the same activity as Yosys `sim`, and
power follows activity. On the hand-written test design (tests/data/power)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from hwflow.errors import MismatchError
from hwflow.power import profile
from hwflow.power.cell_models import read_cells, to_verilog
from hwflow.tools import Liberty

pytestmark = pytest.mark.tools

DATA = Path(__file__).parent / "data" / "power"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("power_bulk") / "run"
    shutil.copytree(DATA, d)
    return d


@pytest.fixture(scope="module")
def bulk_profiles(run_dir):
    rand = profile(run_dir, clock_mhz=40.0, samples=64, simulator="bulk")
    zeros = profile(run_dir, clock_mhz=40.0, samples=64, data="zeros", simulator="bulk", check_rtl=False)
    return rand, zeros


@pytest.mark.parametrize("fn,want", [
    ("(!((A B)+C))", "( ~ ( ( A & B ) | C ) )"),
    ("((A^B)^C)", "( ( A ^ B ) ^ C )"),
    ("(!((S A) + (!S B)))", "( ~ ( ( S & A ) | ( ~ S & B ) ) )"),
    ("A*B'", "A & ~ B"),
    ("(A+B)'", "~ ( A | B )"),
])
def test_liberty_functions_to_verilog(fn, want):
    assert to_verilog(fn, "cell") == want


def test_every_osu018_cell_has_a_model():
    cells = read_cells(Liberty("osu018").path)
    assert {"NAND2X1", "DFFPOSX1", "DFFSR", "LATCH", "FAX1", "TBUFX1"} <= set(cells)
    assert cells["DFFSR"].ff["clear"] == "(!R)" and cells["FAX1"].outputs["YS"] == "((A^B)^C)"
    assert cells["TBUFX1"].three_state == {"Y": "(!EN)"}


def test_bulk_gate_level_equals_rtl_and_sees_yosys_activity(bulk_profiles, run_dir):
    rand, _ = bulk_profiles
    chk = rand["gate_level_check"]
    assert chk["simulator"] == "bulk" and chk["compared_with_rtl"] and chk["mismatches"] == 0
    assert rand["activity"]["simulator"] == "bulk" and rand["activity"]["cycles"] >= 64
    ys = profile(run_dir, clock_mhz=40.0, samples=64, simulator="yosys", check_rtl=False)
    # the same nets toggle; the windows differ by a cycle at the ends (pipeline fill/drain)
    assert rand["power_mw"]["switching"] == pytest.approx(ys["power_mw"]["switching"], rel=0.03)
    assert rand["power_mw"]["total"] == pytest.approx(ys["power_mw"]["total"], rel=0.03)


def test_bulk_power_follows_activity(bulk_profiles):
    rand, zeros = bulk_profiles
    assert zeros["activity"]["mean_toggles_per_cycle"] < 0.01 < rand["activity"]["mean_toggles_per_cycle"]
    assert zeros["dynamic_power_mw"] < 0.5 * rand["dynamic_power_mw"]
    assert zeros["leakage_power_mw"] == pytest.approx(rand["leakage_power_mw"], rel=1e-9)


def test_broken_netlist_is_caught(bulk_profiles, run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    netlist = run / "profile" / "asic-osu018" / "synth" / "netlist.v"
    text = netlist.read_text()
    # the register of output bit 0 holds a constant 1 (its D input tied high)
    out0 = re.search(r"\.Q\((m_axis_tdata_0)\)", text)
    assert out0, "output bit 0 is not driven by a flip-flop in this netlist"
    start = text.rfind(";", 0, out0.start())
    block = text[start:out0.end()]
    broken = re.sub(r"\.D\([^)]*\)", ".D(1'b1)", block, count=1)
    assert broken != block
    netlist.write_text(text[:start] + broken + text[out0.end():])   # synthesis is reused, the netlist is not
    with pytest.raises(MismatchError, match="output beat \\d+ differs"):
        profile(run, clock_mhz=40.0, samples=64, simulator="bulk", reuse=False, plots=False)
