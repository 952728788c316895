"""hls4ml extension layers of hwflow: the BiPer activation (docs/INTERFACES.md section 2), and
(``ext_multithreshold``) the multi-level MultiThreshold.

Registered through hls4ml's extension API (the pattern of hls4ml's ``test_extensions.py``;
hls4ml 1.3 has no single ``register_extension_layer`` call, the API is these four parts):

* an ONNX handler (``hls4ml.converters.register_onnx_layer_handler``) for op ``BiPer``,
* the layer class (``hls4ml.model.layers.register_layer``), output type bipolar (1 bit),
* an optimizer pass ``biper_bit_index`` (``backend.register_pass``) run with the backend's
  ``specific_types`` flow, i.e. after hwflow set the final types: it turns ``log2_period``
  and the input's fractional bits into the one bit the HLS tests,
* config/function templates (``backend.register_template``) and the C++ source
  ``hls/nnet_utils/nnet_biper.h`` (``backend.register_source``).

Registration is explicit (``register_all()``, called by the converter) and idempotent.
"""

from __future__ import annotations

from hwflow.bundled import bundled_dir
from hwflow.errors import ModelError

HLS_DIR = bundled_dir("hls")
BIPER_HEADER = HLS_DIR / "nnet_utils" / "nnet_biper.h"
_BACKENDS = ("Vivado", "Vitis", "VivadoAccelerator")
_registered: set[str] = set()

biper_config_template = """struct config{index} : nnet::biper_config {{
    static const unsigned n_in = {n_in};
    static const unsigned bit_index = {bit_index};
    static const unsigned bit_mode = {bit_mode};
}};\n"""

biper_function_template = "nnet::{func}<{input_t}, {output_t}, {config}>({input}, {output});"
biper_include_list = ["nnet_utils/nnet_biper.h"]


def biper_bit(log2_period: int, frac: int, width: int, signed: bool) -> tuple[int, int]:
    """(bit_index, bit_mode) of the C++ (see nnet_biper.h): y = -1 iff bit k+f-1 of q is 1."""
    bit = int(log2_period) + int(frac) - 1
    if bit < 0:
        raise ModelError(f"BiPer with log2_period {log2_period} on a grid of step 2**{-int(frac)}: needs k + f >= 1")
    if bit < width:
        return bit, 0
    if signed:
        return width - 1, 1  # above the word the two's-complement bits repeat the sign bit
    return 0, 2              # above an unsigned word every bit is 0: y = +1


def _classes():
    """Define the hls4ml-dependent classes lazily (hls4ml imports TensorFlow-free but slowly)."""
    import hls4ml
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer
    from hls4ml.model.optimizer import OptimizerPass
    from hls4ml.model.types import IntegerPrecisionType

    class BiPer(Layer):
        """hls4ml layer of the BiPer activation; output -1/+1 as two-bit integers."""

        _expected_attributes = [Attribute("n_in"), Attribute("log2_period", value_type=int)]

        def initialize(self):
            inp = self.get_input_variable()
            self.add_output_variable(inp.shape, precision=IntegerPrecisionType(width=2, signed=True))
            if "n_in" not in self.attributes:
                self.set_attr("n_in", inp.size())

    class BiPerBitIndex(OptimizerPass):
        """Fix the tested bit from the final input type (runs once per BiPer layer)."""

        def match(self, node):
            return isinstance(node, BiPer) and node.get_attr("bit_index") is None

        def transform(self, model, node):
            p = node.get_input_variable().type.precision
            width = int(p.width)
            frac = width - int(getattr(p, "integer", width))
            bit, mode = biper_bit(node.get_attr("log2_period"), frac, width, bool(p.signed))
            node.set_attr("bit_index", bit)
            node.set_attr("bit_mode", mode)
            return False

    class BiPerConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(BiPer)
            self.template = biper_config_template

        def format(self, node):
            params = self._default_config_params(node)
            params["n_in"] = node.get_input_variable().size_cpp()
            return self.template.format(**params)

    class BiPerFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(BiPer, include_header=biper_include_list)
            self.template = biper_function_template

        def format(self, node):
            params = self._default_function_params(node)
            stream = node.model.config.get_config_value("IOType") == "io_stream"
            params["func"] = "biper_stream" if stream else "biper"
            return self.template.format(**params)

    def parse_biper(node, input_names, input_shapes, graph):
        from hls4ml.converters.onnx_to_hls import get_onnx_attribute

        return {
            "class_name": "BiPer",
            "name": node.name,
            "inputs": input_names,
            "outputs": list(node.output),
            "log2_period": int(get_onnx_attribute(node, "log2_period", 0)),
        }

    return hls4ml, BiPer, BiPerBitIndex, BiPerConfigTemplate, BiPerFunctionTemplate, parse_biper


def register_all() -> None:
    """Register the BiPer layer with hls4ml (ONNX handler, layer, pass, templates, source)."""
    if "biper" in _registered:
        return
    if not BIPER_HEADER.is_file():
        raise FileNotFoundError(f"hwflow HLS source missing: {BIPER_HEADER}")
    hls4ml, BiPer, BiPerBitIndex, ConfigT, FunctionT, parse_biper = _classes()
    from hls4ml.converters.onnx_to_hls import layer_handlers

    if "BiPer" not in layer_handlers:
        hls4ml.converters.register_onnx_layer_handler("BiPer", parse_biper)
    hls4ml.model.layers.register_layer("BiPer", BiPer)
    # Vitis and VivadoAccelerator run Vivado's ``specific_types`` flow: one pass serves all three
    hls4ml.backends.get_backend("Vivado").register_pass("biper_bit_index", BiPerBitIndex,
                                                        flow="vivado:specific_types")
    for name in _BACKENDS:
        backend = hls4ml.backends.get_backend(name)
        backend.register_template(ConfigT)
        backend.register_template(FunctionT)
        backend.register_source(BIPER_HEADER)
    _registered.add("biper")

    from hwflow.backends.hls4ml import ext_multithreshold

    if not ext_multithreshold.HEADER.is_file():
        raise FileNotFoundError(f"hwflow HLS source missing: {ext_multithreshold.HEADER}")
    ext_multithreshold.register(hls4ml, _BACKENDS)
