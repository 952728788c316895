"""A BiPer binary MLP on the full 8x8 digits, QKeras: the model of the bundled demo.

Sized for the streaming architecture on an iCE40 UP5K (iCEBreaker): 64 inputs, two
hidden layers of HIDDEN units, weights in block-RAM ROMs. As in the BiPer paper, the first
and last layers keep higher precision (4-bit weights) and the hidden layer is binary
(BiPer weights, ApproxSign activations):

  QActivation quantized_bits(5, 1, keep_negative=False)    input (k/16 pixels, exact)
  Flatten -> 64 inputs
  QDense HIDDEN, 4-bit weights, 8-bit biases                first layer, higher precision
  QActivation ApproxSign                                    -> +-1
  QDense HIDDEN, BiPerWeight(w0), no bias                   binary x binary -> integer
  BinaryScale (per-channel alpha > 0, beta)                 folded into the next threshold
  QActivation ApproxSign                                    -> +-1
  QDense 10, 4-bit weights, 8-bit biases                    last layer, higher precision
"""

from __future__ import annotations

from hwflow.quant import keras_env

tf, keras = keras_env()
from qkeras import QActivation, QDense, quantized_bits  # noqa: E402

from hwflow.quant.biper_keras import DEFAULT_W0, ApproxSign, BinaryScale, BiPerWeight  # noqa: E402

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (8, 8, 1)
DEFAULT_EPOCHS = 60
TRAIN = {"batch_size": 32, "lr": 3e-3, "biper_stage1_fraction": 0.5}
HIDDEN = 64


def build(seed: int = 0, w0: float = DEFAULT_W0, stage: int = 2, hidden: int = HIDDEN) -> "keras.Model":
    keras.utils.set_random_seed(seed)
    x_in = keras.Input(INPUT_SHAPE, name="input")
    h = QActivation(quantized_bits(5, 1, keep_negative=False, alpha=1), name="input_quant")(x_in)
    h = keras.layers.Flatten(name="flatten")(h)
    h = QDense(hidden, kernel_quantizer=quantized_bits(4, 0, alpha=1),
               bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc1")(h)
    h = QActivation(ApproxSign(), name="act1")(h)
    # latent weights: small uniform, so sin(w0 * w) starts in its linear region
    h = QDense(hidden, use_bias=False, kernel_initializer=keras.initializers.RandomUniform(-0.05, 0.05),
               kernel_quantizer=BiPerWeight(w0=w0, binarize=stage == 2), name="bfc")(h)
    h = BinaryScale(alpha_init=hidden ** -0.5, name="scale")(h)
    h = QActivation(ApproxSign(), name="bact")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(4, 0, alpha=1),
               bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc2")(h)
    return keras.Model(x_in, h, name="biper_mlp64")
