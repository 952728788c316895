"""Issue #17: a generated corpus of malformed and hostile files through inspect, exec, rtl,
hls and export. Every run ends in a typed error (the exit code of its hwflow.errors class,
a one-paragraph message, no traceback) or a correct result; none hangs (per-run time
limit); no file's code ever runs (the marker file never appears).

Runs are in-process (the CLI through typer's runner, TensorFlow imported once); a few
representative ones also go through the real ``hwflow`` executable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hwflow.errors as errors
from hwflow.cli import app

from hostile.make_corpus import Case, make_corpus

# generous: a hang never ends, while a loaded CI machine can be several times slower than usual
LIMIT_S = {"inspect": 120, "exec": 120, "export": 180, "rtl": 240, "hls": 400}
GROUPS = ["file", "graph", "quant", "weights", "external", "names", "inputs", "keras", "valid", "perf"]
runner = CliRunner()


class CaseTimeout(BaseException):
    """Raised by SIGALRM in the middle of a run that exceeded its limit (a hang)."""


@contextmanager
def time_limit(seconds: float):
    def on_alarm(signum, frame):
        raise CaseTimeout(f"no result after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    marker = root / "MARKER_code_ran"
    cases = make_corpus(root / "files", marker)
    return root, marker, cases


@pytest.fixture(scope="module")
def valid_inputs(corpus):
    root = corpus[0]
    p = root / "valid_inputs.npy"
    np.save(p, np.random.default_rng(0).uniform(-2, 2, (6, 8)).astype(np.float32))
    return p


def _args(case: Case, cmd: str, work: Path, valid_inputs: Path) -> list[str]:
    p = str(case.path)
    if cmd == "inspect":
        return ["inspect", p, "--json"]
    if cmd == "exec":
        return ["exec", p, "--inputs", str(case.inputs or valid_inputs), "-o", str(work / "out.npy")]
    if cmd == "rtl":
        return ["rtl", p, "-o", str(work / "rtl_run")]
    if cmd == "hls":
        return ["hls", p, "-o", str(work / "hls_run"), "--samples", "20"]
    if cmd == "export":
        return ["export", p, "-o", str(work / "exported.onnx")]
    raise AssertionError(cmd)


def _error_class(text: str):
    """The class named in the CLI's 'error (ClassName): ...' line."""
    for line in text.splitlines():
        if line.startswith("error (") and "):" in line:
            return getattr(errors, line[len("error ("):line.index("):")], None)
    return None


def _check_run(case: Case, cmd: str, work: Path, valid_inputs: Path) -> str | None:
    """Run one case through one command; None if it behaved, else what went wrong."""
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        with time_limit(LIMIT_S[cmd]):
            res = runner.invoke(app, _args(case, cmd, work, valid_inputs), env=case.env or None)
    except CaseTimeout as e:
        return f"hang: {e}"
    took = time.time() - t0
    text = res.output  # click >= 8.2: stdout and stderr interleaved
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        return f"untyped {type(res.exception).__name__}: {res.exception} ({took:.1f} s)"
    if "Traceback" in text:
        return "traceback in the output"
    if case.expect == "ok":
        if res.exit_code != 0:
            return f"expected a result, got exit {res.exit_code}: {text.strip()[:300]}"
        return _check_result(case, cmd, work)
    if res.exit_code == 0:
        return "accepted (expected a typed error)"
    cls = _error_class(text)
    if cls is None or not isinstance(cls, type) or not issubclass(cls, errors.HwflowError):
        return f"exit {res.exit_code} without a typed error line: {text.strip()[:300]}"
    if res.exit_code != cls.exit_code:
        return f"exit {res.exit_code} but {cls.__name__} has exit code {cls.exit_code}"
    if case.error and not issubclass(cls, getattr(errors, case.error)):
        return f"{cls.__name__} raised, expected {case.error}: {text.strip()[:300]}"
    leftover = _complete_artifact(cmd, work)
    if leftover:
        return f"failed, but left {leftover}"
    message = text[text.index("error ("):].strip()
    if "\n\n" in message or len(message) > 2500:
        return f"message is not one paragraph: {message[:300]}"
    return None


def _complete_artifact(cmd: str, work: Path) -> str | None:
    """A failed run must not leave an output that looks finished."""
    import json

    if cmd == "export" and (work / "exported.onnx").exists():
        return "exported.onnx"
    if cmd == "exec" and (work / "out.npy").exists():
        return "out.npy"
    for rec in (work / "rtl_run" / "rtl.json", work / "hls_run" / "hls.json"):
        if rec.exists() and json.loads(rec.read_text()).get("status") == "complete":
            return f"{rec.name} with status complete"
    return None


def _check_result(case: Case, cmd: str, work: Path) -> str | None:
    if cmd == "exec":
        y = np.load(work / "out.npy")
        if not np.all(np.isfinite(y)):
            return "exec wrote non-finite outputs"
    if cmd == "rtl":
        import json

        rec = json.loads((work / "rtl_run" / "rtl.json").read_text())
        from hwflow.artifacts import RESERVED_WORDS, sanitize_identifier

        top = rec["top"]
        if top in RESERVED_WORDS or sanitize_identifier(top) != top:
            return f"top module name {top!r} is not a safe identifier"
    return None


def _run_group(group, corpus, valid_inputs, tmp_path):
    root, marker, cases = corpus
    failures = []
    ran = 0
    for case in (c for c in cases if c.group == group):
        for cmd in case.commands:
            problem = _check_run(case, cmd, tmp_path / case.name / cmd, valid_inputs)
            ran += 1
            if problem:
                failures.append(f"{case.name} [{cmd}]: {problem}")
            assert not marker.exists(), f"{case.name} [{cmd}]: code from a model file ran"
    assert ran, f"no cases in group {group}"
    assert not failures, f"{len(failures)} of {ran} runs misbehaved:\n" + "\n".join(failures)


def test_corpus_is_large_and_covers_every_class(corpus):
    _, _, cases = corpus
    assert len(cases) >= 100
    assert {c.group for c in cases} == set(GROUPS)
    runs = {cmd for c in cases for cmd in c.commands}
    assert runs == {"inspect", "exec", "rtl", "hls", "export"}


@pytest.mark.parametrize("group", GROUPS)
def test_corpus_group(group, corpus, valid_inputs, tmp_path):
    _run_group(group, corpus, valid_inputs, tmp_path)


def test_exec_result_matches_qonnx_on_valid_model(corpus, valid_inputs, tmp_path):
    """The baseline model's exec output is the qonnx execute_onnx result (a correct result,
    not only an exit code)."""
    from qonnx.core.onnx_exec import execute_onnx

    from hwflow.ir import load_model

    root, _, cases = corpus
    case = next(c for c in cases if c.name == "valid_mlp")
    res = runner.invoke(app, ["exec", str(case.path), "--inputs", str(valid_inputs), "-o", str(tmp_path / "y.npy")])
    assert res.exit_code == 0, res.output
    y = np.load(tmp_path / "y.npy")
    m = load_model(case.path)
    x = np.load(valid_inputs)
    ref = np.concatenate([execute_onnx(m, {"x": x[i:i + 1]})["y"] for i in range(len(x))])
    np.testing.assert_array_equal(y, ref)


# the real executable on a representative subset: exit codes and stderr as a user sees them
CLI_SUBSET = [
    ("fifo", "inspect"), ("dev_zero_symlink", "inspect"), ("missing_file", "rtl"), ("duplicate_value_info", "inspect"),
    ("cycle", "inspect"), ("inputs_object_pickle", "exec"), ("inputs_nan", "exec"), ("act_quant_scale_zero", "rtl"),
    ("keras_h5_residual_wrapper", "export"), ("keras_lambda_layer", "export"), ("valid_mlp", "inspect"),
]


def test_cli_subset_in_real_processes(corpus, valid_inputs, tmp_path):
    root, marker, cases = corpus
    by_name = {c.name: c for c in cases}
    exe = str(Path(sys.executable).parent / "hwflow")
    procs = []
    for name, cmd in CLI_SUBSET:
        case = by_name[name]
        work = tmp_path / name
        work.mkdir()
        env = {**os.environ, **case.env}
        p = subprocess.Popen([exe, *_args(case, cmd, work, valid_inputs)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        procs.append((case, cmd, p))
    failures = []
    for case, cmd, p in procs:
        try:
            out, err = p.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            failures.append(f"{case.name} [{cmd}]: hang")
            continue
        if "Traceback" in err:
            failures.append(f"{case.name} [{cmd}]: traceback\n{err[-800:]}")
        elif case.expect == "ok" and p.returncode != 0:
            failures.append(f"{case.name} [{cmd}]: exit {p.returncode}: {err[-300:]}")
        elif case.expect == "error":
            cls = _error_class(err)
            if cls is None or p.returncode != cls.exit_code:
                failures.append(f"{case.name} [{cmd}]: exit {p.returncode}, stderr {err[-300:]!r}")
    assert not marker.exists()
    assert not failures, "\n".join(failures)
