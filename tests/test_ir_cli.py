"""`hwflow inspect` / `hwflow exec` on the external models."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from hwflow.cli import app
from hwflow.ir import ReferenceExecutor, clean_model, load_model, make_stimulus

runner = CliRunner()


def test_inspect_json_and_ir_json(external_dir, tmp_path):
    r = runner.invoke(app, ["inspect", str(external_dir / "qkeras_jettagging.onnx"), "--json",
                            "--ir-json", str(tmp_path / "ir.json")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["total_macs"] == 16 * 64 + 64 * 32 + 32 * 32 + 32 * 5
    assert d["weight_bits"] == 6 * (16 * 64 + 64 * 32 + 32 * 32 + 32 * 5)
    mm = [n for n in d["nodes"] if n["op_type"] == "MatMul"][0]
    assert d["tensors"][mm["outputs"][0]]["type"]["hls_type"].startswith("ap_fixed<")
    assert json.loads((tmp_path / "ir.json").read_text()) == d


def test_inspect_table(external_dir):
    r = runner.invoke(app, ["inspect", str(external_dir / "TFC_2W2A.onnx")])
    assert r.exit_code == 0, r.output
    assert "total MACs 59008" in r.output


def test_exec_matches_executor(external_dir, tmp_path):
    path = external_dir / "bnn_model_fc_1layer.onnx"
    m = load_model(path)
    x = make_stimulus(m, n=50)
    np.save(tmp_path / "x.npy", x)
    r = runner.invoke(app, ["exec", str(path), "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                            "--intermediate"])
    assert r.exit_code == 0, r.output
    y = np.load(tmp_path / "y.npy")
    ex = ReferenceExecutor(clean_model(m, input_type=None, strip_preprocessing=False))
    assert np.array_equal(y, ex.run(x))
    tensors = np.load(tmp_path / "y_tensors.npz")
    assert len(tensors.files) >= len(m.graph.node)
