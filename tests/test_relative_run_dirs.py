"""Every command that takes a run directory works when it is given as a relative path (the
tools run in other working directories: `hwflow profile run1` once failed because the Yosys
script path was relative), and the long stages print progress while they run."""

from __future__ import annotations

import os

import pytest
from _rtl_util import tiny_mlp
from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.cli import app


def _ok(args: list[str]) -> str:
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, f"hwflow {' '.join(args)}:\n{res.output}"
    # rich wraps lines at the terminal width, wherever the measured numbers put the break
    return " ".join(res.output.split())


def test_every_command_takes_a_relative_run_dir(tmp_path, monkeypatch):
    tiny_mlp(tmp_path / "tiny.onnx")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    run = "run1"
    _ok(["rtl", "tiny.onnx", "-o", run, "--latency-cutoff", "2"])

    out = _ok(["sim", run, "--samples", "300"])
    assert "bulk sim: building" in out and "0 mismatches" in out
    assert read_json(tmp_path / run / "sim.json")["status"] == "complete"

    out = _ok(["synth", run, "--target", "ice40"])
    assert "yosys synth_ice40:" in out and "ABC" in out          # one line per Yosys pass
    out = _ok(["bitstream", run, "--board", "icebreaker"])
    assert "nextpnr:" in out and (tmp_path / run / read_json(tmp_path / run / "bitstream.json")["bitstream"]).exists()

    out = _ok(["profile", run, "--samples", "16", "--effort", "fast"])
    assert "yosys asic:" in out and "gate-level simulation" in out and "OpenSTA" in out
    prof = read_json(tmp_path / run / "profile.json")
    assert prof["status"] == "complete" and prof["synthesis"]["effort"] == "fast"
    assert prof["energy_per_inference_nj"] > 0

    _ok(["report", run])
    assert (tmp_path / run / "report.html").exists()

    # a relative path with ".." from another working directory
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert os.path.relpath(tmp_path / run) == os.path.join("..", run)
    out = _ok(["sim", os.path.join("..", run), "--samples", "100"])
    assert "reused build" in out


def test_profile_effort_is_checked(tmp_path, monkeypatch):
    tiny_mlp(tmp_path / "tiny.onnx")
    monkeypatch.chdir(tmp_path)
    _ok(["rtl", "tiny.onnx", "-o", "r", "--latency-cutoff", "2", "--no-lint"])
    res = CliRunner().invoke(app, ["profile", "r", "--samples", "4", "--effort", "heroic"])
    assert res.exit_code != 0 and "effort" in res.output


@pytest.mark.parametrize("line,shown", [
    ("13.43. Executing ABC9 pass.", "13.43 ABC9"),
    ("2. Executing SYNTH_ICE40 pass.", "2 SYNTH_ICE40"),
    ("12.2. Executing AST frontend in derive mode using pre-parsed AST for module `\\x'.", None),
    ("13.43.1. Executing ABC9_OPS pass (helper functions for ABC9).", None),
    ("Number of cells: 12", None),
])
def test_yosys_progress_lines(line, shown):
    from hwflow.synth.yosys import yosys_progress

    got: list[str] = []
    yosys_progress(got.append, "yosys")(line)
    assert (got[0].split(" (")[0] if got else None) == (f"yosys: {shown}" if shown else None)
