"""Running a tool: ``run_tool`` (log written as the tool runs, timeout, typed errors) and
the signal forwarding that makes sure no tool outlives hwflow.

Every child process hwflow starts itself goes through this module; children that libraries
start (cocotb's runner, hls4ml) are stopped through ``_descendants`` on a signal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Callable, Sequence

from hwflow.errors import ToolFailed, ToolTimeout
from hwflow.limits import env_limit

# Process groups of the tools running now (each tool runs in its own session, so a
# terminal's Ctrl-C does not reach it directly): the signal handler forwards to them.
_live_groups: set[int] = set()
_live_mutex = threading.Lock()
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# after a forwarded signal, how long a tool may take to exit before SIGKILL
GRACE_ENV = "HWFLOW_TOOL_GRACE_S"
DEFAULT_GRACE_S = 5.0


# While the main thread starts a tool and registers its group, a signal is only noted and
# handled right after (else the exception could leave between the two: an orphan).
_main_starting = [0]
_pending_signals: list[int] = []


def _signal_groups(sig: int) -> None:
    groups = list(_live_groups)  # no lock: this runs in a signal handler (copy is atomic)
    for pgid in groups:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _descendants(root: int) -> list[int]:
    """Every live descendant of ``root`` (from /proc; empty where there is none): children
    that libraries start in our own process group (hls4ml's C-sim compile, Verilator lint)
    are not registered tool groups, but must not outlive us either."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for d in entries:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _forward_signal(signum, frame) -> None:
    """Pass SIGTERM/SIGINT/SIGHUP on to every running tool's process group, then stop this
    process the way Python stops on Ctrl-C (an exception, so ``finally`` blocks wait for
    the tools and ``stage()`` records the stage as interrupted)."""
    from hwflow.errors import Interrupted

    if _main_starting[0]:
        _pending_signals.append(signum)
        return
    _signal_groups(signum)
    for pid in _descendants(os.getpid()):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


def install_signal_forwarding() -> None:
    """Make SIGTERM, SIGHUP and SIGINT stop hwflow *and* the tools it started.

    Called by the CLI (``cli_command``); a library user may call it too. Only handlers
    still at Python's defaults are replaced (an ignored SIGINT, as in a background job,
    stays ignored; a caller's own handler stays), and only from the main thread (the only
    one Python lets set handlers). Idempotent."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in FORWARDED_SIGNALS:
        current = signal.getsignal(sig)
        default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        if current is default:
            signal.signal(sig, _forward_signal)


def _end_starting() -> None:
    _main_starting[0] -= 1
    if not _main_starting[0] and _pending_signals:
        signum = _pending_signals[0]
        _pending_signals.clear()
        _forward_signal(signum, None)


def live_tool_groups() -> set[int]:
    """Process-group ids of the tools running now (for tests and diagnostics)."""
    with _live_mutex:
        return set(_live_groups)


def run_tool(
    cmd: Sequence[str | os.PathLike],
    cwd: str | os.PathLike | None = None,
    log: str | os.PathLike | None = None,
    env: dict[str, str] | None = None,
    tool: str | None = None,
    timeout: float | None = None,
    input: str | None = None,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> subprocess.CompletedProcess:
    """Run ``cmd``; stdout+stderr go to ``log`` (if given) and are returned.

    The log is written while the tool runs (``tail -f`` it to follow a long place and
    route), not only when it ends; ``on_line`` (used with ``log``) is called with each line
    as it comes, for progress displays. Raises ``ToolFailed`` with the last lines of output on
    a non-zero exit, ``ToolTimeout`` (a ``ToolFailed``) when ``timeout`` seconds pass first.

    The tool runs in its own process group, registered while it runs: a timeout, an
    exception or a forwarded signal (``install_signal_forwarding``) stops the whole group
    (a shell script's children too) and waits for it, so no tool outlives the call.
    ``cancel`` is for a tool run from a worker thread: setting it stops the tool's group the
    same way (the caller's thread failed and will not wait for the result), and the call
    raises ``ToolFailed``.
    """
    cmd = [str(c) for c in cmd]
    name = tool or Path(cmd[0]).name
    try:
        proc = _run_group(cmd, cwd, Path(log) if log is not None else None, env, timeout, input, on_line,
                          cancel)
    except subprocess.TimeoutExpired:
        tail = ""
        if log is not None and Path(log).exists():
            tail = "\n".join(Path(log).read_text(errors="replace").splitlines()[-10:])
        raise ToolTimeout(name, timeout, str(log) if log else None, tail) from None
    if cancel is not None and cancel.is_set():
        raise ToolFailed(name, proc.returncode, str(log) if log else None, "cancelled by hwflow")
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise ToolFailed(name, proc.returncode, str(log) if log else None, tail)
    return proc


def _stop_group(proc: subprocess.Popen, graceful: bool, grace_s: float) -> None:
    """Stop a tool's group: ``graceful`` (we were interrupted) sends SIGTERM and waits up to
    ``grace_s`` for the tool to exit; then SIGKILL
    its whole group, leader and stragglers, and reap the leader."""
    if graceful and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # again if forwarded: harmless
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting politely
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _run_group(cmd: list[str], cwd, log: Path | None, env, timeout: float | None, input: str | None,
               on_line: Callable[[str], None] | None,
               cancel: threading.Event | None = None) -> subprocess.CompletedProcess:
    """``run_tool``'s one path: each output line goes to the log (if any) as it comes and
    to ``on_line``. A timer kills the tool at ``timeout`` even when it prints nothing."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    # read before the tool starts: a bad value is a ConfigError now, not in the clean-up
    grace_s = env_limit(GRACE_ENV, DEFAULT_GRACE_S, "number of seconds", integer=False)
    with open(log, "w") if log is not None else contextlib.nullcontext() as f:
        if f is not None:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            _main_starting[0] += 1
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                    text=True, errors="replace", bufsize=1,
                                    # its own process group: a timeout or a signal stops the
                                    # children that hold the output pipe too (a script's sleep)
                                    start_new_session=True)
        except BaseException:
            if in_main:
                _end_starting()
            raise
        with _live_mutex:
            _live_groups.add(proc.pid)
        timed_out = threading.Event()

        def kill_at_timeout() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill_at_timeout) if timeout is not None else None
        if cancel is not None:
            def kill_when_cancelled() -> None:
                while not cancel.wait(0.2):
                    if proc.poll() is not None:
                        return
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

            threading.Thread(target=kill_when_cancelled, name="hwflow-tool-cancel", daemon=True).start()
        interrupted = False
        try:
            if in_main:
                _end_starting()  # a signal that came while starting is handled here
            if timer is not None:
                timer.start()
            if input is not None:
                try:
                    proc.stdin.write(input)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            for line in proc.stdout:
                if f is not None:
                    f.write(line)
                    f.flush()
                else:
                    lines.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            returncode = proc.wait()
        except KeyboardInterrupt:  # Ctrl-C or a forwarded SIGTERM/SIGHUP
            interrupted = True
            raise
        finally:
            if timer is not None:
                timer.cancel()
            try:
                # also when the leader exited: members of its group may still run
                _stop_group(proc, graceful=interrupted, grace_s=grace_s)
            finally:
                with _live_mutex:
                    _live_groups.discard(proc.pid)
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(cmd, timeout)
    if log is not None:
        out = log.read_text(errors="replace").split("\n", 1)[1]
    else:
        out = "".join(lines)
    return subprocess.CompletedProcess(cmd, returncode, out)



def capture(cmd: Sequence[str | os.PathLike], env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a short query (``--version``) in its own process group; stdout+stderr in
    ``stdout``, any exit code. ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
    return _run_group([str(c) for c in cmd], None, None, env, timeout, None, None)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (Linux
    prctl; elsewhere nothing). hwflow's own handler then stops the tools it runs and records
    the running stage as interrupted."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_hwflow_child(cmd: Sequence[str | os.PathLike], cwd: str | os.PathLike, stderr_log) -> subprocess.CompletedProcess:
    """Run a child ``hwflow`` command whose stdout is its result (``--json``, captured) and
    whose stderr goes to the open file ``stderr_log``; it gets SIGTERM if this process dies.

    For a Ray task's ``hwflow run``: unlike ``run_tool`` it is not in a group of its own,
    because the one to stop it is its parent's death (a cancelled Ray task), and the child
    forwards that to the tools it runs itself."""
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=stderr_log, text=True, cwd=cwd,
                          preexec_fn=_die_with_parent)
