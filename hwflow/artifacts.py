"""Run directories and stage manifests.

A stage is a function from input artifacts to files in a run directory. It records what
it did in ``<run>/<stage>.json``: status, input digests, parameters, outputs, timings and
stage-specific results. The record is written atomically and says ``"status": "complete"``
only after the stage's work finished, so an interrupted or failed stage is never mistaken
for a finished one, and a later run can skip a stage whose inputs and parameters did not
change (``is_up_to_date``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]")


def sanitize_identifier(name: str, prefix: str = "n") -> str:
    """Turn any tensor/layer name into a Verilog/C/file-safe identifier.

    Keeps ``[A-Za-z0-9_]``, replaces everything else by ``_``, and prefixes names that would
    start with a digit or be empty. Used for every name that reaches generated code or paths.
    """
    s = _SAFE_NAME.sub("_", str(name))
    if not s or s[0].isdigit() or s[0] == "_":
        s = f"{prefix}{'' if s.startswith('_') else '_'}{s}"
    return s


def _default(o: Any) -> Any:
    # numpy scalars and arrays, paths and dataclasses appear in stage results
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write JSON atomically (temporary file + rename), so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, default=_default, sort_keys=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, or of every file below a directory (names and contents)."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode())
            h.update(bytes.fromhex(file_digest(p)))
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def params_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=_default).encode()).hexdigest()


@dataclass
class StageRun:
    """What a running stage fills in; written to ``<stage>.json`` when the stage ends."""

    run_dir: Path
    name: str
    inputs: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)

    @property
    def record_path(self) -> Path:
        return self.run_dir / f"{self.name}.json"

    def output(self, path: str | os.PathLike) -> Path:
        """Register a file of this stage (relative to the run directory when inside it)."""
        p = Path(path)
        try:
            rel = str(p.resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            rel = str(p)
        if rel not in self.outputs:
            self.outputs.append(rel)
        return p


def _record(st: StageRun, status: str, started: float, error: str | None = None) -> dict:
    rec = {
        "schema": SCHEMA_VERSION,
        "stage": st.name,
        "status": status,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "wall_time_s": round(time.time() - started, 3),
        "inputs": st.inputs,
        "params": st.params,
        "params_digest": params_digest(st.params),
        "outputs": st.outputs,
        "tools": st.tools,
        "host": {"python": platform.python_version(), "machine": platform.machine()},
        **st.result,
    }
    if error is not None:
        rec["error"] = error
    return rec


@contextlib.contextmanager
def stage(
    run_dir: str | os.PathLike,
    name: str,
    inputs: dict[str, str | os.PathLike] | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[StageRun]:
    """Run a stage: ``with stage(run, "hls", inputs={"model": p}, params=...) as st: ...``.

    On normal exit ``<stage>.json`` gets ``status: complete``; on an exception
    ``failed`` (with the message) and the exception propagates; on Ctrl-C
    ``interrupted``. The record is first written as ``running`` so a killed process
    leaves a record that is visibly not complete.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    digests = {k: file_digest(v) for k, v in (inputs or {}).items()}
    st = StageRun(run_dir=run_dir, name=name, inputs=digests, params=dict(params or {}))
    started = time.time()
    write_json(st.record_path, _record(st, "running", started))
    try:
        yield st
    except KeyboardInterrupt:
        write_json(st.record_path, _record(st, "interrupted", started, "interrupted by user"))
        raise
    except BaseException as e:
        write_json(st.record_path, _record(st, "failed", started, f"{type(e).__name__}: {e}"))
        raise
    write_json(st.record_path, _record(st, "complete", started))
    _update_manifest(run_dir, st)


def _update_manifest(run_dir: Path, st: StageRun) -> None:
    path = run_dir / "manifest.json"
    manifest = read_json(path) if path.exists() else {"schema": SCHEMA_VERSION, "stages": {}}
    manifest["stages"][st.name] = {
        "record": st.record_path.name,
        "inputs": st.inputs,
        "params_digest": params_digest(st.params),
        "outputs": st.outputs,
        "completed": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    write_json(path, manifest)


def stage_record(run_dir: str | os.PathLike, name: str) -> dict | None:
    path = Path(run_dir) / f"{name}.json"
    if not path.exists():
        return None
    try:
        return read_json(path)
    except json.JSONDecodeError:
        return None


def is_up_to_date(
    run_dir: str | os.PathLike,
    name: str,
    inputs: dict[str, str | os.PathLike] | None = None,
    params: dict[str, Any] | None = None,
) -> bool:
    """True when ``name`` completed with the same input digests and parameters, and all
    its outputs still exist."""
    rec = stage_record(run_dir, name)
    if not rec or rec.get("status") != "complete":
        return False
    if rec.get("params_digest") != params_digest(dict(params or {})):
        return False
    for k, v in (inputs or {}).items():
        if not Path(v).exists() or rec.get("inputs", {}).get(k) != file_digest(v):
            return False
    return all((Path(run_dir) / o).exists() or Path(o).exists() for o in rec.get("outputs", []))
