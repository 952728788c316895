"""The bundled demo (`hwflow run` with no flow file): the BiPer MLP on the full 8x8 digits,
streaming on the iCEBreaker.

The default run checks the demo's own flow file with a 2-epoch training up to co-simulation
(the folding chosen for the iCEBreaker, bit-exact); the slow test is the demo itself from a
fresh directory, with issue #14's acceptance: >= 95% test accuracy, 10,000 samples with 0
mismatches, an iCE40 bitstream meeting the board clock, the 180 nm profile, under 15 min.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

HWFLOW = str(Path(sys.executable).parent / "hwflow")
DEMO = Path(__file__).resolve().parents[1] / "hwflow" / "flows" / "demo.yaml"


def _record(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.tools
def test_demo_flow_briefly_trained_streams_bit_exactly_for_the_icebreaker(tmp_path):
    flow = yaml.safe_load(DEMO.read_text())
    assert flow["rtl"]["architecture"] == "streaming" and flow["targets"]["boards"] == ["icebreaker"]
    flow["train"]["epochs"] = 2
    flow["hls"]["enabled"] = False
    flow["rtl"]["samples"] = 300
    short = tmp_path / "demo_short.yaml"
    short.write_text(yaml.safe_dump(flow))
    run = tmp_path / "run"
    out = subprocess.run([HWFLOW, "run", str(short), "-o", str(run), "--until", "sim", "--quiet"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    rtl = _record(run / "hw" / "rtl.json")
    choice = rtl["pipeline"]["folding_choice"]
    # folded for the board's 12 MHz clock at the flow's throughput, not PE = SIMD = 1
    assert rtl["params"]["board"] == "icebreaker" and choice["mode"] == "throughput"
    assert choice["clock_hz"] == 12e6 and rtl["ii"] <= 12e6 / flow["rtl"]["throughput"]
    assert [layer["inputs"] for layer in rtl["pipeline"]["layers"]] == [64, 64, 64]  # full 8x8 input
    sim = _record(run / "hw" / "sim.json")
    assert sim["samples"] == 300 and sim["mismatches"] == 0


@pytest.mark.slow
@pytest.mark.tools
def test_demo_reaches_95_percent_on_the_icebreaker_in_15_minutes(tmp_path):
    t0 = time.monotonic()
    out = subprocess.run([HWFLOW, "run", "--json"], capture_output=True, text=True, timeout=3600, cwd=tmp_path)
    wall = time.monotonic() - t0
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    stages = {s["name"]: s["status"] for s in json.loads(out.stdout)["stages"]}
    assert all(stages[s] == "complete" for s in
               ("train", "ir", "hls", "rtl", "sim", "bitstream", "profile", "report")), stages
    run = tmp_path / "runs" / yaml.safe_load(DEMO.read_text())["name"]
    assert _record(run / "train.json")["metrics"]["test_accuracy"] >= 0.95
    hls = _record(run / "hls.json")
    assert hls["mismatches"] == 0
    sim = _record(run / "hw" / "sim.json")
    assert sim["samples"] == 10_000 and sim["mismatches"] == 0
    bit = _record(run / "hw" / "bitstream.json")
    assert bit["timing_met"] and Path(run / "hw" / bit["bitstream"]).stat().st_size > 0
    profile = _record(run / "hw" / "profile.json")
    assert profile["energy_per_inference_nj"] > 0
    assert wall < 15 * 60, f"hwflow run took {wall:.0f} s"
