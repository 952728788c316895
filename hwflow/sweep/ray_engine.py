"""Ray: where the points run.

Without an address, a local Ray instance on this machine (started here, in its own
temporary directory, and shut down when the sweep ends, however it ends); with one, the
existing cluster at that address. A Ray task runs one segment of a point
(``hwflow.sweep.segments``) as a ``hwflow run`` child process in the point's run directory, so
stage caching makes a rerun skip what is done, a failing stage is recorded by the flow as
usual, and the child dies with the Ray worker that started it (a cancelled task leaves
no Verilator or nextpnr behind).

On a cluster every node needs the same hwflow installation, and the sweep's output folder
on a file system all nodes share at the same path (the driver writes the report from the
numbers the tasks return, but each point's own report and resume need the run directory).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import yaml

from hwflow.errors import ConfigError, HwflowError, ToolNotFound
from hwflow.tools.process import run_hwflow_child

# exit codes of `hwflow run` that mean it was stopped by a signal (128 + N)
_SIGNAL_EXITS = {128 + s for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL)}


def hwflow_command() -> list[str]:
    """The ``hwflow`` of this Python environment (a Ray worker runs the driver's Python)."""
    exe = Path(sys.executable).with_name("hwflow")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("hwflow")
    if found:
        return [found]
    raise ToolNotFound("hwflow", "pip install -e . in the Python environment of every Ray node")


def _run_json(stdout: str) -> dict | None:
    """The JSON object `hwflow run --json` prints (anything printed before it is skipped)."""
    start = stdout.find("{\n")
    if start < 0:
        return None
    with contextlib.suppress(ValueError):
        return json.loads(stdout[start:])
    return None


def run_segment(flow: dict, run_dir: str, first: str, last: str, final: bool) -> dict[str, Any]:
    """One Ray task: ``hwflow run point.yaml -o RUN --from first --until last``; returns what
    happened, with the point's numbers when it was the last segment or it failed."""
    from hwflow.config import FlowConfig
    from hwflow.sweep.metrics import failed_stage, point_metrics

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    flow_path = run / "point.yaml"
    text = yaml.safe_dump(flow, sort_keys=False)
    if not flow_path.exists() or flow_path.read_text() != text:
        flow_path.write_text(text)
    cmd = [*hwflow_command(), "run", str(flow_path), "-o", str(run), "--from", first, "--until", last, "--json"]
    t0 = time.time()
    with open(run / "sweep.log", "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = run_hwflow_child(cmd, cwd=run, stderr_log=log)
    result: dict[str, Any] = {"returncode": proc.returncode, "wall_time_s": round(time.time() - t0, 2),
                              "node": socket.gethostname(), "stages": {}}
    done = _run_json(proc.stdout)
    if done is not None:
        result["stages"] = {s["name"]: s["status"] for s in done.get("stages", [])
                            if s["status"] not in ("out of range",)}
    if proc.returncode != 0:
        failed = failed_stage(run)
        result["status"] = "interrupted" if proc.returncode in _SIGNAL_EXITS else "failed"
        if failed is not None:
            result["failed_stage"], result["error"] = failed
        else:  # stopped before any stage (a bad flow file, a missing tool): the CLI's message
            lines = (run / "sweep.log").read_text(errors="replace").strip().splitlines()
            result["error"] = lines[-1] if lines else f"hwflow run exited with {proc.returncode}"
    else:
        result["status"] = "complete"
    if final or proc.returncode != 0:
        result["metrics"] = point_metrics(run, FlowConfig.model_validate(flow))
    return result


class RaySession:
    """``ray.init`` for the sweep, and ``ray.shutdown`` (plus the local instance's temporary
    directory) when it ends: ``with RaySession(address) as rs: ...``."""

    def __init__(self, address: str | None = None, num_cpus: int | None = None):
        self.address = address
        self.num_cpus = num_cpus
        self._tmp: str | None = None
        self._owned = True
        self.remote = None

    def __enter__(self) -> "RaySession":
        try:
            import ray
        except ImportError as e:
            raise ToolNotFound("ray", "pip install 'ray==2.60.0' (part of scripts/setup.sh)") from e
        # no usage report from this machine (and no network call at start-up)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.remote = ray.remote(max_retries=0)(run_segment)
        if ray.is_initialized() and not self.address:
            # the caller's Ray session (a test module's, a notebook's): use it, leave it running
            self._owned = False
            return self
        # ray.init replaces the SIGTERM handler with sys.exit: keep hwflow's (it stops the
        # tools and records stages as interrupted)
        handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
        try:
            if self.address:
                ray.init(address=self.address, **kw)
            else:
                # a short path of its own: Ray's sockets live there (108-byte limit), and a
                # `ray start` head on this machine keeps /tmp/ray to itself
                self._tmp = tempfile.mkdtemp(prefix="hwray-", dir="/tmp")
                # address "local": a new instance even when RAY_ADDRESS or a `ray start` says otherwise
                ray.init(address="local", num_cpus=self.num_cpus or os.cpu_count(), _temp_dir=self._tmp,
                         object_store_memory=80 * 2**20, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            self._cleanup()
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            hint = ""
            if self.address and os.environ.get("RAY_AUTH_MODE") is None:
                # Ray >= 2.59 starts `ray start` heads with token authentication, and a driver
                # sends the token (~/.ray/auth_token or RAY_AUTH_TOKEN) only in token mode
                hint = ("; if the cluster uses token authentication (the default of `ray start` since "
                        "Ray 2.59), set RAY_AUTH_MODE=token")
            raise HwflowError(f"cannot start or reach {where}: {type(e).__name__}: {e}{hint}") from e
        finally:
            if threading_main():
                for s, h in handlers.items():
                    if h is not None:
                        signal.signal(s, h)
        return self

    def __exit__(self, *exc) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        import ray

        if self._owned:
            with contextlib.suppress(Exception):
                ray.shutdown()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def describe(self) -> dict[str, Any]:
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        local = "local (started by hwflow sweep)" if self._owned else "the caller's Ray session"
        return {"name": "ray", "version": ray.__version__, "address": self.address or local,
                "nodes": len(nodes), "cpus": ray.cluster_resources().get("CPU", 0.0)}

    def largest_node(self) -> dict[str, float]:
        """The most CPUs and memory (bytes) one node offers: a request above them never runs."""
        import ray

        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        return {"cpus": max((n.get("CPU", 0.0) for n in nodes), default=0.0),
                "memory": max((n.get("memory", 0.0) for n in nodes), default=0.0)}

    def submit(self, flow: dict, run_dir: Path, first: str, last: str, final: bool, cpus: float,
               memory_gb: float | None, name: str):
        opts: dict[str, Any] = {"num_cpus": cpus, "name": name}
        if memory_gb is not None:
            opts["memory"] = int(memory_gb * 2**30)
        return self.remote.options(**opts).remote(flow, str(run_dir), first, last, final)

    @staticmethod
    def wait(refs: list, timeout: float) -> Iterator[tuple[Any, dict | None, str | None]]:
        """(ref, result, error) of each task that finished within ``timeout`` seconds."""
        import ray

        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        for ref in done:
            try:
                yield ref, ray.get(ref), None
            except ray.exceptions.RayError as e:  # the task raised, or its worker died
                cause = getattr(e, "cause", None)
                lines = [ln.strip() for ln in str(cause or e).strip().splitlines() if ln.strip()]
                yield ref, None, f"{type(cause or e).__name__}: {' / '.join(lines[:3])[:300]}"

    @staticmethod
    def cancel(refs: list) -> None:
        import ray

        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def check_request(largest: dict[str, float], cpus: float, memory_gb: float | None, where: str) -> None:
    """A resource request no node can meet would wait forever: refuse it up front."""
    if cpus > largest["cpus"]:
        raise ConfigError(f"{where}: asks for {cpus:g} CPUs; the largest Ray node has {largest['cpus']:g}")
    if memory_gb is not None and memory_gb * 2**30 > largest["memory"]:
        raise ConfigError(f"{where}: asks for {memory_gb:g} GB of memory; the largest Ray node offers "
                          f"{largest['memory'] / 2**30:.1f} GB to tasks")
