"""The software boundary (hwflow/ir/boundary.py, issue #16 item 1): a model's own inputs go
in and its own outputs come out of `exec` and of `rtl` + `sim --inputs --save-outputs`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hwflow.cli import app

runner = CliRunner()


def _cli(*args):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def test_exec_runs_the_boundary_and_as_exported(external_dir, tmp_path):
    """TFC_2W2A: exec through the boundary (Reshape/Mul/Sub + input quantizer in software,
    the float tail after it) equals the graph as exported on arbitrary float pixels."""
    x = np.random.default_rng(0).random((30, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model = external_dir / "TFC_2W2A.onnx"
    text = _cli("exec", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    assert "software before the hardware: Reshape, Mul, Sub, Quant" in text
    assert "after it: Sub, Div, Mul, Add" in text
    text = _cli("exec", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y_as.npy", "--as-exported")
    assert "as exported" in text
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "y_as.npy"))


def test_exec_labels_report_accuracy(external_dir, tmp_path):
    x = np.random.default_rng(1).uniform(-4, 4, (64, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model = external_dir / "qkeras_jettagging.onnx"
    _cli("exec", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y.npy")
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (64, 5) and np.allclose(y.sum(axis=1), 1.0, atol=1e-5)  # the Softmax ran in software
    labels = y.argmax(axis=1).copy()
    labels[:16] = (labels[:16] + 1) % 5  # 48 of 64 right
    np.save(tmp_path / "labels.npy", labels)
    text = _cli("exec", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--labels",
                tmp_path / "labels.npy")
    assert "accuracy 0.7500 (48 of 64 labels)" in text
    np.save(tmp_path / "bad.npy", labels[:10])
    r = runner.invoke(app, ["exec", str(model), "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                            "--labels", str(tmp_path / "bad.npy")])
    assert r.exit_code == 2 and "10 labels for 64 samples" in r.output


def _tiny_qkeras_cnn(path):
    """Non-square NHWC input (6 x 5 x 2), an input quantizer, a conv, a dense, a Softmax."""
    from hwflow.quant import keras_env

    _tf, keras = keras_env()
    from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

    keras.utils.set_random_seed(3)
    x_in = keras.Input((6, 5, 2), name="image")
    h = QActivation(quantized_bits(6, 2, alpha=1), name="in_quant")(x_in)
    h = QConv2D(3, 3, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1),
                name="conv")(h)
    h = QActivation(quantized_relu(4, 1), name="relu")(h)
    h = keras.layers.Flatten(name="flat")(h)
    h = QDense(4, kernel_quantizer=quantized_bits(4, 0, alpha=1), bias_quantizer=quantized_bits(4, 0, alpha=1),
               name="fc")(h)
    h = keras.layers.Activation("softmax", name="softmax")(h)
    model = keras.Model(x_in, h, name="tiny_cnn")
    model.save(path)
    return model


def test_layout_rule():
    """A Keras-exported graph takes the source framework's NHWC arrays or the graph's NCHW
    ones; anything else is refused naming both."""
    from hwflow.errors import ModelError
    from hwflow.ir.boundary import Boundary

    b = Boundary(input_shape=[1, 2, 6, 5], output_shape=[1, 4], layout="NHWC")
    x = np.arange(3 * 6 * 5 * 2, dtype=np.float64).reshape(3, 6, 5, 2)
    np.testing.assert_array_equal(b.graph_layout(x), x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(b.graph_layout(x.transpose(0, 3, 1, 2)), x.transpose(0, 3, 1, 2))
    with pytest.raises(ModelError, match=r"\[N, 6, 5, 2\] \(NHWC"):
        b.graph_layout(x.reshape(3, -1))
    assert b.before_ops() == ["Transpose NHWC -> NCHW"] and b.after_ops() == []
    image = Boundary(input_shape=[1, 1, 6, 10], output_shape=[1, 4])  # no source layout recorded
    assert image.graph_layout(x.reshape(3, 60)).shape == (3, 1, 6, 10)  # flat samples
    assert image.graph_layout(x.reshape(3, 6, 10)).shape == (3, 1, 6, 10)  # only a size-1 dimension differs
    with pytest.raises(ModelError):  # a reshape would reorder the values
        image.graph_layout(x)


@pytest.mark.tools
@pytest.mark.slow
def test_qkeras_cnn_own_nhwc_data_through_exec_and_sim(tmp_path):
    """The acceptance of #16: a QKeras user's NHWC array gives the QKeras outputs through
    export + exec and through rtl + sim --inputs --save-outputs (within float rounding of
    the Softmax), and sim equals exec word for word (~140 s: TensorFlow, Verilator)."""
    keras_model = _tiny_qkeras_cnn(tmp_path / "cnn.h5")
    x = np.random.default_rng(4).uniform(-2, 2, (120, 6, 5, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    y_keras = np.asarray(keras_model(x), np.float64)
    onnx_path = tmp_path / "cnn.onnx"
    _cli("export", tmp_path / "cnn.h5", "-o", onnx_path)
    text = _cli("exec", onnx_path, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y_exec.npy")
    assert "software before the hardware: Transpose NHWC -> NCHW, Quant" in text and "after it: Softmax" in text
    y_exec = np.load(tmp_path / "y_exec.npy")
    assert y_exec.shape == y_keras.shape
    np.testing.assert_allclose(y_exec, y_keras, rtol=0, atol=1e-6)
    assert np.array_equal(y_exec.argmax(1), y_keras.argmax(1))

    run = tmp_path / "run"
    _cli("rtl", onnx_path, "-o", run, "--architecture", "parallel")
    rec = json.loads((run / "rtl.json").read_text())
    assert rec["software"]["layout"] == "NHWC" and rec["software"]["after"]["ops"] == ["Softmax"]
    text = _cli("sim", run, "--inputs", tmp_path / "x.npy", "--save-outputs", tmp_path / "y_sim.npy")
    assert "0 mismatches" in text and "software before the hardware: Transpose NHWC -> NCHW" in text
    y_sim = np.load(tmp_path / "y_sim.npy")
    np.testing.assert_array_equal(y_sim, y_exec)
    np.testing.assert_allclose(y_sim, y_keras, rtol=0, atol=1e-6)

    # the graph's own layout is taken too; --raw: the ports' integers
    np.save(tmp_path / "x_nchw.npy", x.transpose(0, 3, 1, 2))
    _cli("sim", run, "--inputs", tmp_path / "x_nchw.npy", "--save-outputs", tmp_path / "y_nchw.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y_nchw.npy"), y_exec)
    np.save(tmp_path / "x_flat.npy", x.reshape(len(x), -1))
    r = runner.invoke(app, ["sim", str(run), "--inputs", str(tmp_path / "x_flat.npy")])
    assert r.exit_code != 0 and "NHWC, the source framework's" in " ".join(r.output.split())
    q_in = np.round(np.clip(x.transpose(0, 3, 1, 2), -8, 7.875) * 8).reshape(len(x), -1)
    np.save(tmp_path / "q.npy", q_in)
    _cli("sim", run, "--inputs", tmp_path / "q.npy", "--raw", "--save-outputs", tmp_path / "q_out.npy")
    q_out = np.load(tmp_path / "q_out.npy")
    assert q_out.shape == (len(x), 4) and np.array_equal(q_out, np.round(q_out))


@pytest.mark.tools
@pytest.mark.slow
def test_finn_model_cosimulates_from_its_float_inputs(external_dir, tmp_path):
    """TFC_2W2A (float pre-processing Reshape/Mul/Sub before its input quantizer) from its
    own float pixels: sim --save-outputs equals exec word for word (~80 s Verilator build)."""
    x = np.random.default_rng(0).random((200, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    model = external_dir / "TFC_2W2A.onnx"
    run = tmp_path / "run"
    _cli("rtl", model, "-o", run, "--architecture", "streaming", "--folding", "16x16,16x16,16x16,10x16")
    text = _cli("sim", run, "--inputs", tmp_path / "x.npy", "--save-outputs", tmp_path / "y_sim.npy")
    assert "200 samples" in text and "0 mismatches" in text
    _cli("exec", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y_exec.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y_sim.npy"), np.load(tmp_path / "y_exec.npy"))


@pytest.mark.slow
def test_hls_csim_from_model_inputs_reports_exec_accuracy(external_dir, tmp_path):
    """hls --inputs/--labels: the C-sim outputs through the software tail give exec's accuracy
    (~60 s: the hls4ml C++ compile)."""
    x = np.random.default_rng(0).uniform(-3, 3, (40, 16))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "labels.npy", np.arange(40) % 5)
    model = external_dir / "qkeras_jettagging.onnx"
    text = _cli("exec", model, "--inputs", tmp_path / "x.npy", "-o", tmp_path / "y.npy", "--labels",
                tmp_path / "labels.npy")
    acc = text[text.index("accuracy"):]
    text = _cli("hls", model, "-o", tmp_path / "hls", "--inputs", tmp_path / "x.npy", "--labels",
                tmp_path / "labels.npy")
    assert "40 samples, 0 mismatches" in text and acc in text
    rec = json.loads((tmp_path / "hls" / "hls.json").read_text())
    assert rec["software"]["after"]["ops"] == ["Softmax"] and rec["accuracy"]["samples"] == 40


def test_profile_data_goes_through_the_same_software_as_exec(external_dir):
    """profile --data: TFC's float pixels through Reshape/Mul/Sub and the input quantizer,
    the port integers exec's hardware graph sees (one rule instead of rounding)."""
    from hwflow.backends.rtl.design import PortFormat
    from hwflow.ir.boundary import hardware_model
    from hwflow.power.data import load_stimulus
    from hwflow.sim import codec

    hw, b = hardware_model(external_dir / "TFC_2W2A.onnx")
    port = {"elements": 784, "element_width": 2, "signed": True, "frac": 0, "shape": [1, 784], "tdata_width": 1568,
            "int_min": -2, "int_max": 1}
    x = np.random.default_rng(3).random((20, 1, 28, 28))
    stim = load_stimulus(PortFormat.from_json(port, "test"), 20, data=x, boundary=b)
    assert "through the software before the hardware (Reshape, Mul, Sub, Quant" in stim.source
    np.testing.assert_array_equal(stim.q, codec.to_int(port, b.to_port(x), "input"))


def test_deploy_inputs_go_through_the_software_before_the_hardware(external_dir, tmp_path):
    from hwflow.backends.rtl import generate_rtl
    from hwflow.backends.rtl.design import load_design
    from hwflow.synth.deploy import load_inputs

    generate_rtl(external_dir / "bnn_model_fc_1layer.onnx", tmp_path / "run", lint=False)
    x = np.random.default_rng(5).normal(size=(30, 3))
    np.save(tmp_path / "x.npy", x)
    ports = load_inputs(load_design(tmp_path / "run"), tmp_path / "x.npy", samples=0)
    np.testing.assert_array_equal(ports, np.where(x >= 0, 1.0, -1.0))  # the input BipolarQuant, in software
