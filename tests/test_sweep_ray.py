"""`hwflow sweep` on a local Ray instance: tiny jet-MLP points (untrained export, streaming
RTL for the iCEBreaker, no simulation), one of which cannot fit and fails with FitError
while the sweep goes on; a rerun reuses the completed point; a sweep killed with SIGTERM
leaves no Ray process behind and its rerun reuses the point it finished."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from hwflow.sweep import load_sweep, run_sweep  # noqa: E402

HWFLOW = str(Path(sys.executable).parent / "hwflow")

# 5,000 inferences/s fit the iCEBreaker at 12 MHz (II <= 2,400); 5,000,000 cannot (FitError)
BASE = """\
name: jet-tiny
model:
  zoo: jet_mlp
  framework: brevitas
train:
  enabled: false
hls:
  enabled: false
rtl:
  architecture: streaming
targets:
  boards: [icebreaker]
"""


def _sweep_file(tmp_path: Path, throughputs: list[int]) -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: tiny\nflow: base.yaml\nuntil: rtl\ngrid:\n  rtl.throughput: {throughputs}\n")
    return path


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance for the module (start-up takes seconds), shut down after it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tmp = tempfile.mkdtemp(prefix="test-ray-", dir="/tmp")  # not /tmp/ray: a `ray start` head may own it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 2**20,
             _temp_dir=tmp)
    try:
        yield
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


def test_sweep_records_failure_and_rerun_reuses(tmp_path, ray_session):
    sweep = load_sweep(_sweep_file(tmp_path, [5000, 5000000]))
    out = tmp_path / "out"
    events = []
    rec = run_sweep(sweep, out, on_event=lambda e, p: events.append((e, p["index"])))
    assert rec["engine"]["name"] == "ray" and rec["engine"]["version"] == ray.__version__
    ok, bad = rec["points"]
    assert ok["status"] == "complete", ok
    assert ok["metrics"]["ii"] <= 12_000_000 / 5000 and ok["metrics"]["inferences_per_s"] >= 5000
    assert ok["metrics"]["clock_mhz"] == 12.0  # the iCEBreaker's
    assert (out / ok["run_dir"] / "report.html").exists() and ok["reused"] is False
    # the point that cannot fit is recorded with its stage and error; the sweep went on
    assert bad["status"] == "failed" and bad["failed_stage"] == "rtl"
    assert bad["error"].startswith("FitError")
    assert sorted(events) == [("done", 0), ("done", 1), ("start", 0), ("start", 1)]
    on_disk = json.loads((out / "sweep.json").read_text())
    assert on_disk["counts"] == {"complete": 1, "failed": 1} and on_disk["finished"] is True
    assert ok["pareto"] is True and bad["pareto"] is False  # a failed point is on no front
    csv_lines = (out / "sweep.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("index,id,status,rtl.throughput,accuracy")
    html = (out / "sweep.html").read_text()
    assert f"href='points/{ok['id']}/report.html'" in html and "FitError" in html

    again = run_sweep(sweep, out)
    ok2 = again["points"][0]
    assert ok2["reused"] is True and ok2["stages"]["rtl"] == "skipped" and ok2["stages"]["train"] == "skipped"
    assert ok2["metrics"]["ii"] == ok["metrics"]["ii"]
    assert again["points"][1]["status"] == "failed"  # a failed point is tried again, and fails again


def _ray_processes(tag: str) -> list[int]:
    """Processes whose command line names ``tag`` (the sweep's own Ray temporary directory)."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if tag in (d / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(d.name))
            except OSError:
                pass
    return found


@pytest.mark.slow  # three Ray start-ups and four points: ~95 s on a loaded 2-core machine
def test_killed_sweep_leaves_no_ray_and_resumes(tmp_path):
    """The CLI with its own local Ray: SIGTERM after the first point, then a rerun."""
    path = _sweep_file(tmp_path, [5000, 6000])
    out = tmp_path / "out"
    before = set(Path("/tmp").glob("hwray-*"))
    proc = subprocess.Popen([HWFLOW, "sweep", str(path), "-o", str(out), "--max-parallel", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            rec = json.loads((out / "sweep.json").read_text()) if (out / "sweep.json").exists() else {}
            if rec.get("counts", {}).get("complete"):
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
        else:
            pytest.fail("the first point did not complete in 240 s")
        tmp_dirs = set(Path("/tmp").glob("hwray-*")) - before
        assert len(tmp_dirs) == 1  # the sweep's local Ray instance
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, output
    rec = json.loads((out / "sweep.json").read_text())
    assert [p["status"] for p in rec["points"]] == ["complete", "interrupted"]
    tag = str(tmp_dirs.pop())
    deadline = time.time() + 15
    while _ray_processes(tag) and time.time() < deadline:
        time.sleep(0.5)
    assert _ray_processes(tag) == [] and not Path(tag).exists()

    done = subprocess.run([HWFLOW, "sweep", str(path), "-o", str(out), "--max-parallel", "1"],
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    rec = json.loads((out / "sweep.json").read_text())
    assert [p["status"] for p in rec["points"]] == ["complete", "complete"]
    assert rec["points"][0]["reused"] is True and rec["points"][0]["stages"]["rtl"] == "skipped"
    assert rec["engine"]["address"].startswith("local")


@pytest.mark.slow  # three tiny trials: ~40 s on a loaded 2-core machine
def test_optuna_search_asks_runs_and_resumes(tmp_path, ray_session):
    """An Optuna search: trials run as points; one asked twice is told the first one's
    values without running again; a rerun continues the study (the budget is spent)."""
    (tmp_path / "base.yaml").write_text(BASE)
    path = tmp_path / "search.yaml"
    path.write_text("name: tiny-search\nflow: base.yaml\nuntil: rtl\nsearch:\n  trials: 3\n  sampler: random\n"
                    "  objectives: {inferences_per_s: maximize}\n"
                    "  space:\n    rtl.throughput: {choices: [5000, 6000]}\n")
    out = tmp_path / "out"
    rec = run_sweep(load_sweep(path), out, max_parallel=1)
    # three trials over two choices: a repeated choice is not run twice
    assert len(rec["points"]) == len({p["id"] for p in rec["points"]}) <= 2
    assert all(p["status"] == "complete" and p["metrics"]["inferences_per_s"] >= 5000 for p in rec["points"])
    import optuna

    study = optuna.load_study(study_name="tiny-search", storage=f"sqlite:///{out / 'optuna.db'}")
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 3
    again = run_sweep(load_sweep(path), out)
    assert [p["id"] for p in again["points"]] == [p["id"] for p in rec["points"]]  # carried, none rerun
