"""Backends: QONNX -> hardware descriptions (``hls4ml`` projects, ``rtl`` Verilog)."""
