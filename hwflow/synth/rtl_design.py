"""The RTL design of a run directory, as ``rtl.json`` describes it (contract section 4)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from hwflow.artifacts import read_json
from hwflow.errors import ConfigError, NotBuiltYet
from hwflow.synth.framing import VectorFormat


@dataclass(frozen=True)
class RtlDesign:
    run_dir: Path
    top: str
    files: tuple[Path, ...]
    clock_port: str
    reset_port: str
    reset_active_high: bool
    input: VectorFormat
    output: VectorFormat
    model: Path | None
    raw: dict

    @classmethod
    def load(cls, run_dir: str | Path) -> "RtlDesign":
        run_dir = Path(run_dir)
        path = run_dir / "rtl.json"
        if not path.exists():
            raise NotBuiltYet(f"{run_dir} has no rtl.json: run `hwflow rtl MODEL -o {run_dir}` first")
        data = read_json(path)
        try:
            files = tuple((run_dir / f).resolve() for f in data["files"])
            design = cls(
                run_dir=run_dir, top=str(data["top"]), files=files,
                clock_port=data.get("clock_port", "clk"), reset_port=data.get("reset_port", "rst"),
                reset_active_high=bool(data.get("reset_active_high", True)),
                input=VectorFormat.from_rtl(data["input"]), output=VectorFormat.from_rtl(data["output"]),
                model=(run_dir / data["model"]) if data.get("model") else None, raw=data,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: malformed rtl.json ({type(e).__name__}: {e})") from e
        missing = [str(f) for f in design.files if not f.exists()]
        if missing:
            raise ConfigError(f"{path}: listed Verilog files are missing: {', '.join(missing)}")
        return design

    @property
    def design_id(self) -> int:
        """32-bit digest of the core's Verilog; the board reports it so ``deploy`` can tell
        that the bitstream on the board is this design."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        return int.from_bytes(h.digest()[:4], "little")
