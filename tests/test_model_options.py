"""Zoo builder options (flow file ``model.options``, ``hwflow train -O``, sweep axes
``model.options.NAME``): they reach the builder, the QONNX quantizers, the saved weights'
metadata and the export; unknown names are ConfigErrors listing the builder's options."""

import numpy as np
import pytest
from typer.testing import CliRunner

from hwflow import zoo
from hwflow.cli.training import parse_options
from hwflow.config import FlowConfig
from hwflow.errors import ConfigError
from hwflow.sweep.spec import check_setting


def _quant_bits(onnx_path) -> set[int]:
    from hwflow.ir import load_model

    m = load_model(str(onnx_path))
    return {int(m.get_initializer(n.input[3])) for n in m.graph.node if n.op_type == "Quant"}


@pytest.mark.unit
def test_options_are_the_builder_keywords():
    assert zoo.builder_options("jet_mlp", "brevitas") == {"w_bits": 6, "a_bits": 6}
    with pytest.raises(ConfigError, match=r"no option 'bits'.*w_bits \(default 6\), a_bits"):
        zoo.build_model("jet_mlp", "brevitas", seed=0, bits=4)
    with pytest.raises(ConfigError, match="its options: none"):
        zoo.build_model("econt", "brevitas", seed=0, w_bits=4)


@pytest.mark.unit
def test_flow_file_and_cli_and_sweep_spellings():
    cfg = FlowConfig.model_validate({"name": "x", "model": {"zoo": "jet_mlp", "options": {"w_bits": 4}}})
    assert cfg.model.options == {"w_bits": 4}
    with pytest.raises(ValueError, match="model.path file has none"):
        FlowConfig.model_validate({"name": "x", "model": {"path": "m.onnx", "options": {"w_bits": 4}}})
    assert parse_options(["w_bits=4", "a_bits=3", "mode=fast", "scale=0.5", "flag=true"]) == {
        "w_bits": 4, "a_bits": 3, "mode": "fast", "scale": 0.5, "flag": True}
    for bad in (["w_bits"], ["=4"], ["w=[1, 2]"]):
        with pytest.raises(ConfigError):
            parse_options(bad)
    check_setting("model.options.w_bits")
    with pytest.raises(ValueError, match="has no sub-settings"):
        check_setting("model.options.w_bits.x")


def test_trained_brevitas_model_with_options_round_trips(tmp_path):
    """4-bit weights, 3-bit activations: the QONNX graph holds those widths, the saved
    weights remember the options, and hwflow export of the run rebuilds the same network."""
    from hwflow.cli import app
    from hwflow.frontends import brevitas as fb
    from hwflow.train.torch import train_torch

    assert zoo.builder_options("jet_mlp", "qkeras") == {"w_bits": 6, "a_bits": 6}  # the twin takes the same
    run = tmp_path / "run"
    m = train_torch("jet_mlp", run, epochs=1, seed=0, check_samples=100, options={"w_bits": 4, "a_bits": 3})
    assert m["export_check"]["mismatches"] == 0 and m["export_check"]["reloaded_equal"]
    assert {4, 3} <= _quant_bits(run / "model.onnx") and 6 not in _quant_bits(run / "model.onnx")
    out = fb.export_file(run, tmp_path / "again.onnx", check_samples=50)
    assert _quant_bits(out) == _quant_bits(run / "model.onnx")
    x = np.random.default_rng(0).normal(0, 2, (32, 16)).astype(np.float32)
    assert np.array_equal(fb.reference_forward(out, x), fb.reference_forward(run / "model.onnx", x))
    # the CLI spelling reaches the same place; an unknown name fails before training
    res = CliRunner().invoke(app, ["train", "jet_mlp", "--framework", "brevitas", "-o", str(tmp_path / "bad"),
                                   "--epochs", "0", "-O", "bits=4"])
    assert res.exit_code == 2 and "its options: w_bits" in res.output


@pytest.mark.unit
@pytest.mark.parametrize("value,match", [(2.5, r"w_bits=2.5 must be of the kind of its default 6 \(int\)"), ("4", r"\(int\)"),
                                         (True, r"\(int\)"), (0, "needs bits >= 2, got 0"),
                                         (1, "needs bits >= 2, got 1")])
def test_bad_option_values_are_config_errors(value, match):
    with pytest.raises(ConfigError, match=match):
        zoo.build_model("jet_mlp", "brevitas", seed=0, w_bits=value)


def test_qkeras_twin_refuses_bad_bits_too():
    # QKeras would build quantized_bits(0, 0) and train on NaN: the builder refuses it
    with pytest.raises(ConfigError, match="needs bits >= 2, got 0"):
        zoo.build_model("jet_mlp", "qkeras", seed=0, w_bits=0)


def test_weights_file_with_malformed_options_is_refused(tmp_path):
    import torch

    from hwflow.errors import InvalidModelFile
    from hwflow.frontends import brevitas as fb

    net = zoo.build_model("jet_mlp", "brevitas", seed=0)
    path = tmp_path / "w.pt"
    torch.save({"hwflow": {"model": "jet_mlp", "framework": "brevitas", "options": [4, 3]},
                "state_dict": net.state_dict()}, path)
    with pytest.raises(InvalidModelFile, match="not a mapping"):
        fb.export_file(path, tmp_path / "m.onnx", check_samples=0)
