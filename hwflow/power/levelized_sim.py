"""Zero-delay, cycle-based gate-level simulation of a mapped netlist in numpy, levelized.

For netlists with deep combinational logic (a pipeline of one stage: ~200k cells between
the input and output registers), Yosys ``sim`` re-evaluates cells until the logic settles
and managed ~1 cycle per minute here, and a Verilator build of ~200k cells takes most of an
hour. Here the cells are sorted into levels once (a cell's level is one more than the
deepest cell driving it; ports, flip-flop outputs and constants are level 0) and each clock
cycle evaluates every level in order, one numpy operation per (level, cell type, output
pin) over all the cells of that kind, from the liberty's own cell functions
(:func:`hwflow.power.cell_models.to_verilog`: ``~ & | ^`` are numpy's operators on bools).
Flip-flops (``ff`` groups clocked on the rising clock, without clear/preset) take their
``next_state`` at the end of each cycle. Per-net toggles and time at 1 over the window from
the end of reset to the last output are the :class:`~hwflow.power.vcd.Activity` that the
other simulators give; the output words are compared with the RTL by the caller.

The stream is driven at full rate as the bulk harness does: reset, then one input word per
cycle (ready is never low for an II = 1 design; for II > 1 a word waits while s_axis_tready
is low), m_axis_tready high.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from hwflow.artifacts import read_json
from hwflow.backends.rtl.design import RtlDesign
from hwflow.errors import ConfigError, MismatchError
from hwflow.power.cell_models import read_cells, to_verilog
from hwflow.power.vcd import Activity

RESET_CYCLES = 2
PERIOD = 1  # time units per cycle in the Activity


def _py_function(expr: str, pins: list[str], where: str):
    """The liberty function as a Python function of numpy bool arrays (one per input pin)."""
    text = to_verilog(expr, where).replace("1'b0", "_F").replace("1'b1", "_T")
    return eval(f"lambda {', '.join(pins)}: {text}", {"_F": np.False_, "_T": np.True_})  # noqa: S307 -- liberty text


class LevelizedNetlist:
    """The flat top module of a Yosys JSON netlist, levelized for cycle simulation."""

    def __init__(self, netlist_json: Path, top: str, liberty: Path):
        mod = read_json(netlist_json)["modules"][top]
        lib = read_cells(liberty)
        self.n_bits = 2 + max((b for nn in mod["netnames"].values() for b in nn["bits"] if isinstance(b, int)),
                              default=0)
        self.const = {"0": 0, "1": 1}  # bit index 0 holds 0, 1 holds 1 (Yosys numbers nets from 2)
        self.ports = {name: [self._bit(b) for b in p["bits"]] for name, p in mod["ports"].items()}
        self.directions = {name: p["direction"] for name, p in mod["ports"].items()}
        self.names: dict[str, int] = {}
        for name, nn in mod["netnames"].items():
            bits = nn["bits"]
            for i, b in enumerate(bits):
                if isinstance(b, int):
                    self.names[name if len(bits) == 1 else f"{name}[{i}]"] = b
        self.flops: list[tuple[int, int]] = []  # (D bit, Q bit)
        comb = []  # (type, {pin: bit}, {out pin: bit})
        for cname, cell in mod["cells"].items():
            c = lib.get(cell["type"])
            if c is None:
                raise ConfigError(f"{netlist_json}: cell {cname} of type {cell['type']} is not in {liberty}")
            conn = {p: self._bit(v[0]) for p, v in cell["connections"].items()}
            if c.latch or c.three_state or (c.ff and (c.ff.get("clear") or c.ff.get("preset"))):
                raise ConfigError(f"levelized simulation: cell {cname} ({c.name}) is a latch, three-state or has an "
                                  "asynchronous clear/preset; use --simulator yosys or bulk")
            if c.ff:
                if c.ff["clocked_on"].strip() not in c.inputs or c.ff["next_state"].strip() not in c.inputs:
                    raise ConfigError(f"levelized simulation: flip-flop {c.name} ({c.ff}) is not a plain D flip-flop")
                q_pins = [p for p, fn in c.outputs.items() if fn and fn.strip() == c.ff["iq"]]
                if len(q_pins) != len(c.outputs):
                    raise ConfigError(f"levelized simulation: flip-flop {c.name} has outputs other than its state")
                for q in q_pins:
                    self.flops.append((conn[c.ff["next_state"].strip()], conn[q]))
                continue
            comb.append((c, {p: conn[p] for p in c.inputs}, {p: conn[p] for p in c.outputs}))
        self._levelize(comb)

    def _bit(self, b) -> int:
        if isinstance(b, int):
            return b
        if b in ("0", "1"):
            return self.const[b]
        return 0  # x / z: 0, as setundef -zero does

    def _levelize(self, comb) -> None:
        driver = {}
        for k, (_, _, outs) in enumerate(comb):
            for b in outs.values():
                driver[b] = k
        level = [-1] * len(comb)
        readers = defaultdict(list)
        pending = [0] * len(comb)
        for k, (_, ins, _) in enumerate(comb):
            srcs = {driver[b] for b in ins.values() if b in driver}
            pending[k] = len(srcs)
            for s in srcs:
                readers[s].append(k)
        ready = [k for k in range(len(comb)) if pending[k] == 0]
        for k in ready:
            level[k] = 0
        i = 0
        while i < len(ready):
            k = ready[i]
            i += 1
            for r in readers[k]:
                level[r] = max(level[r], level[k] + 1)
                pending[r] -= 1
                if pending[r] == 0:
                    ready.append(r)
        if len(ready) != len(comb):
            raise ConfigError(f"levelized simulation: {len(comb) - len(ready)} cells are in combinational loops")
        groups: dict[tuple[int, str], list[int]] = defaultdict(list)
        for k, (c, _, _) in enumerate(comb):
            groups[(level[k], c.name)].append(k)
        self.depth = max(level, default=-1) + 1
        self.steps = []  # (function per output pin, input bit arrays, output bit arrays), level order
        fn_cache = {}
        for (_, tname), ks in sorted(groups.items()):
            c = comb[ks[0]][0]
            ins = [np.array([comb[k][1][p] for k in ks]) for p in c.inputs]
            for pin, fn in c.outputs.items():
                key = (tname, pin)
                if key not in fn_cache:
                    fn_cache[key] = _py_function(fn, c.inputs, f"liberty cell {tname} pin {pin}")
                self.steps.append((fn_cache[key], ins, np.array([comb[k][2][pin] for k in ks])))
        self.n_cells = len(comb) + len(self.flops)

    def port_bits(self, name: str) -> np.ndarray:
        """Bits of a port: a vector split into ``name_<i>`` ports by ``splitnets -ports``, or one port."""
        if name in self.ports:
            return np.array(self.ports[name])
        bits, i = [], 0
        while f"{name}_{i}" in self.ports:
            bits.append(self.ports[f"{name}_{i}"][0])
            i += 1
        if not bits:
            raise ConfigError(f"netlist has no port {name}")
        return np.array(bits)


def _word_bits(words: list[int], width: int) -> np.ndarray:
    out = np.zeros((len(words), width), dtype=bool)
    for j, w in enumerate(words):
        for i in range(width):
            out[j, i] = (w >> i) & 1
    return out


def run_levelized(design: RtlDesign, netlist_json: Path, liberty: Path, words: list[int],
                  progress: Callable[[str], None] | None = None) -> tuple[list[int], Activity, int, dict]:
    """(output words, activity of the netlist's nets, cycles in the window, info)."""
    import time

    t0 = time.time()
    net = LevelizedNetlist(netlist_json, design.top, liberty)
    if progress:
        progress(f"levelized gate-level simulation: {net.n_cells} cells in {net.depth} levels "
                 f"({time.time() - t0:.0f} s to read and levelize)")
    p_in = net.port_bits("s_axis_tdata")
    p_out = net.port_bits("m_axis_tdata")
    b_valid, b_ready_out = net.port_bits("s_axis_tvalid")[0], net.port_bits("m_axis_tready")[0]
    b_mvalid, b_sready = net.port_bits("m_axis_tvalid")[0], net.port_bits("s_axis_tready")[0]
    b_rst, b_clk = net.port_bits(design.reset_port)[0], net.port_bits(design.clock_port)[0]
    stim = _word_bits(words, len(p_in))
    d_bits = np.array([d for d, _ in net.flops], dtype=np.int64)
    q_bits = np.array([q for _, q in net.flops], dtype=np.int64)
    state = np.zeros(len(q_bits), dtype=bool)
    max_cycles = RESET_CYCLES + (len(words) + 2) * max(1, design.ii) + design.latency_cycles * 4 + 16
    toggles = np.zeros(net.n_bits, dtype=np.int64)  # counted as the cycles go: memory ~ nets, not nets x cycles
    high = np.zeros(net.n_bits, dtype=np.int64)
    prev = None
    cycles = 0
    outputs: list[int] = []
    sent, t, last_say = 0, 0, time.time()
    v = np.zeros(net.n_bits, dtype=bool)
    while len(outputs) < len(words):
        if t >= max_cycles:
            raise MismatchError(f"levelized gate-level simulation of {design.top}: {len(outputs)} of {len(words)} "
                                f"outputs after {t} cycles")
        v[:] = False
        v[1] = True
        in_reset = t < RESET_CYCLES
        v[b_rst] = in_reset
        v[b_ready_out] = True
        if not in_reset and sent < len(words):
            v[b_valid] = True
            v[p_in] = stim[sent]
        v[q_bits] = state
        for fn, ins, outs in net.steps:
            v[outs] = fn(*(v[i] for i in ins))
        if not in_reset:
            if prev is not None:
                toggles += v != prev
            high += v
            prev = v.copy()
            cycles += 1
            if v[b_valid] and v[b_sready]:
                sent += 1
            if v[b_mvalid]:
                outputs.append(int(sum(1 << i for i, b in enumerate(v[p_out]) if b)))
        state = v[d_bits].copy()
        t += 1
        if progress and time.time() - last_say > 10:
            last_say = time.time()
            progress(f"levelized gate-level simulation: cycle {t}, {len(outputs)} of {len(words)} outputs")
    act = Activity(0, cycles * PERIOD)
    for name, b in net.names.items():
        act.toggles[name] = int(toggles[b])
        act.high_time[name] = int(high[b]) * PERIOD
    clk_names = [n for n, b in net.names.items() if b == b_clk]
    for n in clk_names:  # the clock: two edges per cycle, high half the time
        act.toggles[n] = 2 * cycles
        act.high_time[n] = cycles * PERIOD // 2
    return outputs, act, cycles, {"cells": net.n_cells, "levels": net.depth, "sim_wall_time_s": round(time.time() - t0, 1)}
