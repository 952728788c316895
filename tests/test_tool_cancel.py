"""A tool run from a worker thread stops when its caller cancels it (bulk simulation runs
the harness in a thread while the reference is computed; a failing reference cancels it)."""

import threading
import time

import pytest

from hwflow.errors import ToolFailed
from hwflow.tools import live_tool_groups, run_tool

pytestmark = pytest.mark.unit


def test_cancel_stops_the_tool_group(tmp_path):
    cancel = threading.Event()
    errors: list[BaseException] = []

    def worker():
        try:
            # a shell whose child holds the pipe: the whole group must go
            run_tool(["sh", "-c", "sleep 60; echo done"], log=tmp_path / "t.log", tool="sleeper", cancel=cancel)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=worker)
    t0 = time.time()
    t.start()
    for _ in range(100):
        if live_tool_groups():
            break
        time.sleep(0.05)
    groups = live_tool_groups()
    assert groups
    cancel.set()
    t.join(10)
    assert not t.is_alive() and time.time() - t0 < 10
    assert len(errors) == 1 and isinstance(errors[0], ToolFailed) and "cancelled" in str(errors[0])
    assert not (live_tool_groups() & groups)


def test_uncancelled_tool_finishes_normally():
    cancel = threading.Event()
    out = run_tool(["echo", "hello"], tool="echo", cancel=cancel)
    assert out.stdout.strip() == "hello"
