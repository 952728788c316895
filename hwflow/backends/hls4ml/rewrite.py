"""Graph rewrites hls4ml needs before it reads the IR-cleaned graph (float chains in front of
quantizers are already integer thresholds: ``hwflow.ir.thresholds``, run by ``clean_model``).

``fold_conv_bias_add``: an integer bias Add after a Conv goes back into the Conv;
``multithreshold_to_bipolar``: a one-level bipolar MultiThreshold becomes hls4ml's binary
threshold layer (``BipolarQuant(Add(x, -t))``).
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

from hwflow.errors import UnsupportedOp


def _const(model, name):
    v = model.get_initializer(name)
    return None if v is None else np.asarray(v)


def fold_conv_bias_add(model) -> list[str]:
    """``Add(Conv(x, W), c)`` with a per-channel constant c -> ``Conv(x, W, c)``.

    QKeras/Brevitas exports keep a bias that follows a binary convolution as a separate
    ``Add``; hls4ml's ONNX converter gives such an ``Add`` of a 4-D constant no shape. The
    sum is the same exact fixed-point sum either way (conv output and c are on fixed grids).
    """
    folded = []
    for conv in [n for n in model.graph.node if n.op_type == "Conv" and len(n.input) == 2]:
        cons = model.find_consumers(conv.output[0]) or []
        if len(cons) != 1 or cons[0].op_type != "Add":
            continue
        add = cons[0]
        other = add.input[1] if add.input[0] == conv.output[0] else add.input[0]
        c = model.get_initializer(other)
        shape = model.get_tensor_shape(conv.output[0])
        if c is None or shape is None or len(shape) < 3:
            continue
        n_ch = shape[1]
        c = np.asarray(c)
        try:
            full = np.broadcast_to(c, shape)
        except ValueError:
            continue
        per_ch = full.reshape(shape[0], n_ch, -1)[0]
        if not np.all(per_ch == per_ch[:, :1]):
            continue
        name = f"{conv.name}_bias"
        model.graph.initializer.append(numpy_helper.from_array(per_ch[:, 0].astype(np.float32), name))
        conv.input.append(name)
        old_out = conv.output[0]
        conv.output[0] = add.output[0]
        model.graph.node.remove(add)
        for vi in [v for v in model.graph.value_info if v.name == old_out]:
            model.graph.value_info.remove(vi)
        folded.append(f"{add.name} -> {conv.name}")
    return folded


def multithreshold_to_bipolar(model, types) -> list[str]:
    """A one-level bipolar ``MultiThreshold`` -> ``BipolarQuant(Add(x, -t))`` (hls4ml has no
    MultiThreshold; it reads this pair as its binary threshold layer or a biased layer + sign).

    MultiThreshold gives ``2 * (x >= t) - 1``; with x on the grid 2**-f, ``x >= t`` holds
    exactly when ``x >= ceil(t * 2**f) * 2**-f``, so the new constant is exact fixed point.
    """

    rewritten = []
    for node in [n for n in model.graph.node if n.op_type == "MultiThreshold"]:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        thr = _const(model, node.input[1])
        out_dtype = attrs.get("out_dtype", b"")
        out_dtype = out_dtype.decode() if isinstance(out_dtype, bytes) else str(out_dtype)
        tx = types.get(node.input[0])
        shape = model.get_tensor_shape(node.input[0])
        if thr is None or thr.ndim != 2:
            raise UnsupportedOp("MultiThreshold with computed or non-(C, T) thresholds", node=node.name)
        if thr.shape[1] != 1 or out_dtype != "BIPOLAR" \
                or float(attrs.get("out_scale", 1.0)) != 2.0 or float(attrs.get("out_bias", 0.0)) != -1.0:
            # multi-level: hwflow's MultiThreshold extension layer takes it (on a feature map once
            # prepare() has moved the layout transposes through it and set its data_layout)
            continue
        if tx is None or tx.is_float or tx.scale != 1.0:
            raise UnsupportedOp("MultiThreshold on a tensor without a power-of-two fixed-point type",
                                node=node.name)
        layout = attrs.get("data_layout", b"")
        layout = layout.decode() if isinstance(layout, bytes) else str(layout)
        t = np.ldexp(np.ceil(np.ldexp(thr[:, 0].astype(np.float64), tx.frac)), -tx.frac)
        if thr.shape[0] == 1:
            const = np.asarray(-t[0])
        elif layout.endswith("C") or len(shape) == 2:   # NC / NHWC: channels last
            const = -t
        else:                                           # NCHW / NCW: channels on axis 1
            const = (-t).reshape((len(t),) + (1,) * (len(shape) - 2))
        if not np.array_equal(const.astype(np.float32).astype(np.float64), const):
            raise UnsupportedOp("threshold not representable in float32", node=node.name)
        c_name, one_name, mid = f"{node.name}_negthr", f"{node.name}_one", f"{node.name}_shifted"
        model.graph.initializer.append(numpy_helper.from_array(const.astype(np.float32), c_name))
        model.graph.initializer.append(numpy_helper.from_array(np.asarray(1.0, dtype=np.float32), one_name))
        add = helper.make_node("Add", [node.input[0], c_name], [mid], name=f"{node.name}_add")
        bq = helper.make_node("BipolarQuant", [mid, one_name], [node.output[0]], name=f"{node.name}_sign",
                              domain="qonnx.custom_op.general")
        idx = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        model.graph.node.insert(idx, bq)
        model.graph.node.insert(idx, add)
        rewritten.append(node.name)
    return rewritten
