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

from hwflow.backends.rtl.streaming.layers import RMODES, DenseLayer, format_bits, signed_bits
from hwflow.backends.rtl.streaming.timing import Fold
from hwflow.backends.rtl.tracer import ElementFormat
from hwflow.errors import UnsupportedOp

PRIMITIVES_DIR = Path(__file__).parent / "primitives"
PRIMITIVES = ("hwflow_throttle.v", "hwflow_fifo.v", "hwflow_gather.v", "hwflow_mvu_tail.v", "hwflow_mvu.v")
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
                   param_w=param_w, w_words=w_words, p_words=p_words)


def build_layers_hw(layers: list[DenseLayer], folds: list[Fold], in_fmt: ElementFormat,
                    nbuf: int = 1) -> list[LayerHw]:
    hws: list[LayerHw] = []
    in_w, in_signed, chunk = in_fmt.width, in_fmt.signed, layers[0].mw
    for ly, f in zip(layers, folds):
        hw = layer_hw(ly, f, in_w, in_signed, chunk)
        hw.nbuf = nbuf
        hws.append(hw)
        in_w, in_signed, chunk = hw.out_w, hw.out_signed, f.pe
    return hws


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
    for p in PRIMITIVES:
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
    f.write_text(_top(top, hws, ii, latency, in_elems, in_fmt))
    files.append(f)
    return files


def _top(top: str, hws: list[LayerHw], ii: int, latency: int, in_elems: int, in_fmt: ElementFormat) -> str:
    last = hws[-1]
    n_out, ew_out = last.mh, last.out_w
    lines: list[str] = []
    a = lines.append
    a(TIMESCALE)
    a(f"// Generated by hwflow: streaming design {top}, {len(hws)} matrix-vector units.")
    a(f"// One beat = one input vector of {in_elems} x {in_fmt.width} bits (element 0 in the LSBs);")
    a(f"// output {n_out} x {ew_out} bits. Latency {latency} cycles, one input every {ii} cycles.")
    a(f"module {top} (")
    a("    input  wire clk,")
    a("    input  wire rst,")
    a("    input  wire s_axis_tvalid,")
    a("    output wire s_axis_tready,")
    a(f"    input  wire [{in_elems * in_fmt.width - 1}:0] s_axis_tdata,")
    a("    output wire m_axis_tvalid,")
    a("    input  wire m_axis_tready,")
    a(f"    output wire [{n_out * ew_out - 1}:0] m_axis_tdata")
    a(");")
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
