"""QKeras -> QONNX export: the QKeras quantized forward pass equals the QONNX execution
sample by sample (1,000 on-grid samples + corners + off-grid values, 0 mismatches)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwflow.quant import keras_env

tf, keras = keras_env()
from qkeras import (  # noqa: E402
    QActivation,
    QConv2D,
    QDense,
    QDepthwiseConv2D,
    binary,
    quantized_bits,
    quantized_po2,
    quantized_relu,
    ternary,
)

from hwflow import zoo  # noqa: E402
from hwflow.artifacts import sanitize_identifier  # noqa: E402
from hwflow.errors import InvalidModelFile, MissingQuantization, UnsupportedOp  # noqa: E402
from hwflow.frontends import export_zoo_model  # noqa: E402
from hwflow.frontends.qkeras import export_keras_model, load_keras_model  # noqa: E402
from hwflow.quant import biper_keras as bk  # noqa: E402

from _keras_util import run_qonnx, stimulus, to_keras_layout, to_onnx_layout  # noqa: E402

ZOO_MODELS = ["jet_mlp", "econt", "digits_cnn", "digits_cnn_8bit", "digits_cnn_apriori", "biper_bnn",
              "biper_bnn_periodic"]


def _randomize_scales(model, seed=0):
    """Non-trivial BinaryScale parameters so the threshold fold is really exercised."""
    rng = np.random.default_rng(seed)
    for l in model.layers:
        if isinstance(l, bk.BinaryScale):
            c = l.log_alpha.shape[0]
            l.log_alpha.assign(rng.uniform(-2, 2, c).astype(np.float32))
            l.beta.assign(rng.normal(0, 4, c).astype(np.float32))


def assert_bit_exact(model, onnx_model, x):
    yk = model(x).numpy()
    yo = to_keras_layout(run_qonnx(onnx_model, to_onnx_layout(x)))
    assert yk.shape == yo.shape
    bad = np.argwhere(yk != yo)
    assert len(bad) == 0, (
        f"{len(bad)} mismatches; first at sample {bad[0][0]}: keras {yk[tuple(bad[0])]} "
        f"qonnx {yo[tuple(bad[0])]}")
    return yk


@pytest.mark.parametrize("name", ZOO_MODELS)
def test_zoo_model_export_is_bit_exact(name, tmp_path):
    model = zoo.build_model(name, "qkeras", seed=1)
    _randomize_scales(model)
    path = export_zoo_model(name, "qkeras", tmp_path / f"{name}.onnx", trained=model)
    import onnx

    m = onnx.load(path)
    ops = {n.op_type for n in m.graph.node}
    assert "Quant" in ops
    y = assert_bit_exact(model, m, stimulus(model, 1000, seed=2))
    assert np.std(y) > 0  # not a degenerate all-constant model
    # and on the IR's own stimulus (inputs on the graph's input grid, corners first)
    from hwflow.ir import load_model, make_stimulus

    x_ir = np.asarray(make_stimulus(load_model(str(path)), n=300, seed=4, corners=True), np.float32)
    assert_bit_exact(model, m, to_keras_layout(x_ir))


def test_export_zoo_model_random_init_writes_file(tmp_path):
    p = export_zoo_model("jet_mlp", "qkeras", tmp_path / "j.onnx", seed=3)
    assert p.is_file() and p.stat().st_size > 1000


def test_econt_encoder_has_2144_parameters():
    assert zoo.build_model("econt", "qkeras").count_params() == 2144


def test_biper_bnn_graph_is_binary_and_stage1_is_refused(tmp_path):
    import onnx

    model = zoo.build_model("biper_bnn", "qkeras", seed=0)
    m = export_keras_model(model)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("BipolarQuant") >= 4  # 2 binary weight tensors + binary activations
    stage1 = zoo.build_model("biper_bnn", "qkeras", seed=0, stage=1)
    with pytest.raises(UnsupportedOp, match="stage 1"):
        export_keras_model(stage1)
    assert isinstance(onnx.load_model_from_string(m.SerializeToString()), onnx.ModelProto)


def _mixed_model():
    """Every other supported layer/quantizer in one small CNN."""
    x_in = keras.Input((6, 6, 2))
    h = QActivation(quantized_bits(8, 2, alpha=1), name="in_q")(x_in)
    h = QDepthwiseConv2D(3, depth_multiplier=2, padding="same", strides=1,
                         depthwise_quantizer=quantized_bits(6, 0, alpha=1),
                         bias_quantizer=quantized_bits(6, 1, alpha=1), name="dw")(h)
    h = QActivation(quantized_bits(8, 3, symmetric=1, alpha=1), name="sym_q")(h)
    h = QConv2D(4, 3, strides=2, padding="same", kernel_quantizer=quantized_po2(4, 1),
                bias_quantizer=quantized_bits(8, 2, alpha=1), name="po2conv")(h)
    h = QActivation(ternary(threshold=0.5), name="tern")(h)
    h = QConv2D(4, 2, padding="valid", kernel_quantizer=ternary(alpha="auto_po2"),
                use_bias=False, name="ternconv")(h)
    h = QActivation(binary(alpha=1), name="bin")(h)
    h = keras.layers.AveragePooling2D(2, name="avg")(h)
    h = QActivation(quantized_po2(4, 2), name="po2act")(h)
    h = keras.layers.Flatten()(h)
    h = QDense(5, kernel_quantizer=quantized_bits(4, 0, alpha="auto_po2"),
               bias_quantizer=quantized_bits(6, 2, alpha=1),
               activation=quantized_relu(6, 2), name="fc")(h)
    return keras.Model(x_in, h)


def test_mixed_layers_and_quantizers_are_bit_exact():
    keras.utils.set_random_seed(5)
    model = _mixed_model()
    m = export_keras_model(model)
    assert_bit_exact(model, m, stimulus(model, 1000, seed=6))


def test_batchnorm_exports_with_float_tolerance():
    keras.utils.set_random_seed(7)
    x_in = keras.Input((8,))
    h = QActivation(quantized_bits(8, 2, alpha=1))(x_in)
    h = QDense(6, kernel_quantizer=quantized_bits(6, 0, alpha=1),
               bias_quantizer=quantized_bits(6, 0, alpha=1))(h)
    bn = keras.layers.BatchNormalization()
    h = bn(h)
    model = keras.Model(x_in, h)
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, 6), rng.normal(size=6), rng.normal(size=6),
                    rng.uniform(0.1, 2, 6)])
    x = stimulus(model, 500)
    yk = model(x, training=False).numpy()
    yo = run_qonnx(export_keras_model(model), x)
    np.testing.assert_allclose(yo, yk, rtol=1e-5, atol=1e-5)  # BN is float in Keras too


def test_biper_activation_model_exports_custom_op():
    keras.utils.set_random_seed(8)
    x_in = keras.Input((12,))
    h = QActivation(quantized_bits(8, 3, alpha=1))(x_in)
    h = QDense(16, kernel_quantizer=quantized_bits(6, 0, alpha=1),
               bias_quantizer=quantized_bits(6, 0, alpha=1))(h)
    h = QActivation(quantized_bits(10, 4, alpha=1))(h)
    h = QActivation(bk.BiPerActivation(log2_period=-1), name="biper")(h)
    h = QDense(3, kernel_quantizer=quantized_bits(6, 0, alpha=1), use_bias=False)(h)
    model = keras.Model(x_in, h)
    m = export_keras_model(model)
    node = next(n for n in m.graph.node if n.op_type == "BiPer")
    assert node.domain == "hwflow.ir.custom_op"
    assert [a.i for a in node.attribute if a.name == "log2_period"] == [-1]
    assert_bit_exact(model, m, stimulus(model, 1000, seed=9))


def test_external_qkeras_json_h5_loads_and_exports(external_dir):
    model = load_keras_model(external_dir / "qkeras_3layer.json")
    m = export_keras_model(model)
    assert [n.op_type for n in m.graph.node][-1] == "Softmax"
    x = np.random.default_rng(0).uniform(-4, 4, (1000, 16)).astype(np.float32)
    corners = np.stack([np.zeros(16), np.full(16, 4.0), np.full(16, -4.0),
                        np.tile([4.0, -4.0], 8)]).astype(np.float32)
    x = np.concatenate([corners, x])
    # the first layer multiplies float inputs (Keras computes it in float32): compare the
    # quantized hidden activations exactly and the float logits within float32 rounding
    full = run_qonnx(m, x, intermediate=True)
    sub = keras.Model(model.inputs, [model.get_layer(n).output for n in ("relu1", "output")])
    relu1, logits = (t.numpy() for t in sub(x))
    mism = int((full["relu1"] != relu1).sum())
    assert mism <= 0.001 * relu1.size  # only float32 summation-order ties may differ
    # "output" is a Verilog keyword: the exporter's tensor is called n_output
    np.testing.assert_allclose(full[sanitize_identifier("output")], logits, atol=1e-5)
    np.testing.assert_allclose(full[m.graph.output[0].name], model(x).numpy(), atol=1e-6)


def test_lambda_layer_is_refused_without_executing_code(tmp_path):
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "name": "in"}},
        {"class_name": "Lambda", "config": {"name": "evil", "function": ["4wEAAAAAAAAA", None, None],
                                           "function_type": "lambda"}}]}}
    p = tmp_path / "evil.json"
    p.write_text(json.dumps(cfg))
    (tmp_path / "evil_weights.h5").write_bytes(b"")
    with pytest.raises(UnsupportedOp, match="evil"):
        load_keras_model(p)


def test_unsupported_and_unquantized_layers_are_typed_errors():
    x_in = keras.Input((4, 4, 1))
    h = QActivation(quantized_bits(8, 2, alpha=1))(x_in)
    h = keras.layers.Conv2DTranspose(2, 3, name="deconv")(h)
    with pytest.raises(UnsupportedOp, match="deconv"):
        export_keras_model(keras.Model(x_in, h))
    x_in = keras.Input((4,))
    h = keras.layers.Dense(3, name="float_dense")(x_in)
    with pytest.raises(MissingQuantization, match="float_dense"):
        export_keras_model(keras.Model(x_in, h))


def test_bad_model_files_are_typed_errors(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(InvalidModelFile):
        load_keras_model(p)
    with pytest.raises(InvalidModelFile):
        load_keras_model(tmp_path / "missing.h5")


def test_save_load_roundtrip_with_biper_objects(tmp_path):
    model = zoo.build_model("biper_bnn", "qkeras", seed=2)
    _randomize_scales(model, 3)
    x = stimulus(model, 200)
    # QKeras' QActivation does not survive tf-keras' new (.keras / to_json) serialisation,
    # a QKeras limitation; the HDF5 format does (and the legacy JSON of the external model)
    model.save(tmp_path / "m.h5")
    for fname in ("m.h5",):
        back = load_keras_model(tmp_path / fname)
        np.testing.assert_array_equal(back(x).numpy(), model(x).numpy())
        assert_bit_exact(back, export_keras_model(back), x)
    # QKeras' own loader finds the registered hwflow objects too
    from qkeras.utils import load_qmodel

    np.testing.assert_array_equal(load_qmodel(str(tmp_path / "m.h5"), compile=False)(x).numpy(),
                                  model(x).numpy())


@pytest.mark.parametrize("q", [quantized_po2(5), quantized_po2(4, 4), ternary(), ternary(alpha=0.5)],
                         ids=str)
def test_po2_activation_thresholds_are_exact(q):
    keras.utils.set_random_seed(10)
    x_in = keras.Input((6,))
    h = QActivation(quantized_bits(14, 6, alpha=1))(x_in)  # wide input range, fine grid
    h = QActivation(q, name="po2")(h)
    h = QDense(2, kernel_quantizer=quantized_bits(6, 0, alpha=1), use_bias=False)(h)
    model = keras.Model(x_in, h)
    m = export_keras_model(model)
    assert "MultiThreshold" in [n.op_type for n in m.graph.node]
    x = stimulus(model, 2000, seed=11)
    sub = keras.Model(model.inputs, model.get_layer("po2").output)
    y_po2 = sub(x).numpy()
    full = run_qonnx(m, x, intermediate=True)
    po2_node = [n for n in m.graph.node if n.op_type in ("MultiThreshold", "Add")][-1]
    np.testing.assert_array_equal(full[po2_node.output[0]], y_po2)
    assert len(np.unique(y_po2)) > (2 if "ternary" in str(q) else 8)  # levels exercised
    assert_bit_exact(model, m, x)


def test_layout_changes_reshape_gap_flatten_output():
    """Reshape flat -> image (NHWC -> NCHW transpose), global average pooling, a Flatten
    whose permutation passes through an activation into a dense layer, and a Flatten that
    is the model output (permutation materialised as Reshape + Transpose + Flatten)."""
    keras.utils.set_random_seed(12)
    x_in = keras.Input((8,))
    h = QActivation(quantized_bits(8, 2, alpha=1))(x_in)
    h = QDense(16, kernel_quantizer=quantized_bits(6, 0, alpha=1),
               bias_quantizer=quantized_bits(6, 0, alpha=1))(h)
    h = QActivation(quantized_bits(8, 3, alpha=1))(h)
    img = keras.layers.Reshape((2, 2, 4))(h)
    c = QConv2D(4, 2, padding="same", kernel_quantizer=quantized_bits(6, 0, alpha=1),
                bias_quantizer=quantized_bits(6, 0, alpha=1))(img)
    c = QActivation(quantized_relu(8, 3))(c)
    flat = keras.layers.Flatten()(c)
    f = QActivation(quantized_bits(6, 2, alpha=1))(flat)
    d = QDense(3, kernel_quantizer=quantized_bits(6, 0, alpha=1), use_bias=False)(f)
    m1 = keras.Model(x_in, d)
    assert_bit_exact(m1, export_keras_model(m1), stimulus(m1, 1000, seed=13))
    from qkeras import QAveragePooling2D, QGlobalAveragePooling2D

    g = keras.layers.GlobalAveragePooling2D()(c)
    g2 = QGlobalAveragePooling2D(average_quantizer=quantized_bits(4, 0, alpha=1),
                                 activation=quantized_bits(8, 2, alpha=1))(
        QAveragePooling2D(1, average_quantizer=quantized_bits(4, 0, alpha=1))(c))
    m2 = keras.Model(x_in, g)
    m2q = keras.Model(x_in, g2)
    assert_bit_exact(m2q, export_keras_model(m2q), stimulus(m2q, 1000, seed=18))
    assert_bit_exact(m2, export_keras_model(m2), stimulus(m2, 1000, seed=14))
    m3 = keras.Model(x_in, f)  # Flatten -> activation -> model output
    e3 = export_keras_model(m3)
    assert "Transpose" in [n.op_type for n in e3.graph.node]
    assert_bit_exact(m3, e3, stimulus(m3, 1000, seed=15))


@pytest.mark.parametrize("wq", [binary(), binary(alpha="auto_po2"), bk.SignSTE(),
                                quantized_bits(1, 0, alpha=1)], ids=str)
def test_binary_weight_quantizers_export_as_bipolar(wq):
    keras.utils.set_random_seed(16)
    x_in = keras.Input((10,))
    h = QActivation(quantized_bits(6, 2, alpha=1))(x_in)
    h = QDense(7, kernel_quantizer=wq, bias_quantizer=quantized_bits(6, 2, alpha=1))(h)
    model = keras.Model(x_in, h)
    m = export_keras_model(model)
    assert any(n.op_type == "BipolarQuant" for n in m.graph.node)
    assert_bit_exact(model, m, stimulus(model, 1000, seed=17))
