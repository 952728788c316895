"""Pareto fronts over the points of a sweep.

``FRONTS`` are the three two-metric fronts the sweep report plots; a point is marked
``pareto: true`` in ``sweep.json`` when no other point is at least as good on every
objective that both have and better on one (accuracy and throughput up; LUTs and energy
down). Points without the numbers (failed, or the stage was not run) are on no front.
"""

from __future__ import annotations

from typing import Any

# metric -> +1 when more is better, -1 when less is better
DIRECTIONS = {"accuracy": 1, "inferences_per_s": 1, "lut": -1, "energy_nj": -1}

# (name, x metric, y metric) of each plotted front
FRONTS = (
    ("accuracy_vs_lut", "lut", "accuracy"),
    ("accuracy_vs_energy", "energy_nj", "accuracy"),
    ("throughput_vs_lut", "lut", "inferences_per_s"),
)


def dominates(a: dict, b: dict, metrics: tuple[str, ...]) -> bool:
    """``a`` is no worse than ``b`` on every metric and better on at least one."""
    better = False
    for m in metrics:
        da, db = DIRECTIONS[m] * a[m], DIRECTIONS[m] * b[m]
        if da < db:
            return False
        better |= da > db
    return better


def front(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> list[int]:
    """Indices of the rows with every metric present that no such row dominates."""
    have = [i for i, r in enumerate(rows) if all(isinstance(r.get(m), (int, float)) for m in metrics)]
    return [i for i in have if not any(dominates(rows[j], rows[i], metrics) for j in have if j != i)]


def mark_pareto(points: list[dict[str, Any]]) -> None:
    """Set ``pareto`` (on the front of all objectives the complete points share) and
    ``pareto_fronts`` (the names of the two-metric fronts the point is on) in place."""
    rows = [p["metrics"] if p.get("status") == "complete" else {} for p in points]
    shared = tuple(m for m in DIRECTIONS if any(isinstance(r.get(m), (int, float)) for r in rows))
    # an objective only some complete points have (say energy where one profile failed) would
    # leave the others off every front: use the objectives every complete point has
    complete = [r for r in rows if r]
    shared = tuple(m for m in shared if all(isinstance(r.get(m), (int, float)) for r in complete))
    on_all = set(front(rows, shared)) if shared else set()
    fronts: dict[int, list[str]] = {}
    for name, x, y in FRONTS:
        for i in front(rows, (x, y)):
            fronts.setdefault(i, []).append(name)
    for i, p in enumerate(points):
        p["pareto"] = i in on_all
        p["pareto_fronts"] = fronts.get(i, [])
