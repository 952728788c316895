"""BiPer binary CNN on the 8x8 digits, Brevitas twin of ``models/biper_bnn_keras.py``.

Hidden layers binary (weights and activations), first and last layer at 8 bits, as in the
BiPer paper (PyTorch layout NCHW; flatten order c, h, w):

  QuantIdentity quantized_bits(5, 1, keep_negative=False)   input (k/16 pixels, exact)
  QuantConv2d 32 3x3 same, 8-bit weights quantized_bits(8, 0), bias quantized_bits(8, 3)
  ApproxSign                                                 -> +-1
  QuantConv2d 32 3x3 same (zero padding), BiPer weights (w0 = 20), no bias
  BinaryScale (per-channel alpha > 0, beta) + ApproxSign, MaxPool 2   -> 4x4x32 +-1
  QuantConv2d 64 3x3 same, BiPer weights, no bias
  BinaryScale + ApproxSign, MaxPool 2                         -> 2x2x64 +-1
  Flatten 256 -> QuantLinear 10, weights quantized_bits(8, 0), bias quantized_bits(8, 3)

BinaryScale is folded into per-channel integer thresholds at export
(:class:`hwflow.quant.biper_torch.BinaryScale`). Two-stage training:
``hwflow.quant.biper_torch.set_biper_stage`` (``TRAIN["biper_stage1_fraction"]``).

``build(seed, mode=...)``: ``biper`` (the zoo model), ``sign`` (plain BNN: Brevitas' binary
quantizers, sign with the clipped straight-through estimator for weights and activations),
``int8`` (8-bit weights, ``quantized_relu(8, 2)`` activations) and ``float`` (ReLU, no
quantizers in the hidden layers) -- the same architecture for the digits benchmark.
``biper_bnn_periodic`` (zoo entry; ``first_activation="biper"``): the first ApproxSign is
replaced by a ``quantized_bits(8, 3)`` quantizer (step 2**-4) and hwflow's periodic BiPer
activation with period 2**1 = 32 steps (custom QONNX op ``BiPer``: bit 4 of the integer).
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from torch import nn

from hwflow.errors import ConfigError
from hwflow.quant.biper_torch import ApproxSignActQuant, BiPerAct, BinaryScale, biper_weight_quant
from hwflow.quant.fixed_torch import signed_act, signed_bias, signed_weight, unsigned_act

DATASET = "digits"
TASK = "classify"
INPUT_SHAPE = (1, 8, 8)
INPUT_RANGE = (0.0, 2.0 - 2.0**-4)
DEFAULT_EPOCHS = 30
TRAIN = {"task": "classify", "batch_size": 64, "lr": 3e-3, "biper_stage1_fraction": 0.5}
MODES = ("biper", "sign", "int8", "float")
HIDDEN = (32, 64)
W0 = 20.0
PERIODIC_LOG2_PERIOD = 1


class _SignWeight(SignedBinaryWeightPerTensorConst):
    scaling_const = 1.0  # +-1 weights (Brevitas' default is 0.1)


class _Value(nn.Module):
    def forward(self, x):
        return getattr(x, "value", x)


def _hidden_block(mode: str, c_in: int, c_out: int, w0: float) -> list[nn.Module]:
    if mode in ("biper", "sign"):
        wq = biper_weight_quant(w0) if mode == "biper" else _SignWeight
        conv = qnn.QuantConv2d(c_in, c_out, 3, padding=1, bias=False, weight_quant=wq)
        if mode == "biper":
            # latent weights small, so that sin(w0 w) starts in its linear region
            nn.init.uniform_(conv.weight, -0.05, 0.05)
        scale = BinaryScale(c_out, bound=c_in * 9)
        if mode == "sign":
            scale.sign = qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)
        return [conv, scale, nn.MaxPool2d(2)]
    if mode == "int8":
        return [qnn.QuantConv2d(c_in, c_out, 3, padding=1, bias=False, weight_quant=signed_weight(8, 0)),
                qnn.QuantReLU(act_quant=unsigned_act(8, 2)), nn.MaxPool2d(2)]
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2)]


def _first_act(mode: str, first_activation: str) -> nn.Module:
    if first_activation == "biper":
        return nn.Sequential(qnn.QuantIdentity(act_quant=signed_act(8, 3), return_quant_tensor=True),
                             BiPerAct(log2_period=PERIODIC_LOG2_PERIOD, frac_bits=4))
    if first_activation != "sign":
        raise ConfigError(f"first_activation must be 'sign' or 'biper', not {first_activation!r}")
    if mode == "biper":
        return qnn.QuantIdentity(act_quant=ApproxSignActQuant)
    if mode == "sign":
        return qnn.QuantIdentity(act_quant=SignedBinaryActPerTensorConst)
    if mode == "int8":
        return qnn.QuantReLU(act_quant=unsigned_act(8, 2))
    return nn.ReLU()


class BiPerBNN(nn.Module):
    def __init__(self, mode: str = "biper", w0: float = W0, first_activation: str = "sign"):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.inp = qnn.QuantIdentity(act_quant=unsigned_act(5, 1), return_quant_tensor=True)
        self.conv1 = qnn.QuantConv2d(1, HIDDEN[0], 3, padding=1, bias=True, weight_quant=signed_weight(8, 0),
                                     bias_quant=signed_bias(8, 3))
        self.act1 = _first_act(mode, first_activation)
        self.value = _Value()
        self.block1 = nn.Sequential(*_hidden_block(mode, HIDDEN[0], HIDDEN[0], w0))
        self.block2 = nn.Sequential(*_hidden_block(mode, HIDDEN[0], HIDDEN[1], w0))
        self.flatten = nn.Flatten()
        self.fc = qnn.QuantLinear(4 * HIDDEN[1], 10, bias=True, weight_quant=signed_weight(8, 0),
                                  bias_quant=signed_bias(8, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.value(self.act1(self.conv1(self.inp(x))))
        x = self.value(self.block2(self.value(self.block1(x))))
        return self.fc(self.flatten(x))


def build(seed: int = 0, mode: str = "biper", w0: float = W0, first_activation: str = "sign",
          **options) -> nn.Module:
    torch.manual_seed(seed)
    return BiPerBNN(mode=mode, w0=w0, first_activation=first_activation)


def build_periodic(seed: int = 0, **options) -> nn.Module:
    return build(seed, mode="biper", first_activation="biper", **options)


ZOO = {"biper_bnn": build, "biper_bnn_periodic": build_periodic}
