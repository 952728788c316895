"""`hwflow run` end to end on an external QONNX model: every stage runs once, a second run
skips them all, and Ctrl-C during a stage leaves it unfinished so that the next run redoes
only that stage and the ones after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HWFLOW = str(Path(sys.executable).parent / "hwflow")


def _flow(tmp_path: Path, external_dir: Path, samples: int) -> Path:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: resume-test\n"
        f"model:\n  path: {external_dir / 'bnn_model_fc_1layer.onnx'}\n"
        "train:\n  enabled: false\n"
        "hls:\n  enabled: false\n"
        f"rtl:\n  samples: {samples}\n"
    )
    return flow


def _status(run: Path, stage: str) -> str | None:
    try:
        return json.loads((run / "flow" / f"{stage}.json").read_text())["status"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def _run_json(flow: Path, run: Path, cwd: Path | None = None) -> dict[str, str]:
    out = subprocess.run([HWFLOW, "run", str(flow), "-o", str(run), "--json"], capture_output=True, text=True,
                         timeout=900, cwd=cwd)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return {s["name"]: s["status"] for s in json.loads(out.stdout)["stages"]}


def test_interrupted_stage_is_redone_and_only_it(tmp_path, external_dir):
    run = tmp_path / "run"
    flow = _flow(tmp_path, external_dir, samples=30000)
    # a shell without job control starts background commands with SIGINT ignored, and children
    # inherit that (CI started with `cmd &` does): give hwflow the default disposition, as a
    # terminal would, so that Ctrl-C reaches it
    proc = subprocess.Popen([HWFLOW, "run", str(flow), "-o", str(run), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 600
    while _status(run, "sim") != "running":
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "sim stage never started"
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0, err
    assert _status(run, "rtl") == "complete"
    assert _status(run, "sim") == "interrupted", err
    hw_sim = json.loads((run / "hw" / "sim.json").read_text())
    assert hw_sim["status"] != "complete"

    stages = _run_json(flow, run)
    assert stages["train"] == stages["ir"] == stages["rtl"] == "skipped", stages
    assert stages["sim"] == "complete" and stages["report"] == "complete", stages
    assert stages["hls"] == "disabled"
    sim = json.loads((run / "hw" / "sim.json").read_text())
    assert sim["status"] == "complete" and sim["mismatches"] == 0
    assert (run / "report.html").exists() and (run / "report.md").exists()

    again = _run_json(flow, run)
    assert all(again[s] == "skipped" for s in ("train", "ir", "rtl", "sim")), again


def test_changed_setting_reruns_from_that_stage(tmp_path, external_dir):
    run = Path("run")  # relative to the working directory, as `hwflow run` defaults to runs/<name>
    first = _run_json(_flow(tmp_path, external_dir, samples=200), run, cwd=tmp_path)
    assert first["sim"] == "complete"
    assert json.loads((tmp_path / "run" / "hw" / "sim.json").read_text())["mismatches"] == 0
    second = _run_json(_flow(tmp_path, external_dir, samples=300), run, cwd=tmp_path)
    assert second["rtl"] == "skipped" and second["sim"] == "complete", second


def test_model_too_big_for_board_stops_before_place_and_route(tmp_path, external_dir):
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: fit-test\n"
        f"model:\n  path: {external_dir / 'qkeras_jettagging.onnx'}\n"
        "train:\n  enabled: false\nhls:\n  enabled: false\nrtl:\n  samples: 10\n"
        "targets:\n  boards: [icebreaker]\n"
    )
    run = tmp_path / "run"
    first = subprocess.run([HWFLOW, "run", str(flow), "-o", str(run), "--until", "rtl", "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    out = subprocess.run([HWFLOW, "run", str(flow), "-o", str(run), "--from", "bitstream", "--quiet"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 8, out.stdout[-2000:] + out.stderr[-3000:]  # FitError
    assert "FitError" in out.stderr and "LUT" in out.stderr and "iCE40UP5K" in out.stderr, out.stderr
    assert _status(run, "bitstream") == "failed"
    assert not list(run.glob("hw/fpga/**/*.asc")) and not list(run.glob("hw/fpga/**/*.bin"))


def test_training_reports_each_epoch_to_the_display(tmp_path):
    # `hwflow run` shows the running stage's progress: the flow passes each finished epoch on
    from hwflow.config import load_flow
    from hwflow.flow import run_flow

    flow = tmp_path / "flow.yaml"
    flow.write_text("name: progress-test\nmodel:\n  zoo: jet_mlp\n  framework: brevitas\n"
                    "train:\n  epochs: 2\nhls:\n  enabled: false\n")
    seen: list[tuple[str, str]] = []
    run_flow(load_flow(flow), tmp_path / "run", until_stage="train", on_progress=lambda s, t: seen.append((s, t)))
    assert [s for s, _ in seen] == ["train", "train"]
    assert "epoch 1 (2 in all)" in seen[0][1] and "epoch 2 (2 in all)" in seen[1][1] and "loss" in seen[1][1]
    history = json.loads((tmp_path / "run" / "train.json").read_text())["metrics"]["history"]
    assert len(history) == 2  # the records themselves are unchanged


def test_streaming_architecture_from_the_flow_file_folds_for_its_board(tmp_path, external_dir):
    """rtl.architecture: streaming picks the folding for targets.boards[0] (the jet tagger, fully
    parallel far too big for the iCEBreaker, becomes matrix-vector units that fit it)."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "name: streaming-flow\n"
        f"model:\n  path: {external_dir / 'qkeras_jettagging.onnx'}\n"
        "train:\n  enabled: false\nhls:\n  enabled: false\n"
        "rtl:\n  samples: 300\n  architecture: streaming\n"
        "targets:\n  boards: [icebreaker]\n"
    )
    run = tmp_path / "run"
    out = subprocess.run([HWFLOW, "run", str(flow), "-o", str(run), "--until", "sim", "--quiet"],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    rtl = json.loads((run / "hw" / "rtl.json").read_text())
    assert rtl["pipeline"]["architecture"] == "streaming" and rtl["params"]["board"] == "icebreaker"
    assert rtl["ii"] > 1
    sim = json.loads((run / "hw" / "sim.json").read_text())
    assert sim["samples"] == 300 and sim["mismatches"] == 0
