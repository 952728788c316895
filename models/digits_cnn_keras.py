"""Digits CNN on scikit-learn's 8x8 digits, QKeras: two convolutions + dense.

Variants (zoo names):
- ``digits_cnn``: 4-bit weights/biases ``quantized_bits(4, 0, alpha=1)``, 4-bit hidden
  activations ``quantized_relu(4, 1)`` ([0, 2), step 1/8);
- ``digits_cnn_8bit``: 8-bit weights ``quantized_bits(8, 0, alpha=1)``, biases
  ``quantized_bits(8, 2, alpha=1)``, activations ``quantized_relu(8, 2)`` ([0, 4));
- ``digits_cnn_apriori``: the 8-bit model with every 3x3 kernel "a priori compressed"
  (as in "A priori compression of convolutional neural networks for wave simulators"):
  the 3x3 convolution Cin -> Cout becomes a 3x1 convolution Cin -> R followed by a 1x3
  convolution R -> Cout, so each 3x3 kernel slice W[:, :, ci, co] is a sum of R outer
  products of a vertical and a horizontal one-way filter (rank <= R). The intermediate is
  quantized ``quantized_bits(10, 3, alpha=1)`` (linear, no ReLU).

Layout (all variants): input ``quantized_bits(5, 1, keep_negative=False)`` (step 1/16,
exact for the k/16 pixels) -> conv 3x3 valid 8 ch -> ReLU-quant -> conv 3x3 valid 16 ch
-> ReLU-quant -> MaxPool 2x2 -> Flatten 64 -> QDense 10 (logits, accumulator precision).
"""

from __future__ import annotations

from hwflow.quant import keras_env

tf, keras = keras_env()
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu  # noqa: E402

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (8, 8, 1)
DEFAULT_EPOCHS = 30
TRAIN = {"batch_size": 64, "lr": 3e-3}
CHANNELS = (8, 16)
APRIORI_RANK = 2

_VARIANTS = {
    # name: (weight bits, bias (bits, integer), activation (bits, integer), apriori)
    "digits_cnn": (4, (4, 0), (4, 1), False),
    "digits_cnn_8bit": (8, (8, 2), (8, 2), False),
    "digits_cnn_apriori": (8, (8, 2), (8, 2), True),
}


def _conv(x, filters, wb, bb, name, apriori, rank=APRIORI_RANK):
    wq = quantized_bits(wb, 0, alpha=1)
    bq = quantized_bits(bb[0], bb[1], alpha=1)
    if not apriori:
        return QConv2D(filters, 3, padding="valid", kernel_quantizer=wq, bias_quantizer=bq,
                       name=name)(x)
    h = QConv2D(rank, (3, 1), padding="valid", use_bias=False, kernel_quantizer=wq,
                name=f"{name}_v")(x)
    h = QActivation(quantized_bits(10, 3, alpha=1), name=f"{name}_v_quant")(h)
    return QConv2D(filters, (1, 3), padding="valid", kernel_quantizer=quantized_bits(wb, 0, alpha=1),
                   bias_quantizer=bq, name=f"{name}_h")(h)


def build_variant(variant: str, seed: int = 0) -> "keras.Model":
    wb, bb, ab, apriori = _VARIANTS[variant]
    keras.utils.set_random_seed(seed)
    x_in = keras.Input(INPUT_SHAPE, name="input")
    h = QActivation(quantized_bits(5, 1, keep_negative=False, alpha=1), name="input_quant")(x_in)
    for i, c in enumerate(CHANNELS):
        h = _conv(h, c, wb, bb, f"conv{i + 1}", apriori)
        h = QActivation(quantized_relu(ab[0], ab[1]), name=f"relu{i + 1}")(h)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(wb, 0, alpha=1),
               bias_quantizer=quantized_bits(bb[0], bb[1], alpha=1), name="fc")(h)
    return keras.Model(x_in, h, name=variant)


def build(seed: int = 0) -> "keras.Model":
    return build_variant("digits_cnn", seed)


def build_8bit(seed: int = 0) -> "keras.Model":
    return build_variant("digits_cnn_8bit", seed)


def build_apriori(seed: int = 0) -> "keras.Model":
    return build_variant("digits_cnn_apriori", seed)


ZOO = {"digits_cnn": build, "digits_cnn_8bit": build_8bit, "digits_cnn_apriori": build_apriori}
