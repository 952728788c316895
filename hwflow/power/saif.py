"""Per-net toggle counts and duty cycles from a SAIF file (Verilator ``--trace-saif``).

A SAIF file holds, per net, its time at 0 and at 1 (``T0``, ``T1``, also ``TX``/``TZ``) and
its toggle count (``TC``) over the traced interval -- all the power flow needs, counted by
the simulator itself: no value-change text to write and parse. Only the subset Verilator
writes is read: nested ``(INSTANCE name`` blocks holding ``(NET`` blocks of one net a line.
"""

from __future__ import annotations

import re
from pathlib import Path

from hwflow.errors import ConfigError
from hwflow.power.vcd import Activity

_NET = re.compile(r"^\s*\((\S+)\s+(.*)\)\s*$")
_FIELD = re.compile(r"\((T0|T1|TX|TZ|TC)\s+(\d+)\)")


def read_saif_activity(path: str | Path, instance: list[str], period: int, cycles: int) -> Activity:
    """Activity of the nets declared directly in the instance at ``instance`` (the last
    names of its path, e.g. ``["hwflow_gl_top", "dut"]``; Verilator puts ``TOP`` above) over ``cycles`` clock periods of ``period``
    time units (the traced interval). Vector bits are named ``name[i]`` as in the VCD reader.

    Raises ``ConfigError`` naming the file when the instance is not in it or a net line
    cannot be read."""
    path = Path(path)
    duration = period * cycles
    act = Activity(0, duration)
    stack: list[str | None] = []
    found = False
    with open(path) as f:
        for ln, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("(INSTANCE"):
                stack.append(s.split(None, 1)[1].strip().rstrip(")").replace("\\", ""))
                continue
            if s.startswith("(NET") or s.startswith("(SAIFILE"):
                stack.append(None)
                continue
            if s == ")":
                if stack:
                    stack.pop()
                continue
            names = [n for n in stack if n is not None]
            if names[-len(instance):] != instance or not s.startswith("(") or "(T" not in s:
                continue
            m = _NET.match(s)
            fields = dict(_FIELD.findall(s))
            if not m or "TC" not in fields or "T1" not in fields:
                raise ConfigError(f"{path}:{ln}: cannot read the net line {s[:120]!r}")
            found = True
            name = m.group(1).replace("\\", "")
            total = sum(int(fields.get(k, 0)) for k in ("T0", "T1", "TX", "TZ"))
            act.toggles[name] = int(fields["TC"])
            act.high_time[name] = round(int(fields["T1"]) * duration / total) if total else 0
    if not found:
        raise ConfigError(f"{path}: no nets of instance {'/'.join(instance)}")
    return act
