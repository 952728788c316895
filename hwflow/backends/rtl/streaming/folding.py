"""Folding search: per-layer PE/SIMD for a device and a throughput target.

A small analytical resource model (LUT/FF/BRAM/DSP per layer as a function of PE, SIMD,
the bit widths and the weight bits; constants in ``MODEL`` calibrated against Yosys, see
docs/streaming.md) and a dynamic program over the layer chain: the II of a streaming
design depends only on adjacent layers (``timing.schedule``), the resources add up, so the
cheapest folding with II <= a bound is exact under the model.

- with a throughput target: the cheapest folding reaching it (II <= clock / throughput);
- without: the fastest folding that fits the device's budget (``UTILIZATION`` of each
  resource, room for the board top and for place and route), cheapest at that II.
``FitError`` when nothing fits, naming the smallest design and what it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwflow.backends.rtl.streaming.layers import DenseLayer, format_bits
from hwflow.backends.rtl.streaming.timing import Fold, cycles, pair_ii, schedule
from hwflow.errors import ConfigError, FitError

RESOURCES = ("lut", "ff", "bram", "dsp")
# share of each device resource a chosen design may use (the board top, UART and
# place-and-route slack take the rest)
UTILIZATION = {"lut": 0.75, "ff": 0.75, "bram": 1.0, "dsp": 1.0}
# iCE40 logic cells: an LC holds one LUT4 and one flip-flop, but most of our flip-flops
# (input buffers, FIFOs, ROM outputs) are not driven by a LUT of their own and take an LC
# of their own. Measured: the jet tagger (2x1,2x4,1x2,1x1) with the UART board top, Yosys
# 3,761 LUT + 2,291 FF -> nextpnr 5,631 ICESTORM_LCs: LC = LUT + 0.82 FF. The board top
# itself measured 276 LUT + 681 FF; BOARD_TOP_LC reserves room for it.
LC_PER_FF = {"ice40": 0.82}
BOARD_TOP_LC = {"ice40": 850}

# Resource model constants per family (LUT4-equivalents on Lattice).
MODEL = {
    # iCE40: least-squares fit (non-negative) of LUT4s to Yosys synth_ice40 of the jet tagger at
    # six foldings from 1x1 to 16 multipliers per layer (docs/streaming.md): LUTs per logic
    # multiplier partial-product bit, per adder bit (tree, accumulator, tail), per mux input
    # bit, per 16 bits of LUT ROM; Yosys puts ROMs of 128 words or more in EBR.
    # (synth_ice40 as hwflow runs it has no -dsp: multipliers are logic, "dsp": False.)
    # Double buffering: +1.03 LUT per bit of the second buffer (two foldings measured with and
    # without it: +1,099 and +1,003 LUT for 1,024 bits).
    "ice40": {"mul_lut": 2.18, "add_lut": 0.52, "mux_lut": 1.62, "rom_lut": 2.88, "ctrl_lut": 0, "ctrl_ff": 30,
              "buf2_lut": 1.03,
              "ff": 1.0, "dsp": False, "dsp_a": 16, "dsp_b": 16,
              "bram_bits": 4096, "bram_widths": ((16, 256), (8, 512), (4, 1024), (2, 2048)), "bram_min_bits": 2048,
              "bram_min_depth": 128},
    # ECP5: multipliers in MULT18X18D (synth_ecp5 maps them by default); LUT constants fitted
    # to Yosys synth_ecp5 of the jet tagger at five foldings with the mux constant fixed
    # (0.8: the five points cannot separate it from the per-layer constant)
    # (double buffering: iCE40's constant, not measured on ECP5)
    "ecp5": {"mul_lut": 2.18, "add_lut": 0.87, "mux_lut": 0.8, "rom_lut": 1.89, "ctrl_lut": 125, "ctrl_ff": 30,
             "buf2_lut": 1.03,
             "ff": 1.0, "dsp": True, "dsp_a": 18, "dsp_b": 18,
             "bram_bits": 18432, "bram_widths": ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384)),
             "bram_min_bits": 4096, "bram_min_depth": 128},
}
MODEL["gowin"] = MODEL["ecp5"]
MODEL["xilinx"] = MODEL["ecp5"]


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _bram_blocks(depth: int, width: int, m: dict) -> int:
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in m["bram_widths"])


def _use_bram(depth: int, width: int, m: dict) -> bool:
    """Where Yosys puts a ROM: block RAM when deep enough (measured on iCE40: 128 words and
    more went to EBR, 64 and fewer to logic, whatever the width), else LUTs."""
    return depth >= m["bram_min_depth"] and depth * width >= m["bram_min_bits"]


def _memory(depth: int, width: int, m: dict) -> dict:
    """A ROM in block RAM, or in LUTs (one LUT4 = 16 x 1 bits, plus the output mux)."""
    if _use_bram(depth, width, m):
        return {"lut": 0.0, "ff": 0.0, "bram": float(_bram_blocks(depth, width, m)), "dsp": 0.0}
    return {"lut": m["rom_lut"] * width * max(1, depth) / 16, "ff": float(width), "bram": 0.0, "dsp": 0.0}


def layer_features(ly: DenseLayer, f: Fold, in_w: int, family: str, nbuf: int = 1) -> dict:
    """What one matrix-vector unit is made of, in bits: the model's features."""
    m = MODEL[family]
    pe, simd = f.pe, f.simd
    sf, nf = ly.mw // simd, ly.mh // pe
    w_w = ly.w_width
    acc_w = max(ly.acc_width, in_w + 1 + w_w)
    _, out_w = format_bits(ly.out_lo, ly.out_hi)
    in_signed = ly.in_lo < 0
    mul_a, mul_b = in_w + (0 if in_signed else 1), w_w
    n_mul = pe * simd
    # weights of 2 bits or fewer are selected, not multiplied (hwflow_mvu.v g_sel)
    hard = m["dsp"] and mul_a <= m["dsp_a"] and mul_b <= m["dsp_b"] and mul_b > 2
    t = ly.tail
    param_w = (max(1, int(abs(t.bias).max(initial=0)).bit_length() + 1) if t.kind == "affine"
               else t.thresholds.shape[1] * (acc_w + 1))
    tail_bits = (pe * (2 * (acc_w + t.sa) + 2 * out_w) if t.kind == "affine"
                 else pe * t.thresholds.shape[1] * (acc_w + 2))
    x = {
        "mul_bits": 0 if hard else n_mul * mul_a * mul_b,   # logic multipliers: partial-product bits
        "dsp": n_mul if hard else 0,
        "add_bits": pe * simd * acc_w + tail_bits,          # adder tree + accumulator + tail
        "mux_bits": simd * in_w * max(sf - 1, 0) + pe * out_w,   # input slice mux + FIFO read mux
        "buf2_bits": (nbuf - 1) * ly.mw * in_w,                   # the second input buffer's select
        # accumulators, input buffer, input slice, output register + FIFO, tail parameters
        "ff_bits": pe * acc_w + nbuf * ly.mw * in_w + simd * in_w + 3 * pe * out_w + pe * param_w,
        "layers": 1,
        "memories": [(nf * sf, pe * simd * w_w), (nf, pe * param_w)],
    }
    _add_window_features(x, ly, in_w, out_w, m)
    return x


def _add_window_features(x: dict, ly: DenseLayer, in_w: int, out_w: int, m: dict) -> None:
    """The units around a convolution's MVU, in the same features (not calibrated on their
    own, see docs/streaming.md): the sliding window's line buffer (a memory of W+PL+PR words
    of (KH-1) pixels: block RAM when deep enough, else flip-flops with a read mux), its
    window and output registers, the pixel gather and the max pool's row of partial maxima
    (flip-flops, a comparator per element)."""
    g, p = ly.conv, ly.pool
    if g is None:
        return
    pix = g.c * in_w
    wp = g.w + g.pads[1] + g.pads[3]
    line = (g.kh - 1) * pix
    if line:
        if _use_bram(wp, line, m):
            x["memories"].append((wp, line))
        else:
            x["ff_bits"] += wp * line + line
            x["mux_bits"] += line * (wp - 1)
    x["ff_bits"] += g.kh * (g.kw - 1) * pix + g.kh * g.kw * pix + pix  # window history, output, gather
    if p is not None:
        opix = p.c * out_w
        x["ff_bits"] += p.ow * opix + 4 * opix   # partial maxima, gather, output register, FIFO
        x["add_bits"] += opix                    # comparators
        x["mux_bits"] += opix * max(p.ow - 1, 0)


def layer_cycles(ly: DenseLayer, f: Fold) -> int:
    """Issue cycles per inference: output pixels x NF x SF for a convolution."""
    return cycles(ly.mw, ly.mh, f) * ly.vectors


def estimated_ii(layers: list[DenseLayer], folds: list[Fold], nbuf: int = 1) -> int:
    """The closed-form II for MLPs; for convolutional designs the busiest unit's cycles per
    image (issue cycles, or the padded raster at one pixel per cycle), which the exact II
    (:func:`exact_timing`) exceeds by a few cycles of pipeline fill."""
    if not any(ly.conv is not None for ly in layers):
        return schedule([(ly.mw, ly.mh) for ly in layers], folds, nbuf)[0]
    return max(max(layer_cycles(ly, f), pixel_cycles(ly)) for ly, f in zip(layers, folds))


def exact_timing(layers: list[DenseLayer], folds: list[Fold], nbuf: int, in_w0: int) -> tuple[int, int]:
    """(II, latency) of the design as built (closed form, or the cycle model of pipeline.py)."""
    from hwflow.backends.rtl.streaming.build import design_timing
    from hwflow.backends.rtl.streaming.emit import build_layers_hw
    from hwflow.backends.rtl.tracer import ElementFormat

    if not any(ly.conv is not None for ly in layers):
        return schedule([(ly.mw, ly.mh) for ly in layers], folds, nbuf)
    ly0 = layers[0]
    fmt = ElementFormat(signed=ly0.in_lo < 0, width=in_w0, frac=0, int_min=ly0.in_lo, int_max=ly0.in_hi)
    return design_timing(layers, folds, nbuf, build_layers_hw(layers, folds, fmt, nbuf))


def pixel_cycles(ly: DenseLayer) -> int:
    """Cycles the sliding window needs per image at one pixel per cycle (padded raster)."""
    g = ly.conv
    return (g.h + g.pads[0] + g.pads[2]) * (g.w + g.pads[1] + g.pads[3]) if g is not None else 0


def layer_resources(ly: DenseLayer, f: Fold, in_w: int, family: str, nbuf: int = 1) -> dict:
    """Estimated LUT/FF/BRAM/DSP of one matrix-vector unit with its FIFO and memories."""
    m = MODEL[family]
    x = layer_features(ly, f, in_w, family, nbuf)
    r = {"lut": x["mul_bits"] * m["mul_lut"] + x["add_bits"] * m["add_lut"] + x["mux_bits"] * m["mux_lut"]
         + x["buf2_bits"] * m["buf2_lut"] + m["ctrl_lut"],
         "ff": x["ff_bits"] * m["ff"] + m["ctrl_ff"], "bram": 0.0, "dsp": float(x["dsp"])}
    for depth, width in x["memories"]:
        for k, v in _memory(depth, width, m).items():
            r[k] += v
    return r


def design_resources(layers: list[DenseLayer], folds: list[Fold], in_w0: int, family: str,
                     nbuf: int = 1) -> list[dict]:
    out, in_w = [], in_w0
    for ly, f in zip(layers, folds):
        out.append(layer_resources(ly, f, in_w, family, nbuf))
        in_w = format_bits(ly.out_lo, ly.out_hi)[1]
    return out


def total(res: list[dict]) -> dict:
    return {k: round(sum(r[k] for r in res), 1) for k in RESOURCES}


def logic_cells(t: dict, family: str) -> float:
    """What the device's LUT capacity is spent on: LUTs, plus unpaired flip-flops on iCE40."""
    return t["lut"] + LC_PER_FF.get(family, 0.0) * t["ff"]


@dataclass
class Budget:
    family: str
    capacity: dict   # resource -> units of the device

    def limit(self) -> dict:
        lim = {k: self.capacity[k] * UTILIZATION[k] for k in RESOURCES}
        if self.family in LC_PER_FF:  # logic cells for the core: all but the board top's
            lim["lut"] = self.capacity["lut"] - BOARD_TOP_LC[self.family]
        return lim

    def used(self, t: dict) -> dict:
        """The totals as the limits count them (LUT -> logic cells on iCE40)."""
        return {**t, "lut": logic_cells(t, self.family)}

    def fits(self, t: dict) -> bool:
        lim, u = self.limit(), self.used(t)
        return all(u[k] <= lim[k] for k in RESOURCES)

    weights: tuple = (1.0, 1.0, 1.0, 1.0)

    def cost(self, r: dict) -> float:
        # normalised: one whole device of any resource costs 1 (a resource the device lacks: large)
        u = self.used(r)
        return sum(w * (u[k] / self.capacity[k] if self.capacity[k] else u[k] * 1e3)
                   for w, k in zip(self.weights, RESOURCES))

    def reweighted(self) -> list["Budget"]:
        """The budget with each resource in turn weighted 10x: the cheapest design under the
        plain sum may miss the one resource that binds while another folding fits."""
        out = [self]
        for i in range(len(RESOURCES)):
            w = [1.0] * len(RESOURCES)
            w[i] = 10.0
            out.append(Budget(self.family, self.capacity, tuple(w)))
        return out


def _candidates(ly: DenseLayer) -> list[Fold]:
    return [Fold(pe, simd) for pe in divisors(ly.mh) for simd in divisors(ly.mw)]


def cheapest(layers: list[DenseLayer], max_ii: int, budget: Budget, in_w0: int,
             nbuf: int = 1) -> list[Fold] | None:
    """Cheapest folding (model cost) with schedule II <= max_ii; dynamic program over the
    chain (the II constraints couple adjacent layers only)."""
    cands = [_candidates(ly) for ly in layers]
    conv = any(ly.conv is not None for ly in layers)
    in_ws = [in_w0] + [format_bits(ly.out_lo, ly.out_hi)[1] for ly in layers[:-1]]
    costs = [[budget.cost(layer_resources(ly, f, w, budget.family, nbuf)) for f in cs]
             for ly, cs, w in zip(layers, cands, in_ws)]
    n = len(layers)
    # best[k][j]: (cost, back pointer) of layers 0..k with layer k folded by cands[k][j]
    best: list[list[tuple[float, int] | None]] = []
    first = []
    for j, f in enumerate(cands[0]):
        c = max(layer_cycles(layers[0], f), pixel_cycles(layers[0]))
        first.append((costs[0][j], -1) if c <= max_ii else None)
    best.append(first)
    for k in range(1, n):
        row = []
        ly, prev = layers[k], layers[k - 1]
        for j, f in enumerate(cands[k]):
            ck = cycles(ly.mw, ly.mh, f)
            if conv and max(layer_cycles(ly, f), pixel_cycles(ly)) > max_ii:
                row.append(None)
                continue
            opt = None
            for i, g in enumerate(cands[k - 1]):
                if best[k - 1][i] is None:
                    continue
                # convolutional designs: each unit's own cycles (the model of pipeline.py
                # gives the exact II of the choice)
                if not conv and pair_ii(ck, (prev.mh // g.pe - 1) * (prev.mw // g.simd), nbuf) > max_ii:
                    continue
                c = best[k - 1][i][0] + costs[k][j]
                if opt is None or c < opt[0]:
                    opt = (c, i)
            row.append(opt)
        best.append(row)
    last = layers[-1]
    ends = [(b[0], j) for j, (b, f) in enumerate(zip(best[-1], cands[-1]))
            if b is not None and (conv or (last.mh // f.pe - 1) * (last.mw // f.simd) + 2 <= max_ii)]
    if not ends:
        return None
    _, j = min(ends)
    folds = []
    for k in range(n - 1, -1, -1):
        folds.append(cands[k][j])
        j = best[k][j][1]
    return folds[::-1]


BUFFER_OPTIONS = (1, 2)


def choose(layers: list[DenseLayer], budget: Budget, in_w0: int, max_ii: int | None) -> tuple[list[Fold], dict]:
    """(folds, record) for the budget and an optional II bound; ``FitError`` if none fits.
    Single and double input buffers are both tried (``record["input_buffers"]``): with an
    II bound the cheaper design wins, without one the faster (then the cheaper)."""
    smallest = [Fold(1, 1) for _ in layers]
    ii_small = estimated_ii(layers, smallest)
    t_small = total(design_resources(layers, smallest, in_w0, budget.family))
    lim = budget.limit()

    def need(t):
        u = budget.used(t)
        name = {"lut": "logic cells (LUT + unpaired FF)" if budget.family in LC_PER_FF else "LUT"}
        return ", ".join(f"{name.get(k, k.upper())} {u[k]:,.0f} (budget {lim[k]:,.0f} of {budget.capacity[k]:,})"
                         for k in RESOURCES if u[k] > lim[k])

    def cost_of(folds, nbuf):
        return sum(budget.cost(r) for r in design_resources(layers, folds, in_w0, budget.family, nbuf))

    if max_ii is not None:
        def options(bound):
            found = [(f, nb) for nb in BUFFER_OPTIONS for f in [cheapest(layers, bound, budget, in_w0, nb)]
                     if f is not None]
            return min(found, key=lambda o: cost_of(*o)) if found else None

        def unreachable():
            fastest = [Fold(ly.mh, ly.mw) for ly in layers]
            ii_fast = min(exact_timing(layers, fastest, nb, in_w0)[0] for nb in BUFFER_OPTIONS)
            return FitError(f"no folding reaches II <= {max_ii} cycles (the fully parallel streaming design has "
                            f"II {ii_fast}); lower the throughput target")

        if not any(ly.conv is not None for ly in layers):
            choice = options(max_ii)
        else:
            # convolutional designs: the search bounds each unit's cycles, the exact II (cycle
            # model) is longer by the pipeline fill; the loosest bound whose choice meets the
            # target, by bisection
            choice, lo, hi = None, 1, max_ii
            while lo <= hi:
                mid = (lo + hi) // 2
                c = options(mid)
                if c is not None and exact_timing(layers, c[0], c[1], in_w0)[0] <= max_ii:
                    choice, lo = c, mid + 1
                elif c is None:
                    lo = mid + 1
                else:
                    hi = mid - 1
        if choice is None:
            raise unreachable()
        folds, nbuf = choice
        t = total(design_resources(layers, folds, in_w0, budget.family, nbuf))
        if not budget.fits(t):
            raise FitError(f"the smallest streaming design with II <= {max_ii} cycles ({_fmt(folds)}, {nbuf} input "
                           f"buffer(s)) needs {need(t)} (estimate); lower the throughput target or choose a larger "
                           "device")
        mode = "throughput"
    else:
        if not budget.fits(t_small):
            raise FitError(f"the smallest streaming design ({_fmt(smallest)}, II {ii_small} cycles) needs "
                           f"{need(t_small)} (estimate); choose a larger device or a smaller model")

        def fitting(max_ii, nbuf):
            # cheapest under the plain and the re-weighted costs; the cheapest of those that fit
            found = []
            for b in budget.reweighted():
                f = cheapest(layers, max_ii, b, in_w0, nbuf)
                if f is not None:
                    res = design_resources(layers, f, in_w0, budget.family, nbuf)
                    if budget.fits(total(res)):
                        found.append((sum(budget.cost(r) for r in res), f))
            return min(found, key=lambda c: c[0])[1] if found else None

        best = None  # (ii, cost, folds, nbuf)
        for nb in BUFFER_OPTIONS:
            lo, hi = 1, ii_small  # smallest II with a fitting design: binary search
            while lo < hi:
                mid = (lo + hi) // 2
                if fitting(mid, nb) is not None:
                    hi = mid
                else:
                    lo = mid + 1
            f = fitting(lo, nb)
            if f is None:
                continue
            cand = (estimated_ii(layers, f, nb), cost_of(f, nb), f, nb)
            if best is None or cand[:2] < best[:2]:
                best = cand
        if best is None:
            folds, nbuf = smallest, 1
        else:
            _, _, folds, nbuf = best
        mode = "fastest_that_fits"
    res = design_resources(layers, folds, in_w0, budget.family, nbuf)
    ii, lat = exact_timing(layers, folds, nbuf, in_w0)
    rec = {"mode": mode, "family": budget.family, "capacity": budget.capacity, "limits": budget.limit(),
           "logic_cells_estimate": round(logic_cells(total(res), budget.family), 1),
           "max_ii": max_ii, "ii": ii, "latency_cycles": lat, "folds": [f.to_json() for f in folds],
           "input_buffers": nbuf,
           "estimate": {"layers": [{k: round(v, 1) for k, v in r.items()} for r in res], "total": total(res)},
           "model": "hwflow.backends.rtl.streaming.folding.MODEL[" + repr(budget.family) + "]"}
    return folds, rec


def _fmt(folds: list[Fold]) -> str:
    return "PE x SIMD " + ", ".join(f"{f.pe}x{f.simd}" for f in folds)


def folding_chooser(board=None, throughput: float | None = None, clock_mhz: float | None = None,
                    folding: str | None = None, in_fmt=None):
    """The ``choose(layers) -> (folds, record)`` callable ``build_streaming`` takes."""
    from hwflow.backends.rtl.streaming.build import parse_buffers, parse_folding

    def choose_fn(layers):
        in_w0 = in_fmt.width
        if folding is not None:
            from hwflow.backends.rtl.streaming.build import check_folds

            folds, nbuf = parse_folding(folding, len(layers)), parse_buffers(folding)
            check_folds(layers, folds)  # PE/SIMD that divide the layer, before any estimate uses them
            rec = {"mode": "given", "folds": [f.to_json() for f in folds], "input_buffers": nbuf}
            if board is not None:
                fam = board.family
                if fam not in MODEL:
                    raise ConfigError(f"no streaming resource model for family {fam!r}")
                res = design_resources(layers, folds, in_w0, fam, nbuf)
                rec["estimate"] = {"layers": res, "total": total(res)}
            return folds, rec
        if board is None:
            if throughput is not None and clock_mhz is None:
                raise ConfigError("--throughput needs --board or --clock (the cycles per inference follow from both)")
            fam, cap = "ice40", None
        else:
            fam = board.family
            c = board.capacity
            cap = {"lut": c.lut, "ff": c.ff, "bram": c.bram, "dsp": c.dsp}
        if fam not in MODEL:
            raise ConfigError(f"no streaming resource model for family {fam!r}")
        if cap is None:  # no device: no limit, the throughput alone decides
            cap = {"lut": 10**9, "ff": 10**9, "bram": 10**9, "dsp": 10**9}
        clock = clock_mhz * 1e6 if clock_mhz else (board.clock.frequency_hz if board is not None else None)
        max_ii = None
        if throughput is not None:
            if throughput <= 0:
                raise ConfigError(f"throughput must be > 0 inferences/s, got {throughput}")
            max_ii = max(1, int(clock // throughput))
        if board is None and max_ii is None:
            folds = [Fold(1, 1) for _ in layers]  # no target at all: the smallest design
            return folds, {"mode": "smallest", "folds": [f.to_json() for f in folds]}
        folds, rec = choose(layers, Budget(fam, cap), in_w0, max_ii)
        rec["clock_hz"] = clock
        rec["throughput_target"] = throughput
        if clock:
            rec["inferences_per_s_at_clock"] = round(clock / rec["ii"], 1)
        return folds, rec

    return choose_fn
