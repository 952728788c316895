"""The Brevitas and QKeras twins of each zoo model are the same network: with the QKeras
model's weights copied into the Brevitas model, the two exported QONNX graphs compute the
same outputs, sample by sample (both graphs take NCHW input)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
# qkeras is imported through hwflow.quant.keras_env (which sets TF_USE_LEGACY_KERAS first)

from hwflow import zoo  # noqa: E402
from hwflow.frontends import brevitas as fb  # noqa: E402

NAMES = ["jet_mlp", "econt", "digits_cnn", "digits_cnn_8bit", "digits_cnn_apriori", "biper_bnn",
         "biper_bnn_periodic"]


def _keras_weight_layers(kmodel):
    """(layer, weights, hwc shape of the flattened input if the layer follows a Flatten)."""
    out, flat_shape = [], None
    for layer in kmodel.layers:
        if type(layer).__name__ == "Flatten":
            flat_shape = tuple(int(v) for v in layer.input.shape[1:])
            continue
        w = layer.get_weights()
        if w:
            out.append((layer, w, flat_shape))
            flat_shape = None
    return out


def _torch_weight_modules(tmodel):
    from brevitas.nn import QuantConv2d, QuantLinear

    from hwflow.quant.biper_torch import BinaryScale

    return [m for m in tmodel.modules() if isinstance(m, (QuantConv2d, QuantLinear, BinaryScale))]


def copy_keras_weights(kmodel, tmodel) -> None:
    """Keras (HWIO kernels, NHWC flatten) -> PyTorch (OIHW, NCHW flatten), layer by layer."""
    from hwflow.quant.biper_torch import BinaryScale

    klayers, tmods = _keras_weight_layers(kmodel), _torch_weight_modules(tmodel)
    assert len(klayers) == len(tmods), ([l.name for l, _, _ in klayers], [type(m).__name__ for m in tmods])
    with torch.no_grad():
        for (layer, w, flat), m in zip(klayers, tmods):
            if isinstance(m, BinaryScale):
                m.log_alpha.copy_(torch.from_numpy(w[0]))
                m.beta.copy_(torch.from_numpy(w[1]))
                continue
            k = w[0]
            if k.ndim == 4:  # conv HWIO -> OIHW
                t = k.transpose(3, 2, 0, 1)
            else:  # dense (in, out) -> (out, in); rows in Keras' (h, w, c) flatten order
                t = k
                if flat is not None and len(flat) == 3:
                    h, wd, c = flat
                    t = k.reshape(h, wd, c, -1).transpose(2, 0, 1, 3).reshape(h * wd * c, -1)
                t = t.T
            assert tuple(m.weight.shape) == t.shape, (layer.name, m.weight.shape, t.shape)
            m.weight.copy_(torch.from_numpy(np.ascontiguousarray(t)))
            if len(w) > 1:
                m.bias.copy_(torch.from_numpy(w[1]))


@pytest.fixture(scope="module")
def keras_env():
    from hwflow.quant import keras_env as env

    try:
        return env()
    except ImportError as e:  # the keras extra is not installed
        pytest.skip(f"QKeras stack not installed: {e}")


@pytest.mark.parametrize("name", NAMES)
def test_twins_compute_the_same_function(keras_env, tmp_path, name):
    from hwflow.frontends import qkeras as fq
    from hwflow.ir import ReferenceExecutor, load_model, make_stimulus

    kmodel = zoo.build_model(name, "qkeras", seed=4)
    tmodel = zoo.build_model(name, "brevitas", seed=0).eval()
    if name.startswith("biper_bnn"):  # give the binary scales non-trivial values in both
        rng = np.random.default_rng(0)
        for layer in kmodel.layers:
            if type(layer).__name__ == "BinaryScale":
                layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    copy_keras_weights(kmodel, tmodel)
    kpath, tpath = tmp_path / "keras.onnx", tmp_path / "torch.onnx"
    fq.export_keras_model(kmodel, kpath, name=name)
    fb.export_brevitas(tmodel, tpath, fb.input_shape_of(name))
    km, tm = load_model(str(kpath)), load_model(str(tpath))
    x = make_stimulus(tm, n=1000, seed=2, corners=True)
    assert list(km.get_tensor_shape(km.graph.input[0].name)) == list(x.shape[1:]) or \
        list(km.get_tensor_shape(km.graph.input[0].name))[1:] == list(x.shape[1:])
    yk = np.asarray(ReferenceExecutor(km).run(x))
    yt = np.asarray(ReferenceExecutor(tm).run(x))
    assert yk.shape == yt.shape
    bad = np.nonzero(np.any((yk != yt).reshape(len(x), -1), axis=1))[0]
    assert len(bad) == 0, f"{name}: {len(bad)} samples differ, first {bad[0]}: {yk[bad[0]].ravel()[:6]} vs {yt[bad[0]].ravel()[:6]}"
    assert np.unique(yt.reshape(len(x), -1), axis=0).shape[0] > 10  # not a constant function
    # and the Brevitas model itself agrees with its graph
    assert fb.check_export(tmodel, tpath, x.astype(np.float32))["mismatches"] == 0
