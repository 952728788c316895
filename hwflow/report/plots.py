"""Plots of a run, from its stage records (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on CI machines
import matplotlib.pyplot as plt  # noqa: E402


def _find(rec: Any, key: str) -> Any:
    """First value stored under ``key`` anywhere in a nested record."""
    if isinstance(rec, dict):
        if key in rec:
            return rec[key]
        for v in rec.values():
            found = _find(v, key)
            if found is not None:
                return found
    return None


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def training_curves(train: dict, out: Path) -> Path | None:
    history = _find(train, "history")
    if isinstance(history, list):  # one record per epoch: {"epoch": .., "loss": .., "acc": ..}
        keys = [k for k in (history[0] if history else {}) if k not in ("epoch", "phase")]
        history = {k: [r[k] for r in history if isinstance(r.get(k), (int, float))] for k in keys}
    if not isinstance(history, dict) or not history:
        return None
    series = {k: v for k, v in history.items() if isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v)}
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(4 * len(series), 3), squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        ax.plot(range(1, len(values) + 1), values, marker="o")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle("training")
    return _save(fig, out)


def resources_per_target(synth: dict, out: Path) -> Path | None:
    """Bar chart of each FPGA target's resource counts (LUT, FF, carry, BRAM, DSP)."""
    per_target = {}
    targets = synth.get("summary", synth)
    for name, rec in (targets.items() if isinstance(targets, dict) else []):
        res = _find(rec, "resources")
        if isinstance(res, dict):
            per_target[name] = {k: v for k, v in res.items() if isinstance(v, (int, float))}
    if not per_target:
        res = _find(synth, "resources")
        if isinstance(res, dict):
            label = " / ".join(str(x) for x in (synth.get("family"), synth.get("board")) if x) or "target"
            per_target[label] = {k: v for k, v in res.items() if isinstance(v, (int, float))}
    if not per_target:
        return None
    kinds = sorted({k for r in per_target.values() for k in r})
    fig, ax = plt.subplots(figsize=(1.2 * len(kinds) * max(1, len(per_target)) + 2, 3.5))
    width = 0.8 / len(per_target)
    for i, (target, res) in enumerate(per_target.items()):
        ax.bar([j + i * width for j in range(len(kinds))], [res.get(k, 0) for k in kinds], width, label=target)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(kinds))], kinds)
    ax.set_ylabel("count")
    ax.set_title("resources per target (Yosys)")
    ax.legend()
    return _save(fig, out)


def utilization_bars(synth: dict, out: Path) -> Path | None:
    """Each resource as a share of the device's capacity (synth.json ``utilization``)."""
    util = synth.get("utilization")
    if not isinstance(util, dict) or not util:
        return None
    rows = [(k.upper(), row["used"], row["available"]) for k, row in util.items()
            if isinstance(row, dict) and row.get("available")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(rows) + 1))
    pct = [100.0 * u / a for _, u, a in rows]
    ax.barh([r[0] for r in rows], [min(p, 100.0) for p in pct], color=["#c44e52" if p > 100 else "#4c72b0" for p in pct])
    for i, (name, u, a) in enumerate(rows):
        ax.text(min(pct[i], 100.0) + 1, i, f"{u:g} / {a:g} ({pct[i]:.1f}%)", va="center", fontsize=9)
    ax.set_xlim(0, 130)
    ax.set_xlabel(f"% of {synth.get('device', 'the device')}")
    ax.set_title(f"utilization ({synth.get('family')}, Yosys)")
    return _save(fig, out)


def profile_plots(profile: dict, run_dir: Path) -> dict[str, Path]:
    """The plots ``hwflow profile`` wrote (area by module, ...), as they are."""
    made = {}
    for p in profile.get("plots") or []:
        # relative to the run directory, or to its hw/ (the layout of `hwflow run`)
        path = next((c for c in (Path(p), run_dir / p, run_dir / "hw" / p) if c.is_file()), None)
        if path is not None and path.suffix == ".png":
            made[f"profile: {path.stem.replace('_', ' ')}"] = path
    return made


def power_breakdown(profile: dict, out: Path) -> Path | None:
    groups = _find(profile, "power_mw") or _find(profile, "power")
    if not isinstance(groups, dict):
        return None
    parts = {k: v for k, v in groups.items() if isinstance(v, (int, float)) and k != "total" and v >= 0}
    if not parts:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.bar(list(parts), list(parts.values()), color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(parts)])
    ax.set_ylabel("power (mW)")
    ax.set_title("power breakdown (OpenSTA)")
    return _save(fig, out)


def make_all(data: dict, out_dir: Path) -> dict[str, Path]:
    made: dict[str, Path] = {}
    for name, fn, key in (
        ("training curves", training_curves, "train"),
        ("resources per target", resources_per_target, "synth"),
        ("utilization", utilization_bars, "synth"),
        ("power breakdown", power_breakdown, "profile"),
    ):
        if key in data:
            p = fn(data[key], out_dir / f"{name.replace(' ', '_')}.png")
            if p is not None:
                made[name] = p
    if "profile" in data:
        made.update(profile_plots(data["profile"], out_dir.parent))
    return made
