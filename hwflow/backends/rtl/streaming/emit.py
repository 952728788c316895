"""Verilog of a streaming design: per-layer ROMs (generated data) and the top (glue).

The matrix-vector unit, its tail, FIFO, gather and throttle are hand-written primitives
(``primitives/``), copied as they are. What is generated:

- ``<top>_l<k>_w.v`` / ``<top>_l<k>_p.v``: a synchronous-read ROM per layer with its
  weights (one word per issue cycle, PE x SIMD weights) and per-channel tail parameters
  (bias or thresholds, one word per neuron fold). A memory initialised in an ``initial``
  block and read on the clock: Yosys maps it to block RAM (iCE40 EBR, ECP5 DP16KD) where
  that is cheaper than logic; no ``$readmemh`` paths to resolve at simulation or synthesis;
- ``<top>.v``: throttle -> MVU 0 -> FIFO -> MVU 1 -> ... -> FIFO -> gather.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwflow.backends.rtl.streaming.layers import (
    RMODES,
    ConvGeometry,
    DenseLayer,
    PoolGeometry,
    format_bits,
    signed_bits,
)
from hwflow.backends.rtl.streaming.timing import Fold
from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import UnsupportedOp

PRIMITIVES_DIR = Path(__file__).parent / "primitives"
PRIMITIVES = ("hwflow_throttle.v", "hwflow_fifo.v", "hwflow_gather.v", "hwflow_mvu_tail.v", "hwflow_mvu.v")
# the primitives of convolutional designs, besides those
CONV_PRIMITIVES = ("hwflow_scatter.v", "hwflow_swu.v", "hwflow_pool.v")
TIMESCALE = "`timescale 1ns / 1ps"
FIFO_DEPTH = 2


def _clog2(n: int) -> int:
    return max(1, (n - 1).bit_length())


@dataclass
class LayerHw:
    """Everything the Verilog of one layer needs: widths, tail parameters, ROM words."""

    name: str
    mw: int
    mh: int
    fold: Fold
    in_w: int
    in_signed: bool
    in_chunk: int
    w_w: int
    acc_w: int
    out_w: int
    out_signed: bool
    params: dict          # tail parameters of hwflow_mvu_tail
    param_w: int          # bits of one PE's parameter entry
    w_words: list[int]    # NF*SF words of PE*SIMD*w_w bits
    p_words: list[int]    # NF words of PE*param_w bits
    nbuf: int = 1         # input buffers (2: double buffering)
    conv: ConvGeometry | None = None   # sliding window in front (a convolution)
    pool: PoolGeometry | None = None   # max pool behind
    out_pixels: tuple[int, int, int] | None = None  # (c, h, w) of the output map

    @property
    def sf(self) -> int:
        return self.mw // self.fold.simd

    @property
    def nf(self) -> int:
        return self.mh // self.fold.pe

    @property
    def w_word_bits(self) -> int:
        return self.fold.pe * self.fold.simd * self.w_w

    @property
    def p_word_bits(self) -> int:
        return self.fold.pe * self.param_w


def _pack(values, width: int) -> int:
    w, mask = 0, (1 << width) - 1
    for i, v in enumerate(values):
        w |= (int(v) & mask) << (i * width)
    return w


def layer_hw(ly: DenseLayer, fold: Fold, in_w: int, in_signed: bool, in_chunk: int) -> LayerHw:
    t = ly.tail
    out_signed, out_w = format_bits(ly.out_lo, ly.out_hi)
    w_w = ly.w_width
    acc_w = max(ly.acc_width, in_w + 1 + w_w)  # the MVU sign-extends whole products
    if t.kind == "affine":
        bias = np.asarray(t.bias, dtype=np.int64)
        b_w = signed_bits(int(bias.min(initial=0)), int(bias.max(initial=0)))
        s_lo = (ly.acc_lo << t.sa) + int(bias.min(initial=0))
        s_hi = (ly.acc_hi << t.sa) + int(bias.max(initial=0))
        sw = max(acc_w + t.sa, b_w, signed_bits(s_lo, s_hi)) + 1
        if t.clip is not None:
            sw = max(sw, signed_bits(*t.clip) + t.rshift)
        sw = max(sw, t.rshift + 2)
        if t.clip is not None and not (-(1 << 31) <= t.clip[0] and t.clip[1] < (1 << 31)):
            raise UnsupportedOp(f"streaming architecture: clip bounds {t.clip} exceed 32-bit Verilog parameters",
                                node=ly.name)
        params = {"TAIL": 0, "SA": t.sa, "SW": sw, "RELU": int(t.relu), "RSHIFT": t.rshift,
                  "RMODE": RMODES[t.rounding], "CLIP": int(t.clip is not None),
                  "LO": t.clip[0] if t.clip else 0, "HI": t.clip[1] if t.clip else 0,
                  "NT": 1, "T_W": 1, "OS": 1, "OB": 0}
        param_w = b_w
        entries = [[int(bias[c])] for c in range(ly.mh)]
        ew = b_w
    else:
        thr = np.asarray(t.thresholds, dtype=np.int64)
        t_w = signed_bits(int(thr.min(initial=0)), int(thr.max(initial=0)))
        nt = int(thr.shape[1])
        params = {"TAIL": 1, "SA": 0, "SW": 2, "RELU": 0, "RSHIFT": 0, "RMODE": 0, "CLIP": 0, "LO": 0, "HI": 0,
                  "NT": nt, "T_W": t_w, "OS": t.out_mul, "OB": t.out_add}
        param_w = nt * t_w
        entries = [list(thr[c]) for c in range(ly.mh)]
        ew = t_w
    pe, simd = fold.pe, fold.simd
    sf, nf = ly.mw // simd, ly.mh // pe
    w_words = []
    for n in range(nf):
        for s in range(sf):
            vals = [ly.weights[s * simd + i, n * pe + p] for p in range(pe) for i in range(simd)]
            w_words.append(_pack(vals, w_w))
    p_words = [_pack([v for p in range(pe) for v in entries[n * pe + p]], ew) for n in range(nf)]
    return LayerHw(name=ly.name, mw=ly.mw, mh=ly.mh, fold=fold, in_w=in_w, in_signed=in_signed, in_chunk=in_chunk,
                   w_w=w_w, acc_w=acc_w, out_w=out_w, out_signed=out_signed, params=params,
                   param_w=param_w, w_words=w_words, p_words=p_words, conv=ly.conv, pool=ly.pool,
                   out_pixels=ly.out_pixels)


def build_layers_hw(layers: list[DenseLayer], folds: list[Fold], in_fmt: ElementFormat,
                    nbuf: int = 1) -> list[LayerHw]:
    hws: list[LayerHw] = []
    in_w, in_signed, chunk = in_fmt.width, in_fmt.signed, layers[0].mw
    for ly, f in zip(layers, folds):
        if ly.conv is not None:
            chunk = ly.mw  # one window per beat from the sliding-window unit
        hw = layer_hw(ly, f, in_w, in_signed, chunk)
        hw.nbuf = nbuf
        hws.append(hw)
        # a pooled map leaves in whole pixels, else in PE slices
        in_w, in_signed, chunk = hw.out_w, hw.out_signed, (ly.mh if ly.pool is not None else f.pe)
    return hws


def is_conv_design(hws: list[LayerHw]) -> bool:
    return any(hw.conv is not None for hw in hws)


def _rom(name: str, width: int, words: list[int], what: str) -> str:
    depth = len(words)
    aw = _clog2(depth)
    hexd = (width + 3) // 4
    lines = [TIMESCALE,
             f"// Generated by hwflow: {what}, {depth} words x {width} bits, synchronous read.",
             f"module {name} (",
             "    input  wire clk,",
             "    input  wire en,",
             f"    input  wire [{aw - 1}:0] addr,",
             f"    output reg  [{width - 1}:0] data",
             ");",
             f"  reg [{width - 1}:0] mem[0:{depth - 1}];",
             "  initial begin"]
    lines += [f"    mem[{i}] = {width}'h{w:0{hexd}x};" for i, w in enumerate(words)]
    lines += ["  end"]
    if depth < (1 << aw):
        # addresses past the last word are never issued; the index is kept in range for lint
        lines += ["  // verilator lint_off WIDTHEXPAND", "  // verilator lint_off CMPCONST"]
        lines += ["  always @(posedge clk) begin",
                  f"    if (en) data <= mem[addr > {aw}'d{depth - 1} ? {aw}'d{depth - 1} : addr];",
                  "  end",
                  "  // verilator lint_on CMPCONST", "  // verilator lint_on WIDTHEXPAND"]
    else:
        lines += ["  always @(posedge clk) begin", "    if (en) data <= mem[addr];", "  end"]
    lines += ["endmodule", ""]
    return "\n".join(lines)


def write_streaming(out_dir: Path, top: str, hws: list[LayerHw], ii: int, latency: int,
                    in_elems: int, in_fmt: ElementFormat) -> list[Path]:
    """Write every Verilog file; returns them in compile order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    conv = is_conv_design(hws)
    for p in PRIMITIVES + (CONV_PRIMITIVES if conv else ()):
        dst = out_dir / p
        shutil.copyfile(PRIMITIVES_DIR / p, dst)
        files.append(dst)
    for k, hw in enumerate(hws):
        for kind, width, words, what in (("w", hw.w_word_bits, hw.w_words, f"weights of {hw.name}"),
                                         ("p", hw.p_word_bits, hw.p_words, f"tail parameters of {hw.name}")):
            f = out_dir / f"{top}_l{k}_{kind}.v"
            f.write_text(_rom(f"{top}_l{k}_{kind}", width, words, what))
            files.append(f)
    f = out_dir / f"{top}.v"
    if conv:
        from hwflow.backends.rtl.streaming.pipeline import units

        f.write_text(_chain_top(top, hws, units(hws, ii), ii, latency, in_elems, in_fmt))
    else:
        f.write_text(_top(top, hws, ii, latency, in_elems, in_fmt))
    files.append(f)
    return files


def _module_ports(top: str, in_bits: int, out_bits: int) -> list[str]:
    """The top's module header: clock, reset and the two valid/ready streams."""
    return [f"module {top} (", "    input  wire clk,", "    input  wire rst,", "    input  wire s_axis_tvalid,",
            "    output wire s_axis_tready,", f"    input  wire [{in_bits - 1}:0] s_axis_tdata,",
            "    output wire m_axis_tvalid,", "    input  wire m_axis_tready,",
            f"    output wire [{out_bits - 1}:0] m_axis_tdata", ");"]


def _top(top: str, hws: list[LayerHw], ii: int, latency: int, in_elems: int, in_fmt: ElementFormat) -> str:
    last = hws[-1]
    n_out, ew_out = last.mh, last.out_w
    lines: list[str] = []
    a = lines.append
    a(TIMESCALE)
    a(f"// Generated by hwflow: streaming design {top}, {len(hws)} matrix-vector units.")
    a(f"// One beat = one input vector of {in_elems} x {in_fmt.width} bits (element 0 in the LSBs);")
    a(f"// output {n_out} x {ew_out} bits. Latency {latency} cycles, one input every {ii} cycles.")
    lines += _module_ports(top, in_elems * in_fmt.width, n_out * ew_out)
    a("    wire l0_s_valid, l0_s_ready;")
    a(f"    hwflow_throttle #(.II({ii})) u_throttle (.clk(clk), .rst(rst), .s_valid(s_axis_tvalid), "
      ".s_ready(s_axis_tready), .m_valid(l0_s_valid), .m_ready(l0_s_ready));")
    a(f"    wire [{in_elems * in_fmt.width - 1}:0] l0_s_data = s_axis_tdata;")
    for k, hw in enumerate(hws):
        f = hw.fold
        wa, pa = _clog2(hw.nf * hw.sf), _clog2(hw.nf)
        ow = f.pe * hw.out_w
        a("")
        a(f"    // layer {k}: {hw.name}, {hw.mw} -> {hw.mh}, PE {f.pe} x SIMD {f.simd}, {hw.nf * hw.sf} cycles")
        if k > 0:
            a(f"    wire l{k}_s_valid, l{k}_s_ready;")
            a(f"    wire [{hw.in_chunk * hw.in_w - 1}:0] l{k}_s_data;")
        a(f"    wire l{k}_m_valid, l{k}_m_ready;")
        a(f"    wire [{ow - 1}:0] l{k}_m_data;")
        a(f"    wire [{wa - 1}:0] l{k}_w_addr;")
        a(f"    wire [{pa - 1}:0] l{k}_p_addr;")
        a(f"    wire l{k}_w_en, l{k}_p_en;")
        a(f"    wire [{hw.w_word_bits - 1}:0] l{k}_w_data;")
        a(f"    wire [{hw.p_word_bits - 1}:0] l{k}_p_data;")
        a(f"    {top}_l{k}_w u_l{k}_w (.clk(clk), .en(l{k}_w_en), .addr(l{k}_w_addr), .data(l{k}_w_data));")
        a(f"    {top}_l{k}_p u_l{k}_p (.clk(clk), .en(l{k}_p_en), .addr(l{k}_p_addr), .data(l{k}_p_data));")
        params = {"MW": hw.mw, "MH": hw.mh, "SIMD": f.simd, "PE": f.pe, "IN_W": hw.in_w,
                  "IN_SIGNED": int(hw.in_signed), "IN_CHUNK": hw.in_chunk, "NBUF": hw.nbuf, "W_W": hw.w_w, "ACC_W": hw.acc_w,
                  "PARAM_W": hw.param_w, "OUT_W": hw.out_w, "WA_W": wa, "PA_W": pa, **hw.params}
        plist = ", ".join(f".{n}({v})" for n, v in params.items())
        a(f"    hwflow_mvu #({plist}) u_l{k} (")
        a(f"        .clk(clk), .rst(rst), .s_valid(l{k}_s_valid), .s_ready(l{k}_s_ready), .s_data(l{k}_s_data),")
        a(f"        .m_valid(l{k}_m_valid), .m_ready(l{k}_m_ready), .m_data(l{k}_m_data),")
        a(f"        .w_addr(l{k}_w_addr), .w_en(l{k}_w_en), .w_data(l{k}_w_data),")
        a(f"        .p_addr(l{k}_p_addr), .p_en(l{k}_p_en), .p_data(l{k}_p_data));")
        nxt = k + 1
        a(f"    wire f{k}_m_valid, f{k}_m_ready;")
        a(f"    wire [{ow - 1}:0] f{k}_m_data;")
        a(f"    hwflow_fifo #(.W({ow}), .DEPTH({FIFO_DEPTH})) u_f{k} (.clk(clk), .rst(rst), .s_valid(l{k}_m_valid), "
          f".s_ready(l{k}_m_ready), .s_data(l{k}_m_data), .m_valid(f{k}_m_valid), .m_ready(f{k}_m_ready), "
          f".m_data(f{k}_m_data));")
        if nxt < len(hws):
            a(f"    assign l{nxt}_s_valid = f{k}_m_valid;")
            a(f"    assign f{k}_m_ready = l{nxt}_s_ready;")
            a(f"    assign l{nxt}_s_data = f{k}_m_data;")
    k = len(hws) - 1
    a("")
    a(f"    hwflow_gather #(.W({last.fold.pe * last.out_w}), .N({last.nf})) u_gather (.clk(clk), .rst(rst), "
      f".s_valid(f{k}_m_valid), .s_ready(f{k}_m_ready), .s_data(f{k}_m_data), .m_valid(m_axis_tvalid), "
      ".m_ready(m_axis_tready), .m_data(m_axis_tdata));")
    a("endmodule")
    return "\n".join(lines) + "\n"


def _mvu_instance(top: str, k: int, hw: LayerHw, s_in: str, s_out: str) -> list[str]:
    """The ROMs and the matrix-vector unit of layer k, from stream ``s_in`` to ``s_out``."""
    f = hw.fold
    wa, pa = _clog2(hw.nf * hw.sf), _clog2(hw.nf)
    lines = [f"    wire [{wa - 1}:0] l{k}_w_addr;", f"    wire [{pa - 1}:0] l{k}_p_addr;",
             f"    wire l{k}_w_en, l{k}_p_en;", f"    wire [{hw.w_word_bits - 1}:0] l{k}_w_data;",
             f"    wire [{hw.p_word_bits - 1}:0] l{k}_p_data;",
             f"    {top}_l{k}_w u_l{k}_w (.clk(clk), .en(l{k}_w_en), .addr(l{k}_w_addr), .data(l{k}_w_data));",
             f"    {top}_l{k}_p u_l{k}_p (.clk(clk), .en(l{k}_p_en), .addr(l{k}_p_addr), .data(l{k}_p_data));"]
    params = {"MW": hw.mw, "MH": hw.mh, "SIMD": f.simd, "PE": f.pe, "IN_W": hw.in_w,
              "IN_SIGNED": int(hw.in_signed), "IN_CHUNK": hw.in_chunk, "NBUF": hw.nbuf, "W_W": hw.w_w,
              "ACC_W": hw.acc_w, "PARAM_W": hw.param_w, "OUT_W": hw.out_w, "WA_W": wa, "PA_W": pa, **hw.params}
    plist = ", ".join(f".{n}({v})" for n, v in params.items())
    lines += [f"    hwflow_mvu #({plist}) u_l{k} (",
              f"        .clk(clk), .rst(rst), .s_valid({s_in}_valid), .s_ready({s_in}_ready), .s_data({s_in}_data),",
              f"        .m_valid({s_out}_valid), .m_ready({s_out}_ready), .m_data({s_out}_data),",
              f"        .w_addr(l{k}_w_addr), .w_en(l{k}_w_en), .w_data(l{k}_w_data),",
              f"        .p_addr(l{k}_p_addr), .p_en(l{k}_p_en), .p_data(l{k}_p_data));"]
    return lines


def _unit_out_width(u, hws: list[LayerHw], in_width: int) -> int:
    p = u.params
    if u.kind in ("throttle",):
        return in_width
    if u.kind == "scatter":
        return p["W"]
    if u.kind == "gather":
        return p["N"] * p["W"]
    if u.kind == "swu":
        return p["KH"] * p["KW"] * p["C"] * p["EW"]
    if u.kind == "mvu":
        hw = hws[u.layer]
        return hw.fold.pe * hw.out_w
    if u.kind == "fifo":
        return p["W"]
    if u.kind == "pool":
        return p["C"] * p["EW"]
    raise ValueError(u.kind)


def _chain_top(top: str, hws: list[LayerHw], chain, ii: int, latency: int, in_elems: int,
               in_fmt: ElementFormat) -> str:
    """Top of a design with convolutions: the unit chain of ``pipeline.units``, stream i
    the output of unit i. The input vector (NCHW, the graph's order) is rewired into pixels
    in raster order for the scatter; the output stream's pixel order is rewired back to
    NCHW when the design ends on a feature map."""
    last = hws[-1]
    ew_in, ew_out = in_fmt.width, last.out_w
    n_out = last.mh * (last.out_pixels[1] * last.out_pixels[2] if last.out_pixels else 1)
    lines: list[str] = []
    a = lines.append
    a(TIMESCALE)
    a(f"// Generated by hwflow: streaming design {top}, {len(hws)} matrix-vector units, "
      f"{sum(hw.conv is not None for hw in hws)} of them convolutions.")
    a(f"// One beat = one input vector of {in_elems} x {ew_in} bits (element 0 in the LSBs, NCHW);")
    a(f"// output {n_out} x {ew_out} bits. Latency {latency} cycles, one input every {ii} cycles.")
    lines += _module_ports(top, in_elems * ew_in, n_out * ew_out)
    # input in pixel order
    a(f"    wire [{in_elems * ew_in - 1}:0] in_pix;")
    g0 = hws[0].conv
    if g0 is not None:
        hwn = g0.h * g0.w
        for i in range(hwn):
            for c in range(g0.c):
                a(f"    assign in_pix[{(i * g0.c + c) * ew_in} +: {ew_in}] = s_axis_tdata[{(c * hwn + i) * ew_in} +: "
                  f"{ew_in}];")
    else:
        a("    assign in_pix = s_axis_tdata;")
    width = in_elems * ew_in
    prev = "sin"
    a("    wire sin_valid = s_axis_tvalid;")
    a("    wire sin_ready;")
    a("    assign s_axis_tready = sin_ready;")
    for i, u in enumerate(chain):
        ow = _unit_out_width(u, hws, width)
        cur = f"s{i}"
        a("")
        a(f"    // unit {i}: {u.kind}" + (f" (layer {u.layer}: {hws[u.layer].name})" if u.layer is not None else ""))
        a(f"    wire {cur}_valid, {cur}_ready;")
        a(f"    wire [{ow - 1}:0] {cur}_data;")
        p = u.params
        if u.kind == "throttle":
            a(f"    hwflow_throttle #(.II({p['II']})) u{i} (.clk(clk), .rst(rst), .s_valid({prev}_valid), "
              f".s_ready({prev}_ready), .m_valid({cur}_valid), .m_ready({cur}_ready));")
            a(f"    assign {cur}_data = in_pix;")
        elif u.kind == "mvu":
            lines.extend(_mvu_instance(top, u.layer, hws[u.layer], prev, cur))
        else:
            mod = {"scatter": "hwflow_scatter", "gather": "hwflow_gather", "swu": "hwflow_swu",
                   "fifo": "hwflow_fifo", "pool": "hwflow_pool"}[u.kind]
            plist = ", ".join(f".{n}({v})" for n, v in p.items())
            a(f"    {mod} #({plist}) u{i} (.clk(clk), .rst(rst), .s_valid({prev}_valid), .s_ready({prev}_ready), "
              f".s_data({prev}_data), .m_valid({cur}_valid), .m_ready({cur}_ready), .m_data({cur}_data));")
        prev, width = cur, ow
    a("")
    a(f"    assign m_axis_tvalid = {prev}_valid;")
    a(f"    assign {prev}_ready = m_axis_tready;")
    om = last.out_pixels
    if om is None:
        a(f"    assign m_axis_tdata = {prev}_data;")
    else:
        c_, h_, w_ = om
        for c in range(c_):
            for i in range(h_ * w_):
                a(f"    assign m_axis_tdata[{(c * h_ * w_ + i) * ew_out} +: {ew_out}] = "
                  f"{prev}_data[{(i * c_ + c) * ew_out} +: {ew_out}];")
    a("endmodule")
    return "\n".join(lines) + "\n"
