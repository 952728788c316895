"""`hwflow export net.py --class Net --weights w.pt`: a user's own Brevitas nn.Module
(hwflow/frontends/brevitas_module.py, #16 item 6)."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from hwflow.cli import app

runner = CliRunner()

NET = '''
import torch.nn as nn
from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU


class TinyNet(nn.Module):
    INPUT_SHAPE = (12,)

    def __init__(self):
        super().__init__()
        self.inp = QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.fc1 = QuantLinear(12, 8, bias=True, weight_bit_width=4)
        self.relu = QuantReLU(bit_width=4, return_quant_tensor=True)
        self.fc2 = QuantLinear(8, 3, bias=True, weight_bit_width=4)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(self.inp(x))))
'''


def _net(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    return tmp_path / "net.py"


def test_refusals_name_what_to_give(tmp_path):
    py = _net(tmp_path)
    out = str(tmp_path / "o.onnx")
    r = runner.invoke(app, ["export", str(py), "-o", out])
    assert r.exit_code == 2 and "--class" in r.output
    (tmp_path / "w.pt").write_bytes(b"\x80\x04not a state dict")
    r = runner.invoke(app, ["export", str(tmp_path / "w.pt"), "--class", "TinyNet", "-o", out])
    assert r.exit_code == 2 and "go with a Python model file" in r.output


@pytest.mark.slow
def test_own_module_exports_and_exec_gives_its_outputs(tmp_path):
    """The exported graph through exec's boundary gives the module's own outputs (float32
    rounding of Brevitas' float scales); ~40 s."""
    import sys

    import torch

    py = _net(tmp_path)
    out = str(tmp_path / "o.onnx")
    r = runner.invoke(app, ["export", str(py), "--class", "Nope", "-o", out])
    assert r.exit_code == 2 and "defines no class 'Nope' (classes: TinyNet)" in " ".join(r.output.split())
    (tmp_path / "bad.pt").write_bytes(b"\x80\x04not a state dict")
    r = runner.invoke(app, ["export", str(py), "--class", "TinyNet", "--weights", str(tmp_path / "bad.pt"), "-o", out])
    assert r.exit_code == 6 and "InvalidModelFile" in r.output
    sys.path.insert(0, str(tmp_path))
    try:
        from net import TinyNet
    finally:
        sys.path.remove(str(tmp_path))
    torch.manual_seed(0)
    net = TinyNet()
    net.train()
    net(torch.randn(64, 12))  # activation scales are collected in training mode, as after QAT
    net.eval()
    torch.save(net.state_dict(), tmp_path / "w.pt")
    r = runner.invoke(app, ["export", str(py), "--class", "TinyNet", "--weights", str(tmp_path / "w.pt"),
                            "-o", str(tmp_path / "net.onnx")])
    assert r.exit_code == 0, r.output
    x = np.random.default_rng(0).normal(size=(50, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = runner.invoke(app, ["exec", str(tmp_path / "net.onnx"), "--inputs", str(tmp_path / "x.npy"),
                            "-o", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    y = net(torch.from_numpy(x))
    y = getattr(y, "value", y).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), y, rtol=0, atol=1e-5)
