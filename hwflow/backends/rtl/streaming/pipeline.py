"""The chain of hardware units of a streaming design with convolutions, and its exact
cycle timing.

``units(hws)`` lists the units from the top-level input to the output (throttle, scatter,
sliding window, matrix-vector unit, FIFO, gather, max pool), each with the parameters its
Verilog primitive takes; ``emit.py`` instantiates them in that order and ``timing`` here
steps the same chain cycle by cycle. The control of every primitive is data-independent
(counters and valid/ready flags only), so one image's timing is the timing of all:
:func:`simulate_one` steps each primitive's control exactly as its Verilog does (the
flags, counters and registers that decide valid and ready; none of the data), one image,
full rate, output always ready. From it:

- latency: input handshake to output handshake (what the testbench measures);
- II: every unit is busy (not in its idle state, or offered a beat) for one contiguous
  window of cycles per image; when the throttle spaces inputs by at least the longest
  window, image n+1 reaches every unit after it has gone idle from image n, so every image
  sees the first one's timing. The chain is linear (no fork, no join), so no FIFO depth
  can deadlock it; the depth-2 FIFOs after each matrix-vector unit and pool only decouple
  neighbours.

The co-simulation testbench measures latency and II and checks them against these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIFO_DEPTH = 2


@dataclass
class Unit:
    kind: str            # throttle | scatter | fifo | swu | mvu | gather | pool
    params: dict = field(default_factory=dict)
    layer: int | None = None   # the layer it belongs to (mvu, swu, gather before a swu/pool, pool)


def units(hws, ii: int = 1) -> list[Unit]:
    """The unit chain of a design whose layers (``emit.LayerHw``) include a convolution.
    Beat widths in elements follow the data: pixels (C elements), windows, PE slices."""
    out = [Unit("throttle", {"II": ii})]
    first = hws[0]
    chunk = None  # elements per beat of the stream into the next layer
    if first.conv is not None:
        g = first.conv
        out.append(Unit("scatter", {"N": g.h * g.w, "W": g.c * first.in_w}, 0))
        chunk = g.c
    else:
        chunk = first.mw
    for k, hw in enumerate(hws):
        f = hw.fold
        if hw.conv is not None:
            g = hw.conv
            if chunk != g.c:  # the window unit takes whole pixels
                out.append(Unit("gather", {"N": g.c // chunk, "W": chunk * hw.in_w}, k))
            out.append(Unit("swu", {"C": g.c, "EW": hw.in_w, "H": g.h, "W": g.w, "KH": g.kh, "KW": g.kw,
                                    "SH": g.sh, "SW": g.sw, "PT": g.pads[0], "PL": g.pads[1], "PB": g.pads[2],
                                    "PR": g.pads[3], "ZP": 0}, k))
            chunk = hw.mw
        assert hw.in_chunk == chunk, (k, hw.in_chunk, chunk)  # emit.build_layers_hw follows the same rule
        out.append(Unit("mvu", {"NCH": hw.mw // chunk, "NF": hw.nf, "SF": hw.sf, "NBUF": hw.nbuf}, k))
        out.append(Unit("fifo", {"W": f.pe * hw.out_w, "DEPTH": FIFO_DEPTH}, k))
        chunk = f.pe
        if hw.pool is not None:
            p = hw.pool
            if chunk != p.c:
                out.append(Unit("gather", {"N": p.c // chunk, "W": chunk * hw.out_w}, k))
            out.append(Unit("pool", {"C": p.c, "EW": hw.out_w, "SIGNED": int(hw.out_signed), "H": p.h, "W": p.w,
                                     "K": p.k}, k))
            out.append(Unit("fifo", {"W": p.c * hw.out_w, "DEPTH": FIFO_DEPTH}, k))
            chunk = p.c
    last = hws[-1]
    n_out = last.mh * (last.out_pixels[1] * last.out_pixels[2] if last.out_pixels else 1)
    out.append(Unit("gather", {"N": n_out // chunk, "W": chunk * last.out_w}, len(hws) - 1))
    return out


# ------------------------------------------------------------------ cycle model of the control


class _Throttle:
    def __init__(self, p):
        self.ii, self.gap = p["II"], 0

    def m_valid(self, s_valid):
        return self.gap == 0 and s_valid

    def s_ready(self, m_ready):
        return self.gap == 0 and m_ready

    def tick(self, s_valid, m_ready):
        if s_valid and self.s_ready(m_ready):
            self.gap = self.ii - 1
        elif self.gap:
            self.gap -= 1

    def idle(self):
        return True


class _WidthConverter:
    """Scatter and gather: a full flag (output valid, input not ready) and a beat counter."""

    def __init__(self, p):
        self.n, self.full, self.cnt = p["N"], False, 0

    def m_valid(self, s_valid):
        return self.full

    def s_ready(self, m_ready):
        return not self.full


class _Scatter(_WidthConverter):
    def tick(self, s_valid, m_ready):
        take, pop = s_valid and not self.full, self.full and m_ready
        if take:
            self.full = True
        elif pop and self.cnt == self.n - 1:
            self.full = False
        if pop:
            self.cnt = 0 if self.cnt == self.n - 1 else self.cnt + 1

    def idle(self):
        return not self.full


class _Fifo:
    def __init__(self, p):
        self.depth, self.count = p["DEPTH"], 0

    def m_valid(self, s_valid):
        return self.count != 0

    def s_ready(self, m_ready):
        return self.count != self.depth

    def tick(self, s_valid, m_ready):
        push = s_valid and self.count != self.depth
        pop = self.count != 0 and m_ready
        self.count += int(push) - int(pop)

    def idle(self):
        return self.count == 0


class _Gather(_WidthConverter):
    def tick(self, s_valid, m_ready):
        take = s_valid and not self.full
        last = self.cnt == self.n - 1
        if take:
            self.cnt = 0 if last else self.cnt + 1
        if take and last:
            self.full = True
        elif m_ready:
            self.full = False

    def idle(self):
        return not self.full and self.cnt == 0


def _raster_next(y: int, x: int, h: int, w: int) -> tuple[int, int]:
    """The position after (y, x) in an h x w raster (wrapping to the next image)."""
    if x == w - 1:
        return (0 if y == h - 1 else y + 1), 0
    return y, x + 1


class _Registered:
    """A unit whose output register advances on ce = ~m_valid | m_ready (the window unit
    and the pool)."""

    valid = False

    def m_valid(self, s_valid):
        return self.valid

    def ce(self, m_ready):
        return not self.valid or m_ready


class _Swu(_Registered):
    def __init__(self, p):
        self.p = p
        self.hp = p["H"] + p["PT"] + p["PB"]
        self.wp = p["W"] + p["PL"] + p["PR"]
        self.py = self.px = 0
        self.valid = False

    def _pad(self):
        p = self.p
        return self.py < p["PT"] or self.py >= p["PT"] + p["H"] or self.px < p["PL"] or self.px >= p["PL"] + p["W"]

    def _before_first(self):
        p = self.p
        return self.py < p["PT"] or (self.py == p["PT"] and self.px < p["PL"])

    def _emit(self):
        p = self.p
        dy, dx = self.py - (p["KH"] - 1), self.px - (p["KW"] - 1)
        return dy >= 0 and dy % p["SH"] == 0 and dx >= 0 and dx % p["SW"] == 0

    def s_ready(self, m_ready):
        return self.ce(m_ready) and not self._pad()

    def tick(self, s_valid, m_ready):
        ce = self.ce(m_ready)
        step = ce and (s_valid or (self._pad() and not self._before_first()))
        if ce:
            self.valid = step and self._emit()
        if step:
            self.py, self.px = _raster_next(self.py, self.px, self.hp, self.wp)

    def idle(self):
        return self.py == 0 and self.px == 0 and not self.valid


class _Pool(_Registered):
    def __init__(self, p):
        self.h, self.w, self.k = p["H"], p["W"], p["K"]
        self.oh, self.ow = self.h // self.k, self.w // self.k
        self.y = self.x = 0
        self.valid = False

    def s_ready(self, m_ready):
        return self.ce(m_ready)

    def tick(self, s_valid, m_ready):
        ce = self.ce(m_ready)
        take = s_valid and ce
        inside = self.y < self.oh * self.k and self.x < self.ow * self.k
        last = self.y % self.k == self.k - 1 and self.x % self.k == self.k - 1
        if ce:
            self.valid = take and inside and last
        if take:
            self.y, self.x = _raster_next(self.y, self.x, self.h, self.w)

    def idle(self):
        return self.x == 0 and self.y == 0 and not self.valid


class _Mvu:
    def __init__(self, p):
        self.nch, self.nf, self.sf, self.nbuf = p["NCH"], p["NF"], p["SF"], p["NBUF"]
        self.c = self.nf * self.sf
        self.full0 = self.full1 = False
        self.wsel = self.rsel = False
        self.ch = self.waddr = self.sfc = 0
        self.v1 = self.last1 = self.done2 = self.valid = False

    def _full(self):
        return self.full1 if (self.nbuf == 2 and self.rsel) else self.full0

    def _load_free_same(self):
        if self.nbuf == 1:
            return not self.full0, True
        return (not self.full1) if self.wsel else (not self.full0), self.wsel == self.rsel

    def m_valid(self, s_valid):
        return self.valid

    def s_ready(self, m_ready):
        ce = not self.valid or m_ready
        last_issue = self._full() and ce and self.waddr == self.c - 1
        free, same = self._load_free_same()
        return free or (last_issue and same)

    def tick(self, s_valid, m_ready):
        ce = not self.valid or m_ready
        full = self._full()
        last_issue = full and ce and self.waddr == self.c - 1
        load = s_valid and self.s_ready(m_ready)
        load_last = load and self.ch == self.nch - 1
        if load:
            self.ch = 0 if load_last else self.ch + 1
        if self.nbuf == 1:
            self.full0 = (self.full0 and not last_issue) or load_last
        else:
            r, w = self.rsel, self.wsel
            self.full0 = (self.full0 and not (last_issue and not r)) or (load_last and not w)
            self.full1 = (self.full1 and not (last_issue and r)) or (load_last and w)
            if load_last:
                self.wsel = not w
            if last_issue:
                self.rsel = not r
        if ce:
            v1, last1, done2 = self.v1, self.last1, self.done2
            self.v1 = full
            self.last1 = self.sfc == self.sf - 1
            if full:
                self.waddr = 0 if self.waddr == self.c - 1 else self.waddr + 1
                self.sfc = 0 if self.sfc == self.sf - 1 else self.sfc + 1
            self.done2 = v1 and last1
            self.valid = done2

    def idle(self):
        return (not self.full0 and not self.full1 and self.ch == 0 and not self.v1 and not self.done2
                and not self.valid)


_MODELS = {"throttle": _Throttle, "scatter": _Scatter, "fifo": _Fifo, "gather": _Gather, "swu": _Swu,
           "pool": _Pool, "mvu": _Mvu}


def simulate_one(chain: list[Unit], max_cycles: int = 50_000_000) -> tuple[int, int, list[tuple[int, int]]]:
    """One image through the chain at full rate (output always ready): (latency, II,
    per-unit busy window (first, last cycle)). The throttle's own period does not matter
    for a single image."""
    models = [_MODELS[u.kind](u.params) for u in chain]
    n = len(models)
    busy: list[list[int] | None] = [None] * n
    t_in = t_out = None
    t = 0
    while True:
        src_valid = t_in is None
        # valid forward (registered outputs, the throttle passes its input through)
        sv = [False] * n
        v = src_valid
        for i, m in enumerate(models):
            sv[i] = v
            v = m.m_valid(v)
        out_valid = v
        # ready backward (from the always-ready consumer)
        mr = [False] * n
        r = True
        for i in range(n - 1, -1, -1):
            mr[i] = r
            r = models[i].s_ready(r)
        if src_valid and r:
            t_in = t
        if out_valid and t_out is None:
            t_out = t
        for i, m in enumerate(models):
            if sv[i] or not m.idle():
                if busy[i] is None:
                    busy[i] = [t, t]
                else:
                    busy[i][1] = t
            m.tick(sv[i], mr[i])
        t += 1
        if t_out is not None and all(m.idle() for m in models):
            break
        if t >= max_cycles:
            raise RuntimeError(f"streaming timing model: no output after {max_cycles} cycles")
    windows = [(b[0], b[1]) if b else (0, -1) for b in busy]
    ii = max(1, max(b - a + 1 for a, b in windows[1:]))
    return t_out - t_in, ii, windows
