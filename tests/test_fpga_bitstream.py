"""Bitstreams with the open tools: Yosys -> fit check -> nextpnr -> icepack/ecppack, for real."""

from __future__ import annotations

import shutil
import subprocess

from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.cli import app
from hwflow.synth import build_bitstream
from hwflow.tools import venv_bin

from _fpga_util import EW_CORE, generated_run

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
    assert "Fmax" in res.output
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
