"""The board top (UART bridge + core) in cocotb + Verilator, with cocotbext-uart as host."""

from __future__ import annotations

import numpy as np

from hwflow.synth.rtl_design import RtlDesign

from _fpga_util import EW_CORE, ew_core_reference, run_board_top_sim


def _corners_and_random(fmt, n_random: int, seed: int = 0) -> np.ndarray:
    lo, hi = fmt.int_min, fmt.int_max
    alt = [lo if i % 2 else hi for i in range(fmt.elements)]
    rows = [[0] * fmt.elements, [hi] * fmt.elements, [lo] * fmt.elements, alt]
    rng = np.random.default_rng(seed)
    rows += rng.integers(lo, hi + 1, size=(n_random, fmt.elements)).tolist()
    return np.array(rows, dtype=np.int64)


def test_board_top_hand_written_core(tmp_path):
    design = RtlDesign.load(EW_CORE)
    q = _corners_and_random(design.input, 12)
    run_board_top_sim(design, q, ew_core_reference(q), tmp_path)
