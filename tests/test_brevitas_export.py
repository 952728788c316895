"""Brevitas zoo models -> QONNX: the graph's reference execution equals Brevitas' quantized
forward pass on 1,000 random samples plus the input range's corners (0 mismatches)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")

from hwflow.frontends import brevitas as fb  # noqa: E402

N_SAMPLES = 1000


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            path = tmp_path_factory.mktemp(name) / f"{name}.onnx"
            fb.export_brevitas_zoo_model(name, path, seed=0)
            model = fb.build_brevitas_zoo_model(name, seed=0)
            cache[name] = (model, path)
        return cache[name]

    return get


def stimulus(name: str, n: int = N_SAMPLES, seed: int = 0) -> np.ndarray:
    """Corners of the input quantizer's range, then random values over (and a little
    beyond) that range -- on and off the grid, so the input quantizer is exercised too."""
    g = torch.Generator().manual_seed(seed)
    return np.concatenate([fb.corner_inputs(name), fb.random_inputs(name, n, generator=g).numpy()])


def grid_stimulus(path, n: int = N_SAMPLES) -> np.ndarray:
    """The IR's stimulus: corners first, then random values ON the input grid."""
    from hwflow.ir import load_model, make_stimulus

    return make_stimulus(load_model(str(path)), n=n, seed=1, corners=True).astype(np.float32)


@pytest.mark.parametrize("name", fb.ZOO_NAMES)
def test_export_matches_brevitas(exported, name):
    model, path = exported(name)
    x = stimulus(name)
    res = fb.check_export(model, path, x)
    assert res["samples"] == N_SAMPLES + len(fb.corner_inputs(name))
    assert res["mismatches"] == 0
    on_grid = grid_stimulus(path)
    assert fb.check_export(model, path, on_grid)["mismatches"] == 0
    # the outputs are not trivially constant (a broken export could hide behind that)
    y = fb.torch_forward(model, x)
    assert np.unique(y.reshape(len(x), -1), axis=0).shape[0] > 10


def test_check_export_detects_a_difference(exported, tmp_path):
    """The comparison can fail: perturb one weight of the model after export."""
    model, path = exported("jet_mlp")
    other = fb.build_brevitas_zoo_model("jet_mlp", seed=0)
    with torch.no_grad():
        other.body[0].weight[0, 0] += 0.5
    with pytest.raises(fb.MismatchError):
        fb.check_export(other, path, stimulus("jet_mlp", n=50))


@pytest.mark.parametrize("mode", ["sign", "int8"])
def test_benchmark_modes_of_the_bnn_export_exactly(tmp_path, mode):
    """The plain sign-STE BNN (Brevitas' binary quantizers) and the 8-bit variant of the
    BiPer architecture export and match too (the float mode has nothing to quantize)."""
    from hwflow import zoo

    model = zoo.build_model("biper_bnn", "brevitas", seed=2, mode=mode).eval()
    path = fb.export_brevitas(model, tmp_path / f"{mode}.onnx", (1, 8, 8))
    assert fb.check_export(model, path, grid_stimulus(path, n=500))["mismatches"] == 0
    ops = {n.op_type for n in __import__("onnx").load(str(path)).graph.node}
    assert ("BipolarQuant" in ops) == (mode == "sign")


def test_export_failure_is_a_typed_error(tmp_path):
    class Bad(torch.nn.Module):
        def forward(self, x):
            return torch.fft.fft(x).real  # no ONNX export for FFT

    with pytest.raises(fb.ModelError, match="Bad"):
        fb.export_brevitas(Bad(), tmp_path / "bad.onnx", (4,))
    assert not (tmp_path / "bad.onnx").exists()
    assert not list(tmp_path.glob(".export.*"))


def test_econt_same_padding_is_folded_into_the_conv(exported):
    """TensorFlow 'same' with stride 2 on 8x8 pads 0 before and 1 after; PyTorch writes it
    as F.pad + Conv(padding=0), the exporter folds the Pad into the Conv's pads."""
    import onnx

    _, path = exported("econt")
    g = onnx.load(str(path)).graph
    assert not [n for n in g.node if n.op_type == "Pad"]
    (conv,) = [n for n in g.node if n.op_type == "Conv"]
    attrs = {a.name: list(a.ints) for a in conv.attribute if a.ints}
    assert attrs["pads"] == [0, 0, 1, 1] and attrs["strides"] == [2, 2]
