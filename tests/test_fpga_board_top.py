"""The whole board top (UART bridge + core) in cocotb + Verilator, with cocotbext-uart as
the host: real samples in, answers checked against the reference executor."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.backends.rtl.design import load_design

from _fpga_util import EW_CORE, ew_core_reference, generated_run, make_tiny_mlp, reference_case, run_board_top_sim

pytestmark = pytest.mark.tools


def _corners_and_random(fmt, n_random: int, seed: int = 0) -> np.ndarray:
    lo, hi = fmt.int_min, fmt.int_max
    alt = [lo if i % 2 else hi for i in range(fmt.elements)]
    rows = [[0] * fmt.elements, [hi] * fmt.elements, [lo] * fmt.elements, alt]
    rng = np.random.default_rng(seed)
    rows += rng.integers(lo, hi + 1, size=(n_random, fmt.elements)).tolist()
    return np.array(rows, dtype=np.int64)


# (model, baud, clock cycles per bit): the tiny MLP at the default 115200 baud from the
# iCEBreaker's 12 MHz clock (104 cycles per bit, 0.16% off); the BNN, whose 6-bit input is
# a single byte, at 1 Mbaud from 16 MHz
CASES = [("tiny_mlp", 115200, 104), ("bnn_model_fc_1layer", 1_000_000, 16)]


@pytest.mark.parametrize("model, baud, clks_per_bit", CASES)
def test_board_top_generated_model_matches_reference(model, baud, clks_per_bit, tmp_path, external_dir):
    """Info, corner + random samples through UART and core, recovery from a cut frame,
    and deploy's session code: all against the reference executor."""
    path = make_tiny_mlp(tmp_path / "tiny_mlp.onnx") if model == "tiny_mlp" else external_dir / f"{model}.onnx"
    design = generated_run(path, tmp_path / "run")
    q, expected = reference_case(design, n=40)
    assert len(np.unique(expected, axis=0)) > 1, "stimulus should exercise more than one answer"
    run_board_top_sim(design, q, expected, tmp_path / "sim", baud=baud, clks_per_bit=clks_per_bit)


def test_board_top_sim_detects_a_wrong_answer(tmp_path):
    """The board-top test can fail: the hand-written core against a reference with one
    wrong answer (only the answer-checking cocotb test runs)."""
    design = load_design(EW_CORE)
    q = _corners_and_random(design.input, 4)
    wrong = ew_core_reference(q)
    wrong[5, 2] += 1
    with pytest.raises(AssertionError, match="1 of 1 board-top tests failed"):
        run_board_top_sim(design, q, wrong, tmp_path, testcase="answers_match_reference")
    assert "sample 5" in (tmp_path / "test.log").read_text()


@pytest.mark.parametrize("clk_hz, baud", [(12e6, 115200), (100e6, 115200), (16e6, 1_000_000)])
def test_board_top_verilog_is_lint_clean(tmp_path, clk_hz, baud):
    """The hand-written primitives and the generated glue pass `verilator --lint-only -Wall`."""
    import subprocess

    from hwflow.synth.board_top import TOP_NAME, BoardTopParams, write_board_top
    from hwflow.tools import Verilator

    design = load_design(EW_CORE)
    files = write_board_top(design, BoardTopParams(clk_hz=clk_hz, baud=baud, n_leds=4, n_tie_high=1,
                                                   led_inverted=(True, False, True, False)), tmp_path)
    v = Verilator()
    res = subprocess.run([str(v.locate()), "--lint-only", "-Wall", "--top-module", TOP_NAME, *map(str, files)],
                         env=v.env(), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
