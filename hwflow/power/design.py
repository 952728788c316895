"""The design a profile starts from: ``rtl.json`` of a run directory (CONTRACTS.md section 4).

The power flow reads only ``top``, ``files``, ``ii``, ``latency_cycles``, the clock/reset
port names and the ``input``/``output`` element formats; it drives the valid/ready wrapper
itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hwflow.artifacts import read_json
from hwflow.errors import ConfigError


@dataclass(frozen=True)
class PortFormat:
    elements: int
    element_width: int
    signed: bool
    frac: int
    scale: float
    tdata_width: int
    shape: tuple[int, ...]

    @classmethod
    def from_json(cls, d: dict, where: str) -> "PortFormat":
        try:
            return cls(int(d["elements"]), int(d["element_width"]), bool(d["signed"]), int(d["frac"]),
                       float(d.get("scale", 1.0)), int(d["tdata_width"]), tuple(d.get("shape", [])))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: bad port format ({type(e).__name__}: {e})") from None


@dataclass(frozen=True)
class ConfigPort:
    """A register-bank configuration interface: ``cfg_we``, ``cfg_addr``, ``cfg_data``
    (one register written per clock while ``cfg_we`` is high), and the words to load."""

    addr_width: int
    data_width: int
    words: tuple[int, ...]

    @classmethod
    def from_json(cls, d: dict, where: str) -> "ConfigPort":
        try:
            return cls(int(d["addr_width"]), int(d["data_width"]), tuple(int(w) for w in d["words"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: bad config port ({type(e).__name__}: {e})") from None


@dataclass(frozen=True)
class RtlDesign:
    run_dir: Path
    top: str
    files: tuple[Path, ...]
    ii: int
    latency_cycles: int
    clock_port: str
    reset_port: str
    reset_active_high: bool
    input: PortFormat
    output: PortFormat
    weights: str
    model: Path | None
    config: ConfigPort | None = None

    @property
    def rtl_json(self) -> Path:
        return self.run_dir / "rtl.json"


def load_design(run_dir: str | Path) -> RtlDesign:
    """Read ``<run_dir>/rtl.json``; ``ConfigError`` naming the file when it is missing or bad."""
    run_dir = Path(run_dir)
    path = run_dir / "rtl.json"
    if not path.exists():
        raise ConfigError(f"{path} does not exist: run `hwflow rtl MODEL -o {run_dir}` first")
    try:
        d = read_json(path)
        files = tuple(run_dir / f for f in d["files"])
        design = RtlDesign(
            run_dir=run_dir, top=str(d["top"]), files=files, ii=int(d.get("ii", 1)),
            latency_cycles=int(d.get("latency_cycles", 0)), clock_port=d.get("clock_port", "clk"),
            reset_port=d.get("reset_port", "rst"), reset_active_high=bool(d.get("reset_active_high", True)),
            input=PortFormat.from_json(d["input"], f"{path} input"),
            output=PortFormat.from_json(d["output"], f"{path} output"),
            weights=str(d.get("weights", "hardwired")),
            model=(run_dir / d["model"]) if d.get("model") else None,
            config=ConfigPort.from_json(d["config"], f"{path} config") if d.get("config") else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: missing or bad field ({type(e).__name__}: {e})") from None
    missing = [str(f) for f in design.files if not f.exists()]
    if missing:
        raise ConfigError(f"{path} lists Verilog files that do not exist: {', '.join(missing)}")
    if design.ii < 1:
        raise ConfigError(f"{path}: ii must be >= 1, got {design.ii}")
    return design
