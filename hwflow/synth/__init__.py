"""FPGA synthesis, place-and-route, bitstreams and the board top.

One class per tool: ``YosysSynth`` (pyosys in a process of its own), ``NextpnrPnR``,
``BitstreamPacker`` (icepack/ecppack), ``VivadoFlow`` (generated TCL). ``synthesize`` and
``build_bitstream`` are the stages (``synth.json``, ``bitstream.json``); the board top is
hand-written Verilog (``verilog/``) plus generated parameter glue (``board_top``); the UART
framing shared with ``hwflow deploy`` is in ``framing``.
"""

from hwflow.synth.flow import build_bitstream, synthesize

__all__ = ["synthesize", "build_bitstream"]
