"""Verilog files of one design: da4ml's combinational stages, our hand-written primitives,
and the glue (the stream top) that this module writes.

Layout in ``<run>/verilog/``:
- ``<top>_stage<i>.v``: combinational logic of pipeline stage i (da4ml ``comb_logic_gen``)
- da4ml's primitive library (``shift_adder.v``, ``negative.v``, ...), copied as they are
- ``hwflow_stream_ctrl.v``, ``hwflow_pipe_reg.v``: our primitives, copied as they are
- ``<top>.v``: glue -- unpacks ``s_axis_tdata`` into the packed input of stage 0, chains
  stages through enable registers, packs the last stage into ``m_axis_tdata``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import da4ml.codegen.rtl as da4ml_rtl
from da4ml.codegen.rtl.verilog.comb import comb_logic_gen, table_mem_gen
from da4ml.types import CombLogic, QInterval, minimal_kif

from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import ModelError

PRIMITIVES_DIR = Path(__file__).parent / "primitives"
DA4ML_VERILOG_DIR = Path(da4ml_rtl.__file__).parent / "verilog" / "source"
TIMESCALE = "`timescale 1ns / 1ps"


@dataclass
class PortMap:
    """Where each element of a port sits in the packed da4ml vector."""

    widths: list[int]  # da4ml width of each element (0: constant 0, not in the vector)
    fracs: list[int]
    signed: list[bool]

    @property
    def offsets(self) -> list[int]:
        out, acc = [], 0
        for w in self.widths:
            out.append(acc)
            acc += w
        return out

    @property
    def total(self) -> int:
        return sum(self.widths)


def port_map(qints: list[QInterval]) -> PortMap:
    kifs = [minimal_kif(q) for q in qints]
    return PortMap(
        widths=[int(k) + int(i) + int(f) for k, i, f in kifs],
        fracs=[int(f) for _, _, f in kifs],
        signed=[bool(k) for k, _, _ in kifs],
    )


def output_format(qints: list[QInterval]) -> ElementFormat:
    """One element format that holds every output element exactly."""
    pm = port_map(qints)
    live = [i for i, w in enumerate(pm.widths) if w > 0]
    frac = max((pm.fracs[i] for i in live), default=0)
    lo = min(round(q.min * 2.0**frac) for q in qints)
    hi = max(round(q.max * 2.0**frac) for q in qints)
    if lo < 0:
        width = max((-lo - 1).bit_length() + 1, hi.bit_length() + 1 if hi > 0 else 1)
    else:
        width = max(1, hi.bit_length())
    return ElementFormat(signed=lo < 0, width=width, frac=frac, int_min=lo, int_max=hi)


def _stage_bits(sol: CombLogic) -> tuple[int, int]:
    return port_map(sol.inp_qint).total, port_map(sol.out_qint).total


def copy_primitives(out_dir: Path, uses_tables: bool) -> list[Path]:
    """Copy da4ml's primitive library and ours into ``out_dir``; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for src in sorted(DA4ML_VERILOG_DIR.glob("*.v")) + sorted(PRIMITIVES_DIR.glob("*.v")):
        if src.name == "lookup_table.v" and not uses_tables:
            # its $readmemh of a placeholder file makes Yosys fail; only needed for tables
            continue
        dst = out_dir / src.name
        shutil.copyfile(src, dst)
        files.append(dst)
    return files


def write_stages(out_dir: Path, prefix: str, stages: list[CombLogic]) -> list[Path]:
    """One module ``<prefix><i>`` per combinational pipeline stage."""
    files = []
    for i, sol in enumerate(stages):
        if sol.lookup_tables:
            # lookup tables need $readmemh files next to the simulator; none of our ops emit them
            for name, mem in table_mem_gen(sol).items():
                (out_dir / name).write_text(mem)
        bits_in, bits_out = _stage_bits(sol)
        if bits_in == 0 or bits_out == 0:
            raise ModelError(f"pipeline stage {prefix}{i} has no {'input' if bits_in == 0 else 'output'} bits (constant model?)")
        p = out_dir / f"{prefix}{i}.v"
        p.write_text(comb_logic_gen(sol, f"{prefix}{i}", print_latency=False, timescale=TIMESCALE))
        files.append(p)
    return files


def align_expr(src: str, off: int, w: int, f: int, signed: bool, dst_w: int, dst_f: int, what: str) -> str:
    """Verilog expression of ``src[off +: w]`` (fraction bits f) in a dst_w-bit word with
    dst_f fraction bits: shifted left and sign- or zero-extended (exact, never truncated)."""
    if w == 0:
        return f"{dst_w}'d0"
    shift = dst_f - f
    ext = dst_w - w - shift
    if shift < 0 or ext < 0:
        raise ModelError(f"{what} (w={w}, f={f}) does not fit the format (w={dst_w}, f={dst_f})")
    parts = []
    if ext > 0:
        parts.append(f"{{{ext}{{{src}[{off + w - 1}]}}}}" if signed else f"{ext}'d0")
    parts.append(f"{src}[{off + w - 1}:{off}]")
    if shift > 0:
        parts.append(f"{shift}'d0")
    return f"{{{', '.join(parts)}}}" if len(parts) > 1 else parts[0]


def write_design(
    out_dir: Path,
    top: str,
    stages: list[CombLogic],
    in_fmt: ElementFormat,
    n_in: int,
    out_fmt: ElementFormat,
    n_out: int,
) -> tuple[list[Path], int]:
    """Write every Verilog file; returns (files in compile order, latency in cycles)."""
    files = copy_primitives(out_dir, any(sol.lookup_tables for sol in stages))
    files += write_stages(out_dir, f"{top}_stage", stages)
    latency = len(stages) + 1  # input register + one register after each stage
    glue = _glue(top, stages, in_fmt, n_in, out_fmt, n_out, latency)
    p = out_dir / f"{top}.v"
    p.write_text(glue)
    files.append(p)
    return files, latency


def _glue(top, stages, in_fmt: ElementFormat, n_in, out_fmt: ElementFormat, n_out, latency) -> str:
    in_map = port_map(stages[0].inp_qint)
    out_qints = stages[-1].out_qint
    out_map = port_map(out_qints)
    ew_in, ew_out = in_fmt.width, out_fmt.width
    lines: list[str] = []
    a = lines.append

    a(TIMESCALE)
    a(f"// Generated by hwflow: stream wrapper of {top}.")
    a(f"// One beat = one input vector of {n_in} elements x {ew_in} bits (element 0 in the LSBs);")
    a(f"// output {n_out} elements x {ew_out} bits. Latency {latency} cycles, II = 1.")
    a(f"module {top} (")
    a("    input  wire clk,")
    a("    input  wire rst,")
    a("    input  wire s_axis_tvalid,")
    a("    output wire s_axis_tready,")
    a("    // verilator lint_off UNUSEDSIGNAL")
    a("    // (bits of an input element above its exact range are sign/zero copies: unused)")
    a(f"    input  wire [{n_in * ew_in - 1}:0] s_axis_tdata,")
    a("    // verilator lint_on UNUSEDSIGNAL")
    a("    output wire m_axis_tvalid,")
    a("    input  wire m_axis_tready,")
    a(f"    output wire [{n_out * ew_out - 1}:0] m_axis_tdata")
    a(");")
    a(f"    wire [{latency - 1}:0] load;  // per register stage: a real beat moves in")
    a(f"    hwflow_stream_ctrl #(.LATENCY({latency})) u_ctrl (")
    a("        .clk(clk), .rst(rst), .s_valid(s_axis_tvalid), .s_ready(s_axis_tready),")
    a("        .m_valid(m_axis_tvalid), .m_ready(m_axis_tready), .load(load));")
    a("")
    a("    // input elements -> packed stage-0 vector (each element at its exact width)")
    a(f"    wire [{in_map.total - 1}:0] packed_in;")
    for i, (w, off) in enumerate(zip(in_map.widths, in_map.offsets)):
        if w == 0:
            continue
        if w > ew_in or in_map.fracs[i] != in_fmt.frac:
            raise ModelError(f"input element {i}: da4ml format (w={w}, f={in_map.fracs[i]}) does not fit the port format")
        a(f"    assign packed_in[{off + w - 1}:{off}] = s_axis_tdata[{i * ew_in + w - 1}:{i * ew_in}];")
    a("")
    prev = "packed_in"
    for i, sol in enumerate(stages):
        bits_in, bits_out = _stage_bits(sol)
        a(f"    wire [{bits_in - 1}:0] stage{i}_in;")
        a(f"    wire [{bits_out - 1}:0] stage{i}_out;")
        a(f"    hwflow_pipe_reg #(.W({bits_in})) u_reg{i} (.clk(clk), .ce(load[{i}]), .d({prev}), .q(stage{i}_in));")
        a(f"    {top}_stage{i} u_stage{i} (.model_inp(stage{i}_in), .model_out(stage{i}_out));")
        prev = f"stage{i}_out"
    n = len(stages)
    a(f"    wire [{out_map.total - 1}:0] packed_out;")
    a(f"    hwflow_pipe_reg #(.W({out_map.total})) u_reg{n} (.clk(clk), .ce(load[{n}]), .d({prev}), .q(packed_out));")
    a("")
    a("    // packed output -> output elements, aligned to the common fraction and sign-extended")
    for j in range(n_out):
        lo = j * ew_out
        expr = align_expr("packed_out", out_map.offsets[j], out_map.widths[j], out_map.fracs[j], out_map.signed[j],
                          ew_out, out_fmt.frac, f"output element {j}")
        a(f"    assign m_axis_tdata[{lo + ew_out - 1}:{lo}] = {expr};")
    a("endmodule")
    return "\n".join(lines) + "\n"
