"""QKeras training, CLI (train/export), ECON-T loss and metric."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hwflow.quant import keras_env

tf, keras = keras_env()

from hwflow.cli import app  # noqa: E402
from hwflow.data import hgcal, load_dataset  # noqa: E402
from hwflow.train import keras as tk  # noqa: E402
from hwflow.train.econt_metrics import emd  # noqa: E402

runner = CliRunner()


def test_cli_train_biper_two_stage_schedule(tmp_path):
    run = tmp_path / "run"
    r = runner.invoke(app, ["train", "biper_bnn", "-o", str(run), "--epochs", "2",
                            "--framework", "qkeras"])
    assert r.exit_code == 0, r.output
    rec = json.loads((run / "train.json").read_text())
    assert rec["status"] == "complete"
    m = rec["metrics"]
    assert m["stage1"]["epochs"] == 1 and m["stage2"]["epochs"] == 1
    assert [h["phase"] for h in m["history"]] == ["biper_stage1", "biper_stage2"]
    assert m["export_check"]["mismatches"] == 0 and m["export_check"]["samples"] >= 1000
    assert m["export_check"]["reloaded_equal"]
    assert (run / "model.h5").is_file() and (run / "model.onnx").is_file()
    # the saved model re-exports from the file to the same graph
    r = runner.invoke(app, ["export", str(run / "model.h5"), "-o", str(tmp_path / "re.onnx")])
    assert r.exit_code == 0, r.output
    import onnx

    a, b = onnx.load(run / "model.onnx"), onnx.load(tmp_path / "re.onnx")
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]
    for ia, ib in zip(a.graph.initializer, b.graph.initializer):
        np.testing.assert_array_equal(onnx.numpy_helper.to_array(ia), onnx.numpy_helper.to_array(ib))


def test_cli_export_external_json_and_errors(tmp_path, external_dir):
    out = tmp_path / "ext.onnx"
    r = runner.invoke(app, ["export", str(external_dir / "qkeras_3layer.json"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file()
    bad = tmp_path / "lambda.json"
    bad.write_text(json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Lambda", "config": {"name": "code", "function": "x"}}]}}))
    r = runner.invoke(app, ["export", str(bad), "-o", str(tmp_path / "no.onnx")])
    assert r.exit_code == 6 and not (tmp_path / "no.onnx").exists()
    r = runner.invoke(app, ["train", "nonexistent", "-o", str(tmp_path / "r")])
    assert r.exit_code == 2


def test_telescope_loss_matches_numpy_definition():
    rng = np.random.default_rng(0)
    t = hgcal.cells_to_image(rng.uniform(0, 0.1, (7, 48))).astype(np.float32)
    p = rng.uniform(0, 0.1, (7, 8, 8, 1)).astype(np.float32)
    got = tk.telescope_loss(t, p).numpy()
    tc, pc = hgcal.image_to_cells(t).astype(np.float64), hgcal.image_to_cells(p).astype(np.float64)

    def term(a, b):
        return ((a - b) ** 2 * np.maximum(a, b)).mean(1)

    want = 4 * term(tc, pc) + 2 * term(tc @ tk.REMAP_2X2, pc @ tk.REMAP_2X2) \
        + term(tc @ tk.REMAP_4X4, pc @ tk.REMAP_4X4)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # unused image positions do not count
    p2 = p.copy()
    p2[:, hgcal.unused_mask()] = 5.0
    np.testing.assert_allclose(tk.telescope_loss(t, p2).numpy(), got, rtol=1e-6)


def test_emd_is_exact_transport():
    a = np.zeros(48)
    a[0] = 1.0
    assert emd(a, a) == pytest.approx(0.0, abs=1e-12)
    b = np.zeros(48)
    b[5] = 1.0
    d = np.linalg.norm(hgcal.CELL_CENTRES[0] - hgcal.CELL_CENTRES[5])
    assert emd(a, b) == pytest.approx(d, rel=1e-9)
    # half the mass moves: half the distance
    c = a.copy() * 0.5
    c[5] = 0.5
    assert emd(a, c) == pytest.approx(d / 2, rel=1e-9)


def test_econt_trains_on_small_data():
    x_tr, _, x_te, _ = load_dataset("hgcal", seed=0, n_train=1500, n_test=200)
    tr = tk.train_model("econt", epochs=2, data=(x_tr, x_tr, x_te, x_te))
    m = tr.metrics
    assert m["parameters"] == 2144
    assert np.isfinite(m["test_telescope_loss"]) and m["emd_model_cm"] > 0
    assert tr.decoder is not None


@pytest.mark.slow
def test_econt_beats_trivial_baseline():
    tr = tk.train_model("econt", epochs=6, seed=0)
    m = tr.metrics
    assert m["emd_model_cm"] < 0.7 * m["emd_baseline_mean_shape_cm"], m
