"""Every external tool hwflow runs, one module each (edalize's rule: one home per tool).

A tool's module says where it is found, the environment variable that overrides it, how to
install it, its version, its environment and its commands; ``process`` runs the child
processes hwflow starts itself (``run_tool``: log written as it runs, timeout, the tool's
process group stopped with hwflow) and forwards signals to them and to the children that
libraries start (cocotb's runner, hls4ml's C-sim compile). ``locate()`` raises ``ToolNotFound``
(``VendorToolMissing`` for Vivado/Vitis) naming the install command; a failing tool raises
``ToolFailed`` with its log's tail. ``recorded_versions`` is how a stage records the versions
of the tools it ran.
"""

from __future__ import annotations

from hwflow.tools.base import SETUP_HINT, Tool, ToolStatus, venv_bin
from hwflow.tools.chromium import Chromium
from hwflow.tools.gxx import Gxx
from hwflow.tools.liberty import Liberty
from hwflow.tools.nextpnr import Nextpnr, Packer, YowaspTool
from hwflow.tools.opensta import OpenSTA
from hwflow.tools.process import (DEFAULT_GRACE_S, FORWARDED_SIGNALS, GRACE_ENV, capture, install_signal_forwarding,
                                  live_tool_groups, run_tool)
from hwflow.tools.stacks import PYTHON_STACKS, PythonStack
from hwflow.tools.vendor import VendorTool, VitisHLS, Vivado, VivadoHLS
from hwflow.tools.verilator import Verilator
from hwflow.tools.yosys import Yosys


def all_tools() -> list:
    """Every external tool and Python stack ``hwflow doctor`` reports, in display order."""
    return [
        Verilator(), Yosys(), Nextpnr("ice40"), Nextpnr("ecp5"), Packer("ice40"), Packer("ecp5"),
        OpenSTA(), Liberty("osu018"), Gxx(), *PYTHON_STACKS, Chromium(), Vivado(), VitisHLS(), VivadoHLS(),
    ]


_versions: dict[tuple, str] = {}


def recorded_versions(*tools: Tool) -> dict[str, str]:
    """``{tool name: version}`` for a stage record (``stage().tools``): asked once per process
    and tool, and never an exception (an unreadable version is ``unknown (...)``)."""
    out = {}
    for tool in tools:
        key = (type(tool), getattr(tool, "family", None))
        if key not in _versions:
            try:
                _versions[key] = tool.version()
            except Exception as e:  # a version string is informative only; never fail a stage on it
                _versions[key] = f"unknown ({type(e).__name__})"
        out[tool.name] = _versions[key]
    return out


__all__ = [
    "SETUP_HINT", "Tool", "ToolStatus", "venv_bin", "Chromium", "Gxx", "Liberty", "Nextpnr", "Packer", "YowaspTool",
    "OpenSTA", "DEFAULT_GRACE_S", "FORWARDED_SIGNALS", "GRACE_ENV", "capture", "install_signal_forwarding",
    "live_tool_groups", "run_tool", "PYTHON_STACKS", "PythonStack", "VendorTool", "VitisHLS", "Vivado", "VivadoHLS",
    "Verilator", "Yosys", "all_tools", "recorded_versions",
]
