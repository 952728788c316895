"""The RTL design of a run directory, as ``rtl.json`` describes it (docs/INTERFACES.md section 4).

The one reader of ``rtl.json`` for the stages after ``hwflow rtl``: simulation, synthesis,
the board top and ``deploy``, and the power flow. Each takes what it needs from
:class:`RtlDesign`; ``raw`` keeps the whole record for stage-specific keys (``pipeline``,
``status``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwflow.artifacts import read_json
from hwflow.errors import ConfigError, NotBuiltYet


class RtlNotGenerated(NotBuiltYet, ConfigError):
    """The run directory has no ``rtl.json``: ``hwflow rtl`` has not been run for it.

    A ``NotBuiltYet`` (the stage's output is not there yet) that is also a ``ConfigError``
    (the run directory given is not usable), so callers that catch either keep working.
    """


@dataclass(frozen=True)
class PortFormat:
    """How one input or output vector of the wrapper is laid out in ``tdata``: element i in
    bits [i*EW +: EW], the two's-complement (or unsigned) integer q of x = q * scale * 2**-frac.

    ``shape`` is the port tensor's shape (first axis the batch), () when not known."""

    elements: int
    element_width: int
    signed: bool
    frac: int = 0
    scale: float = 1.0
    shape: tuple[int, ...] = ()

    @classmethod
    def from_json(cls, port: dict, where: str) -> "PortFormat":
        """From the ``input``/``output`` entry of ``rtl.json``; ``where`` names it in errors."""
        try:
            fmt = cls(int(port["elements"]), int(port["element_width"]), bool(port["signed"]), int(port["frac"]),
                      float(port.get("scale", 1.0)), tuple(int(n) for n in port.get("shape") or ()))
            tdata_width = int(port["tdata_width"])
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{where}: bad port format ({type(e).__name__}: {e})") from None
        if tdata_width != fmt.tdata_width:
            raise ConfigError(f"{where}: tdata_width {tdata_width} != elements x element_width "
                              f"({fmt.elements} x {fmt.element_width})")
        return fmt

    @property
    def tdata_width(self) -> int:
        return self.elements * self.element_width

    @property
    def n_bytes(self) -> int:
        """Bytes of one ``tdata`` word, zero-padded to whole bytes."""
        return (self.tdata_width + 7) // 8

    @property
    def int_min(self) -> int:
        return -(1 << (self.element_width - 1)) if self.signed else 0

    @property
    def int_max(self) -> int:
        return (1 << (self.element_width - 1)) - 1 if self.signed else (1 << self.element_width) - 1

    @property
    def step(self) -> float:
        return self.scale * 2.0 ** (-self.frac)

    def to_ints(self, values: np.ndarray) -> np.ndarray:
        """Real values (on the fixed-point grid) -> integers q, shape (n, elements)."""
        v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if v.shape[1] != self.elements:
            raise ConfigError(f"vectors have {v.shape[1]} elements, the design takes {self.elements}")
        q = np.rint(v / self.step)
        off = np.nonzero(np.abs(q * self.step - v) > 1e-9 * max(1.0, float(np.abs(v).max(initial=0))))
        if off[0].size:
            i, j = int(off[0][0]), int(off[1][0])
            raise ConfigError(f"sample {i}, element {j}: {v[i, j]!r} is not on the input grid (step {self.step})")
        q = q.astype(np.int64)
        bad = np.nonzero((q < self.int_min) | (q > self.int_max))
        if bad[0].size:
            i, j = int(bad[0][0]), int(bad[1][0])
            raise ConfigError(f"sample {i}, element {j}: {v[i, j]!r} is outside the input range "
                              f"[{self.int_min * self.step}, {self.int_max * self.step}]")
        return q

    def to_real(self, q: np.ndarray) -> np.ndarray:
        return np.asarray(q, dtype=np.float64) * self.step

    def pack(self, q) -> list[int]:
        """Integers, first axis the vectors (the rest flattened in C order, ``elements`` per
        vector) -> one ``tdata`` word per vector: element i in bits [i*EW +: EW], two's
        complement when signed. The one packer of stream words (simulation, power, UART).

        Raises ``ConfigError`` naming the vector and element that is not an integer or does
        not fit the element width, or the element count that is not the port's."""
        a = np.asarray(q)
        if len(a) == 0:
            return []
        a = a.reshape(len(a), -1)
        if a.shape[1] != self.elements:
            raise ConfigError(f"vectors have {a.shape[1]} elements, the port takes {self.elements}")
        if a.dtype.kind == "f":
            off = np.argwhere(~np.isfinite(a) | (a != np.rint(a)))
            if len(off):
                s, e = (int(i) for i in off[0])
                raise ConfigError(f"vector {s}, element {e} = {float(a[s, e])!r} is not an integer")
        bad = np.argwhere((a < self.int_min) | (a > self.int_max))
        if len(bad):
            s, e = (int(i) for i in bad[0])
            raise ConfigError(f"vector {s}, element {e} = {int(a[s, e])} does not fit {self.element_width} bits "
                              f"({'signed' if self.signed else 'unsigned'}: [{self.int_min}, {self.int_max}])")
        ew, mask = self.element_width, (1 << self.element_width) - 1
        words = []
        for row in a.tolist():          # Python ints: tdata may be wider than 64 bits
            w = 0
            for i, x in enumerate(row):
                w |= (int(x) & mask) << (i * ew)
            words.append(w)
        return words

    def unpack(self, words) -> np.ndarray:
        """``tdata`` words -> integers, shape (len(words), elements) int64, sign-extended when
        signed. Raises ``ConfigError`` for a word that is negative or wider than ``tdata``."""
        ew, mask, top = self.element_width, (1 << self.element_width) - 1, 1 << (self.element_width - 1)
        out = np.empty((len(words), self.elements), dtype=np.int64)
        for s, w in enumerate(words):
            w = int(w)
            if w < 0 or w >> self.tdata_width:
                raise ConfigError(f"word {s} = {w:#x} does not fit the {self.tdata_width}-bit tdata")
            for i in range(self.elements):
                x = (w >> (i * ew)) & mask
                out[s, i] = x - (x & top) * 2 if self.signed else x
        return out


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
    files: tuple[Path, ...]      # absolute: tools run in other working directories
    ii: int
    latency_cycles: int
    clock_port: str
    reset_port: str
    reset_active_high: bool
    input: PortFormat
    output: PortFormat
    weights: str                 # "hardwired" | "registers"
    model: Path | None
    raw: dict                    # the whole record, for stage-specific keys
    config: ConfigPort | None = None

    @property
    def rtl_json(self) -> Path:
        return self.run_dir / "rtl.json"

    @property
    def design_id(self) -> int:
        """32-bit digest of the core's Verilog; the board reports it so ``deploy`` can tell
        that the bitstream on the board is this design."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        return int.from_bytes(h.digest()[:4], "little")


def load_design(run_dir: str | Path) -> RtlDesign:
    """Read ``<run_dir>/rtl.json``.

    Raises :class:`RtlNotGenerated` when it is missing, ``ConfigError`` naming the file when
    a field is missing or bad, when listed Verilog files do not exist, or when ``ii`` < 1.
    """
    run_dir = Path(run_dir)
    path = run_dir / "rtl.json"
    if not path.exists():
        raise RtlNotGenerated(f"{path} does not exist: run `hwflow rtl MODEL -o {run_dir}` first")
    try:
        d = read_json(path)
        design = RtlDesign(
            run_dir=run_dir, top=str(d["top"]), files=tuple((run_dir / f).resolve() for f in d["files"]),
            ii=int(d.get("ii", 1)), latency_cycles=int(d.get("latency_cycles", 0)),
            clock_port=str(d.get("clock_port", "clk")), reset_port=str(d.get("reset_port", "rst")),
            reset_active_high=bool(d.get("reset_active_high", True)),
            input=PortFormat.from_json(d["input"], f"{path} input"),
            output=PortFormat.from_json(d["output"], f"{path} output"),
            weights=str(d.get("weights", "hardwired")),
            model=(run_dir / d["model"]) if d.get("model") else None,
            raw=d,
            config=ConfigPort.from_json(d["config"], f"{path} config") if d.get("config") else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: missing or bad field ({type(e).__name__}: {e})") from None
    missing = [str(f) for f in design.files if not f.exists()]
    if missing:
        raise ConfigError(f"{path} lists Verilog files that do not exist: {', '.join(missing)}")
    if design.ii < 1:
        raise ConfigError(f"{path}: ii must be >= 1, got {design.ii}")
    return design
