"""ECON-T encoder (CMS HGCAL front-end compression ASIC; fastml-science ``8x8_c8_S2_qK``),
Brevitas twin of ``models/econt_keras.py``.

Encoder (exported, 2,144 parameters):
- input 8x8x1 (PyTorch layout 1x8x8): the 48 trigger-cell charges, unused positions zero,
  quantized ``quantized_bits(10, 0, keep_negative=False)`` -- 10-bit unsigned fraction [0, 1);
- QConv2D 8 filters 3x3, stride 2, TensorFlow ``same`` padding (0 rows/cols before, 1 after;
  written here as a zero ``F.pad`` that the exporter folds into the Conv's ``pads``),
  weights and biases ``quantized_bits(6, 0)`` (sign + 5 fractional bits) -> 4x4x8,
  activation ``quantized_relu(8, 1)`` (step 2**-7, [0, 2));
- flatten 128 (PyTorch order c, h, w; the Keras twin flattens h, w, c);
- QDense 16, weights and biases ``quantized_bits(6, 0)``, latent ``quantized_relu(9, 1)``
  (9 bits, [0, 2), step 2**-8).

Decoder (float, training only, not exported): Dense 128 -> ReLU -> 8x4x4 ->
ConvTranspose 8 filters 3x3 stride 2 -> ReLU -> Conv 1 filter 3x3 same -> 8x8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas import nn as qnn
from torch import nn

from hwflow.quant.fixed_torch import signed_bias, signed_weight, unsigned_act

DATASET = "hgcal"
TASK = "autoencode"
INPUT_SHAPE = (1, 8, 8)
INPUT_RANGE = (0.0, 1.0 - 2.0**-10)
DEFAULT_EPOCHS = 30
TRAIN = {"task": "autoencode", "batch_size": 256, "lr": 3e-3}
ENCODER_PARAMETERS = 2144
LATENT = 16


class EconTEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=unsigned_act(10, 0), return_quant_tensor=True)
        self.conv = qnn.QuantConv2d(1, 8, 3, stride=2, padding=0, bias=True,
                                    weight_quant=signed_weight(6, 0), bias_quant=signed_bias(6, 0))
        self.conv_act = qnn.QuantReLU(act_quant=unsigned_act(8, 1), return_quant_tensor=True)
        self.dense = qnn.QuantLinear(128, LATENT, bias=True, weight_quant=signed_weight(6, 0),
                                     bias_quant=signed_bias(6, 0))
        self.latent = qnn.QuantReLU(act_quant=unsigned_act(9, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        x = F.pad(x.value if hasattr(x, "value") else x, (0, 1, 0, 1))  # TF 'same', stride 2
        x = self.conv_act(self.conv(x))
        x = torch.flatten(x.value if hasattr(x, "value") else x, 1)
        return self.latent(self.dense(x))


class EconTDecoder(nn.Module):
    """Float decoder used only to train the encoder."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(LATENT, 128)
        self.deconv = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1)
        self.out = nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.fc(z)).reshape(-1, 8, 4, 4)
        return self.out(F.relu(self.deconv(h)))


def build(seed: int = 0) -> nn.Module:
    """The (exported) quantized encoder."""
    torch.manual_seed(seed)
    return EconTEncoder()


def build_decoder(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed + 1)
    return EconTDecoder()


ZOO = {"econt": build}
