"""Open RTL backend: QONNX -> Verilog through da4ml (fully pipelined with II = 1, or folded
for large conv layers), with a valid/ready stream wrapper and ``rtl.json`` (docs/INTERFACES.md
section 4)."""

from __future__ import annotations


def __getattr__(name: str):
    # generate_rtl pulls in qonnx, onnx and da4ml; readers of rtl.json (power, synth, sim)
    # import hwflow.backends.rtl.design without paying for them
    if name == "generate_rtl":
        from hwflow.backends.rtl.generate import generate_rtl
        return generate_rtl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["generate_rtl"]
