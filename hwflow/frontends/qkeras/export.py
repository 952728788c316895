"""Walk a QKeras model and write its QONNX graph; check it against the Keras model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from hwflow.errors import UnsupportedOp
from hwflow.frontends.qkeras.graph import HWFLOW_DOMAIN, OPSET, QONNX_DOMAIN, _Graph, _Tensor
from hwflow.frontends.qkeras.layers import _BIPOLAR_PRESERVING, _convert_layer, _need_flat
from hwflow.frontends.qkeras.loading import load_keras_model, load_trained
from hwflow.frontends.qkeras.quantizers import _qname


def _layer_sequence(model) -> list:
    """Layers of a single-input single-output chain, in order; typed error otherwise."""
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    if type(model).__name__ == "Sequential":
        return layers
    for l in layers:
        nodes = [n for n in l._inbound_nodes if n in _model_nodes(model)]
        if len(nodes) != 1:
            raise UnsupportedOp("layer used more than once (shared layers)", node=l.name)
        inbound = nodes[0].inbound_layers
        if isinstance(inbound, (list, tuple)) and len(inbound) != 1:
            raise UnsupportedOp("multi-input layers (Add, Concatenate, ...) are not supported",
                                node=l.name)
    # in a chain every layer feeds exactly the next one
    for a, b in zip(layers, layers[1:]):
        inbound = b._inbound_nodes[0].inbound_layers
        inbound = inbound[0] if isinstance(inbound, (list, tuple)) else inbound
        if inbound is not a:
            raise UnsupportedOp("only chain-structured (sequential) graphs are supported",
                                node=b.name)
    return layers


def _model_nodes(model) -> list:
    nodes = []
    for l in model.layers:
        nodes.extend(l._inbound_nodes)
    return nodes


def _fold_binary_scale(g: _Graph, layers: list, i: int, x: _Tensor,
                       layer_inputs: dict[str, str]) -> tuple[_Tensor, int]:
    """BinaryScale(alpha > 0, beta) followed by a sign activation: sign(alpha*y + beta) is a
    per-channel integer threshold on the integer accumulator y (exact; see biper_keras)."""
    from hwflow.quant import biper_keras

    layer = layers[i]
    nxt = layers[i + 1] if i + 1 < len(layers) else None
    q = getattr(nxt, "quantizer", None) if nxt is not None else None
    if not isinstance(q, (biper_keras.ApproxSign, biper_keras.SignSTE)) and (
        _qname(q) != "binary" or q.alpha is not None or q.use_01
    ):
        raise UnsupportedOp("BinaryScale must be followed by a binary activation",
                            node=layer.name)
    bound = biper_keras.accumulator_bound(layers[i - 1]) if i > 0 else None
    if bound is None or not g.is_bipolar(layer_inputs.get(layers[i - 1].name)):
        raise UnsupportedOp("BinaryScale must follow a binary-weight layer with binary inputs",
                            node=layer.name)
    thr = layer.integer_thresholds(bound)  # y >= thr  <=>  alpha*y + beta >= 0 (float32)
    thr_onnx = thr
    shape = [1, thr.size, 1, 1] if x.rank == 4 else [1, thr.size]
    if x.perm is not None:
        raise UnsupportedOp("BinaryScale after Flatten", node=layer.name)
    t = g.const(f"{layer.name}_threshold", (-thr_onnx.astype(np.float32)).reshape(shape))
    shifted = g.node("Add", [x.name, t], layer.name)
    y = g.bipolar(shifted, nxt.name)
    return _Tensor(y, x.keras_shape), i + 2


def export_keras_model(model, out_path: str | Path | None = None, *, name: str | None = None
                       ) -> onnx.ModelProto:
    """Convert an in-memory QKeras model to a QONNX ``ModelProto`` (saved if ``out_path``)."""
    from hwflow.quant import biper_keras

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedOp("only single-input single-output models are supported",
                            node=model.name)
    g = _Graph()
    in_shape = tuple(int(v) for v in model.inputs[0].shape[1:])
    if any(v is None for v in in_shape):
        raise UnsupportedOp("input shape must be fully known", node=model.name)
    in_name = g.fresh("global_in")
    onnx_in = (1,) + ((in_shape[2], in_shape[0], in_shape[1]) if len(in_shape) == 3 else in_shape)
    x = _Tensor(in_name, in_shape)
    layers = _layer_sequence(model)
    layer_inputs: dict[str, str] = {}
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, biper_keras.BinaryScale):
            x, i = _fold_binary_scale(g, layers, i, x, layer_inputs)
            continue
        layer_inputs[layer.name] = x.name
        y = _convert_layer(g, layer, x)
        if g.is_bipolar(x.name) and type(layer).__name__ in _BIPOLAR_PRESERVING:
            g.bipolar_derived.add(y.name)
        x = y
        i += 1
    x = _need_flat(g, x, "output")
    out_shape = (1,) + ((x.keras_shape[2], x.keras_shape[0], x.keras_shape[1])
                        if x.rank == 4 else x.keras_shape)
    out_name = x.name
    if out_name == in_name:
        raise UnsupportedOp("model has no layers to export", node=model.name)
    graph = helper.make_graph(
        g.nodes, name or model.name,
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, list(onnx_in))],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(out_shape))],
        initializer=g.inits,
    )
    domains = {n.domain for n in g.nodes}
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid(QONNX_DOMAIN, 1)]
    if HWFLOW_DOMAIN in domains:
        opsets.append(helper.make_opsetid(HWFLOW_DOMAIN, 1))
    m = helper.make_model(graph, opset_imports=opsets, producer_name="hwflow.frontends.qkeras")
    m.ir_version = 8
    for tname, dt in g.datatypes.items():
        _annotate(m, tname, dt)
    m = _infer_shapes(m)
    if len(in_shape) == 3 or x.rank == 4:
        from hwflow.ir.boundary import set_source_layout

        # Keras holds images NHWC, the graph NCHW: exec/sim take the user's NHWC arrays as they are
        set_source_layout(m, "NHWC")
    if out_path is not None:
        Path(out_path).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(m, str(out_path))
    return m


def _annotate(m: onnx.ModelProto, tensor: str, datatype: str) -> None:
    qa = onnx.TensorAnnotation()
    qa.tensor_name = tensor
    kv = qa.quant_parameter_tensor_names.add()
    kv.key, kv.value = "finn_datatype", datatype
    m.graph.quantization_annotation.append(qa)


def _infer_shapes(m: onnx.ModelProto) -> onnx.ModelProto:
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    return ModelWrapper(m).transform(InferShapes()).model


FLOAT_FUNCTIONS = {"Softmax", "Sigmoid"}


def _input_is_quantized(m: onnx.ModelProto) -> bool:
    name = m.graph.input[0].name
    consumers = [n for n in m.graph.node if name in n.input]
    return bool(consumers) and all(n.op_type in ("Quant", "BipolarQuant") for n in consumers)


def check_export(model, onnx_path, n: int = 1000, seed: int = 0) -> dict:
    """The Keras forward pass vs the IR's bit-exact ReferenceExecutor on the IR's stimulus
    (inputs on the graph's input grid, corners first). Exact (0 mismatches) when the graph
    input is quantized; a model whose first layer multiplies float inputs, or that ends in a
    Softmax/Sigmoid, is computed in float32 by Keras, so there a float32 tolerance applies
    (and is reported).
    Raises MismatchError naming the first differing sample."""
    from hwflow.errors import MismatchError
    from hwflow.ir import ReferenceExecutor, load_model, make_stimulus

    m = load_model(str(onnx_path))
    proto = m.model if hasattr(m, "model") else m
    # a Softmax/Sigmoid is float32 in both, computed by different libraries: last-bit differences
    exact = _input_is_quantized(proto) and not any(n.op_type in FLOAT_FUNCTIONS for n in proto.graph.node)
    x_onnx = np.asarray(make_stimulus(m, n=n, seed=seed, corners=True), np.float32)
    x_keras = onnx_output_to_keras(x_onnx)  # NCHW -> NHWC (the same permutation)
    yk = np.asarray(model(x_keras), np.float64)
    yo = onnx_output_to_keras(np.asarray(ReferenceExecutor(m).run(x_onnx), np.float64))
    tol = 0.0 if exact else 1e-5 * max(1.0, float(np.abs(yk).max()))
    bad = np.argwhere(np.abs(yk - yo) > tol)
    if len(bad):
        s = tuple(bad[0])
        raise MismatchError(
            f"exported QONNX graph differs from the QKeras model on {len(bad)} values; first: "
            f"sample {s[0]}, index {s[1:]}: keras {yk[s]!r} vs reference {yo[s]!r}")
    return {"samples": int(len(x_onnx)), "mismatches": 0, "exact": exact,
            "max_abs_diff": float(np.abs(yk - yo).max()) if yk.size else 0.0,
            "checked_with": "hwflow.ir.ReferenceExecutor"}


def export_file(path: str | Path, out_path: str | Path, weights: str | Path | None = None,
                check_samples: int = 1000, **_ignored) -> Path:
    """``hwflow export``: a Keras model file -> QONNX file, checked against the Keras model
    on ``check_samples`` stimulus samples + corners (the file is removed on a mismatch or
    any other failure)."""

    model = load_keras_model(path, weights=weights)
    try:
        export_keras_model(model, out_path)
        if check_samples:
            check_export(model, out_path, n=check_samples + 5)
    except BaseException:
        # a mismatch, a graph the IR refuses (a quantizer with -2 bits), Ctrl-C: no file
        # is left behind that looks like a finished export
        Path(out_path).unlink(missing_ok=True)
        raise
    return Path(out_path)


def keras_input_to_onnx(x: np.ndarray) -> np.ndarray:
    """Keras (NHWC) input batch -> the exported graph's (NCHW) layout."""
    x = np.asarray(x)
    return x.transpose(0, 3, 1, 2) if x.ndim == 4 else x


def onnx_output_to_keras(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.transpose(0, 2, 3, 1) if y.ndim == 4 else y


def export_zoo_model(name: str, out_path: str | Path, seed: int = 0, trained=None,
                     options: dict | None = None) -> Path:
    """Build (with the builder's keyword ``options``) or load ``trained`` zoo model ``name``
    and export it to QONNX."""
    from hwflow import zoo

    model = load_trained(trained)
    if model is None:
        model = zoo.build_model(name, "qkeras", seed=seed, **(options or {}))
    export_keras_model(model, out_path, name=name)
    return Path(out_path)
