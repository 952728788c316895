"""The whole board top (UART bridge + core) in cocotb + Verilator, with cocotbext-uart as
the host: real samples in, answers checked against the reference executor."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.synth.rtl_design import RtlDesign

from _fpga_util import EW_CORE, ew_core_reference, generated_run, make_tiny_mlp, reference_case, run_board_top_sim


def _corners_and_random(fmt, n_random: int, seed: int = 0) -> np.ndarray:
    lo, hi = fmt.int_min, fmt.int_max
    alt = [lo if i % 2 else hi for i in range(fmt.elements)]
    rows = [[0] * fmt.elements, [hi] * fmt.elements, [lo] * fmt.elements, alt]
    rng = np.random.default_rng(seed)
    rows += rng.integers(lo, hi + 1, size=(n_random, fmt.elements)).tolist()
    return np.array(rows, dtype=np.int64)


def test_board_top_hand_written_core_at_board_baud(tmp_path):
    """The hand-written core at 115200 baud from the iCEBreaker's 12 MHz clock (104 cycles
    per bit, 0.16% off): info, corners + random samples, recovery from a cut frame."""
    design = RtlDesign.load(EW_CORE)
    q = _corners_and_random(design.input, 12)
    run_board_top_sim(design, q, ew_core_reference(q), tmp_path, baud=115200, clks_per_bit=104)


@pytest.mark.parametrize("model", ["tiny_mlp", "bnn_model_fc_1layer"])
def test_board_top_generated_model_matches_reference(model, tmp_path, external_dir):
    path = make_tiny_mlp(tmp_path / "tiny_mlp.onnx") if model == "tiny_mlp" else external_dir / f"{model}.onnx"
    design = generated_run(path, tmp_path / "run")
    q, expected = reference_case(design, n=40)
    assert len(np.unique(expected, axis=0)) > 1, "stimulus should exercise more than one answer"
    run_board_top_sim(design, q, expected, tmp_path / "sim")
