"""Digits CNN on 8x8 images (scikit-learn digits), Brevitas twin of
``models/digits_cnn_keras.py``; three zoo entries share this file:

- ``digits_cnn`` (4-bit): weights and biases ``quantized_bits(4, 0)`` (step 2**-3),
  activations ``quantized_relu(4, 1)`` (step 2**-3, [0, 2));
- ``digits_cnn_8bit``: weights ``quantized_bits(8, 0)`` (step 2**-7), biases
  ``quantized_bits(8, 2)``, activations ``quantized_relu(8, 2)`` (step 2**-6, [0, 4));
- ``digits_cnn_apriori``: the 8-bit network with every 3x3 convolution replaced, "a priori",
  by a rank-R sum of one-way filters ("A priori compression of convolutional neural networks
  for wave simulators"): a 3x1 convolution C_in -> R (no bias) then a 1x3 convolution
  R -> C_out (with bias), so each 3x3 kernel K[o, i] = sum_r V[r, i] (x) H[o, r] has rank
  <= R; R = 2. The intermediate is quantized ``quantized_bits(10, 3)`` (signed, step
  2**-6, [-8, 8)), linear (no ReLU).

Common to all: input 8x8x1 (PyTorch layout 1x8x8), pixel values k/16 quantized
``quantized_bits(5, 1, keep_negative=False)`` (step 2**-4, [0, 2)); conv 3x3 valid 8 ch ->
ReLU-quant -> conv 3x3 valid 16 ch -> ReLU-quant -> maxpool 2 -> flatten 64 (PyTorch order
c, h, w) -> dense 10 logits (unquantized accumulator; softmax only in the loss).
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from torch import nn

from hwflow.quant.fixed_torch import signed_act, signed_bias, signed_weight, unsigned_act

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (1, 8, 8)
INPUT_RANGE = (0.0, 2.0 - 2.0**-4)
DEFAULT_EPOCHS = 30
TRAIN = {"task": "classify", "batch_size": 64, "lr": 3e-3}
RANK = 2
CHANNELS = (8, 16)

# bits -> (weight bits, (bias bits, bias integer bits), activation bits, activation integer bits)
PRECISION = {4: (4, (4, 0), 4, 1), 8: (8, (8, 2), 8, 2)}


def _act(bits: int):
    _, _, a_bits, a_int = PRECISION[bits]
    return qnn.QuantReLU(act_quant=unsigned_act(a_bits, a_int), return_quant_tensor=True)


def _conv(c_in: int, c_out: int, bits: int, apriori: bool) -> nn.Module:
    w_bits, (b_bits, b_int), _, _ = PRECISION[bits]
    wq, bq = signed_weight(w_bits, 0), signed_bias(b_bits, b_int)
    if not apriori:
        return qnn.QuantConv2d(c_in, c_out, 3, bias=True, weight_quant=wq, bias_quant=bq)
    return nn.Sequential(
        qnn.QuantConv2d(c_in, RANK, (3, 1), bias=False, weight_quant=wq),
        qnn.QuantIdentity(act_quant=signed_act(10, 3), return_quant_tensor=True),
        qnn.QuantConv2d(RANK, c_out, (1, 3), bias=True, weight_quant=wq, bias_quant=bq),
    )


class _Value(nn.Module):
    """QuantTensor -> its value (so that plain torch layers follow Brevitas ones)."""

    def forward(self, x):
        return getattr(x, "value", x)


class DigitsCNN(nn.Module):
    def __init__(self, bits: int = 4, apriori: bool = False):
        super().__init__()
        w_bits, (b_bits, b_int), _, _ = PRECISION[bits]
        self.features = nn.Sequential(
            qnn.QuantIdentity(act_quant=unsigned_act(5, 1), return_quant_tensor=True),
            _conv(1, CHANNELS[0], bits, apriori), _act(bits),
            _conv(CHANNELS[0], CHANNELS[1], bits, apriori), _act(bits),
            _Value(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.classifier = qnn.QuantLinear(4 * CHANNELS[1], 10, bias=True, weight_quant=signed_weight(w_bits, 0),
                                          bias_quant=signed_bias(b_bits, b_int))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(seed: int = 0, bits: int = 4, apriori: bool = False, **options) -> nn.Module:
    torch.manual_seed(seed)
    return DigitsCNN(bits=bits, apriori=apriori)


ZOO = {
    "digits_cnn": build,
    "digits_cnn_8bit": lambda seed=0, **kw: build(seed, bits=8, **kw),
    "digits_cnn_apriori": lambda seed=0, **kw: build(seed, bits=8, apriori=True, **kw),
}
