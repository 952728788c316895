"""Jet-tagging MLP 16-64-32-32-5 (the hls4ml benchmark architecture), QKeras.

Twin of ``models/jet_mlp_torch.py``; the same fixed-point grid:
- input: ``quantized_bits(12, 4, alpha=1)`` -- signed 12 bits, 7 fractional bits, range
  [-16, 16) (the features are standardised; 12 bits keep every float32 accumulator exact);
- weights and biases: ``quantized_bits(6, 0, alpha=1)`` -- sign + 5 fractional bits;
- hidden activations: ``quantized_relu(6, 0)`` -- 6 fractional bits, range [0, 1);
- output: the 5 logits of the last dense layer, unquantized accumulator (softmax lives in
  the training loss, not in the model).
"""

from __future__ import annotations

from hwflow.quant import check_fixed_bits, keras_env

tf, keras = keras_env()
from qkeras import QActivation, QDense, quantized_bits, quantized_relu  # noqa: E402

DATASET = "jets"
TASK = "classify"
INPUT_SHAPE = (16,)
DEFAULT_EPOCHS = 10
TRAIN = {"batch_size": 256, "lr": 3e-3}

W_BITS, A_BITS = 6, 6
LAYERS = (16, 64, 32, 32, 5)


def build(seed: int = 0, w_bits: int = W_BITS, a_bits: int = A_BITS) -> "keras.Model":
    """``w_bits``: weight and bias bits (sign + fraction), ``a_bits``: hidden activation bits
    (the flow file's ``model.options``, a sweep axis)."""
    check_fixed_bits(w_bits)  # QKeras itself builds quantized_bits(0, 0) and trains on NaN
    check_fixed_bits(a_bits)
    keras.utils.set_random_seed(seed)
    x_in = keras.Input(INPUT_SHAPE, name="input")
    h = QActivation(quantized_bits(12, 4, alpha=1), name="input_quant")(x_in)
    n = len(LAYERS) - 1
    for i, units in enumerate(LAYERS[1:]):
        h = QDense(
            units,
            kernel_quantizer=quantized_bits(w_bits, 0, alpha=1),
            bias_quantizer=quantized_bits(w_bits, 0, alpha=1),
            kernel_initializer="lecun_uniform",
            name=f"fc{i + 1}",
        )(h)
        if i < n - 1:
            h = QActivation(quantized_relu(a_bits, 0), name=f"relu{i + 1}")(h)
    return keras.Model(x_in, h, name="jet_mlp")


ZOO = {"jet_mlp": build}
