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


def test_exec_raw_model_with_preprocessing_on_float_inputs(external_dir, tmp_path):
    """`hwflow exec` runs the model as given: TFC_2W2A on arbitrary float pixels equals
    execute_onnx on the original file (pre-processing, BN and all)."""
    from _ir_util import execute_onnx_samples

    path = external_dir / "TFC_2W2A.onnx"
    raw = load_model(path)
    x = np.random.default_rng(0).random((25, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = runner.invoke(app, ["exec", str(path), "--inputs", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")])
    assert r.exit_code == 0, r.output
    ref = np.concatenate([d[raw.graph.output[0].name] for d in execute_onnx_samples(raw, x, full=False)])
    assert np.array_equal(np.load(tmp_path / "y.npy"), ref.astype(np.float64))


def test_inspect_ort_check(external_dir):
    r = runner.invoke(app, ["inspect", str(external_dir / "bnn_model_fc_1layer.onnx"), "--json", "--ort-check"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["ort_cross_check"]["ran"] is False and "BipolarQuant" in d["ort_cross_check"]["reason"]
