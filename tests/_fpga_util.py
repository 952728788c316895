"""Helpers of the FPGA-area tests: build and run the board top under cocotb + Verilator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hwflow.backends.rtl.design import RtlDesign, load_design
from hwflow.synth.board_top import TOP_NAME, BoardTopParams, write_board_top
from hwflow.tools.cocotb import verilator_environ

REPO = Path(__file__).resolve().parents[1]
RTL_TESTS = REPO / "rtl_tests"
EW_CORE = REPO / "tests" / "data" / "synth" / "ew_core"


def ew_core_reference(q: np.ndarray) -> np.ndarray:
    """What tests/data/synth/ew_core computes: y = 3*x - 1 per element."""
    return 3 * np.asarray(q, dtype=np.int64) - 1


# The simulations here are short: compiling the Verilated model without optimisation saves
# about a quarter of the build time (make takes command-line variables from MAKEFLAGS).
FAST_BUILD = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"  # extra MAKEFLAGS: quicker C++ builds of the board top




def run_board_top_sim(design: RtlDesign, inputs_q, expected_q, work: Path, *, baud: int = 1_000_000,
                      clks_per_bit: int = 16, window: int = 2, timeout_bits: int = 64,
                      testcase: str | None = None) -> None:
    """Build the board top around ``design`` and run the cocotb tests of
    rtl_tests/test_uart_board_top.py; raise if any fails."""
    from cocotb_tools.runner import get_results, get_runner

    clk_hz = baud * clks_per_bit
    params = BoardTopParams(clk_hz=clk_hz, baud=baud, n_leds=2, led_inverted=(True, False),
                            timeout_bits=timeout_bits)
    files = write_board_top(design, params, work / "src")
    case = {
        "input": design.input.__dict__, "output": design.output.__dict__,
        "clk_period_ps": 2 * round(1e12 / clk_hz / 2),   # cocotb wants an even period
        "baud": baud, "window": window,
        "timeout_bits": timeout_bits, "design_id": design.design_id,
        "latency_ns": round(1e9 / clk_hz * (int(design.raw.get("latency_cycles") or 0) + 20)),
        "inputs": [[int(v) for v in row] for row in inputs_q],
        "expected": [[int(v) for v in row] for row in expected_q],
    }
    case_file = work / "case.json"
    case_file.write_text(json.dumps(case))
    with verilator_environ(FAST_BUILD):
        runner = get_runner("verilator")
        runner.build(sources=files, hdl_toplevel=TOP_NAME, build_dir=work / "build", timescale=("1ns", "1ps"),
                     build_args=["-Wno-fatal", "-Wno-DECLFILENAME", "-Wno-UNUSEDSIGNAL"],
                     log_file=work / "build.log")
        # results.xml in the work directory, not in rtl_tests/ (the runner's default)
        results = runner.test(hdl_toplevel=TOP_NAME, test_module="test_uart_board_top", test_dir=RTL_TESTS,
                              build_dir=work / "build", extra_env={"HWFLOW_BOARD_CASE": str(case_file)},
                              testcase=testcase, log_file=work / "test.log",
                              results_xml=str((work / "results.xml").resolve()))
    n_tests, n_failed = get_results(results)
    assert n_tests > 0, f"no cocotb test ran; see {work / 'test.log'}"
    assert n_failed == 0, f"{n_failed} of {n_tests} board-top tests failed; see {work / 'test.log'}"


def make_tiny_mlp(path: Path, seed: int = 0) -> Path:
    """A small QONNX model written with onnx.helper: 6 inputs (6-bit, step 1/8) -> dense 6x4
    with 3-bit weights and a bias -> ReLU -> 5-bit unsigned activation (step 1/4)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.integers(-4, 4, size=(6, 4)).astype(np.float32) * 0.25
    bias = rng.integers(-8, 8, size=(4,)).astype(np.float32) / 32
    dom = "qonnx.custom_op.general"
    inits = [
        numpy_helper.from_array(w, "W"), numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(np.array(0.125, np.float32), "s_in"),
        numpy_helper.from_array(np.array(0.25, np.float32), "s_w"),
        numpy_helper.from_array(np.array(0.25, np.float32), "s_out"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(6.0, np.float32), "bw_in"),
        numpy_helper.from_array(np.array(3.0, np.float32), "bw_w"),
        numpy_helper.from_array(np.array(5.0, np.float32), "bw_out"),
    ]
    nodes = [
        helper.make_node("Quant", ["x", "s_in", "zero", "bw_in"], ["xq"], domain=dom, name="quant_in",
                         signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("Quant", ["W", "s_w", "zero", "bw_w"], ["Wq"], domain=dom, name="quant_w",
                         signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("MatMul", ["xq", "Wq"], ["mm"], name="dense"),
        helper.make_node("Add", ["mm", "B"], ["acc"], name="bias"),
        helper.make_node("Relu", ["acc"], ["act"], name="relu"),
        helper.make_node("Quant", ["act", "s_out", "zero", "bw_out"], ["y"], domain=dom, name="quant_out",
                         signed=0, narrow=0, rounding_mode="ROUND"),
    ]
    graph = helper.make_graph(nodes, "tiny_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(dom, 1)])
    onnx.save(model, path)
    return path


def generated_run(model: Path, run_dir: Path) -> RtlDesign:
    """rtl.json + Verilog for ``model`` from the RTL backend (contract section 4)."""
    from hwflow.backends.rtl import generate_rtl

    generate_rtl(model, run_dir)
    return load_design(run_dir)


def reference_case(design: RtlDesign, n: int, seed: int = 0):
    """Stimulus (corners first) as input integers and the reference executor's answers as
    output integers."""
    from hwflow.synth.deploy import load_inputs, reference_ints

    x = load_inputs(design, None, n, seed)
    return design.input.to_ints(x.reshape(len(x), -1)), reference_ints(design, x)
