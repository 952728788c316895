"""OpenSTA (``sta``), the static timing and power analyser of the ASIC profile."""

from __future__ import annotations

from hwflow.tools.base import Tool

class OpenSTA(Tool):
    name = "sta"
    binary = "sta"
    env_var = "HWFLOW_STA"
    install = "apt-get install opensta (part of scripts/setup.sh, as root)"
    enables = ("profile",)
    version_args = ("-version",)
