"""PNG plots of a profile: power breakdown and area by module / cell type (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def power_breakdown(prof: dict, path: Path) -> Path:
    """Stacked bars: internal / switching / leakage for each group (Sequential, Combinational...)."""
    groups = prof.get("power_by_group_mw") or {"Total": prof["power_mw"]}
    kinds = [k for k in ("internal", "switching", "leakage") if any(k in g for g in groups.values())]
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    bottom = [0.0] * len(groups)
    for kind, color in zip(kinds, ("#4c72b0", "#dd8452", "#55a868")):
        vals = [g.get(kind, 0.0) for g in groups.values()]
        ax.bar(list(groups), vals, bottom=bottom, label=kind, color=color)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("power (mW)")
    label = "estimate" if prof.get("estimate") else "OpenSTA"
    ax.set_title(f"{prof['target']} @ {prof['clock_mhz']:g} MHz: {prof['total_power_mw']:.3g} mW ({label})")
    ax.legend()
    return _save(fig, path)


def area_breakdown(prof: dict, path: Path) -> Path:
    """Area by module (hierarchical mapping) and by cell type (flat netlist)."""
    mods = prof.get("area_by_module") or []
    types = prof.get("area_by_cell_type_um2") or {}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    if mods:
        mods = mods[:25][::-1]
        axes[0].barh([f"{m['module']} x{m['instances']}" for m in mods], [m["total_um2"] for m in mods])
    axes[0].set_xlabel("area (um^2)")
    axes[0].set_title("area by module (hierarchical mapping)")
    if types:
        items = sorted(types.items(), key=lambda kv: kv[1])
        axes[1].barh([k for k, _ in items], [v for _, v in items], color="#dd8452")
    axes[1].set_xlabel("area (um^2)")
    axes[1].set_title(f"area by cell type (flat netlist, {prof['area_um2']:.0f} um^2)")
    fig.tight_layout()
    return _save(fig, path)
