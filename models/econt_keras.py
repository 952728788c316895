"""ECON-T encoder (CMS HGCAL front-end data compression ASIC), QKeras.

As fastml-science/ecoder ``8x8_c8_S2_qK``: the 48 trigger-cell charges of a module, in the
8x8x1 ECON-T input layout (:mod:`hwflow.data.hgcal`; unused positions zero), go through

  QActivation quantized_bits(10, 0, keep_negative=False)   input, 10-bit unsigned in [0, 1)
  QConv2D 8 filters 3x3, stride 2, 'same'                  -> 4x4x8   (80 parameters)
  QActivation quantized_relu(8, 1)                          8-bit, [0, 2)
  Flatten                                                   -> 128
  QDense 16                                                 (2,064 parameters)
  QActivation quantized_relu(9, 1)                          latent, 9-bit, [0, 2)

Weights and biases are ``quantized_bits(6, 0, alpha=1)`` (sign + 5 fractional bits).
Encoder parameters: 80 + 2,064 = 2,144. The decoder (:func:`build_decoder`: Dense 128 ->
4x4x8 -> Conv2DTranspose) is floating point and exists for training only; it is not part
of the exported hardware model. Training uses the telescope loss and the EMD metric of
:mod:`hwflow.train.keras`.
"""

from __future__ import annotations

from hwflow.quant import keras_env

tf, keras = keras_env()
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu  # noqa: E402

DATASET = "hgcal"
TASK = "autoencode"
INPUT_SHAPE = (8, 8, 1)
DEFAULT_EPOCHS = 8
TRAIN = {"batch_size": 128, "lr": 3e-3}
ENCODER_PARAMETERS = 2144
LATENT = 16


def _wq():
    return quantized_bits(6, 0, alpha=1)


def build(seed: int = 0) -> "keras.Model":
    """The encoder (the hardware model)."""
    keras.utils.set_random_seed(seed)
    x_in = keras.Input(INPUT_SHAPE, name="input")
    h = QActivation(quantized_bits(10, 0, keep_negative=False, alpha=1), name="input_quant")(x_in)
    h = QConv2D(8, 3, strides=2, padding="same", kernel_quantizer=_wq(), bias_quantizer=_wq(),
                name="conv")(h)
    h = QActivation(quantized_relu(8, 1), name="conv_act")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = QDense(LATENT, kernel_quantizer=_wq(), bias_quantizer=_wq(), name="latent")(h)
    h = QActivation(quantized_relu(9, 1), name="latent_act")(h)
    return keras.Model(x_in, h, name="econt_encoder")


def build_decoder(seed: int = 0) -> "keras.Model":
    """Float decoder 16 -> 8x8x1 (training only)."""
    keras.utils.set_random_seed(seed + 1)
    z = keras.Input((LATENT,), name="latent_in")
    h = keras.layers.Dense(128, activation="relu", name="dec_dense")(z)
    h = keras.layers.Reshape((4, 4, 8), name="dec_reshape")(h)
    h = keras.layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu",
                                     name="dec_convT")(h)
    h = keras.layers.Conv2DTranspose(1, 3, padding="same", name="dec_out")(h)
    h = keras.layers.Activation("relu", name="dec_relu")(h)
    return keras.Model(z, h, name="econt_decoder")


ZOO = {"econt": build}
