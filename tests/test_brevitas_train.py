"""Brevitas side of issue #4: weights-only loading, QAT training runs (incl. the two-stage
BiPer schedule) and their exports, ECON-T size."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwflow.artifacts import read_json  # noqa: E402
from hwflow.errors import ConfigError, InvalidModelFile  # noqa: E402
from hwflow.frontends import brevitas as fb  # noqa: E402


# ------------------------------------------------------------------------ loading
def test_pickled_full_model_is_refused(tmp_path):
    path = tmp_path / "full_model.pt"
    # a pickled module, not a state_dict (zoo models load by path, so pickle a torch one)
    torch.save(torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU()), path)
    with pytest.raises(InvalidModelFile, match="weights-only"):
        fb.read_weights_file(path)
    with pytest.raises(InvalidModelFile):
        fb.build_brevitas_zoo_model("jet_mlp", trained=path)


class _Payload:
    """Unpickling this would run ``open(marker, 'w')``: the loader must never do that."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_loading_never_executes_code_from_the_file(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": {"w": _Payload(marker)}}, f)
    with pytest.raises(InvalidModelFile):
        fb.read_weights_file(path)
    assert not marker.exists()


def test_garbage_and_mismatched_weights_are_typed_errors(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(InvalidModelFile):
        fb.read_weights_file(junk)
    with pytest.raises(InvalidModelFile):
        fb.read_weights_file(tmp_path / "missing.pt")
    other = tmp_path / "econt.pt"
    torch.save(fb.build_brevitas_zoo_model("econt").state_dict(), other)
    with pytest.raises(InvalidModelFile, match="do not match"):
        fb.build_brevitas_zoo_model("jet_mlp", trained=other)
    with pytest.raises(ConfigError):
        fb.build_brevitas_zoo_model("no_such_model")


def test_econt_encoder_has_2144_parameters():
    model = fb.build_brevitas_zoo_model("econt")
    assert sum(p.numel() for p in model.parameters()) == 2144
    # asymmetric TF 'same' padding is folded into the Conv of the graph
    assert fb.input_shape_of("econt") == (1, 8, 8)


# ----------------------------------------------------------------------- training
def test_train_jet_mlp_writes_checked_artifacts(tmp_path):
    from hwflow.train.torch import train_torch

    run = tmp_path / "run"
    m = train_torch("jet_mlp", run, epochs=1, seed=0, check_samples=200)
    assert m["test_accuracy"] > 0.5  # 5 classes: chance is 0.2
    assert m["export_check"]["mismatches"] == 0 and m["export_check"]["reloaded_equal"]
    rec = read_json(run / "train.json")
    assert rec["status"] == "complete"
    assert set(rec["outputs"]) >= {"model.pt", "model.onnx"}
    # the file round trip: hwflow export of the run directory rebuilds the same network
    out = fb.export_file(run, tmp_path / "again.onnx", check_samples=100)
    net = fb.build_brevitas_zoo_model("jet_mlp", trained=run / "model.pt")
    x = np.random.default_rng(0).normal(0, 2, (64, 16)).astype(np.float32)
    assert np.array_equal(fb.reference_forward(out, x), fb.torch_forward(net, x))
    # and the trained export is not the untrained one
    fresh = fb.build_brevitas_zoo_model("jet_mlp", seed=0)
    assert not np.array_equal(fb.torch_forward(fresh, x), fb.torch_forward(net, x))


def test_biper_two_stage_training(tmp_path):
    from hwflow.quant.biper_torch import biper_quants
    from hwflow.train.torch import train_model

    log: list = []
    tr = train_model("biper_bnn", epochs=4, seed=1, log=log)
    m = tr.metrics
    assert [e["stage"] for e in log] == ["biper_stage1"] * 2 + ["biper_stage2"] * 2
    assert m["stage1"]["epochs"] == 2 and m["stage2"]["epochs"] == 2
    assert m["test_accuracy"] > 0.3  # 10 classes
    assert all(tq.stage == 2 for _, tq in biper_quants(tr.model))
    # the stage-2 network exports and matches on the grid stimulus
    from hwflow.ir import load_model, make_stimulus

    path = fb.export_brevitas(tr.model, tmp_path / "bnn.onnx", (1, 8, 8))
    x = make_stimulus(load_model(str(path)), n=300, seed=0).astype(np.float32)
    assert fb.check_export(tr.model, path, x)["mismatches"] == 0


def test_telescope_loss_and_emd():
    from hwflow.data.hgcal import CELL_CENTRES, cells_to_image
    from hwflow.train.econt_metrics import emd, telescope_loss_torch

    a = np.zeros(48)
    b = np.zeros(48)
    a[0], b[5] = 1.0, 1.0
    assert emd(a, b) == pytest.approx(np.linalg.norm(CELL_CENTRES[0] - CELL_CENTRES[5]), rel=1e-6)
    rng = np.random.default_rng(0)
    c = rng.random(48)
    assert emd(c, c) == pytest.approx(0.0, abs=1e-9)
    assert emd(c, 3 * c) == pytest.approx(0.0, abs=1e-9)  # normalised distributions
    x = torch.from_numpy(cells_to_image(rng.random((4, 48))).transpose(0, 3, 1, 2).copy())
    assert float(telescope_loss_torch(x, x)) == 0.0
    assert float(telescope_loss_torch(x, x * 0.5)) > 0.0


def test_export_file_needs_to_know_the_model(tmp_path):
    """A bare state_dict does not say which architecture it belongs to: name it or fail."""
    path = tmp_path / "bare.pt"
    torch.save(fb.build_brevitas_zoo_model("digits_cnn", seed=1).state_dict(), path)
    with pytest.raises(ConfigError, match="which zoo model"):
        fb.export_file(path, tmp_path / "x.onnx")
    out = fb.export_file(path, tmp_path / "x.onnx", model="digits_cnn", check_samples=100)
    assert out.exists()


def test_cli_trains_biper_in_two_stages_and_exports(tmp_path):
    """`hwflow train biper_bnn --framework brevitas` runs the two-stage schedule, and
    `hwflow export` turns the run's weights into QONNX again."""
    from typer.testing import CliRunner

    from hwflow.cli import app

    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["train", "biper_bnn", "--framework", "brevitas", "--epochs", "2",
                                   "--seed", "3", "-o", str(run)])
    assert res.exit_code == 0, res.output
    m = read_json(run / "train.json")["metrics"]
    assert [e["stage"] for e in m["history"]] == ["biper_stage1", "biper_stage2"]
    assert m["export_check"]["mismatches"] == 0
    res = CliRunner().invoke(app, ["export", str(run / "model.pt"), "-o", str(tmp_path / "again.onnx")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "again.onnx").exists()
    # a pickled model is refused with the typed error's exit code
    bad = tmp_path / "full.pt"
    torch.save(torch.nn.Linear(2, 2), bad)
    res = CliRunner().invoke(app, ["export", str(bad), "-o", str(tmp_path / "bad.onnx")])
    assert res.exit_code == InvalidModelFile.exit_code
    assert not (tmp_path / "bad.onnx").exists()


def test_export_mismatch_leaves_no_model_onnx(tmp_path, monkeypatch):
    """A QONNX graph that does not compute the trained model is removed and the stage is
    recorded failed (as the QKeras path does), so no later stage takes it."""
    from hwflow.errors import MismatchError
    from hwflow.train.torch import train_torch

    def mismatching(*args, **kwargs):
        raise MismatchError("export check: 3 of 105 samples differ")

    monkeypatch.setattr(fb, "check_export", mismatching)
    run = tmp_path / "run"
    with pytest.raises(MismatchError):
        train_torch("jet_mlp", run, epochs=0, seed=0, check_samples=100)
    assert not (run / "model.onnx").exists()
    assert read_json(run / "train.json")["status"] == "failed"
