"""hls4ml extension layer: multi-level ``MultiThreshold`` (QONNX/FINN op).

hls4ml 1.3 reads no ``MultiThreshold``; the IR folds a float batch norm followed by a
multi-bit ``Quant`` (TFC_2W2A, any BN-before-activation export) into one, because that is the
only exact form of it. Same extension API parts as BiPer (``extensions.py``): ONNX handler,
layer class, an optimizer pass (``multithreshold_constant_parameters``, in hls4ml's
``parse_qonnx`` flow, moves the threshold initializer into the layer's weights like hls4ml's
own ``quant_constant_parameters``), config/function templates and ``nnet_multithreshold.h``.

The layer's types are set by ``precision.PrecisionSetter._layer_MultiThreshold``: thresholds
rounded up onto the input's grid (same comparison results, exact ``>=`` in fixed point), the
output levels' type from out_scale/out_bias.
"""

from __future__ import annotations

from hwflow.bundled import bundled_dir

HEADER = bundled_dir("hls") / "nnet_utils" / "nnet_multithreshold.h"

config_template = """struct config{index} : nnet::multithreshold_config {{
    static const unsigned n_in = {n_in};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_inner = {n_inner};
    static const unsigned n_thr = {n_thr};
    typedef {threshold_t} threshold_t;
    typedef {level_t} level_t;
    static constexpr double out_scale = {out_scale!r};
    static constexpr double out_bias = {out_bias!r};
}};\n"""

function_template = "nnet::{func}<{input_t}, {output_t}, {config}>({input}, {output}, {thresholds});"
include_list = ["nnet_utils/nnet_multithreshold.h"]


def classes():
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Constant, Layer
    from hls4ml.model.optimizer import OptimizerPass
    from hls4ml.model.types import FixedPrecisionType, NamedType

    class MultiThreshold(Layer):
        """y = out_bias + out_scale * count(x >= t) over the channel's thresholds."""

        _expected_attributes = [
            Attribute("n_in"),
            Attribute("out_scale", value_type=float),
            Attribute("out_bias", value_type=float),
        ]

        def initialize(self):
            inp = self.get_input_variable(self.inputs[0])
            self.add_output_variable(inp.shape)
            self.set_attr("n_in", inp.size())
            # hwflow sets it from the levels; a placeholder until then
            self.set_attr("level_t", NamedType(f"{self.name}_level_t", FixedPrecisionType(2, 2)))

    class MultiThresholdConstantParameters(OptimizerPass):
        """Threshold initializer (input 1, a Constant layer) -> the layer's weights."""

        def match(self, node):
            return (isinstance(node, MultiThreshold) and len(node.inputs) == 2
                    and isinstance(node.get_input_node(node.inputs[1]), Constant))

        def transform(self, model, node):
            const = node.get_input_node(node.inputs[1])
            thr = const.get_attr("value")
            if thr.ndim != 2:
                raise RuntimeError(f"MultiThreshold {node.name}: thresholds of shape {thr.shape}, expected (C, T)")
            node.set_attr("n_chan", int(thr.shape[0]))
            node.set_attr("n_thr", int(thr.shape[1]))
            node.inputs = [node.inputs[0]]
            model.remove_node(const)
            node.add_weights_variable(name="thresholds", var_name="mt{index}", data=thr.reshape(-1))
            return True

    class ConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(MultiThreshold)
            self.template = config_template

        def format(self, node):
            params = self._default_config_params(node)
            params["threshold_t"] = node.get_weights("thresholds").type.name
            params["level_t"] = node.get_attr("level_t").name
            params["out_scale"] = float(node.get_attr("out_scale"))
            params["out_bias"] = float(node.get_attr("out_bias"))
            return self.template.format(**params)

    class FunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(MultiThreshold, include_header=include_list)
            self.template = function_template

        def format(self, node):
            params = self._default_function_params(node)
            stream = node.model.config.get_config_value("IOType") == "io_stream"
            params["func"] = "multithreshold_stream" if stream else "multithreshold"
            params["thresholds"] = node.get_weights("thresholds").name
            return self.template.format(**params)

    def parse(node, input_names, input_shapes, graph):
        from hls4ml.converters.onnx_to_hls import get_onnx_attribute

        layout = get_onnx_attribute(node, "data_layout", "") or ""
        layout = layout.decode() if isinstance(layout, bytes) else str(layout)
        shape = list(input_shapes[0])
        # channels first (a MultiThreshold after the last conv, before the flatten: qonnx moves no
        # layout transpose downstream through it): element i's channel is (i / n_inner) % n_chan
        n_inner = 1
        if len(shape) > 2 and layout.startswith("NC") and len(layout) == len(shape):
            for d in shape[2:]:
                n_inner *= int(d)
        return {
            "n_inner": n_inner,
            "class_name": "MultiThreshold",
            "name": node.name,
            "inputs": input_names,
            "outputs": list(node.output),
            "out_scale": float(get_onnx_attribute(node, "out_scale", 1.0)),
            "out_bias": float(get_onnx_attribute(node, "out_bias", 0.0)),
        }

    return MultiThreshold, MultiThresholdConstantParameters, ConfigTemplate, FunctionTemplate, parse


def register(hls4ml, backends) -> None:
    from hls4ml.converters.onnx_to_hls import layer_handlers
    from hls4ml.model.flow import update_flow
    from hls4ml.model.optimizer import register_pass

    layer_cls, pass_cls, config_t, function_t, parse = classes()
    if "MultiThreshold" not in layer_handlers:
        hls4ml.converters.register_onnx_layer_handler("MultiThreshold", parse)
    hls4ml.model.layers.register_layer("MultiThreshold", layer_cls)
    register_pass("multithreshold_constant_parameters", pass_cls)
    update_flow("parse_qonnx", add_optimizers=["multithreshold_constant_parameters"])
    for name in backends:
        backend = hls4ml.backends.get_backend(name)
        backend.register_template(config_t)
        backend.register_template(function_t)
        backend.register_source(HEADER)
