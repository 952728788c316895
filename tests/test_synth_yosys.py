"""Yosys synthesis per family (real pyosys runs), resource counting, synth.json, fit check."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.boards import load_board, load_devices
from hwflow.cli import app
from hwflow.errors import ConfigError, FitError
from hwflow.synth import synthesize
from hwflow.synth.resources import check_fit, count_resources

from _fpga_util import EW_CORE, generated_run

pytestmark = pytest.mark.tools

BIG_CORE = EW_CORE.parent / "big_core"


@pytest.fixture
def ew_run(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EW_CORE, run)
    return run


@pytest.mark.parametrize("family, cell", [("ice40", "SB_DFFE"), ("ecp5", "TRELLIS_FF"), ("gowin", "DFFE")])
def test_synth_core_per_family(ew_run, family, cell):
    r = synthesize(ew_run, target=family)
    rec = read_json(ew_run / "synth.json")
    assert rec["status"] == "complete" and rec["params"]["target"] == family
    # ew_core registers 4 x 9 output bits + 1 valid bit: 37 flip-flops on every family
    assert r["resources"]["ff"] == 37
    assert r["resources"]["lut"] > 0
    assert cell in r["cells"] and r["synthesized"] == "core"
    # without a board, utilization is against the family's default device
    default_device = {"ice40": "iCE40UP5K", "ecp5": "LFE5U-85F", "gowin": "GW1NR-9"}[family]
    assert r["device"] == default_device and r["fits"]
    assert r["utilization"]["ff"] == {"used": 37, "available": load_devices()[default_device].capacity.ff,
                                      "percent": round(100 * 37 / load_devices()[default_device].capacity.ff, 2)}
    netlist = json.loads((ew_run / r["netlist"]).read_text())
    assert "ew_core" in netlist["modules"]
    assert (ew_run / "fpga" / family / "yosys.log").stat().st_size > 0


def test_synth_xilinx_is_labelled_estimate(ew_run):
    r = synthesize(ew_run, target="xilinx")
    assert "estimate" in r["note"] and "not Vivado" in r["note"]
    assert r["resources"]["dsp"] == 4          # 3*x - 1 per element maps to DSP48E1 slices
    assert not any(c in r["cells"] for c in ("IBUF", "OBUF")), "core alone: no I/O buffers"


def test_fit_check_end_to_end_big_design_on_icebreaker(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(BIG_CORE, run)
    # with a generator estimate far above the device, the design is refused before Yosys
    rtl = read_json(run / "rtl.json")
    (run / "rtl.json").write_text(json.dumps({**rtl, "pipeline": {"estimated_luts_da4ml": 12000}}))
    res = CliRunner().invoke(app, ["synth", str(run), "--board", "icebreaker"])
    assert res.exit_code == FitError.exit_code, res.output
    assert "pre-synthesis screen" in res.output and "12,000 LUTs" in res.output and "5,280" in res.output
    assert not (run / "fpga" / "icebreaker" / "yosys.log").exists()
    # without the screen, Yosys' counts decide: 6,000 delay-line flip-flops + the bridge
    res = CliRunner().invoke(app, ["synth", str(run), "--board", "icebreaker", "--no-prescreen"])
    assert res.exit_code == FitError.exit_code, res.output
    assert "needs 6,892 flip-flops" in res.output and "iCE40UP5K" in res.output and "5,280" in res.output
    rec = read_json(run / "synth.json")
    assert rec["status"] == "failed" and "FitError" in rec["error"]
    assert not (run / "bitstream.json").exists()


def test_count_resources_per_family():
    ecp5 = count_resources("ecp5", {"LUT4": 100, "CCU2C": 10, "TRELLIS_FF": 50, "DP16KD": 2, "MULT18X18D": 3,
                                    "TRELLIS_DPR16X4": 4, "PFUMX": 7})
    assert (ecp5.lut, ecp5.carry, ecp5.ff, ecp5.bram, ecp5.dsp, ecp5.lutram) == (100, 10, 50, 2, 3, 4)
    assert ecp5.lut_equivalent == 100 + 2 * 10 + 4
    x = count_resources("xilinx", {"LUT6": 5, "LUT3": 2, "FDRE": 3, "FDCE": 1, "CARRY4": 2, "RAMB18E1": 3,
                                   "RAMB36E1": 1, "DSP48E1": 2, "SRLC32E": 1})
    assert (x.lut, x.ff, x.carry, x.bram, x.dsp, x.lut_equivalent) == (7, 4, 2, 2.5, 2, 8)
    ice = count_resources("ice40", {"SB_LUT4": 10, "SB_CARRY": 4, "SB_DFFESR": 2, "SB_DFF": 1, "SB_RAM40_4K": 1,
                                    "SB_MAC16": 1})
    assert (ice.lut, ice.ff, ice.carry, ice.bram, ice.dsp, ice.lut_equivalent) == (10, 3, 4, 1, 1, 10)


def test_fit_error_gives_the_numbers():
    cap = load_board("icebreaker").capacity
    res = count_resources("ice40", {"SB_LUT4": 7912, "SB_DFF": 100, "SB_MAC16": 9})
    with pytest.raises(FitError) as e:
        check_fit(res, cap, "iCE40UP5K")
    msg = str(e.value)
    assert "needs 7,912 LUT4, 9 multipliers" in msg and "iCE40UP5K has 5,280 LUT4, 8 multipliers" in msg
    util = check_fit(count_resources("ice40", {"SB_LUT4": 5280}), cap, "iCE40UP5K")
    assert util["lut"] == {"used": 5280, "available": 5280, "percent": 100.0}


@pytest.mark.parametrize("args, message", [
    (["--target", "asic-osu018"], "hwflow profile"),
    (["--target", "virtex2"], "choose one of: ice40, ecp5, gowin, xilinx"),
    (["--target", "ice40", "--board", "ulx3s"], "ulx3s is an ecp5 board"),
    (["--board", "nope"], "known boards"),
    ([], "give --target"),
])
def test_synth_cli_rejects_bad_targets(ew_run, args, message):
    res = CliRunner().invoke(app, ["synth", str(ew_run), *args])
    assert res.exit_code == ConfigError.exit_code, res.output
    assert message in res.output


def test_synth_without_rtl_json(tmp_path):
    res = CliRunner().invoke(app, ["synth", str(tmp_path), "--target", "ice40"])
    assert res.exit_code != 0 and "rtl.json" in res.output


def test_fit_check_jet_tagger_on_icebreaker_is_refused_quickly(tmp_path, external_dir):
    """A real model that does not fit: the jet tagger (16-bit inputs, ~30k LUTs) on the
    iCE40UP5K of the iCEBreaker fails with the numbers, before a long synthesis."""
    run = tmp_path / "run"
    generated_run(external_dir / "qkeras_jettagging.onnx", run)
    res = CliRunner().invoke(app, ["bitstream", str(run), "--board", "icebreaker"])
    assert res.exit_code == FitError.exit_code, res.output
    assert "does not fit" in res.output and "iCE40UP5K" in res.output and "5,280" in res.output
    assert read_json(run / "synth.json")["status"] == "failed"
    assert not (run / "bitstream.json").exists()


def test_yosys_scripts_take_paths_with_spaces_and_refuse_quotes(tmp_path):
    from hwflow.synth.yosys import YosysSynth
    from hwflow.tools.yosys import yosys_path

    d = tmp_path / "a dir with spaces"
    d.mkdir()
    (d / "inv.v").write_text("module inv(input wire [3:0] a, output wire [3:0] y);\n  assign y = ~a;\nendmodule\n")
    r = YosysSynth("ice40").run([d / "inv.v"], "inv", d / "out")
    assert r.resources.lut >= 1 and r.netlist.exists()
    with pytest.raises(ConfigError, match="double quote"):
        yosys_path(tmp_path / 'say "hi"')
