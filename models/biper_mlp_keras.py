"""A small BiPer binary MLP on the 8x8 digits, QKeras: the bundled demo's model until the
streaming architecture (now ``biper_mlp64``, which builds on this ``build``).

Sized for a fully parallel (II = 1) design that fits an iCE40 UP5K next to the UART board
top, so that ``hwflow run`` reaches a bitstream and an ASIC profile in minutes. As in the
BiPer paper, the first and last layers keep higher precision (4-bit weights) and the hidden
layer is binary (BiPer weights, ApproxSign activations):

  QActivation quantized_bits(5, 1, keep_negative=False)    input (k/16 pixels, exact)
  MaxPooling 2x2 -> 4x4, Flatten -> 16 inputs               (keeps the first layer small)
  QDense 16, 4-bit weights, 8-bit biases                    first layer, higher precision
  QActivation ApproxSign                                    -> +-1
  QDense 16, BiPerWeight(w0), no bias                       binary x binary -> integer
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
DEFAULT_EPOCHS = 30
TRAIN = {"batch_size": 32, "lr": 1e-2, "biper_stage1_fraction": 0.5}
HIDDEN = 16


def build(seed: int = 0, w0: float = DEFAULT_W0, stage: int = 2, hidden: int = HIDDEN, pool: bool = True,
          name: str = "biper_mlp") -> "keras.Model":
    """``pool=False, hidden=64``: the full 8x8 input (``biper_mlp64``, the demo's model)."""
    keras.utils.set_random_seed(seed)
    x_in = keras.Input(INPUT_SHAPE, name="input")
    h = QActivation(quantized_bits(5, 1, keep_negative=False, alpha=1), name="input_quant")(x_in)
    if pool:
        h = keras.layers.MaxPooling2D(2, name="pool")(h)
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
    return keras.Model(x_in, h, name=name)
