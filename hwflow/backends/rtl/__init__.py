"""Open RTL backend: QONNX -> fully pipelined Verilog (II = 1) through da4ml, with a
valid/ready stream wrapper and ``rtl.json`` (CONTRACTS.md section 4)."""

from hwflow.backends.rtl.generate import generate_rtl

__all__ = ["generate_rtl"]
