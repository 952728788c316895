"""BiPer binary MLP on the full 8x8 digits, Brevitas twin of ``models/biper_mlp64_keras.py``
(the demo's model):

  QuantIdentity quantized_bits(5, 1, keep_negative=False)   input (k/16 pixels, exact)
  Flatten -> 64 inputs (PyTorch order h, w: the same as Keras for one channel)
  QuantLinear HIDDEN, weights quantized_bits(4, 0), bias quantized_bits(8, 3)
  ApproxSign                                                 -> +-1
  QuantLinear HIDDEN, BiPer weights (w0 = 20), no bias       binary x binary -> integer
  BinaryScale (per-channel alpha > 0, beta) + ApproxSign     -> +-1
  QuantLinear 10, weights quantized_bits(4, 0), bias quantized_bits(8, 3)

BinaryScale is folded into per-channel integer thresholds at export
(:class:`hwflow.quant.biper_torch.BinaryScale`); two-stage training as for the QKeras model.
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from torch import nn

from hwflow.quant.biper_torch import ApproxSignActQuant, BinaryScale, biper_weight_quant
from hwflow.quant.fixed_torch import signed_bias, signed_weight, unsigned_act

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (1, 8, 8)
INPUT_RANGE = (0.0, 2.0 - 2.0**-4)
DEFAULT_EPOCHS = 60
TRAIN = {"task": "classify", "batch_size": 32, "lr": 3e-3, "biper_stage1_fraction": 0.5}
HIDDEN = 64
W0 = 20.0


class BiPerMLP(nn.Module):
    def __init__(self, hidden: int = HIDDEN, w0: float = W0):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=unsigned_act(5, 1), return_quant_tensor=True)
        self.flatten = nn.Flatten()
        self.fc1 = qnn.QuantLinear(64, hidden, bias=True, weight_quant=signed_weight(4, 0),
                                   bias_quant=signed_bias(8, 3))
        self.act1 = qnn.QuantIdentity(act_quant=ApproxSignActQuant, return_quant_tensor=False)
        self.bfc = qnn.QuantLinear(hidden, hidden, bias=False, weight_quant=biper_weight_quant(w0))
        # latent weights small, so that sin(w0 w) starts in its linear region
        nn.init.uniform_(self.bfc.weight, -0.05, 0.05)
        self.scale = BinaryScale(hidden, bound=hidden)
        self.fc2 = qnn.QuantLinear(hidden, 10, bias=True, weight_quant=signed_weight(4, 0),
                                   bias_quant=signed_bias(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.fc1(self.flatten(self.inp(x))))
        return self.fc2(self.scale(self.bfc(x)))


def build(seed: int = 0, hidden: int = HIDDEN, w0: float = W0, **options) -> nn.Module:
    torch.manual_seed(seed)
    return BiPerMLP(hidden=hidden, w0=w0)
