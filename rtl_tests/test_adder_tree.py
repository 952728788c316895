"""cocotb testbench for the hand-written adder tree (toolchain smoke test).

Streams random vectors (and the corners: all most-negative, all maximum, zero) one per
clock and checks every sum against a Python golden model LEVELS cycles later.
"""

from __future__ import annotations

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def pack(values: list[int], width: int) -> int:
    word = 0
    for i, v in enumerate(values):
        word |= (v & ((1 << width) - 1)) << (i * width)
    return word


@cocotb.test()
async def adder_tree_sums(dut):
    n, w = int(dut.N.value), int(dut.W.value)
    levels = n.bit_length() - 1
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    rng = random.Random(int(os.environ.get("ADDER_SEED", "1")))
    vectors = [[lo] * n, [hi] * n, [0] * n, [lo, hi] * (n // 2)]
    vectors += [[rng.randint(lo, hi) for _ in range(n)] for _ in range(int(os.environ.get("ADDER_SAMPLES", "200")))]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    expected: list[int] = []
    checked = 0
    # the sample driven before edge k is summed into the output register at edge k+levels-1
    lag = levels - 1
    for cycle in range(len(vectors) + lag):
        if cycle < len(vectors):
            dut.in_flat.value = pack(vectors[cycle], w)
            expected.append(sum(vectors[cycle]))
        await RisingEdge(dut.clk)
        await ReadOnly()
        if cycle >= lag:
            k = cycle - lag
            got = dut.sum.value.to_signed()
            assert got == expected[k], f"sample {k}: inputs {vectors[k]} -> {got}, expected {expected[k]}"
            checked += 1
        await FallingEdge(dut.clk)  # leave the read-only phase before driving again
    assert checked == len(vectors)
    dut._log.info("adder tree: %d vectors bit-exact", checked)
