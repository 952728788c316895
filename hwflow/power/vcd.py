"""Toggle counts and duty cycles from a VCD file, per 1-bit signal.

Only what the power flow needs from IEEE 1364 VCD: the ``$var`` declarations of one scope,
``#time`` stamps and value changes (scalar ``0/1/x/z<id>`` and vector ``b... <id>``).
Written here because the simulators we use write VCD and OpenSTA here reads none, and a
streaming parser of this subset is short. Vectors are expanded to ``name[i]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from pathlib import Path
from typing import Iterable, Iterator

from hwflow.errors import ConfigError


@dataclass
class Activity:
    """Per-signal toggle counts and time-at-1 inside the window ``[t_start, t_end]``."""

    t_start: int
    t_end: int
    toggles: dict[str, int] = field(default_factory=dict)
    high_time: dict[str, int] = field(default_factory=dict)
    time_factor: float = 1.0    # VCD time units per caller time unit

    @property
    def duration(self) -> int:
        return self.t_end - self.t_start

    def rate(self, name: str, period: float) -> float:
        """Toggles per clock period (``period`` in the caller's time unit, as the window)."""
        return self.toggles[name] * period * self.time_factor / self.duration

    def duty(self, name: str) -> float:
        return self.high_time[name] / self.duration


_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "ps": 1e-12, "fs": 1e-15}


def _timescale_seconds(text: str) -> float:
    m = re.match(r"\s*(\d+)\s*([a-z]+)", text)
    if not m or m.group(2) not in _UNITS:
        raise ValueError(f"unreadable VCD timescale {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _declared_vars(lines: Iterable[str], path: Path) -> Iterator[tuple[str | None, int, list[str]]]:
    """Walk the VCD header (``$scope``/``$upscope``/``$var`` up to ``$enddefinitions``) of
    ``lines``: for every ``$var``, its scope's name (None at the top), the scope depth and the
    line's tokens (``$var wire 8 ! name [7:0] $end``). When it ends, an open file given as
    ``lines`` stands at the line after ``$enddefinitions``."""
    stack: list[str] = []
    for line in lines:
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "$scope":
            stack.append(tok[2])
        elif tok[0] == "$upscope":
            if not stack:
                raise ConfigError(f"{path}: VCD header has a $upscope without an open $scope")
            stack.pop()
        elif tok[0] == "$var":
            yield (stack[-1] if stack else None), len(stack), tok
        elif tok[0] == "$enddefinitions":
            return


def read_vcd_activity(path: Path, scope: str, t_start: int, t_end: int, time_unit_s: float | None = 1e-9,
                      prefix: str = "") -> Activity:
    """Activity of the signals declared directly in the scope whose name is ``scope``
    (the last component, e.g. ``dut``), counted between ``t_start`` and ``t_end`` (given in
    units of ``time_unit_s``, or in the VCD's own unit when it is None). ``prefix``: keep only
    the variables whose name starts with it, without it (Yosys writes a flattened design's
    nets as ``dut.n12`` in the top scope).

    A simulator may declare one VCD id for several nets that always carry the same value
    (aliases); each of them gets the id's toggles.
    """
    with open(path) as f:
        head = f.read(4096)
    m = re.search(r"\$timescale\s+(.*?)\s*\$end", head, re.S)
    factor = time_unit_s / _timescale_seconds(m.group(1)) if m and time_unit_s is not None else 1.0
    t_start, t_end = int(round(t_start * factor)), int(round(t_end * factor))
    widths: dict[str, int] = {}
    act = Activity(t_start, t_end, time_factor=factor)
    value: dict[tuple[str, int], str] = {}       # (id, bit) -> '0'/'1'/'x'
    since: dict[tuple[str, int], int] = {}       # time the current value began (clamped to window)
    names: dict[tuple[str, int], list[str]] = {}
    now = 0

    def change(key: tuple[str, int], v: str) -> None:
        old = value.get(key)
        if old == v:
            return
        if key in names:
            if old == "1":
                lo = max(since[key], t_start)
                hi = min(now, t_end)
                if hi > lo:
                    for n in names[key]:
                        act.high_time[n] += hi - lo
            if old is not None and t_start < now <= t_end and old in "01" and v in "01":
                for n in names[key]:
                    act.toggles[n] += 1
        value[key] = v
        since[key] = now

    with open(path) as f:
        for var_scope, _, tok in _declared_vars(f, path):
            if var_scope != scope or not tok[4].startswith(prefix):
                continue
            width, vid, ref = int(tok[2]), tok[3], tok[4][len(prefix):]
            rng = tok[5] if len(tok) > 5 and tok[5].startswith("[") else ""
            lsb = 0
            if rng and ":" in rng:
                msb_s, lsb_s = rng.strip("[]").split(":")
                lsb = min(int(msb_s), int(lsb_s))
            widths[vid] = width
            for b in range(width):
                n = ref if width == 1 and not rng else f"{ref}[{lsb + b}]"
                names.setdefault((vid, b), []).append(n)
                act.toggles[n] = 0
                act.high_time[n] = 0
        for line in f:
            c = line[0] if line else ""
            if c == "#":
                now = int(line[1:])
                if now > t_end:
                    break
            elif c in "01xzXZ":
                vid = line[1:].strip()
                if vid in widths:
                    change((vid, 0), c.lower() if c in "xzXZ" else c)
            elif c in "bB":
                bits, vid = line[1:].split()
                w = widths.get(vid)
                if w is None:
                    continue
                bits = bits.lower().rjust(w, "0" if bits[0] in "01" else bits[0])
                for b in range(w):
                    change((vid, b), bits[w - 1 - b])
    now = t_end
    for key, ns in names.items():
        if value.get(key) == "1":
            lo = max(since[key], t_start)
            if t_end > lo:
                for n in ns:
                    act.high_time[n] += t_end - lo
    return act


def sample_outputs(path: Path, clock: str, valid: str, data: str) -> list[tuple[int | None, int | None]]:
    """(valid, data) of top-scope signals just before every rising edge of ``clock``
    (None for x/z), for reading a testbench's output beats back from a Yosys ``sim`` VCD."""
    ids: dict[str, str] = {}
    vals: dict[str, str] = {}
    out: list[tuple[int | None, int | None]] = []
    block: list[tuple[str, str]] = []

    def as_int(v: str | None) -> int | None:
        if v is None or any(c not in "01" for c in v):
            return None
        return int(v, 2)

    def flush() -> None:
        cid = ids.get(clock)
        for vid, v in block:
            if vid == cid and vals.get(cid) == "0" and v == "1":
                out.append((as_int(vals.get(ids.get(valid, ""))), as_int(vals.get(ids.get(data, "")))))
                break
        for vid, v in block:
            vals[vid] = v
        block.clear()

    with open(path) as f:
        for _, depth, tok in _declared_vars(f, path):
            if depth == 1 and tok[4] in (clock, valid, data):
                ids[tok[4]] = tok[3]
        for line in f:
            c = line[0] if line else ""
            if c == "#":
                flush()
            elif c in "bB":
                bits, vid = line[1:].split()
                if vid in ids.values():
                    block.append((vid, bits.lower()))
            elif c in "01xzXZ":
                vid = line[1:].strip()
                if vid in ids.values():
                    block.append((vid, c.lower()))
    flush()
    return out
