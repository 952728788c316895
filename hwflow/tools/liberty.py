"""Standard-cell libraries (liberty + Verilog cell models) of the ASIC flow."""

from __future__ import annotations

import os
from pathlib import Path

from hwflow.errors import ToolNotFound
from hwflow.tools.base import ToolStatus

class Liberty:
    """A standard-cell library: liberty timing/power file plus Verilog cell models."""

    LIBRARIES = {
        "osu018": ("/usr/share/qflow/tech/osu018", "osu018_stdcells", "apt-get install qflow-tech-osu018"),
    }

    def __init__(self, name: str = "osu018") -> None:
        if name not in self.LIBRARIES:
            raise ValueError(f"unknown liberty {name!r}; known: {', '.join(self.LIBRARIES)}")
        self.name = name
        default_dir, stem, self.install = self.LIBRARIES[name]
        self.env_var = f"HWFLOW_LIBERTY_{name.upper()}"
        self.dir = Path(os.environ.get(self.env_var, default_dir))
        self.stem = stem

    @property
    def path(self) -> Path:
        p = self.dir / f"{self.stem}.lib"
        if not p.exists():
            raise ToolNotFound(f"{self.name} liberty", self.install, self.env_var, f"no {p}")
        return p

    @property
    def verilog_models(self) -> Path:
        p = self.dir / f"{self.stem}.v"
        if not p.exists():
            raise ToolNotFound(f"{self.name} cell models", self.install, self.env_var, f"no {p}")
        return p

    def status(self) -> ToolStatus:
        try:
            p = self.path
            return ToolStatus(f"liberty-{self.name}", True, "180nm" if self.name == "osu018" else None, str(p),
                              ("profile (asic)",), True, self.install)
        except ToolNotFound as e:
            return ToolStatus(f"liberty-{self.name}", False, None, None, ("profile (asic)",), True,
                              self.install, str(e))
