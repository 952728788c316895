"""`hwflow synth` reports resources against the device and a timing estimate naming its tool
(hwflow/synth/timing.py: Yosys sta on iCE40 cell delays)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hwflow.backends.rtl import generate_rtl
from hwflow.cli import app

pytestmark = pytest.mark.tools


def test_synth_timing_estimate_and_utilization(external_dir, tmp_path):
    run = tmp_path / "run"
    generate_rtl(external_dir / "bnn_model_fc_1layer.onnx", run, lint=False)
    r = CliRunner().invoke(app, ["synth", str(run), "--target", "ice40", "--clock", "10ns"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    from hwflow.artifacts import read_json

    rec = read_json(run / "synth.json")
    t = rec["timing"]
    assert t["tool"].startswith("yosys sta") and t["critical_path_ns"] > 0
    assert t["fmax_upper_bound_mhz"] == pytest.approx(1e3 / t["critical_path_ns"], rel=1e-3)
    assert t["clock_mhz"] == 100.0 and t["slack_ns"] == pytest.approx(10.0 - t["critical_path_ns"], abs=1e-3)
    assert (run / "fpga" / "ice40" / "sta.log").exists()
    assert f"critical path {t['critical_path_ns']:.3f} ns" in text and "timing estimate (yosys sta" in text
    for k in ("lut", "ff", "bram", "dsp"):
        assert f"{rec['utilization'][k]['used']:g}/{rec['utilization'][k]['available']:g}" in text
    assert "carry" in text
    r = CliRunner().invoke(app, ["synth", str(run), "--target", "ecp5"])
    assert r.exit_code == 0, r.output
    t = read_json(run / "synth.json")["timing"]
    assert t["tool"] is None and "hwflow bitstream" in t["note"]


def test_bitstream_clock_is_nextpnrs_timing_target(tmp_path):
    from hwflow.boards import load_board
    from hwflow.synth.nextpnr import NextpnrPnR

    b = load_board("icebreaker")
    default = NextpnrPnR(b).command(tmp_path / "n.json", tmp_path / "c.pcf", tmp_path / "r.asc", tmp_path / "r.json")
    assert default[default.index("--freq") + 1] == f"{b.clock.frequency_hz / 1e6:g}"
    cmd = NextpnrPnR(b, clock_mhz=25.0).command(tmp_path / "n.json", tmp_path / "c.pcf", tmp_path / "r.asc",
                                                tmp_path / "r.json")
    assert cmd[cmd.index("--freq") + 1] == "25"
