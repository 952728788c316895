"""Keras/QKeras layers -> ONNX nodes (4-D tensors NCHW in the graph)."""

from __future__ import annotations

import math

import numpy as np
from onnx import numpy_helper

from hwflow.errors import MissingQuantization, UnsupportedOp
from hwflow.frontends.qkeras.graph import _Graph, _Tensor
from hwflow.frontends.qkeras.quantizers import _act_quant, _emit_weight, _quantize_weight


def _kernel_quantizer(layer, attr: str = "kernel"):
    q = getattr(layer, f"{attr}_quantizer_internal", None)
    if q is None and isinstance(getattr(layer, f"{attr}_quantizer", None), str):
        from qkeras.quantizers import get_quantizer

        q = get_quantizer(getattr(layer, f"{attr}_quantizer"))
    return q


def _same_pads(in_hw, k, s, d) -> list[int]:
    """TensorFlow's 'same' padding: the extra pixel goes after (bottom/right)."""
    before, after = [], []
    for n, kk, ss, dd in zip(in_hw, k, s, d):
        out = math.ceil(n / ss)
        total = max((out - 1) * ss + (kk - 1) * dd + 1 - n, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


def _activation(g: _Graph, act, x: _Tensor, base: str, layer: str) -> _Tensor:
    """A layer's ``activation=`` (a QKeras quantizer or a Keras function)."""
    if act is None:
        return x
    if hasattr(act, "__call__") and not hasattr(act, "get_config") and hasattr(act, "__name__"):
        fname = act.__name__
        if fname == "linear":
            return x
        if fname == "relu":
            return _Tensor(g.node("Relu", [x.name], base), x.keras_shape, x.perm, x.src_hwc)
        if fname == "softmax":
            _need_flat(g, x, base)
            return _Tensor(g.node("Softmax", [x.name], base, axis=x.rank - 1 if x.rank != 4
                                  else 1), x.keras_shape)
        raise UnsupportedOp(f"activation {fname!r} has no bit-exact export", node=layer)
    return _Tensor(_act_quant(g, act, x.name, base, layer), x.keras_shape, x.perm, x.src_hwc)


def _need_flat(g: _Graph, x: _Tensor, base: str) -> _Tensor:
    """Materialise a pending NCHW->NHWC flatten permutation: Reshape back to NCHW,
    Transpose to NHWC, Flatten (ops every backend has)."""
    if x.perm is None:
        return x
    h, w, c = x.src_hwc
    shp = g.fresh(f"{base}_nchw_shape")
    g.inits.append(numpy_helper.from_array(np.array([1, c, h, w], np.int64), shp))
    y = g.node("Reshape", [x.name, shp], f"{base}_nchw")
    y = g.node("Transpose", [y], f"{base}_nhwc", perm=[0, 2, 3, 1])
    x.name = g.node("Flatten", [y], f"{base}_flat_nhwc", axis=1)
    x.perm, x.src_hwc = None, None
    return x


def _conv_like(g: _Graph, layer, x: _Tensor, base: str, depthwise: bool) -> _Tensor:
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise UnsupportedOp("only channels_last convolutions are supported", node=layer.name)
    if x.rank != 4:
        raise UnsupportedOp(f"convolution on a rank-{x.rank} tensor", node=layer.name)
    h, w, cin = x.keras_shape
    k = tuple(layer.kernel_size)
    s = tuple(layer.strides)
    d = tuple(layer.dilation_rate)
    if depthwise:
        kernel = layer.depthwise_kernel.numpy()
        q = _kernel_quantizer(layer, "depthwise")
        wq = _quantize_weight(q, kernel) if q is not None else kernel
        mult = kernel.shape[3]
        onnx_w = wq.transpose(2, 3, 0, 1).reshape(cin * mult, 1, k[0], k[1])
        cout, group = cin * mult, cin
    else:
        kernel = layer.kernel.numpy()
        q = _kernel_quantizer(layer)
        wq = _quantize_weight(q, kernel) if q is not None else kernel
        onnx_w = wq.transpose(3, 2, 0, 1)
        cout, group = kernel.shape[3], 1
        if getattr(layer, "groups", 1) != 1:
            raise UnsupportedOp("grouped convolution", node=layer.name)
    wname = _emit_weight(g, q, wq, onnx_w, 0, base, layer.name, "weight")
    ins = [x.name, wname]
    if layer.use_bias:
        b = layer.bias.numpy()
        bq_ = _kernel_quantizer(layer, "bias")
        bq = _quantize_weight(bq_, b) if bq_ is not None else b
        ins.append(_emit_weight(g, bq_, bq, bq, 0, base, layer.name, "bias"))
    pad = layer.padding.lower()
    if pad == "valid":
        pads = [0, 0, 0, 0]
        oh = (h - (k[0] - 1) * d[0] - 1) // s[0] + 1
        ow = (w - (k[1] - 1) * d[1] - 1) // s[1] + 1
    elif pad == "same":
        pads = _same_pads((h, w), k, s, d)
        oh, ow = math.ceil(h / s[0]), math.ceil(w / s[1])
    else:
        raise UnsupportedOp(f"padding {layer.padding!r}", node=layer.name)
    y = g.node("Conv", ins, base, kernel_shape=list(k), strides=list(s), dilations=list(d),
               pads=pads, group=group)
    out = _Tensor(y, (oh, ow, cout))
    return _activation(g, getattr(layer, "activation", None), out, f"{base}_act", layer.name)


def _dense(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    if x.rank != 2:
        raise UnsupportedOp(f"dense layer on a rank-{x.rank} tensor (flatten first)",
                            node=layer.name)
    kernel = layer.kernel.numpy()
    q = _kernel_quantizer(layer)
    wq = _quantize_weight(q, kernel) if q is not None else kernel
    onnx_w = wq
    if x.perm is not None:  # keras_flat = onnx_flat[:, perm]  =>  W_onnx[perm] = W
        onnx_w = np.empty_like(wq)
        onnx_w[x.perm] = wq
    wname = _emit_weight(g, q, wq, onnx_w, 1, base, layer.name, "weight")
    y = g.node("MatMul", [x.name, wname], f"{base}_matmul")
    if layer.use_bias:
        b = layer.bias.numpy()
        bq_ = _kernel_quantizer(layer, "bias")
        bq = _quantize_weight(bq_, b) if bq_ is not None else b
        y = g.node("Add", [y, _emit_weight(g, bq_, bq, bq, 0, base, layer.name, "bias")], base)
    out = _Tensor(y, (int(kernel.shape[1]),))
    return _activation(g, getattr(layer, "activation", None), out, f"{base}_act", layer.name)


def _pool(g: _Graph, layer, x: _Tensor, base: str, op: str) -> _Tensor:
    if x.rank != 4:
        raise UnsupportedOp(f"2-D pooling on a rank-{x.rank} tensor", node=layer.name)
    h, w, c = x.keras_shape
    k, s = tuple(layer.pool_size), tuple(layer.strides)
    if layer.padding.lower() == "same":
        pads = _same_pads((h, w), k, s, (1, 1))
        oh, ow = math.ceil(h / s[0]), math.ceil(w / s[1])
    else:
        pads = [0, 0, 0, 0]
        oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    attrs = dict(kernel_shape=list(k), strides=list(s), pads=pads)
    if op == "AveragePool":
        attrs["count_include_pad"] = 0
    return _Tensor(g.node(op, [x.name], base, **attrs), (oh, ow, c))


def _average_quantizer(g: _Graph, layer, x: _Tensor, area: int, base: str) -> _Tensor:
    """QKeras' quantized averaging: mean * area * quantizer(1/area), then ``activation``
    (mirrors qkeras/qpooling.py operation by operation; exact when area is a power of 2)."""
    q = getattr(layer, "average_quantizer_internal", None)
    if q is not None:
        from hwflow.quant import keras_env

        tf, _ = keras_env()
        factor = float(np.asarray(q(tf.constant(1.0 / area, tf.float32)), np.float32))
        y = g.node("Mul", [x.name, g.const(f"{base}_area", float(area))], f"{base}_sum")
        x = _Tensor(g.node("Mul", [y, g.const(f"{base}_factor", factor)], f"{base}_qavg"),
                    x.keras_shape)
    return _activation(g, getattr(layer, "activation", None), x, f"{base}_act", layer.name)


def _batchnorm(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise UnsupportedOp("batch normalisation over several axes", node=layer.name)
        axis = axis[0]
    if axis not in (-1, x.rank - 1):
        raise UnsupportedOp("batch normalisation must be over the channel axis", node=layer.name)
    n = x.keras_shape[-1]
    gamma = layer.gamma.numpy() if layer.scale else np.ones(n, np.float32)
    beta = layer.beta.numpy() if layer.center else np.zeros(n, np.float32)
    mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    params = [gamma, beta, mean, var]
    if x.perm is not None:  # per-feature parameters in ONNX order
        params = [_to_onnx_order(p, x.perm) for p in params]
    names = [g.const(f"{base}_{k}", p) for k, p in zip(("scale", "bias", "mean", "var"), params)]
    y = g.node("BatchNormalization", [x.name] + names, base, epsilon=float(layer.epsilon))
    return _Tensor(y, x.keras_shape, x.perm, x.src_hwc)


def _to_onnx_order(p: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = np.empty_like(p)
    out[perm] = p  # keras feature i lives at onnx position perm[i]
    return out


def _flatten(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    if x.rank == 2:
        return x
    n = int(np.prod(x.keras_shape))
    y = g.node("Flatten", [x.name], base, axis=1)
    if x.rank == 4:
        h, w, c = x.keras_shape
        # keras flat index (i, j, ch) -> onnx flat index (ch, i, j)
        perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        if c == 1 or h * w == 1:
            return _Tensor(y, (n,))
        return _Tensor(y, (n,), perm, (h, w, c))
    return _Tensor(y, (n,))


def _reshape(g: _Graph, layer, x: _Tensor, base: str) -> _Tensor:
    target = tuple(int(v) for v in layer.target_shape)
    if len(target) == 1:
        return _flatten(g, layer, x, base)
    if x.rank == 2 and len(target) == 3:
        x = _need_flat(g, x, base)
        shp = g.fresh(f"{base}_shape")
        g.inits.append(numpy_helper.from_array(np.array((1,) + target, np.int64), shp))
        y = g.node("Reshape", [x.name, shp], f"{base}_nhwc")
        return _Tensor(g.node("Transpose", [y], base, perm=[0, 3, 1, 2]), target)
    raise UnsupportedOp(f"reshape {x.keras_shape} -> {target}", node=layer.name)


_BIPOLAR_PRESERVING = {"MaxPooling2D", "Flatten", "Reshape", "Dropout", "InputLayer"}
_SKIP = {"InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "ActivityRegularization"}


def _convert_layer(g: _Graph, layer, x: _Tensor) -> _Tensor:
    from hwflow.quant import biper_keras

    cls = type(layer).__name__
    base = layer.name
    if cls in _SKIP:
        return x
    if cls in ("QDense", "Dense"):
        if cls == "Dense":
            raise MissingQuantization("float Dense layer (use QDense)", node=layer.name)
        return _dense(g, layer, x, base)
    if cls in ("QConv2D", "Conv2D"):
        if cls == "Conv2D":
            raise MissingQuantization("float Conv2D layer (use QConv2D)", node=layer.name)
        return _conv_like(g, layer, x, base, depthwise=False)
    if cls == "QDepthwiseConv2D":
        return _conv_like(g, layer, x, base, depthwise=True)
    if cls == "QActivation":
        return _Tensor(_act_quant(g, layer.quantizer, x.name, base, layer.name), x.keras_shape,
                       x.perm, x.src_hwc)
    if cls == "Activation":
        return _activation(g, layer.activation, x, base, layer.name)
    if cls == "ReLU" and layer.max_value is None and not layer.negative_slope and not layer.threshold:
        return _Tensor(g.node("Relu", [x.name], base), x.keras_shape, x.perm, x.src_hwc)
    if cls == "BatchNormalization":
        return _batchnorm(g, layer, x, base)
    if cls == "MaxPooling2D":
        return _pool(g, layer, x, base, "MaxPool")
    if cls == "AveragePooling2D":
        return _pool(g, layer, x, base, "AveragePool")
    if cls in ("GlobalAveragePooling2D", "QGlobalAveragePooling2D"):
        if getattr(layer, "keepdims", False) or x.rank != 4:
            raise UnsupportedOp("GlobalAveragePooling2D(keepdims=True) / not on an image",
                                node=layer.name)
        y = g.node("GlobalAveragePool", [x.name], f"{base}_gap")
        out = _Tensor(g.node("Flatten", [y], base, axis=1), (x.keras_shape[-1],))
        if cls.startswith("Q"):
            out = _average_quantizer(g, layer, out, x.keras_shape[0] * x.keras_shape[1], base)
        return out
    if cls == "QAveragePooling2D":
        out = _pool(g, layer, x, f"{base}_avg", "AveragePool")
        return _average_quantizer(g, layer, out, int(np.prod(layer.pool_size)), base)
    if cls == "Flatten":
        return _flatten(g, layer, x, base)
    if cls == "Reshape":
        return _reshape(g, layer, x, base)
    if isinstance(layer, biper_keras.BinaryScale):
        raise UnsupportedOp("BinaryScale must be followed by a binary activation (it is folded "
                            "into that activation's threshold)", node=layer.name)
    raise UnsupportedOp(f"Keras layer type {cls} is not supported by the QONNX exporter",
                        node=layer.name)
