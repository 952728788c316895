"""BiPer binary CNN on the 8x8 digits, QKeras.

Hidden layers binary (weights and activations), first and last layer at 8 bits, as in
the BiPer paper:

  QActivation quantized_bits(5, 1, keep_negative=False)    input (k/16 pixels, exact)
  QConv2D 32 3x3 same, 8-bit weights/biases                first layer, higher precision
  QActivation ApproxSign                                    -> +-1
  QConv2D 32 3x3 same, BiPerWeight(w0), no bias             binary x binary -> integer
  BinaryScale (per-channel alpha > 0, beta)                 folded into the next threshold
  QActivation ApproxSign, MaxPooling 2x2                    -> 4x4x32 +-1
  QConv2D 64 3x3 same, BiPerWeight(w0), no bias
  BinaryScale, QActivation ApproxSign, MaxPooling 2x2       -> 2x2x64 +-1
  Flatten -> QDense 10, 8-bit weights/biases                last layer, higher precision

``build(seed, mode=...)`` builds the same architecture for the benchmark
(``scripts/bench_digits.py``): ``biper`` (BiPer weights, ApproxSign activations; stage 2
= binarized, stage 1 = real-valued sin(w0*w) weights), ``sign`` (plain sign + clipped
straight-through estimator for weights and activations), ``int8`` (8-bit weights,
``quantized_relu(8, 2)`` activations) and ``float`` (no quantizers in the hidden layers,
ReLU). Only ``biper`` and ``sign`` are zoo (hardware) models.

``biper_bnn_periodic`` (zoo entry): the BiPer network whose first binary activation is
the "binary periodic" BiPer activation instead of ApproxSign: the first conv's output is
quantized ``quantized_bits(8, 3)`` (step 2**-4) and ``BiPerActivation(log2_period=1)``
(period 2 = 32 steps: in hardware, bit 4 of the 8-bit integer) maps it to +-1.
"""

from __future__ import annotations

from hwflow.quant import keras_env

tf, keras = keras_env()
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu  # noqa: E402

from hwflow.quant.biper_keras import (  # noqa: E402
    DEFAULT_W0,
    ApproxSign,
    BinaryScale,
    BiPerActivation,
    BiPerWeight,
    SignSTE,
)

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (8, 8, 1)
DEFAULT_EPOCHS = 30
# two-stage BiPer schedule: fraction of the epochs spent in stage 1 (sin weights)
TRAIN = {"batch_size": 64, "lr": 3e-3, "biper_stage1_fraction": 0.5}
MODES = ("biper", "sign", "int8", "float")
HIDDEN = (32, 64)


def _hidden_weight(mode: str, w0: float, stage: int):
    if mode == "biper":
        return BiPerWeight(w0=w0, binarize=stage == 2)
    if mode == "sign":
        return SignSTE(clip=1.0)
    if mode == "int8":
        return quantized_bits(8, 0, alpha=1)
    return None


def _hidden_act(mode: str, name: str):
    if mode == "biper":
        return QActivation(ApproxSign(), name=name)
    if mode == "sign":
        return QActivation(SignSTE(clip=1.0), name=name)
    if mode == "int8":
        return QActivation(quantized_relu(8, 2), name=name)
    return keras.layers.Activation("relu", name=name)


PERIODIC_INPUT = (8, 3)  # quantized_bits(bits, integer) before the BiPer activation
PERIODIC_LOG2_PERIOD = 1


def build(seed: int = 0, mode: str = "biper", w0: float = DEFAULT_W0, stage: int = 2,
          periodic_act: bool = False) -> "keras.Model":
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    keras.utils.set_random_seed(seed)
    x_in = keras.Input(INPUT_SHAPE, name="input")
    h = QActivation(quantized_bits(5, 1, keep_negative=False, alpha=1), name="input_quant")(x_in)
    h = QConv2D(HIDDEN[0], 3, padding="same", kernel_quantizer=quantized_bits(8, 0, alpha=1),
                bias_quantizer=quantized_bits(8, 3, alpha=1), name="conv1")(h)
    if periodic_act:
        h = QActivation(quantized_bits(*PERIODIC_INPUT, alpha=1), name="act1_quant")(h)
        h = QActivation(BiPerActivation(PERIODIC_LOG2_PERIOD), name="act1")(h)
    else:
        h = _hidden_act(mode, "act1")(h)
    cin = HIDDEN[0]
    for i, c in enumerate((HIDDEN[0], HIDDEN[1])):
        # latent weights: small uniform, so sin(w0 * w) starts in its linear region
        init = keras.initializers.RandomUniform(-0.05, 0.05) if mode == "biper" else "glorot_uniform"
        h = QConv2D(c, 3, padding="same", use_bias=False, kernel_initializer=init,
                    kernel_quantizer=_hidden_weight(mode, w0, stage), name=f"bconv{i + 1}")(h)
        h = BinaryScale(alpha_init=(9 * cin) ** -0.5, name=f"scale{i + 1}")(h)
        cin = c
        h = _hidden_act(mode, f"bact{i + 1}")(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = QDense(10, kernel_quantizer=quantized_bits(8, 0, alpha=1),
               bias_quantizer=quantized_bits(8, 3, alpha=1), name="fc")(h)
    return keras.Model(x_in, h, name=f"bnn_{mode}{'_periodic' if periodic_act else ''}")


def build_sign(seed: int = 0) -> "keras.Model":
    return build(seed, mode="sign")


def build_periodic(seed: int = 0, stage: int = 2) -> "keras.Model":
    return build(seed, mode="biper", stage=stage, periodic_act=True)


ZOO = {"biper_bnn": build, "biper_bnn_periodic": build_periodic}
