"""QKeras (tf-keras 2) -> QONNX exporter.

qonnx 1.0 no longer ships a QKeras converter, so this one is ours. It walks the Keras layer
graph and emits standard ONNX ops plus QONNX ``Quant`` / ``BipolarQuant`` (and hwflow's
``BiPer``) nodes that compute exactly what QKeras computes:

- ``quantized_bits(bits, integer, symmetric, keep_negative, alpha)`` computes
  ``step * clip(round_half_even(x / step), lo, hi)`` with ``step = 2**(integer - bits +
  keep_negative)``, ``lo = -2**(bits-1) + symmetric`` (or 0), ``hi = 2**(bits-1) - 1`` (or
  ``2**bits - 1`` unsigned): QONNX ``Quant(scale=step, bitwidth=bits, signed=keep_negative,
  narrow=symmetric, rounding_mode=ROUND)`` (``np.round`` is half-to-even like ``tf.round``;
  clip-then-round equals round-then-clip for integer bounds).
- ``quantized_relu(bits, integer)``: ``Relu`` + unsigned ``Quant`` with step
  ``2**(integer - bits)``.
- ``binary``: ``BipolarQuant`` (``x >= 0 -> +1``, like QKeras' sign with 0 -> +1).
- ``ternary`` (activations): ``Quant`` with ``HALF_UP`` rounding on ``x / (2 * threshold)``
  (power-of-two ``2 * threshold``), else an exact float32 ``MultiThreshold``.
- ``quantized_po2`` / ``quantized_relu_po2`` (activations): ``MultiThreshold`` staircases
  whose float32 switching points are bisected with the quantizer itself as the oracle.
- Weights are exported already quantized (the tensor QKeras itself multiplies with) behind
  a ``Quant``/``BipolarQuant`` that is the identity on them; the exporter checks that
  identity exactly, so any quantizer whose values are a fixed-point grid (``quantized_bits``
  with ``alpha`` 1 / ``auto_po2`` per channel, ``binary``, ``ternary``, ``quantized_po2``,
  hwflow's BiPer) is exported bit-exactly, and anything else is a typed error.

Layout: 4-D tensors are NCHW in the ONNX graph (Keras holds NHWC), so a 4-D graph input is
``x_keras.transpose(0, 3, 1, 2)``. ``Flatten`` of a 4-D tensor flattens in ONNX (NCHW)
order and the permutation to Keras' (NHWC) order is folded into the weight rows of the
following dense layer (or materialised as Reshape + Transpose + Flatten where nothing can absorb it).

Loading a model file never executes code from it: the JSON configuration is checked for
``Lambda``-like layers and foreign modules *before* Keras deserialises anything.

Modules: ``loading`` (safe file loading), ``graph`` (the ONNX graph being built),
``quantizers`` (quantizer -> QONNX nodes), ``layers`` (layer -> ONNX nodes), ``export``
(model walk, QONNX file, check against Keras).
"""

from hwflow.frontends.qkeras.export import (
    check_export,
    export_file,
    export_keras_model,
    export_zoo_model,
    keras_input_to_onnx,
    onnx_output_to_keras,
)
from hwflow.frontends.qkeras.graph import HWFLOW_DOMAIN, OPSET, QONNX_DOMAIN
from hwflow.frontends.qkeras.loading import custom_objects, load_keras_model, load_trained

__all__ = [
    "export_keras_model", "export_file", "export_zoo_model", "check_export", "load_keras_model",
    "load_trained", "custom_objects", "keras_input_to_onnx", "onnx_output_to_keras",
    "QONNX_DOMAIN", "HWFLOW_DOMAIN", "OPSET",
]
