"""RTL backend: rtl.json contract, lint, Yosys parse, and the traced logic against the
reference executor (da4ml's evaluator of the exact logic that becomes Verilog)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.errors import ConfigError, UnsupportedOp
from _rtl_util import QDOM, single_op, tiny_mlp, trace_vs_reference

CONTRACT_KEYS = {"top", "files", "model", "latency_cycles", "ii", "clock_port", "reset_port",
                 "reset_active_high", "input", "output", "weights"}
PORT_KEYS = {"tensor", "shape", "elements", "element_width", "signed", "frac", "scale", "tdata_width"}


@pytest.fixture(scope="module")
def bnn_run(external_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("rtl_bnn")
    generate_rtl(external_dir / "bnn_model_fc_1layer.onnx", run)
    return run


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("rtl_mlp")
    run = d / "run"
    generate_rtl(tiny_mlp(d / "tiny_mlp.onnx"), run, latency_cutoff=2.0)
    return run


def test_rtl_json_contract(bnn_run):
    r = read_json(bnn_run / "rtl.json")
    assert r["status"] == "complete"
    assert CONTRACT_KEYS <= set(r)
    assert PORT_KEYS <= set(r["input"]) and PORT_KEYS <= set(r["output"])
    assert r["ii"] == 1 and r["latency_cycles"] >= 2
    assert r["clock_port"] == "clk" and r["reset_port"] == "rst" and r["reset_active_high"] is True
    for port in ("input", "output"):
        p = r[port]
        assert p["tdata_width"] == p["elements"] * p["element_width"]
        assert p["elements"] == int(np.prod(p["shape"]))
    # bipolar input: q in {-1, +1}, two bits, frac 0
    assert r["input"]["element_width"] == 2 and r["input"]["signed"] and r["input"]["frac"] == 0
    for f in r["files"]:
        assert (bnn_run / f).is_file()
    assert (bnn_run / r["model"]).is_file()
    top = (bnn_run / "verilog" / f"{r['top']}.v").read_text()
    for port in ("s_axis_tvalid", "s_axis_tready", "s_axis_tdata", "m_axis_tvalid", "m_axis_tready", "m_axis_tdata"):
        assert port in top


def test_lint_clean(bnn_run, mlp_run):
    for run in (bnn_run, mlp_run):
        r = read_json(run / "rtl.json")
        assert r["lint"]["warnings"] == 0
        assert "-Wall" in (run / "lint.log").read_text()


def test_pipeline_cutoff_changes_latency(mlp_run, tmp_path):
    deep = read_json(mlp_run / "rtl.json")
    flat = read_json(generate_rtl(mlp_run / "model.onnx", tmp_path / "flat", latency_cutoff=0))
    assert flat["latency_cycles"] == 2  # input register + output register
    assert deep["latency_cycles"] > flat["latency_cycles"]
    assert deep["pipeline"]["stages"] == deep["latency_cycles"] - 1


def test_yosys_reads_generated_verilog(mlp_run, tmp_path):
    from hwflow.tools import Yosys

    r = read_json(mlp_run / "rtl.json")
    files = " ".join(str(mlp_run / f) for f in r["files"])
    script = tmp_path / "read.ys"
    script.write_text(f"read_verilog {files}\nhierarchy -check -top {r['top']}\nproc\nstat\n")
    Yosys().run_script(script, cwd=tmp_path)


def test_jet_tagger_trace_matches_reference(external_dir):
    assert trace_vs_reference(external_dir / "qkeras_jettagging.onnx", n=150) == 0


def test_tiny_mlp_trace_matches_reference(tmp_path):
    assert trace_vs_reference(tiny_mlp(tmp_path / "m.onnx"), n=300) == 0


@pytest.mark.parametrize("mode", ["ROUND", "HALF_EVEN", "FLOOR", "CEIL", "HALF_UP", "HALF_DOWN", "UP", "DOWN"])
@pytest.mark.parametrize("signed", [0, 1])
def test_quant_rounding_modes_exhaustive(tmp_path, mode, signed):
    # ap_fixed<8,4> input requantized to 3 bits at scale 2**-1: every input value, every tie
    p = single_op(tmp_path / "q.onnx", lambda b, x: b.quant(x, 0.5, 3, signed=signed, mode=mode))
    assert trace_vs_reference(p, exhaustive_input=True) == 0


@pytest.mark.parametrize("k", [-2, 0, 1, 3])
def test_biper_bit_test_exhaustive(tmp_path, k):
    p = single_op(tmp_path / "b.onnx", lambda b, x: b.node("BiPer", [x], "hwflow.ir.custom_op", log2_period=k))
    assert trace_vs_reference(p, exhaustive_input=True) == 0


def test_maxpool_and_multithreshold(tmp_path):
    def build(b, x):
        x4 = b.node("Reshape", [x, b.const(np.array([1, 1, 4, 4]), dtype=np.int64)])
        mp = b.node("MaxPool", [x4], kernel_shape=[2, 2], strides=[2, 2])
        thr = b.const(np.array([[-1.5, 0.0, 0.25, 3.0]]))
        return b.node("MultiThreshold", [mp, thr], QDOM, out_dtype="UINT3")

    p = single_op(tmp_path / "mt.onnx", build)
    assert trace_vs_reference(p, exhaustive_input=True) == 0


def test_non_power_of_two_output_scale_becomes_thresholds_and_a_software_tail(tmp_path):
    """Quant(Relu(x), 0.3): streamlining extracts the scale (thresholds on x, then Mul(0.3) as the
    software tail); the traced logic equals the reference on every input value."""
    p = single_op(tmp_path / "s.onnx", lambda b, x: b.quant(b.node("Relu", [x]), 0.3, 4, signed=0))
    rec = read_json(generate_rtl(p, tmp_path / "run", lint=False))
    assert rec["status"] == "complete" and rec["stripped_output_ops"] == ["Mul"]
    assert trace_vs_reference(p, exhaustive_input=True) == 0


def test_bad_input_type_option(tmp_path):
    with pytest.raises(ConfigError, match="ap_fixed"):
        generate_rtl(tiny_mlp(tmp_path / "m.onnx"), tmp_path / "run", input_type="fixed16", lint=False)


def test_input_type_option_sets_port_format(tmp_path, external_dir):
    r = read_json(generate_rtl(external_dir / "qkeras_jettagging.onnx", tmp_path / "run",
                               input_type="ap_fixed<8,3>", latency_cutoff=0, lint=False))
    assert (r["input"]["element_width"], r["input"]["frac"], r["input"]["format_source"]) == (8, 5, "option")
    assert r["stripped_output_ops"] == ["Softmax"]


def test_inputs_without_weights_are_dropped(tmp_path):
    # input elements whose weight rows are all zero (MNIST border pixels in TFC): no
    # register and no unused bits (lint -Wall passes), and the design stays bit-exact
    def build(b, x):
        w = np.array([[1, -2, 0], [0, 0, 0], [3, 1, -1], [0, 0, 0]] * 4, dtype=np.float64) * 0.25
        return b.node("MatMul", [x, b.quant(b.const(w), 0.25, 4)])

    p = single_op(tmp_path / "dead.onnx", build)
    r = read_json(generate_rtl(p, tmp_path / "run"))
    assert r["lint"]["warnings"] == 0 and r["status"] == "complete"
    assert trace_vs_reference(p, n=200) == 0
    glue = (tmp_path / "run" / "verilog" / f"{r['top']}.v").read_text()
    assert "s_axis_tdata[15:8]" not in glue  # element 1 has no weights
    from hwflow.sim import simulate

    assert simulate(tmp_path / "run", samples=300)["passed"]
