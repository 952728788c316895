"""Verilog of a folded design (``folded.py``): da4ml stages per segment and the glue.

Glue (``<top>.v``), one image in flight, statically scheduled by one cycle counter ``t``
that starts at 0 on the edge that accepts an input:

- ``in_q``: the accepted input beat.
- parallel segment k: combinational da4ml stages with a free-running register after
  each; its source registers hold still while it is read, so its output is ready
  ``len(stages)`` cycles after the source was last written.
- conv segment k: ``c<k>_fr`` holds the input map (one word of all channels per pixel,
  raster order); loaded in parallel at ``t == T_LOAD``, then rotated by one pixel per
  clock for ``steps`` clocks, so that the window of step s is at fixed positions
  (masked to 0 where it falls outside the map). ``c<k>_r<j>`` are the kernel's pipeline
  registers (``c<k>_r0`` captures the window), ``c<k>_kv`` their valid bits, and
  ``c<k>_or`` collects the output pixels (shifted in at the top, pixel 0 ends at the
  bottom).
- ``out_q``: loaded at ``t == T_OUT`` (held there while the previous result has not been
  taken), then presented on ``m_axis`` until taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from da4ml.types import minimal_kif

from hwflow.backends.rtl.folded import ConvSegment, FoldedTrace, ParallelSegment
from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.backends.rtl.verilog import TIMESCALE, align_expr, copy_primitives, port_map, write_stages
from hwflow.errors import ModelError


@dataclass
class Elem:
    """One element of a bus: bits ``src[off +: w]``, value = code * 2**-f."""

    src: str
    off: int
    w: int
    f: int
    signed: bool


def _elems(src: str, qints, stride: int | None = None) -> list[Elem]:
    """Elements packed at their exact widths (or every ``stride`` bits)."""
    pm = port_map(list(qints))
    offs = pm.offsets if stride is None else [i * stride for i in range(len(pm.widths))]
    return [Elem(src, o, w, f, s) for o, w, f, s in zip(offs, pm.widths, pm.fracs, pm.signed)]


def _kif(q) -> tuple[int, int, bool]:
    k, i, f = minimal_kif(q)
    return int(k) + int(i) + int(f), int(f), bool(k)


@dataclass
class Schedule:
    loads: dict  # segment index -> T_LOAD of a conv segment
    t_out: int

    @property
    def latency(self) -> int:
        """Cycles from the one that accepts an input to the first with m_axis_tvalid
        (t counts from 0 after the accepting edge; ``finish`` is the edge with t == t_out)."""
        return self.t_out + 2

    @property
    def ii(self) -> int:
        """Cycles between two accepted inputs when the consumer is always ready: the next
        input is accepted in the cycle the result appears."""
        return self.t_out + 2


def schedule(tr: FoldedTrace) -> Schedule:
    """Cycle of every load (see the module docstring for the register chain)."""
    x, ready, loads = -1, None, {}
    for k, seg in enumerate(tr.segments):
        if isinstance(seg, ParallelSegment):
            ready = x + len(seg.stages) + 1
        else:
            loads[k] = ready
            x = ready + seg.steps + len(seg.stages)
    return Schedule(loads=loads, t_out=ready)


def write_folded_design(out_dir: Path, top: str, tr: FoldedTrace, out_fmt: ElementFormat) -> tuple[list[Path], Schedule]:
    files = copy_primitives(out_dir, any(s.lookup_tables for seg in tr.segments for s in seg.stages))
    for k, seg in enumerate(tr.segments):
        files += write_stages(out_dir, f"{top}_s{k}_stage", seg.stages)
    sched = schedule(tr)
    p = out_dir / f"{top}.v"
    p.write_text(_Glue(top, tr, out_fmt, sched).text())
    files.append(p)
    return files, sched


def folded_register_bits(tr: FoldedTrace, in_fmt: ElementFormat, out_fmt: ElementFormat) -> int:
    """Flip-flops of the glue: input/output words, maps, kernel and segment pipelines."""
    bits = len(tr.input_qints) * in_fmt.width + len(tr.output_qints()) * out_fmt.width
    for seg in tr.segments:
        outs = sum(port_map(s.out_qint).total for s in seg.stages)
        if isinstance(seg, ConvSegment):
            c, h, w = seg.in_shape
            pixels = seg.out_shape[1] * seg.out_shape[2]
            bits += h * w * sum(_kif(q)[0] for q in seg.channel_qints)  # map register
            bits += sum(port_map(s.inp_qint).total for s in seg.stages) + len(seg.stages)  # kernel pipeline + valid
            bits += pixels * port_map(seg.stages[-1].out_qint).total  # output pixels
        else:
            bits += outs
    return int(bits)


class _Glue:
    def __init__(self, top: str, tr: FoldedTrace, out_fmt: ElementFormat, sched: Schedule):
        self.top, self.tr, self.out_fmt, self.sched = top, tr, out_fmt, sched
        self.lines: list[str] = []
        self.seq: list[str] = []  # statements inside the one always block of the datapath

    def a(self, s: str = "") -> None:
        self.lines.append(s)

    def text(self) -> str:
        tr, fmt = self.tr, self.tr.input_format
        n_in, n_out = len(tr.input_qints), len(tr.output_qints())
        ew_in, ew_out = fmt.width, self.out_fmt.width
        tbits = max(1, self.sched.t_out.bit_length())
        a = self.a
        a(TIMESCALE)
        a(f"// Generated by hwflow: folded stream wrapper of {self.top} (one image in flight).")
        a(f"// One beat = one input vector of {n_in} elements x {ew_in} bits (element 0 in the LSBs);")
        a(f"// output {n_out} elements x {ew_out} bits. Latency {self.sched.latency} cycles, "
          f"II = {self.sched.ii} cycles.")
        a(f"module {self.top} (")
        a("    input  wire clk,")
        a("    input  wire rst,")
        a("    input  wire s_axis_tvalid,")
        a("    output wire s_axis_tready,")
        a(f"    input  wire [{n_in * ew_in - 1}:0] s_axis_tdata,")
        a("    output wire m_axis_tvalid,")
        a("    input  wire m_axis_tready,")
        a(f"    output wire [{n_out * ew_out - 1}:0] m_axis_tdata")
        a(");")
        a("    reg busy, out_valid;")
        a(f"    reg [{tbits - 1}:0] t;")
        a("    wire accept = s_axis_tvalid & s_axis_tready;")
        a(f"    wire finish = busy & (t == {tbits}'d{self.sched.t_out}) & (~out_valid | m_axis_tready);")
        a("    assign s_axis_tready = ~busy & ~rst;")
        a("    assign m_axis_tvalid = out_valid;")
        a("    always @(posedge clk) begin")
        a("        if (rst) begin")
        a("            busy <= 1'b0; out_valid <= 1'b0; t <= 0;")
        a("        end else begin")
        a("            if (out_valid & m_axis_tready) out_valid <= 1'b0;")
        a("            if (accept) begin busy <= 1'b1; t <= 0; end")
        a("            else if (finish) begin busy <= 1'b0; out_valid <= 1'b1; end")
        a(f"            else if (busy & (t != {tbits}'d{self.sched.t_out})) t <= t + 1'b1;")
        a("        end")
        a("    end")
        a("")
        a("    // verilator lint_off UNUSEDSIGNAL")
        a("    // (bits of an input element above its exact range are sign/zero copies: unused)")
        a(f"    reg [{n_in * ew_in - 1}:0] in_q;")
        a("    // verilator lint_on UNUSEDSIGNAL")
        a("    always @(posedge clk) if (accept) in_q <= s_axis_tdata;")
        bus = []
        for i, q in enumerate(tr.input_qints):
            w, f, s = _kif(q)
            if w and (w > ew_in or f != fmt.frac):
                raise ModelError(f"input element {i}: da4ml format (w={w}, f={f}) does not fit the port format")
            bus.append(Elem("in_q", i * ew_in, w, f, s))
        for k, seg in enumerate(tr.segments):
            a("")
            bus = self._parallel(k, seg, bus) if isinstance(seg, ParallelSegment) else self._conv(k, seg, bus, tbits)
        a("")
        a(f"    reg [{n_out * ew_out - 1}:0] out_q;")
        a("    always @(posedge clk) if (finish) begin")
        for j, e in enumerate(bus):
            a(f"        out_q[{j * ew_out + ew_out - 1}:{j * ew_out}] <= "
              f"{align_expr(e.src, e.off, e.w, e.f, e.signed, ew_out, self.out_fmt.frac, f'output element {j}')};")
        a("    end")
        a("    assign m_axis_tdata = out_q;")
        a("endmodule")
        return "\n".join(self.lines) + "\n"

    def _parallel(self, k: int, seg: ParallelSegment, src: list[Elem]) -> list[Elem]:
        a = self.a
        if seg.identity:
            return src
        pin = port_map(seg.stages[0].inp_qint)
        a(f"    // segment {k}: parallel ({', '.join(n.op_type for n in seg.nodes)}), {len(seg.stages)} stages")
        a(f"    wire [{pin.total - 1}:0] s{k}_in;")
        for e, (w, off, f) in enumerate(zip(pin.widths, pin.offsets, pin.fracs)):
            if w:
                s = src[e]
                a(f"    assign s{k}_in[{off + w - 1}:{off}] = "
                  f"{align_expr(s.src, s.off, s.w, s.f, s.signed, w, f, f'segment {k} input {e}')};")
        prev = f"s{k}_in"
        for j, sol in enumerate(seg.stages):
            bits_out = port_map(sol.out_qint).total
            a(f"    wire [{bits_out - 1}:0] s{k}_o{j};")
            a(f"    reg [{bits_out - 1}:0] s{k}_r{j + 1};")
            a(f"    {self.top}_s{k}_stage{j} u_s{k}_stage{j} (.model_inp({prev}), .model_out(s{k}_o{j}));")
            a(f"    always @(posedge clk) s{k}_r{j + 1} <= s{k}_o{j};")
            prev = f"s{k}_r{j + 1}"
        return _elems(prev, seg.stages[-1].out_qint)

    def _conv(self, k: int, seg: ConvSegment, src: list[Elem], tbits: int) -> list[Elem]:
        a = self.a
        c, h, w = seg.in_shape
        cout, oh, ow = seg.out_shape
        kh, kw = seg.kernel
        pt, pl = seg.pads[0], seg.pads[1]
        n = h * w
        fmts = [_kif(q) for q in seg.channel_qints]
        choff, pw = [], 0
        for wc, _f, _s in fmts:
            choff.append(pw)
            pw += wc
        t_load = self.sched.loads[k]
        steps = seg.steps
        rbits, cbits = max(1, (oh - 1).bit_length()), max(1, (w - 1).bit_length())
        nst = len(seg.stages)
        a(f"    // segment {k}: folded {seg.nodes[0].op_type} {seg.name} ({' '.join(x.op_type for x in seg.nodes)}): "
          f"{c}x{h}x{w} -> {cout}x{oh}x{ow}, kernel {kh}x{kw}, {steps} steps, {nst} stages, load at t={t_load}")
        a("    // verilator lint_off UNUSEDSIGNAL")
        a("    // (channels or taps the kernel does not use are stored but never read)")
        a(f"    reg [{n * pw - 1}:0] c{k}_fr;")
        a("    // verilator lint_on UNUSEDSIGNAL")
        a(f"    reg [{rbits - 1}:0] c{k}_row;")
        a(f"    reg [{cbits - 1}:0] c{k}_col;")
        a(f"    wire c{k}_load = busy & (t == {tbits}'d{t_load});")
        a(f"    wire c{k}_run = busy & (t > {tbits}'d{t_load}) & (t <= {tbits}'d{t_load + steps});")
        a("    always @(posedge clk) begin")
        a(f"        if (c{k}_load) begin")
        a(f"            c{k}_row <= 0; c{k}_col <= 0;")
        for p in range(n):
            for ch, (wc, fc, _sc) in enumerate(fmts):
                if not wc:
                    continue
                e = src[ch * n + p]
                lo = p * pw + choff[ch]
                a(f"            c{k}_fr[{lo + wc - 1}:{lo}] <= "
                  f"{align_expr(e.src, e.off, e.w, e.f, e.signed, wc, fc, f'conv {seg.name} input channel {ch}')};")
        a(f"        end else if (c{k}_run) begin")
        if n > 1:  # a 1-pixel map does not rotate
            a(f"            c{k}_fr <= {{c{k}_fr[{pw - 1}:0], c{k}_fr[{n * pw - 1}:{pw}]}};")
        a(f"            if (c{k}_col == {cbits}'d{w - 1}) begin c{k}_col <= 0; c{k}_row <= c{k}_row + 1'b1; end")
        a(f"            else c{k}_col <= c{k}_col + 1'b1;")
        a("        end")
        a("    end")
        # zero padding: a tap is inside the map when row + dy - pt in [0, h) and col + dx - pl in [0, w)
        for dy in range(kh):
            a(f"    wire c{k}_rowok{dy} = {self._range_check(f'c{k}_row', rbits, pt - dy, h + pt - dy, oh - 1)};")
        for dx in range(kw):
            a(f"    wire c{k}_colok{dx} = {self._range_check(f'c{k}_col', cbits, pl - dx, w + pl - dx, w - 1)};")
        pin = port_map(seg.stages[0].inp_qint)
        a(f"    wire [{pin.total - 1}:0] c{k}_win;")
        for e, (wi, off, fi) in enumerate(zip(pin.widths, pin.offsets, pin.fracs)):
            if not wi:
                continue
            ch, rest = divmod(e, kh * kw)
            dy, dx = divmod(rest, kw)
            wc, fc, _ = fmts[ch]
            if (wi, fi) != (wc, fc):
                raise ModelError(f"conv {seg.name}: kernel input {e} format (w={wi}, f={fi}) != storage (w={wc}, f={fc})")
            pos = ((dy - pt) * w + (dx - pl)) % n
            lo = pos * pw + choff[ch]
            a(f"    assign c{k}_win[{off + wi - 1}:{off}] = (c{k}_rowok{dy} & c{k}_colok{dx}) ? "
              f"c{k}_fr[{lo + wi - 1}:{lo}] : {wi}'d0;")
        # kernel pipeline: c<k>_r0 captures the window every clock; c<k>_kv[j] says whether
        # c<k>_r<j> holds a kept output pixel (run step with col < ow)
        a(f"    reg [{nst - 1}:0] c{k}_kv;")
        a("    always @(posedge clk) begin")
        a(f"        if (rst) c{k}_kv <= 0;")
        keep = f"c{k}_run & (c{k}_col < {cbits}'d{ow})" if ow < w else f"c{k}_run"
        a(f"        else c{k}_kv <= {{c{k}_kv[{nst - 2}:0], {keep}}};" if nst > 1 else f"        else c{k}_kv <= {keep};")
        a("    end")
        prev = f"c{k}_win"
        for j, sol in enumerate(seg.stages):
            bits_in, bits_out = port_map(sol.inp_qint).total, port_map(sol.out_qint).total
            a(f"    reg [{bits_in - 1}:0] c{k}_r{j};")
            a(f"    wire [{bits_out - 1}:0] c{k}_o{j};")
            a(f"    always @(posedge clk) c{k}_r{j} <= {prev};")
            a(f"    {self.top}_s{k}_stage{j} u_s{k}_stage{j} (.model_inp(c{k}_r{j}), .model_out(c{k}_o{j}));")
            prev = f"c{k}_o{j}"
        opw = port_map(seg.stages[-1].out_qint).total
        npix = oh * ow
        a(f"    reg [{npix * opw - 1}:0] c{k}_or;")
        if npix > 1:
            a(f"    always @(posedge clk) if (c{k}_kv[{nst - 1}]) c{k}_or <= {{{prev}, c{k}_or[{npix * opw - 1}:{opw}]}};")
        else:
            a(f"    always @(posedge clk) if (c{k}_kv[{nst - 1}]) c{k}_or <= {prev};")
        om = port_map(seg.stages[-1].out_qint)
        out = []
        for ch in range(cout):
            for p in range(npix):
                out.append(Elem(f"c{k}_or", p * opw + om.offsets[ch], om.widths[ch], om.fracs[ch], om.signed[ch]))
        return out

    @staticmethod
    def _range_check(sig: str, bits: int, lo: int, hi: int, max_value: int) -> str:
        """Verilog for lo <= sig < hi, with the comparisons that are always true left out."""
        terms = []
        if lo > 0:
            terms.append(f"({sig} >= {bits}'d{lo})")
        if hi <= max_value:
            terms.append(f"({sig} < {bits}'d{max(hi, 0)})")
        return " & ".join(terms) if terms else "1'b1"
