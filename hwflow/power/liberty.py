"""The few facts the power flow needs from a liberty file: cell areas, sequential cells,
nominal voltage and units.

A liberty file is a nested group syntax; we only read top-level attributes and each
``cell (NAME) { area : X; ... ff/latch ... }`` with regular expressions, because the
values we need are simple attributes (no full parser needed, and none is installed).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

_CELL = re.compile(r"^\s*cell\s*\(\s*\"?([A-Za-z0-9_]+)\"?\s*\)\s*\{", re.M)
_AREA = re.compile(r"^\s*area\s*:\s*([0-9.eE+-]+)\s*;", re.M)
_SEQ = re.compile(r"^\s*(ff|latch|ff_bank|latch_bank)\s*\(", re.M)
_ATTR = r"^\s*{name}\s*:\s*\"?([^;\"]+)\"?\s*;"


@dataclass(frozen=True)
class LibertyInfo:
    path: Path
    name: str
    areas: dict[str, float]          # um^2 (the osu018 liberty gives no unit; its LEF is in um)
    sequential: frozenset[str]
    nom_voltage: float | None
    leakage_power_unit: str | None
    time_unit: str | None

    def area(self, cell: str) -> float:
        return self.areas[cell]


@functools.lru_cache(maxsize=4)
def read_liberty(path: str | Path) -> LibertyInfo:
    path = Path(path)
    text = path.read_text(errors="replace")
    m = re.search(r"library\s*\(\s*\"?([A-Za-z0-9_]+)", text)
    name = m.group(1) if m else path.stem
    heads = list(_CELL.finditer(text))
    areas: dict[str, float] = {}
    seq = set()
    for i, h in enumerate(heads):
        body = text[h.end(): heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        a = _AREA.search(body)
        if a:
            areas[h.group(1)] = float(a.group(1))
        if _SEQ.search(body):
            seq.add(h.group(1))

    def attr(key: str) -> str | None:
        mm = re.search(_ATTR.format(name=key), text, re.M)
        return mm.group(1).strip() if mm else None

    v = attr("nom_voltage")
    return LibertyInfo(path, name, areas, frozenset(seq), float(v) if v else None,
                       attr("leakage_power_unit"), attr("time_unit"))
