"""Bitstreams with the open tools: Yosys -> fit check -> nextpnr -> icepack/ecppack, for real."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.cli import app
from hwflow.synth import build_bitstream
from hwflow.synth.nextpnr import nextpnr_progress
from hwflow.tools import venv_bin

from _fpga_util import EW_CORE, generated_run

pytestmark = pytest.mark.tools

ICE40_SYNC = bytes.fromhex("7eaa997e")
LFE5U_25F_IDCODE = bytes.fromhex("41111043")


def _asc_tiles(path):
    """Configuration tiles of an iCE40 .asc file (header line -> bit rows)."""
    tiles, cur = {}, None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("."):
            cur = line if line.split()[0].endswith("_tile") else None
            if cur:
                tiles[cur] = []
        elif cur:
            tiles[cur].append(line)
    return tiles


def test_bitstream_icebreaker_small_model(tmp_path, external_dir):
    run = tmp_path / "run"
    generated_run(external_dir / "bnn_model_fc_1layer.onnx", run)
    res = CliRunner().invoke(app, ["synth", str(run), "--board", "icebreaker"])
    assert res.exit_code == 0, res.output
    synth_record = (run / "synth.json").read_text()
    res = CliRunner().invoke(app, ["bitstream", str(run), "--board", "icebreaker"])
    assert res.exit_code == 0, res.output
    assert "Fmax" in res.output and "nextpnr: router" in res.output     # progress while it runs
    assert (run / "synth.json").read_text() == synth_record, "bitstream should reuse the up-to-date synthesis"

    synth = read_json(run / "synth.json")
    assert synth["status"] == "complete" and synth["board"] == "icebreaker" and synth["fits"]
    assert synth["resources"]["lut"] > 0 and synth["resources"]["ff"] > 0
    assert "SB_LUT4" in synth["cells"]

    bit = read_json(run / "bitstream.json")
    assert bit["status"] == "complete" and bit["part"] == "iCE40UP5K-SG48"
    assert bit["clock_constraint_mhz"] == 12 and bit["fmax_min_mhz"] > 12 and bit["timing_met"]
    lc = bit["utilization"]["ICESTORM_LC"]
    assert lc["available"] == 5280 and 0 < lc["used"] < 5280
    assert bit["utilization"]["SB_IO"]["used"] == 5          # clk, uart_rx, uart_tx, 2 LEDs

    binary = run / bit["bitstream"]
    data = binary.read_bytes()
    assert data[:4] == b"\xff\x00\x00\xff" and data[4:8] == ICE40_SYNC
    assert len(data) == bit["bitstream_bytes"] == 104090    # every iCE40UP5K bitstream
    # unpacking the binary gives back exactly the routed configuration
    unpacked = binary.parent / "unpacked.asc"     # YoWASP tools open paths relative to their cwd
    subprocess.run([str(venv_bin() / "yowasp-iceunpack"), binary.name, unpacked.name],
                   cwd=binary.parent, check=True, capture_output=True)
    assert _asc_tiles(unpacked) == _asc_tiles(run / "fpga" / "icebreaker" / "routed.asc")


def test_bitstream_orangecrab_ecp5(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EW_CORE, run)
    r = build_bitstream(run, "orangecrab", router="router2")
    assert "Running router2" in (run / "fpga" / "orangecrab" / "nextpnr.log").read_text()
    assert r["router"] == "router2"
    assert r["part"] == "LFE5U-25F-CSFBGA285" and r["timing_met"] and r["fmax_min_mhz"] > 48
    assert r["utilization"]["TRELLIS_COMB"]["available"] == 24288
    data = (run / r["bitstream"]).read_bytes()
    assert LFE5U_25F_IDCODE in data[:512], "ECP5 bitstream should carry the LFE5U-25F IDCODE"
    assert read_json(run / "bitstream.json")["status"] == "complete"


def test_unknown_router_refused_before_any_work(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EW_CORE, run)
    res = CliRunner().invoke(app, ["bitstream", str(run), "--board", "orangecrab", "--router", "router9"])
    assert res.exit_code != 0 and "router9" in res.output and "router1, router2" in res.output
    assert not (run / "bitstream.json").exists() and not (run / "synth.json").exists()


# lines of real nextpnr 0.11 logs: ECP5 with router2 (the jet tagger on the ULX3S) and
# iCE40 with router1
NEXTPNR_LINES = {
    "Info: Running main analytical placer, max placement attempts per cell = 38056183.": "placing (HeAP)",
    "Info:     at iteration #7, type ALL: wirelen solved = 343392, spread = 614433, legal = 627155; time = 4.59s":
        "placer iteration 7: wirelength 343392",
    "Info:   at iteration #15: temp = 0.000000, timing cost = 12163, wirelen = 509435":
        "placement refinement iteration 15: wirelength 509435",
    "Info: Max frequency for clock '$glbnet$clk$TRELLIS_IO_IN': 34.20 MHz (PASS at 25.00 MHz)":
        "timing analysis: Fmax 34.20 MHz",
    "Info: Running router2...": "routing (router2)",
    "Info:     iter=9 wires=769210 overused=12758 overuse=13012 archfail=NA":
        "router iteration 9: 12758 of 769210 wires overused",
    "Info: Routing 14660 arcs.": "routing 14660 arcs (router1)",
    "Info:       2000 |      278       1721 |  205   795 |     13051|       0.68       1.98|":
        "router: 13051 arcs left after 2000 iterations",
    "Info: Packing IOs..": None,
    "Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|": None,
}


@pytest.mark.parametrize("line", list(NEXTPNR_LINES))
def test_nextpnr_progress_lines(line):
    assert nextpnr_progress(line) == NEXTPNR_LINES[line]


def test_bitstream_reports_place_and_route_progress(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EW_CORE, run)
    lines: list[str] = []
    build_bitstream(run, "icebreaker", progress=lines.append)
    # the synthesis before place and route reports its passes too (one line per Yosys pass)
    assert lines and all(line.startswith(("nextpnr: ", "yosys ")) for line in lines), lines[:5]
    assert any(line.startswith("yosys ") for line in lines)
    text = "\n".join(line for line in lines if line.startswith("nextpnr: "))
    assert "placing (HeAP)" in text and "routing" in text and "timing analysis: Fmax" in text


def test_pnr_timeout_stops_nextpnr_and_leaves_no_complete_record(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EW_CORE, run)
    res = CliRunner().invoke(app, ["bitstream", str(run), "--board", "icebreaker", "--pnr-timeout", "0.005"])
    assert res.exit_code == 5, res.output
    assert "was stopped after 0.3 s" in " ".join(res.output.split()) and "nextpnr.log" in res.output
    assert read_json(run / "synth.json")["status"] == "complete"     # the synthesis before it stays
    assert read_json(run / "bitstream.json")["status"] == "failed"
    assert not (run / "fpga" / "icebreaker" / "icebreaker.bin").exists()
