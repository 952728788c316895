"""BiPer binary neural network on the 8x8 digits, Brevitas twin of ``models/biper_bnn_keras.py``.

Binary weights (BiPer, ``w0 = 20``) and binary activations (sign, ApproxSign gradient) in
the hidden layers; the first and the last layer at higher precision, as in the paper.

- input 8x8x1 (PyTorch layout 1x8x8), ``quantized_bits(5, 1, keep_negative=False)``
  (step 2**-4, [0, 2)), as the digits CNN;
- conv1 3x3, 16 filters, ``same``, no bias, weights ``quantized_bits(8, 0)`` -> BatchNorm ->
  sign -> maxpool 2 -> 4x4x16 in {-1, +1};
- conv2 3x3, 32 filters, ``same`` (zero padding), no bias, BiPer binary weights ->
  per-channel scale alpha -> BatchNorm -> sign -> maxpool 2 -> 2x2x32 -> flatten 128
  (PyTorch order c, h, w);
- fc1 128 -> 64, no bias, BiPer binary weights -> alpha -> BatchNorm -> sign;
- fc2 64 -> 10 logits, weights and biases ``quantized_bits(8, 0)`` (unquantized accumulator).

Every "alpha -> BatchNorm -> sign" is :class:`hwflow.quant.biper_torch.ChannelScaleSign`:
trained as such, exported folded into a per-channel threshold (``Sub``, ``Mul`` by +-1,
``BipolarQuant``). Two-stage training: ``hwflow.quant.biper_torch.set_biper_stage``.

Option ``first_activation="biper"`` replaces the first layer's BatchNorm + sign by a
``quantized_bits(8, 3)`` quantizer and hwflow's periodic BiPer activation (period 2**0 = 1,
custom QONNX op ``BiPer``); not a zoo entry, used to test that operator end to end.
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from torch import nn

from hwflow.quant.biper_torch import BiPerAct, ChannelScaleSign, biper_weight_quant
from hwflow.quant.fixed_torch import signed_act, signed_bias, signed_weight, unsigned_act

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (1, 8, 8)
INPUT_RANGE = (0.0, 2.0 - 2.0**-4)
EPOCHS = 40
# two-stage BiPer schedule: stage 1 (real sin(w0 w) weights) then stage 2 (binary weights)
TRAIN = {"task": "classify", "batch_size": 64, "lr": 3e-3, "biper_stages": (0.5, 0.5)}
W0 = 20.0


class _Value(nn.Module):
    def forward(self, x):
        return getattr(x, "value", x)


class BiPerBNN(nn.Module):
    def __init__(self, w0: float = W0, first_activation: str = "sign"):
        super().__init__()
        wq = biper_weight_quant(w0)
        self.inp = qnn.QuantIdentity(act_quant=unsigned_act(5, 1), return_quant_tensor=True)
        self.conv1 = qnn.QuantConv2d(1, 16, 3, padding=1, bias=False, weight_quant=signed_weight(8, 0))
        if first_activation == "sign":
            self.act1 = ChannelScaleSign(16, scale=False)
        elif first_activation == "biper":
            self.act1 = nn.Sequential(qnn.QuantIdentity(act_quant=signed_act(8, 3), return_quant_tensor=True),
                                      BiPerAct(log2_period=0, frac_bits=4))
        else:
            from hwflow.errors import ConfigError

            raise ConfigError(f"first_activation must be 'sign' or 'biper', not {first_activation!r}")
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = qnn.QuantConv2d(16, 32, 3, padding=1, bias=False, weight_quant=wq)
        self.act2 = ChannelScaleSign(32)
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = qnn.QuantLinear(128, 64, bias=False, weight_quant=wq)
        self.act3 = ChannelScaleSign(64)
        self.fc2 = qnn.QuantLinear(64, 10, bias=True, weight_quant=signed_weight(8, 0),
                                   bias_quant=signed_bias(8, 0))
        self.value = _Value()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.value(self.act1(self.conv1(self.inp(x)))))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.act3(self.fc1(self.flatten(x)))
        return self.fc2(x)


def build(seed: int = 0, w0: float = W0, first_activation: str = "sign", **options) -> nn.Module:
    torch.manual_seed(seed)
    return BiPerBNN(w0=w0, first_activation=first_activation)


ZOO = {"biper_bnn": build}
