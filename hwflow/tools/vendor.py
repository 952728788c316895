"""AMD/Xilinx vendor tools: optional, licensed, never installed by hwflow."""

from __future__ import annotations

from hwflow.errors import VendorToolMissing
from hwflow.tools.base import Tool

class VendorTool(Tool):
    required = False
    missing_error = VendorToolMissing


class Vivado(VendorTool):
    name = "vivado"
    binary = "vivado"
    env_var = "HWFLOW_VIVADO"
    install = "AMD Vivado (vendor licence; not installable here)"
    enables = ("hls --build (Vivado backend)", "synth/bitstream for Xilinx boards")
    version_args = ("-version",)


class VitisHLS(VendorTool):
    name = "vitis_hls"
    binary = "vitis_hls"
    env_var = "HWFLOW_VITIS_HLS"
    install = "AMD Vitis HLS (vendor licence; not installable here)"
    enables = ("hls --build (Vitis backend)",)
    version_args = ("-version",)


class VivadoHLS(VendorTool):
    name = "vivado_hls"
    binary = "vivado_hls"
    env_var = "HWFLOW_VIVADO_HLS"
    install = "Xilinx Vivado HLS (vendor licence; not installable here)"
    enables = ("hls --build (Vivado backend)",)
    version_args = ("-version",)
