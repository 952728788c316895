"""A BiPer binary MLP on the full 8x8 digits, QKeras: the model of the bundled demo.

``models/biper_mlp_keras.py``'s network without the input pooling and with 64 hidden units,
sized for the streaming architecture on an iCE40 UP5K (iCEBreaker; weights in block-RAM
ROMs). As in the BiPer paper, the first and last layers keep higher precision (4-bit
weights) and the hidden layer is binary (BiPer weights, ApproxSign activations):

  QActivation quantized_bits(5, 1, keep_negative=False)    input (k/16 pixels, exact)
  Flatten -> 64 inputs
  QDense HIDDEN, 4-bit weights, 8-bit biases                first layer, higher precision
  QActivation ApproxSign                                    -> +-1
  QDense HIDDEN, BiPerWeight(w0), no bias                   binary x binary -> integer
  BinaryScale (per-channel alpha > 0, beta)                 folded into the next threshold
  QActivation ApproxSign                                    -> +-1
  QDense 10, 4-bit weights, 8-bit biases                    last layer, higher precision

Trained longer and slower than ``biper_mlp`` (60 epochs at lr 3e-3: 0.962-0.971 test
accuracy over seeds 0-5; lr 1e-2 for 30 epochs left seed 0 at 0.949).
"""

from __future__ import annotations

from hwflow import zoo
from hwflow.quant.biper_keras import DEFAULT_W0

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (8, 8, 1)
DEFAULT_EPOCHS = 60
TRAIN = {"batch_size": 32, "lr": 3e-3, "biper_stage1_fraction": 0.5}
HIDDEN = 64


def build(seed: int = 0, w0: float = DEFAULT_W0, stage: int = 2, hidden: int = HIDDEN):
    mlp = zoo.load_definition("biper_mlp", "qkeras")
    return mlp.build(seed, w0=w0, stage=stage, hidden=hidden, pool=False, name="biper_mlp64")
