"""The C++ compiler of hls4ml's C simulation and Verilator's models."""

from __future__ import annotations

from hwflow.tools.base import Tool

class Gxx(Tool):
    name = "g++"
    binary = "g++"
    env_var = "CXX"
    install = "apt-get install g++"
    enables = ("hls C-sim", "sim")
