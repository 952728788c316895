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
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_]")
MAX_IDENTIFIER = 120  # longer names are cut and given a digest (file names stay < 255 bytes)

# Words a generated identifier must never be: Verilog-2005 and SystemVerilog (IEEE
# 1800-2017) keywords, C++20 keywords and alternative tokens, and names the generated C++
# or the simulators' runtimes define (a module called "main" or a port called "std" breaks
# the build). Compared case-sensitively, as both languages do.
RESERVED_WORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic before
begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class
clocking cmos config const constraint context continue cover covergroup coverpoint cross deassign
default defparam design disable dist do edge else end endcase endchecker endclass endclocking
endconfig endfunction endgenerate endgroup endinterface endmodule endpackage endprimitive endprogram
endproperty endspecify endsequence endtable endtask enum event eventually expect export extends
extern final first_match for force foreach forever fork forkjoin function generate genvar global
highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import incdir include
initial inout input inside instance int integer interconnect interface intersect join join_any
join_none large let liblist library local localparam logic longint macromodule matches medium
modport module nand negedge nettype new nexttime nmos nor noshowcancelled not notif0 notif1 null or
output package packed parameter pmos posedge primitive priority program property protected pull0
pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence
rcmos real realtime ref reg reject_on release repeat restrict return rnmos rpmos rtran rtranif0
rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared sequence shortint shortreal
showcancelled signed small soft solve specify specparam static string strong strong0 strong1 struct
super supply0 supply1 sync_accept_on sync_reject_on table tagged task this throughout time
timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg type typedef union
unique unique0 unsigned until until_with untyped use uwire var vectored virtual void wait
wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
alignas alignof and_eq asm auto bitand bitor bool catch char char8_t char16_t char32_t co_await
co_return co_yield compl concept consteval constexpr constinit const_cast decltype delete double
dynamic_cast explicit false float friend goto inline long mutable namespace noexcept not_eq nullptr
operator or_eq private public register reinterpret_cast requires short sizeof static_assert
static_cast switch template thread_local throw true try typeid typename using volatile wchar_t
xor_eq
main std NULL EOF errno assert ap_int ap_uint ap_fixed ap_ufixed hls nnet sc_main
""".split())


def sanitize_identifier(name: str, prefix: str = "n") -> str:
    """Turn any tensor/layer name into a Verilog/C++/file-safe identifier.

    Keeps ``[A-Za-z0-9_]``, replaces everything else by ``_``, and prefixes names that would
    start with a digit or an underscore, be empty, or be a reserved word of Verilog,
    SystemVerilog or C++ (``module`` -> ``n_module``). Names over ``MAX_IDENTIFIER``
    characters are cut and end in a digest of the whole name, so two long names stay
    distinct. Used for every name that reaches generated code or paths.
    """
    s = _SAFE_NAME.sub("_", str(name))
    if not s or s[0].isdigit() or s[0] == "_" or s in RESERVED_WORDS:
        s = f"{prefix}{'' if s.startswith('_') else '_'}{s}"
    if len(s) > MAX_IDENTIFIER:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:10]
        s = f"{s[:MAX_IDENTIFIER - 11]}_{digest}"
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


MAX_MODEL_BYTES_ENV = "HWFLOW_MAX_MODEL_BYTES"
DEFAULT_MAX_MODEL_BYTES = 1 << 30  # 1 GiB: far above any model hwflow can build


def max_model_bytes() -> int:
    """The size limit of an input file: ``HWFLOW_MAX_MODEL_BYTES`` or 1 GiB."""
    from hwflow.limits import env_limit

    return env_limit(MAX_MODEL_BYTES_ENV, DEFAULT_MAX_MODEL_BYTES, "number of bytes")


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file: reading it could block forever"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def check_input_file(path: str | os.PathLike, what: str = "model file", max_bytes: int | None = None,
                     error: type | None = None) -> os.stat_result:
    """The gate every input file passes before it is hashed or parsed.

    It must exist and be a regular file (a symlink to one is fine) no larger than
    ``max_bytes`` (default ``max_model_bytes()``). Each way of failing has its own message:
    missing, dangling symlink, directory, FIFO, device (a link to /dev/zero would hash
    forever), socket, unreadable, too large. Raises ``error`` (default ``InvalidModelFile``)
    or ``TooLarge``; only ``stat`` is called, so nothing blocks.
    """
    from hwflow.errors import InvalidModelFile, TooLarge

    error = error or InvalidModelFile
    p = os.fspath(path)

    def fail(msg: str):
        if issubclass(error, InvalidModelFile):
            return error(f"{what} {msg}", path=p)
        return error(f"{what} {p} {msg}")

    try:
        st = os.stat(p)
    except FileNotFoundError:
        if os.path.lexists(p):
            raise fail(f"is a symbolic link to {os.readlink(p)!r}, which does not exist") from None
        raise fail("does not exist") from None
    except PermissionError:
        raise fail("cannot be read (permission denied)") from None
    except OSError as e:  # too many symlink levels, name too long, ...
        raise fail(f"cannot be opened ({e.strerror or e})") from None
    kind = _kind(st.st_mode)
    if kind is not None:
        if os.path.islink(p):
            kind += f" (a symbolic link to {os.path.realpath(p)})"
        raise fail(f"is {kind}")
    limit = max_model_bytes() if max_bytes is None else max_bytes
    if st.st_size > limit:
        raise TooLarge(f"{what} is {st.st_size:,} bytes, over the limit of {limit:,} bytes "
                       f"(set {MAX_MODEL_BYTES_ENV} to raise it)", path=p)
    return st


def read_input_file(path: str | os.PathLike, what: str = "model file", max_bytes: int | None = None,
                    error: type | None = None) -> bytes:
    """The bytes of an input file that passed ``check_input_file``. Opened non-blocking and
    checked again on the open descriptor, so a file swapped for a FIFO or device between the
    check and the read is refused too, and never more than the limit is read."""
    check_input_file(path, what, max_bytes, error)
    limit = max_model_bytes() if max_bytes is None else max_bytes
    fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            check_input_file(path, what, max_bytes, error)  # raises with the right message
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                from hwflow.errors import TooLarge

                raise TooLarge(f"{what} grew over the limit of {limit:,} bytes while being read "
                               f"(set {MAX_MODEL_BYTES_ENV} to raise it)", path=os.fspath(path))
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check_npy_header(f, size: int, label: str) -> None:
    """An .npy stream's header: numeric dtype, and no more data declared than the file holds,
    so NumPy never allocates for a shape the file cannot fill (a 10**12-element header)."""
    import math

    import numpy as np

    from hwflow.errors import InvalidInputsFile

    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    except Exception as e:  # bad magic, header too long, not a dict
        raise InvalidInputsFile(f"{label}: not a valid .npy header ({' '.join(str(e).split())[:200]})") from None
    if dtype.hasobject:
        raise InvalidInputsFile(f"{label} holds Python objects (pickles are never loaded); save a numeric array")
    need = math.prod(shape) * dtype.itemsize
    if need > size:
        raise InvalidInputsFile(f"{label} declares shape {tuple(shape)} of {dtype} ({need:,} bytes) but holds only "
                                f"{size:,} bytes: truncated or forged")


def load_array_file(path: str | os.PathLike, what: str = "inputs file"):
    """An inputs file (.npy, or .npz for several inputs) as arrays of finite real numbers.

    Passes the file gate first (regular file within ``HWFLOW_MAX_MODEL_BYTES``; an .npz
    member's uncompressed size counts too), never unpickles (``allow_pickle=False``), and
    refuses strings, objects, complex numbers (the imaginary part would be dropped), NaN and
    infinities (hwflow's fixed-point inputs have no value for them): ``InvalidInputsFile``
    naming the file, the array and the first offending index. Returns an ndarray, or a dict
    name -> ndarray for an .npz."""
    import zipfile

    import numpy as np

    from hwflow.errors import InvalidInputsFile

    p = os.fspath(path)
    st = check_input_file(p, what, error=InvalidInputsFile)
    limit = max_model_bytes()
    try:
        with open(p, "rb") as f:
            magic = f.read(6)
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                size = sum(i.file_size for i in z.infolist())
                if size > limit:
                    raise InvalidInputsFile(f"{what} {p} unpacks to {size:,} bytes, over the limit of "
                                            f"{limit:,} (set {MAX_MODEL_BYTES_ENV} to raise it)")
                for info in z.infolist():
                    with z.open(info) as member:
                        _check_npy_header(member, info.file_size, f"{what} {p}, member {info.filename!r}")
        elif magic == b"\x93NUMPY":
            with open(p, "rb") as f:
                _check_npy_header(f, st.st_size, f"{what} {p}")
        else:
            raise InvalidInputsFile(f"{what} {p} is not an .npy or .npz file (no NumPy header): save it with "
                                    "numpy.save / numpy.savez")
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                arrays = {k: loaded[k] for k in loaded.files}
            if not arrays:
                raise InvalidInputsFile(f"{what} {p} is an .npz with no arrays")
        else:
            arrays = None
    except InvalidInputsFile:
        raise
    except Exception as e:  # pickled objects, truncated or foreign files, bad zip members
        msg = " ".join(str(e).split())[:300]
        if "allow_pickle" in msg:
            msg = "it holds Python objects (pickles are never loaded); save a numeric array"
        raise InvalidInputsFile(f"cannot read {what} {p} as .npy/.npz: {msg}") from None
    for name, a in (arrays or {"": loaded}).items():
        label = f"{what} {p}" + (f", array {name!r}" if name else "")
        if a.dtype.kind not in "iuf":
            kind = {"c": "complex numbers (the imaginary part would be dropped)", "b": "booleans",
                    "U": "text", "S": "bytes", "O": "Python objects", "V": "structured records",
                    "M": "dates", "m": "time deltas"}.get(a.dtype.kind, f"dtype {a.dtype}")
            raise InvalidInputsFile(f"{label} holds {kind}: inputs must be real numbers (float or int)")
        if a.ndim == 0:
            raise InvalidInputsFile(f"{label} is a single number, not a batch (batch on axis 0)")
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise InvalidInputsFile(f"{label} holds {a[idx]} at index {idx}: inputs must be finite")
    return arrays if arrays is not None else loaded


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file, or of every regular file below a directory (names and contents).

    Only regular files are read (opened non-blocking, checked on the descriptor): a FIFO or
    device raises ``InvalidModelFile`` instead of blocking or hashing forever."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode())
            h.update(bytes.fromhex(file_digest(p)))
        return h.hexdigest()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            check_input_file(path, "input file", max_bytes=1 << 62)  # raises, naming what it is
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


LOCK_NAME = ".hwflow.lock"
_held_locks: dict[str, list] = {}   # real path of a run directory -> [fd, depth]
_held_mutex = threading.Lock()


@contextlib.contextmanager
def run_dir_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``<run_dir>/.hwflow.lock`` (an ``flock``) for the duration of the block.

    A second process on the same run directory gets ``RunDirInUse`` naming the holder's pid
    instead of interleaving its records with ours. Re-entrant within one process (a flow's
    stages nest). The kernel drops the lock when the holder dies, so a killed run never
    leaves a stale lock; the file itself stays (deleting it would race with a new holder).
    """
    import fcntl

    from hwflow.errors import RunDirInUse

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    with _held_mutex:
        held = _held_locks.get(key)
        if held is not None:
            held[1] += 1
        else:
            fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
                finally:
                    os.close(fd)
                raise RunDirInUse(f"run directory {run_dir} is in use by another hwflow process "
                                  f"(pid {holder}, lock {run_dir / LOCK_NAME}); wait for it to "
                                  "finish or use another directory") from None
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _held_locks[key] = [fd, 1]
    try:
        yield
    finally:
        with _held_mutex:
            held = _held_locks[key]
            held[1] -= 1
            if held[1] == 0:
                del _held_locks[key]
                fcntl.flock(held[0], fcntl.LOCK_UN)
                os.close(held[0])


def _input_digest(key: str, path: str | os.PathLike) -> str:
    """Digest of a stage input after the file gate (a directory input is hashed whole)."""
    if not os.path.isdir(path):
        check_input_file(path, f"input {key!r}")
    return file_digest(path)


@contextlib.contextmanager
def stage(
    run_dir: str | os.PathLike,
    name: str,
    inputs: dict[str, str | os.PathLike] | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[StageRun]:
    """Run a stage: ``with stage(run, "hls", inputs={"model": p}, params=...) as st: ...``.

    The run directory is locked for the stage (``run_dir_lock``: a second hwflow process
    gets ``RunDirInUse``), and every input passes the file gate (``check_input_file``)
    before it is hashed. On normal exit ``<stage>.json`` gets ``status: complete``; on an
    exception ``failed`` (with the message) and the exception propagates; on Ctrl-C or
    SIGTERM/SIGHUP (``hwflow.errors.Interrupted``) ``interrupted``. The record is first
    written as ``running`` so a killed process leaves a record that is visibly not complete.
    """
    run_dir = Path(run_dir)
    with run_dir_lock(run_dir):
        digests = {k: _input_digest(k, v) for k, v in (inputs or {}).items()}
        st = StageRun(run_dir=run_dir, name=name, inputs=digests, params=dict(params or {}))
        started = time.time()
        kept = _keep_last_complete(st.record_path)
        write_json(st.record_path, _record(st, "running", started))
        try:
            yield st
        except KeyboardInterrupt as e:
            write_json(st.record_path, _with_kept(_record(st, "interrupted", started, str(e) or "interrupted by user"), kept))
            raise
        except BaseException as e:
            write_json(st.record_path, _with_kept(_record(st, "failed", started, f"{type(e).__name__}: {e}"), kept))
            raise
        write_json(st.record_path, _record(st, "complete", started))
        if kept is not None:
            kept.unlink(missing_ok=True)  # the new complete record supersedes it
        _update_manifest(run_dir, st)


def last_complete_path(record_path: Path) -> Path:
    return record_path.with_name(record_path.stem + ".last-complete.json")


def _keep_last_complete(record_path: Path) -> Path | None:
    """A rerun must not lose the last complete record: it is set aside (atomically) before
    the new run writes ``running``, named in a failed or interrupted record, and removed when
    the rerun completes. An older set-aside copy stays when the current record is not complete."""
    keep = last_complete_path(record_path)
    rec = stage_record(record_path.parent, record_path.stem) if record_path.exists() else None
    if rec is not None and rec.get("status") == "complete":
        write_json(keep, rec)
    return keep if keep.exists() else None


def _with_kept(rec: dict, kept: Path | None) -> dict:
    if kept is not None:
        rec["last_complete"] = kept.name
    return rec


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
