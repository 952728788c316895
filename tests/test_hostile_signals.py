"""Issue #17: killed runs leave no tool processes behind, and two hwflow processes never
share a run directory.

A SIGTERM to ``hwflow`` (as ``timeout`` or a CI runner sends it) is forwarded to every tool
process group hwflow started; hwflow waits for them (SIGKILL after a grace period) and
records the stage as interrupted. A second hwflow on a run directory in use gets
``RunDirInUse`` (exit 9) and leaves the first one's records alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hwflow.artifacts import stage
from hwflow.errors import RunDirInUse

HWFLOW = str(Path(sys.executable).parent / "hwflow")


def _alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, exited but not reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and _alive(int(d.name)):
            found.append(int(d.name))
    return found


def _wait_for(cond, timeout: float, what: str):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


FAKE_STAGE = textwrap.dedent("""
    import os, sys
    from hwflow.artifacts import stage
    from hwflow.tools import install_signal_forwarding, run_tool
    install_signal_forwarding()
    run, tag = sys.argv[1], sys.argv[2]
    with stage(run, "long"):
        # a tool with two children that ignore SIGTERM and SIGHUP: only the SIGKILL after the
        # grace period stops them
        child = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                 "signal.signal(signal.SIGHUP, signal.SIG_IGN); time.sleep(300)")
        py = sys.executable
        run_tool(["sh", "-c", f"'{py}' -c '{child}' {tag} & '{py}' -c '{child}' {tag} & echo started; wait"],
                 log=os.path.join(run, "tool.log"), tool="fake")
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_stops_every_tool_process(tmp_path, sig):
    tag = f"hwflow-orphan-test-{os.getpid()}-{sig.name}"
    env = {**os.environ, "HWFLOW_TOOL_GRACE_S": "1"}
    p = subprocess.Popen([sys.executable, "-c", FAKE_STAGE, str(tmp_path), tag], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         # like a CI runner: SIGINT at its default even if we were started as 'cmd &'
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        children = _wait_for(lambda: len(_processes_mentioning(tag)) >= 2 and _processes_mentioning(tag), 30,
                             "the fake tool's processes")
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    _wait_for(lambda: not _processes_mentioning(tag), 5, f"no process left (found {_processes_mentioning(tag)})")
    assert all(not _alive(c) for c in children)
    rec = json.loads((tmp_path / "long.json").read_text())
    assert rec["status"] == "interrupted"
    assert (sig.name if sig != signal.SIGINT else "interrupted") in rec["error"]


def test_sigterm_to_hwflow_synth_leaves_no_yosys(tmp_path, repo_root):
    """The real thing: `hwflow synth` (Yosys in hwflow.tools.yosys_runner, its own process group)
    gets SIGTERM while Yosys runs; afterwards no yosys_runner of this run is alive, the
    command exits 128+15 and synth.json says interrupted."""
    sys.path.insert(0, str(repo_root / "tests"))
    from hostile.make_corpus import Net

    from hwflow.backends.rtl import generate_rtl

    model = tmp_path / "m.onnx"
    model.write_bytes(Net().bytes())
    run = tmp_path / "run"
    generate_rtl(model, run, lint=False)
    p = subprocess.Popen([HWFLOW, "synth", str(run), "--target", "ice40"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        runners = _wait_for(lambda: [q for q in _processes_mentioning("hwflow.tools.yosys_runner") if _ppid(q) == p.pid],
                            60, "yosys_runner to start")
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    _wait_for(lambda: all(not _alive(r) for r in runners), 10, "yosys_runner to be gone")
    rec = json.loads((run / "synth.json").read_text())
    assert rec["status"] == "interrupted" and "SIGTERM" in rec["error"]


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from hwflow.artifacts import stage
    with stage(sys.argv[1], "first") as st:
        st.result["note"] = "the first run"
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def test_second_run_on_a_busy_directory_gets_a_typed_error(tmp_path, repo_root):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run), "60"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        # in-process: the API refuses, names the holder's pid and writes nothing
        with pytest.raises(RunDirInUse, match=str(holder.pid)):
            with stage(run, "second"):
                pass
        assert not (run / "second.json").exists()
        # the CLI: a real second hwflow process, exit code 9, no traceback
        sys.path.insert(0, str(repo_root / "tests"))
        from hostile.make_corpus import Net

        model = tmp_path / "m.onnx"
        model.write_bytes(Net().bytes())
        r = subprocess.run([HWFLOW, "rtl", str(model), "-o", str(run), "--no-lint"], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == RunDirInUse.exit_code, r.stderr
        assert "RunDirInUse" in r.stderr and "Traceback" not in r.stderr
        assert not (run / "rtl.json").exists()
        assert json.loads((run / "first.json").read_text())["status"] == "running"
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the lock with its holder: the directory is usable again
    with stage(run, "third") as st:
        st.result["ok"] = True
    assert json.loads((run / "third.json").read_text())["status"] == "complete"


def test_lock_is_reentrant_within_one_process(tmp_path):
    with stage(tmp_path, "outer"):
        with stage(tmp_path, "inner"):
            pass
    assert json.loads((tmp_path / "inner.json").read_text())["status"] == "complete"
    assert json.loads((tmp_path / "outer.json").read_text())["status"] == "complete"


LIBRARY_CHILD = textwrap.dedent("""
    import subprocess, sys, time
    from hwflow.artifacts import stage
    from hwflow.tools import install_signal_forwarding
    install_signal_forwarding()
    with stage(sys.argv[1], "lib"):
        # what a library does behind run_tool's back (hls4ml's C-sim compile): a plain child
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", sys.argv[2]])
        print("started", flush=True)
        time.sleep(300)
""")


def test_sigterm_reaches_children_started_outside_run_tool(tmp_path):
    tag = f"hwflow-libchild-test-{os.getpid()}"
    p = subprocess.Popen([sys.executable, "-c", LIBRARY_CHILD, str(tmp_path), tag], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        _wait_for(lambda: _processes_mentioning(tag), 30, "the child")
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    _wait_for(lambda: not _processes_mentioning(tag), 10, "the child to be gone")
    assert json.loads((tmp_path / "lib.json").read_text())["status"] == "interrupted"
