"""Generic cocotb testbench of an hwflow stream design (CONTRACTS.md section 4).

Parametrized only by a JSON file named in ``HWFLOW_STREAM_CFG`` (written by
``hwflow.sim.simulate``)::

    {"tdata_in": 96, "tdata_out": 80, "latency": 5, "ii": 1,
     "stimulus": "stim.hex", "expected": "expected.hex" | null,
     "outputs": "outputs.hex", "results": "tb_results.json",
     "seed": 0, "burst": 64, "valid_prob": 0.7, "ready_prob": 0.7}

One line of ``stimulus`` = one input beat (hex of the whole ``s_axis_tdata``); likewise
for ``expected`` and the ``outputs`` it writes. Phases:

1. the first ``burst`` beats at full rate with ``m_axis_tready`` high: checks that each
   output appears exactly ``latency`` cycles after its input and that one beat is
   accepted every ``ii`` cycles (1 for the fully pipelined designs);
2. the rest with random gaps in ``s_axis_tvalid`` and random back-pressure on
   ``m_axis_tready`` (seeded).

Outputs are compared bit-exactly with ``expected``; the first mismatch is reported with
its index and input. Signals are driven after the falling edge and sampled in the
read-only phase before the next rising edge, so every handshake is seen exactly once.
Cycles in which the design can do nothing visible (input not ready, no output valid: a
folded design computing) are skipped in one wait instead of one Python step per clock.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from hwflow.backends.rtl.words import read_hex, write_hex

PERIOD_NS = 10


def _load_cfg() -> dict:
    path = os.environ.get("HWFLOW_STREAM_CFG")
    if not path:
        raise RuntimeError("HWFLOW_STREAM_CFG is not set (run through hwflow.sim.simulate)")
    cfg = json.loads(Path(path).read_text())
    base = Path(path).parent
    for k in ("stimulus", "expected", "outputs", "results"):
        if cfg.get(k):
            cfg[k] = str(base / cfg[k])
    return cfg


@cocotb.test()
async def stream_through(dut):
    cfg = _load_cfg()
    stim = read_hex(cfg["stimulus"])
    expected = read_hex(cfg["expected"]) if cfg.get("expected") else None
    latency = int(cfg["latency"])
    ii = int(cfg.get("ii", 1))  # cycles between accepted beats at full rate (folded designs: > 1)
    burst = min(int(cfg.get("burst", 64)), len(stim))
    vp, rp = float(cfg.get("valid_prob", 0.7)), float(cfg.get("ready_prob", 0.7))
    rng = random.Random(int(cfg.get("seed", 0)))
    n = len(stim)
    t_start = time.time()

    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    t0_ns = get_sim_time(unit="ns")

    outputs: list[int] = []
    accept_cycle: list[int] = []
    output_cycle: list[int] = []
    n_in = 0
    cycle = 0
    max_cycles = 20 * (n * ii + latency) + 1000
    while len(outputs) < n:
        if cycle > max_cycles:
            raise AssertionError(f"timeout: {len(outputs)} of {n} outputs after {cycle} cycles")
        # drive for the coming rising edge
        in_burst = n_in < burst
        valid = n_in < n and (in_burst or rng.random() < vp)
        ready = len(outputs) < burst or rng.random() < rp
        dut.s_axis_tvalid.value = int(valid)
        if valid:
            dut.s_axis_tdata.value = stim[n_in]
        dut.m_axis_tready.value = int(ready)
        await ReadOnly()
        # what happens at the coming rising edge
        fire_in = valid and bool(dut.s_axis_tready.value)
        fire_out = ready and bool(dut.m_axis_tvalid.value)
        if fire_out:
            outputs.append(int(dut.m_axis_tdata.value.to_unsigned()))
            output_cycle.append(cycle)
        if fire_in:
            accept_cycle.append(cycle)
            n_in += 1
        await FallingEdge(dut.clk)
        if ii > 1 and not dut.s_axis_tready.value and not dut.m_axis_tvalid.value:
            # busy computing: nothing can be handed over until one of these rises
            await First(RisingEdge(dut.s_axis_tready), RisingEdge(dut.m_axis_tvalid))
            await FallingEdge(dut.clk)
        cycle = round((get_sim_time(unit="ns") - t0_ns) / PERIOD_NS)
    dut.s_axis_tvalid.value = 0
    wall = time.time() - t_start

    # latency and II over the full-rate burst
    lat = [output_cycle[i] - accept_cycle[i] for i in range(burst)]
    ii_ok = all(accept_cycle[i + 1] - accept_cycle[i] == ii for i in range(burst - 1))

    mismatches, first = 0, None
    if expected is not None:
        for i, (got, exp) in enumerate(zip(outputs, expected)):
            if got != exp:
                mismatches += 1
                if first is None:
                    first = {"index": i, "input_hex": f"{stim[i]:x}", "expected_hex": f"{exp:x}", "got_hex": f"{got:x}"}
    write_hex(cfg["outputs"], outputs, int(cfg["tdata_out"]))
    res = {
        "samples": n,
        "cycles": cycle,
        "wall_time_s": wall,
        "latency_measured": sorted(set(lat)),
        "ii": ii,
        "ii_in_burst": ii_ok,
        "burst": burst,
        "mismatches": mismatches,
        "first_mismatch": first,
    }
    Path(cfg["results"]).write_text(json.dumps(res, indent=2))
    if first is not None:
        dut._log.error(
            "first mismatch at sample %d: input %s expected %s got %s",
            first["index"], first["input_hex"], first["expected_hex"], first["got_hex"],
        )
    assert lat and set(lat) == {latency}, f"latency measured {sorted(set(lat))} != {latency} cycles"
    assert ii_ok, f"the design did not accept one beat every {ii} cycles during the full-rate burst"
    assert mismatches == 0, f"{mismatches} of {n} outputs differ from the reference"
