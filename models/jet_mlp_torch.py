"""Jet-tagging MLP 16-64-32-32-5 (the hls4ml benchmark architecture), Brevitas twin of
``models/jet_mlp_keras.py``.

Quantization (QKeras notation; the same grid in both frameworks):
- input: ``quantized_bits(12, 4)`` -- signed 12 bits, 7 fractional bits, range [-16, 16)
  (the features are standardised; 12 bits keep every float32 accumulator exact);
- weights and biases: ``quantized_bits(6, 0, alpha=1)`` -- sign + 5 fractional bits;
- hidden activations: ``quantized_relu(6, 0)`` -- 6 fractional bits, range [0, 1);
- output: the 5 logits of the last dense layer, unquantized accumulator (softmax is for
  training only and is not part of the exported graph).
"""

from __future__ import annotations

import torch
from brevitas import nn as qnn
from torch import nn

from hwflow.quant.fixed_torch import signed_act, signed_bias, signed_weight, unsigned_act

DATASET = "jets"
TASK = "classify"
INPUT_SHAPE = (16,)  # without the batch axis
INPUT_RANGE = (-16.0, 16.0 - 2.0**-7)  # the input quantizer's grid: [-16, 16 - 2**-7]
DEFAULT_EPOCHS = 10
TRAIN = {"task": "classify", "batch_size": 256, "lr": 3e-3}

W_BITS, A_BITS = 6, 6
LAYERS = (16, 64, 32, 32, 5)


class JetMLP(nn.Module):
    def __init__(self, w_bits: int = W_BITS, a_bits: int = A_BITS):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=signed_act(12, 4), return_quant_tensor=True)
        layers: list[nn.Module] = []
        n = len(LAYERS) - 1
        for i, (a, b) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
            layers.append(
                qnn.QuantLinear(a, b, bias=True, weight_quant=signed_weight(w_bits, 0),
                                bias_quant=signed_bias(w_bits, 0), return_quant_tensor=i < n - 1)
            )
            if i < n - 1:
                layers.append(qnn.QuantReLU(act_quant=unsigned_act(a_bits, 0), return_quant_tensor=True))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.inp(x))


def build(seed: int = 0, w_bits: int = W_BITS, a_bits: int = A_BITS) -> nn.Module:
    """``w_bits``: weight and bias bits (sign + fraction), ``a_bits``: hidden activation bits
    (the flow file's ``model.options``, a sweep axis)."""
    torch.manual_seed(seed)
    return JetMLP(w_bits, a_bits)


ZOO = {"jet_mlp": build}
