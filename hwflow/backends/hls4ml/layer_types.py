"""Every hls4ml type of every layer, set from the IR's exact fixed-point types.

hls4ml fills the types it cannot infer with its default ``ap_fixed<16,6>`` and infers the
rest with rules of its own; that is where C-simulation mismatches come from. Here each layer
class has one rule that names every type it owns:

* results are the IR type of the ONNX tensor the layer outputs (exact: the values already
  lie on that grid, so the cast never rounds or wraps), except where the layer *is* a
  quantizer (a QONNX ``Quant`` became an activation): then the cast must round and saturate
  like the ``Quant``, so the IR type gets the ``Quant``'s rounding/saturation modes, and its
  grid must equal the ``Quant``'s;
* weights and biases are the IR types of the (quantized) constant tensors, and every value
  is checked to be representable;
* accumulators get all the fractional bits of the products and enough integer bits for the
  IR range of the result; they wrap (two's complement), so partial sums that leave that
  range still give the exact final sum;
* types a layer declares but does not use for its function (``table_t`` of a ReLU) are set
  to the result type so that no default survives in the project.

A layer class without a rule is rejected by name (``UnsupportedOp``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hwflow.backends.hls4ml.precision import (
    hls_types,
    accum_precision,
    check_representable,
    exact_precision,
    is_quantizer,
    quantizer_precision,
    values_precision,
)
from hwflow.errors import ModelError, UnsupportedOp


@dataclass
class LayerPrecision:
    """What was set on one hls4ml layer, for ``hls.json``."""

    layer: str
    class_name: str
    tensor: str | None
    types: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"layer": self.layer, "class": self.class_name, "tensor": self.tensor, "types": self.types,
                **({"notes": self.notes} if self.notes else {})}


# ---------------------------------------------------------------------------------------------
# ONNX structure behind one hls4ml layer
# ---------------------------------------------------------------------------------------------
def _is_const(model, tensor: str) -> bool:
    if model.get_initializer(tensor) is not None:
        return True
    node = model.find_producer(tensor)
    if node is None:
        return False
    return all(_is_const(model, t) for t in node.input if t)


def affine_sources(model, out_tensor: str) -> dict:
    """For a Dense/Conv layer ending in ``out_tensor``: its data, weight, bias and product tensors."""
    node = model.find_producer(out_tensor)
    bias = None
    total = out_tensor  # the exact sum (before a Quant the layer absorbed)
    if node is not None and node.op_type in ("Quant", "IntQuant"):
        total = node.input[0]
        node = model.find_producer(total)
    if node is not None and node.op_type == "Add":
        a, b = node.input
        if _is_const(model, b):
            bias, prod = b, a
        elif _is_const(model, a):
            bias, prod = a, b
        else:
            raise UnsupportedOp("Add of two computed tensors where hls4ml expected a bias", node=node.name)
        node = model.find_producer(prod)
    if node is None or node.op_type not in ("MatMul", "Conv"):
        raise UnsupportedOp(f"cannot find the MatMul/Conv behind tensor {out_tensor!r}",
                            node=getattr(node, "name", None))
    if node.op_type == "Conv" and len(node.input) > 2 and node.input[2]:
        if bias is not None:
            raise UnsupportedOp("Conv with both a bias input and a bias Add", node=node.name)
        bias = node.input[2]
    return {"data": node.input[0], "weight": node.input[1], "bias": bias, "product": node.output[0],
            "sum": total, "node": node}


def threshold_sources(model, out_tensor: str) -> dict:
    """BipolarQuant(Add(x, b)) behind a BatchNormalizationQuantizedTanh layer."""
    node = model.find_producer(out_tensor)
    if node is None or node.op_type != "BipolarQuant":
        raise UnsupportedOp(f"expected a BipolarQuant producing {out_tensor!r}", node=getattr(node, "name", None))
    src = model.find_producer(node.input[0])
    if src is None or src.op_type != "Add":
        raise UnsupportedOp("binary threshold layer without a bias Add before its BipolarQuant", node=node.name)
    a, b = src.input
    if _is_const(model, b):
        return {"data": a, "bias": b, "node": node}
    if _is_const(model, a):
        return {"data": b, "bias": a, "node": node}
    raise UnsupportedOp("binary threshold with a computed bias", node=src.name)


# ---------------------------------------------------------------------------------------------
# Applying the rules
# ---------------------------------------------------------------------------------------------
# layers whose C++ writes hls4ml's xnor bit (ap_uint<1>) whatever the result type says
FIXED_XNOR_OUTPUT = ("BatchNormalizationQuantizedTanh",)


def bipolar_int_precision():
    return hls_types().IntegerPrecisionType(width=2, signed=True)


AFFINE_CLASSES = ("Dense", "Conv1D", "Conv2D", "PointwiseConv1D", "PointwiseConv2D")


class PrecisionSetter:
    """Sets the types of every layer of an hls4ml ``ModelGraph`` from the IR types."""

    def __init__(self, hmodel, prepared, names: dict[str, str]):
        self.hmodel = hmodel
        self.prepared = prepared
        self.model = prepared.model
        self.types = prepared.types
        self.names = names
        self.records: list[LayerPrecision] = []
        self.set_types: list = []            # (layer, kind, key): the types whose precision hwflow set
        self.hls_vars = {names.get(o, o) for layer in hmodel.get_layers() for o in layer.outputs}
        self._consts: dict | None = None

    # -- helpers --------------------------------------------------------------------------
    def ir(self, tensor: str):
        t = self.types.get(tensor)
        if t is None:
            raise ModelError(f"the IR has no type for tensor {tensor!r}")
        return t

    def out_tensor(self, layer) -> str:
        """The ONNX tensor whose value the layer's output holds.

        hls4ml keeps a layer's output name when it folds the next node into the layer (a bias
        ``Add`` into a Dense, a ``Quant`` into the activation before it), so the name alone
        says too little: starting from it we follow the ONNX graph through the nodes the layer
        absorbed, i.e. nodes whose output became no hls4ml variable and that this layer can
        compute (``_absorbs``).
        """
        name = layer.outputs[0]
        if name not in self.names:
            raise UnsupportedOp(f"hls4ml layer {layer.name} outputs {name!r}, which is no ONNX tensor",
                                node=layer.name)
        t = self.names[name]
        while True:
            cons = self.model.find_consumers(t) or []
            if len(cons) != 1 or not cons[0].output or cons[0].output[0] in self.hls_vars:
                return t
            if not self._absorbs(layer, cons[0], t):
                return t
            t = cons[0].output[0]

    def _absorbs(self, layer, node, tensor: str) -> bool:
        op = node.op_type
        if op in ("Identity", "Dropout"):
            return True
        if op in ("Quant", "IntQuant") and node.input[0] == tensor:
            return is_quantizer(layer.get_output_variable().type.precision)
        if op in ("Add", "Sub") and layer.class_name in AFFINE_CLASSES and "bias" in layer.weights:
            other = node.input[1] if node.input[0] == tensor else node.input[0]
            if not _is_const(self.model, other):
                return False
            b = self.const(other) * (-1.0 if op == "Sub" and other == node.input[1] else 1.0)
            bias = np.asarray(layer.weights["bias"].data, dtype=np.float64)
            try:
                return bool(np.array_equal(np.broadcast_to(b.reshape(-1), bias.shape), bias))
            except ValueError:
                return False
        return False

    def const(self, tensor: str) -> np.ndarray:
        """Value of a constant ONNX tensor (initializer, or Quant of one), in this graph's layout."""
        init = self.model.get_initializer(tensor)
        if init is not None:
            return np.asarray(init, dtype=np.float64)
        ref = self.prepared.ref(tensor)
        if ref is None:
            raise ModelError(f"no reference value for constant tensor {tensor!r}")
        if self._consts is None:
            self._consts = _constant_tensors(self.prepared.ref_model)
        v = np.asarray(self._consts[ref.name], dtype=np.float64)
        return np.transpose(v, ref.perm) if ref.perm and v.ndim == len(ref.perm) else v

    def _xnor_weights_from_reference(self, layer, rec: LayerPrecision, tensor: str) -> None:
        """Binary weights as xnor bits (1 = +1, 0 = -1) from the reference's exact +-1 values.
        hls4ml 1.3 applies its binary quantizer (``x >= 0``) a second time to the weights of a
        layer whose input is binary too, turning every bit into 1."""
        ref = self.const(tensor)
        data = layer.weights["weight"].data
        if ref.shape != data.shape:
            return  # hls4ml reorders conv kernels; its first quantization is the only one there
        if not np.all(np.isin(ref, (-1.0, 1.0))):
            raise ModelError(f"binary weights of {layer.name}: reference values are not all +-1")
        bits = (ref > 0).astype(data.dtype)
        if not np.array_equal(bits, data):
            layer.weights["weight"].data = bits
            rec.notes.append("xnor weight bits rewritten from the reference (hls4ml quantized them twice)")

    def _set_type(self, layer, rec: LayerPrecision, type_name: str, precision) -> None:
        if layer.types[type_name].name == "model_default_t":
            # hls4ml's shared default type object: give this layer a type of its own
            from hls4ml.model.types import NamedType

            layer.set_attr(type_name, NamedType(f"{layer.name}_{type_name}", precision))
        layer.types[type_name].precision = precision
        self.set_types.append((layer, "type", type_name))
        w = type_name.removesuffix("_t")
        if w != type_name and w in layer.weights and hasattr(layer.weights[w], "update_precision"):
            layer.weights[w].type = layer.types[type_name]
            layer.weights[w].update_precision(precision)
            self.set_types.append((layer, "weight", w))
        rec.types[type_name] = str(precision)

    def _set_result(self, layer, rec: LayerPrecision, t) -> None:
        ht = hls_types()
        old = layer.get_output_variable().type.precision
        if t.is_bipolar and layer.class_name in FIXED_XNOR_OUTPUT:
            p = ht.XnorPrecisionType()  # the C++ function writes ap_uint<1> (0 = -1, 1 = +1)
        elif t.is_bipolar:
            # -1/+1 as two-bit integers, not hls4ml's xnor bits: a zero-padded convolution
            # pads the number 0, and an xnor bit 0 would mean -1 (and nnet::cast's 2*n - n_in
            # would count the padding)
            p = bipolar_int_precision()
            rec.notes.append("bipolar values carried as the integers -1/+1 (ap_int<2>)")
        elif is_quantizer(old):
            p = quantizer_precision(t, old)
            rec.notes.append(f"result rounds/saturates like its QONNX Quant ({old.rounding_mode}, "
                             f"{old.saturation_mode})")
        else:
            p = exact_precision(t)
        layer.get_output_variable().type.precision = p
        self.set_types.append((layer, "output", None))
        rec.types["result_t"] = str(p)

    def _unused(self, layer, rec, *type_names: str) -> None:
        """Types the layer's function does not use: pin them to the result type."""
        res = layer.get_output_variable().type.precision
        for name in type_names:
            if name in set(layer.types):
                self._set_type(layer, rec, name, res)

    # -- per class ------------------------------------------------------------------------
    def apply(self) -> list[LayerPrecision]:
        for layer in self.hmodel.get_layers():
            cls = layer.class_name
            rec = LayerPrecision(layer.name, cls, None)
            handler = getattr(self, f"_layer_{cls}", None)
            if handler is None:
                raise UnsupportedOp(f"hls4ml layer class {cls} has no precision rule in hwflow", node=layer.name)
            try:
                handler(layer, rec)
            except ModelError as e:
                if e.node is None:  # name the layer (and the ONNX tensor) the rule failed on
                    where = f"hls4ml layer {layer.name}" + (f", tensor {rec.tensor}" if rec.tensor else "")
                    raise type(e)(f"{e} ({where})", node=layer.name) from e
                raise
            missing = set(layer.types) - set(rec.types) - {"index_t"}
            if missing:
                raise UnsupportedOp(f"hls4ml layer {layer.name} ({cls}) has types without a rule: {sorted(missing)}",
                                    node=layer.name)
            self.records.append(rec)
        return self.records

    def _layer_Input(self, layer, rec):
        rec.tensor = self.out_tensor(layer)
        t = self.ir(rec.tensor)
        if t.is_bipolar:
            # the input receives -1/+1 as numbers; the quantizer after it makes hls4ml's 0/1 bits
            p = bipolar_int_precision()
            layer.get_output_variable().type.precision = p
            self.set_types.append((layer, "output", None))
            rec.types["result_t"] = str(p)
            rec.notes.append("bipolar input carried as the integers -1/+1")
            return
        self._set_result(layer, rec, t)

    def _affine(self, layer, rec):
        rec.tensor = self.out_tensor(layer)
        src = affine_sources(self.model, rec.tensor)
        t_out, t_x, t_w = self.ir(rec.tensor), self.ir(src["data"]), self.ir(src["weight"])
        for t, what in ((t_x, "input"), (t_w, "weight")):
            if t.scale != 1.0:
                raise UnsupportedOp(f"{what} with non-power-of-two scale {t.scale!r}", node=src["node"].name)
        p_w = exact_precision(t_w)
        ht0 = hls_types()
        if isinstance(p_w, ht0.IntegerPrecisionType) and p_w.width == 2 and p_w.signed \
                and np.any(np.asarray(layer.weights["weight"].data) == -2):
            # hls4ml multiplies 2-bit signed integer weights as ternary {-1, 0, +1}: -2 would
            # be taken for +1. One more bit selects the plain product.
            p_w = ht0.IntegerPrecisionType(width=3, signed=True)
            rec.notes.append("2-bit weights with -2: widened to int<3> (hls4ml's ternary product knows no -2)")
        if isinstance(p_w, ht0.XnorPrecisionType):
            self._xnor_weights_from_reference(layer, rec, src["weight"])
        check_representable(layer.weights["weight"].data, p_w, f"weights of {layer.name}")
        self._set_type(layer, rec, "weight_t", p_w)
        frac = t_x.frac + t_w.frac
        if src["bias"] is not None:
            t_b = self.ir(src["bias"])
            p_b = exact_precision(t_b)
            frac = max(frac, t_b.frac)
        else:
            # hls4ml adds an all-zero bias; give it the narrowest exact type of zero
            p_b = hls_types().IntegerPrecisionType(width=1, signed=False)
        check_representable(layer.weights["bias"].data, p_b, f"biases of {layer.name}")
        self._set_type(layer, rec, "bias_t", p_b)
        ht = hls_types()
        binary = isinstance(layer.get_input_variable().type.precision, ht.XnorPrecisionType) and \
            isinstance(p_w, ht.XnorPrecisionType)
        if binary and layer.class_name != "Dense":
            raise UnsupportedOp("xnor convolution: hls4ml pads binary inputs with the bit 0 (= -1)", node=layer.name)
        if binary:
            # xnor dense: the accumulator counts matches (0..n_in), nnet::cast maps 2*n - n_in
            if src["bias"] is not None and np.any(layer.weights["bias"].data != 0):
                raise UnsupportedOp("binary (xnor) Dense with a non-zero bias inside the layer", node=layer.name)
            n_in = int(np.prod(layer.get_input_variable().shape))
            self._set_type(layer, rec, "accum_t",
                           hls_types().IntegerPrecisionType(width=max(1, n_in.bit_length()) + 1, signed=False))
        else:
            t_sum = self.ir(src["sum"])
            self._set_type(layer, rec, "accum_t", accum_precision(t_sum, max(frac, t_sum.frac)))
        self._set_result(layer, rec, t_out)

    _layer_Dense = _affine
    _layer_Conv1D = _affine
    _layer_Conv2D = _affine
    _layer_PointwiseConv1D = _affine
    _layer_PointwiseConv2D = _affine

    def _layer_Activation(self, layer, rec):
        act = str(layer.get_attr("activation", "")).lower()
        rec.tensor = self.out_tensor(layer)
        if act not in ("linear", "relu", "binary_tanh"):
            raise UnsupportedOp(f"activation {act!r} has no exact fixed-point form here", node=layer.name)
        self._set_result(layer, rec, self.ir(rec.tensor))
        self._unused(layer, rec, "table_t", "quantizer_precision")

    _layer_ReLU = _layer_Activation

    def _layer_BatchNormalizationQuantizedTanh(self, layer, rec):
        """x + b >= 0 as ``x >= threshold``: the threshold is -b rounded up onto x's grid."""
        rec.tensor = self._bnqt_tensor(layer)
        if layer.get_attr("quantize") != 2:
            raise UnsupportedOp("only the binary (BipolarQuant) threshold layer is supported", node=layer.name)
        src = threshold_sources(self.model, rec.tensor)
        t_x = self.ir(src["data"])
        p_x = layer.get_input_variable().type.precision
        bias = self.per_output(self.const(src["bias"]), src["data"], layer.weights["threshold"].data.size,
                               layer.name)
        step = 2.0 ** -t_x.frac
        thr = np.ceil(-bias / step) * step
        # thresholds outside x's range are clamped to it, which keeps the comparison's result
        thr = np.clip(thr, t_x.min_value, t_x.max_value + step)
        layer.weights["threshold"].data = thr
        # the threshold array is passed as data_T: it must have x's type (one bit wider for max+step)
        wide = exact_precision(type(t_x).from_range(min(t_x.int_min, 0), t_x.int_max + 1, t_x.frac))
        if str(wide) != str(p_x):
            layer.get_input_variable().type.precision = wide
            rec.notes.append(f"input type widened to {wide} so the threshold max+1 step fits")
        p_thr = layer.get_input_variable().type.precision
        check_representable(thr, p_thr, f"thresholds of {layer.name}")
        self._set_type(layer, rec, "threshold_t", p_thr)
        self._set_type(layer, rec, "accum_t", p_thr)
        rec.types["result_t"] = str(layer.get_output_variable().type.precision)
        self.set_types.append((layer, "output", None))
        rec.notes.append("thresholds = ceil(-bias) on the input grid (BipolarQuant: x + b >= 0 -> +1)")

    def per_output(self, c: np.ndarray, tensor: str, size: int, where: str) -> np.ndarray:
        """A constant broadcast against ``tensor`` (batch 1), as ``size`` values: one per element
        (channels-last order of this graph) or one per channel (last axis)."""
        shape = [1] + list(self.model.get_tensor_shape(tensor))[1:]
        full = np.broadcast_to(np.asarray(c, dtype=np.float64), shape).reshape(-1)
        if full.size == size:
            return full
        per = full.reshape(-1, size)
        if not np.all(per == per[:1]):
            raise UnsupportedOp("per-element constant where hls4ml keeps one per channel", node=where)
        return per[0]

    def _bnqt_tensor(self, layer) -> str:
        """hls4ml names this layer itself; it computes BipolarQuant(x + b) of its input x."""
        x = self.names.get(layer.inputs[0], layer.inputs[0])
        add = (self.model.find_consumers(x) or [None])[0]
        bq = (self.model.find_consumers(add.output[0]) or [None])[0] if add is not None else None
        if add is None or add.op_type != "Add" or bq is None or bq.op_type != "BipolarQuant":
            raise UnsupportedOp("binary threshold layer not made of Add + BipolarQuant", node=layer.name)
        return bq.output[0]

    def _layer_Merge(self, layer, rec):
        op = str(layer.get_attr("op", "")).lower()
        if op not in ("add", "subtract", "multiply", "maximum", "minimum"):
            raise UnsupportedOp(f"merge op {op!r} has no exact fixed-point form here", node=layer.name)
        rec.tensor = self.out_tensor(layer)
        self._set_result(layer, rec, self.ir(rec.tensor))
        self._unused(layer, rec, "accum_t")

    def _inplace(self, layer, rec):
        rec.tensor = self.out_tensor(layer)
        self._set_result(layer, rec, self.ir(rec.tensor))

    _layer_Reshape = _inplace
    _layer_Transpose = _inplace
    _layer_Flatten = _inplace

    def _layer_Pooling2D(self, layer, rec):
        if str(layer.get_attr("pool_op", "")).lower() != "max":
            raise UnsupportedOp("average pooling divides; only max pooling is exact", node=layer.name)
        rec.tensor = self.out_tensor(layer)
        self._set_result(layer, rec, self.ir(rec.tensor))
        self._unused(layer, rec, "accum_t")

    _layer_Pooling1D = _layer_Pooling2D

    def _affine_elementwise_tensor(self, layer) -> str:
        """The ONNX tensor an ApplyAlpha/BatchNormalization computes: hls4ml may name the layer
        itself; then it is the chain of constant Add/Sub/Mul after its input."""
        if layer.outputs[0] in self.names:
            return self.out_tensor(layer)
        t = self.names.get(layer.inputs[0], layer.inputs[0])
        while True:
            cons = self.model.find_consumers(t) or []
            if len(cons) != 1 or cons[0].op_type not in ("Add", "Sub", "Mul") or cons[0].output[0] in self.hls_vars:
                break
            other = [i for i in cons[0].input if i != t]
            if len(other) != 1 or not _is_const(self.model, other[0]):
                break
            t = cons[0].output[0]
        if t == self.names.get(layer.inputs[0], layer.inputs[0]):
            raise UnsupportedOp(f"cannot find the ONNX nodes behind {layer.class_name} {layer.name}", node=layer.name)
        return t

    def _layer_ApplyAlpha(self, layer, rec):
        """x * scale + bias, computed exactly by nnet::normalize, then cast to the result."""
        rec.tensor = self._affine_elementwise_tensor(layer)
        p_s = values_precision(layer.weights["scale"].data, f"scales of {layer.name}")
        p_b = values_precision(layer.weights["bias"].data, f"biases of {layer.name}")
        self._set_type(layer, rec, "scale_t", p_s)
        self._set_type(layer, rec, "bias_t", p_b)
        self._set_result(layer, rec, self.ir(rec.tensor))
        # ``*_precision`` attributes only seed initialize(); the weights' own types are set above
        for name, p in (("scale_precision", p_s), ("bias_precision", p_b)):
            if name in set(layer.types):  # (Mapping ``in`` also finds attributes that are None)
                self._set_type(layer, rec, name, p)
        self._unused(layer, rec, "accum_t")

    _layer_BatchNormalization = _layer_ApplyAlpha

    def _layer_MultiThreshold(self, layer, rec):
        """Thresholds rounded up onto x's grid (x >= t iff x >= ceil_grid(t)), exact levels."""
        from hwflow.ir.fixed import FixedType

        rec.tensor = self.out_tensor(layer)
        node = self.model.find_producer(rec.tensor)
        t_x = self.ir(node.input[0])
        if t_x.is_float or t_x.scale != 1.0:
            raise UnsupportedOp("MultiThreshold on a tensor without a power-of-two type", node=layer.name)
        w = layer.weights["thresholds"]
        step = 2.0 ** -t_x.frac
        thr = np.ceil(np.asarray(w.data, dtype=np.float64) / step) * step
        # outside x's range a threshold always/never holds; clamping keeps that and the type small
        thr = np.clip(thr, t_x.min_value, t_x.max_value + step)
        w.data = thr
        p_x = layer.get_input_variable().type.precision
        p_thr = exact_precision(FixedType.from_range(min(t_x.int_min, 0), t_x.int_max + 1, t_x.frac))
        check_representable(thr, p_thr, f"thresholds of {layer.name}")
        self._set_type(layer, rec, "thresholds_t", p_thr)
        n_thr = int(layer.get_attr("n_thr"))
        s, b = float(layer.get_attr("out_scale")), float(layer.get_attr("out_bias"))
        levels = [b + s * k for k in range(n_thr + 1)] + [s, b]
        self._set_type(layer, rec, "level_t", values_precision(levels, f"levels of {layer.name}"))
        self._set_result(layer, rec, self.ir(rec.tensor))
        rec.notes.append(f"thresholds rounded up onto the input grid 2**{-t_x.frac} (input type {p_x})")

    def _same_as_input(self, layer, rec):
        """Layers hls4ml inserts that only move or pad values (zeros): the input's type."""
        p = layer.get_input_variable().type.precision
        layer.get_output_variable().type.precision = p
        self.set_types.append((layer, "output", None))
        rec.types["result_t"] = str(p)
        rec.notes.append("inserted by hls4ml; holds its input's values (and zeros)")

    _layer_ZeroPadding1D = _same_as_input
    _layer_ZeroPadding2D = _same_as_input

    def _layer_BiPer(self, layer, rec):
        rec.tensor = self.out_tensor(layer)
        self._set_result(layer, rec, self.ir(rec.tensor))


def _constant_tensors(model) -> dict:
    """Every tensor of the graph on one all-zero sample: constants do not depend on it."""
    from hwflow.ir import ReferenceExecutor

    x = {i.name: np.zeros([1] + list(model.get_tensor_shape(i.name))[1:]) for i in model.graph.input
         if model.get_initializer(i.name) is None}
    x = next(iter(x.values())) if len(x) == 1 else x
    return ReferenceExecutor(model).run(x, intermediate=True)


