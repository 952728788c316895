"""What a sweep writes: ``sweep.json``, ``sweep.csv``, ``plots/<front>.png`` and ``sweep.html``.

Every number comes from a point's own records (``hwflow.sweep.metrics``); this module only
arranges them, marks the Pareto points and draws the fronts.
"""

from __future__ import annotations

import csv
import html
import time
from pathlib import Path
from typing import Any

from hwflow.artifacts import write_json
from hwflow.sweep.pareto import FRONTS, front, mark_pareto
from hwflow.sweep.spec import Sweep

COLUMNS = ("accuracy", "mismatches", "samples", "lut", "ff", "bram", "dsp", "fmax_mhz", "ii", "latency_cycles",
           "clock_mhz", "inferences_per_s", "area_um2", "power_mw", "energy_nj", "wall_time_s")
LABELS = {"accuracy": "test accuracy", "lut": "LUTs", "energy_nj": "energy per inference (nJ)",
          "inferences_per_s": "inferences/s (clock / II)"}


def write_results(out_dir: Path, sweep: Sweep, points: list[dict], summary: dict[str, Any], total: int,
                  final: bool = False) -> dict[str, Any]:
    mark_pareto(points)
    counts: dict[str, int] = {}
    for p in points:
        counts[p["status"]] = counts.get(p["status"], 0) + 1
    rec: dict[str, Any] = {
        "schema": 1,
        "name": sweep.spec.name,
        "sweep_file": str(sweep.path.resolve()),
        "base_flow": str((sweep.path.parent / sweep.spec.flow).resolve()),
        "axes": list((sweep.spec.grid or {}) or (sweep.spec.search.space if sweep.spec.search else {})),
        "mode": "search" if sweep.spec.search else "grid",
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "finished": final,
        **summary,
        "planned_points": total,
        "counts": counts,
        "fronts": {name: [points[i]["id"] for i in front(_rows(points), (x, y))] for name, x, y in FRONTS},
        "points": points,
    }
    rec["csv"] = str(_write_csv(out_dir / "sweep.csv", rec))
    if final:
        rec["plots"] = {k: str(v.relative_to(out_dir)) for k, v in _plots(out_dir, points).items()}
        rec["html"] = str(_write_html(out_dir / "sweep.html", rec))
    write_json(out_dir / "sweep.json", rec)
    return rec


def _rows(points: list[dict]) -> list[dict]:
    return [p.get("metrics", {}) if p["status"] == "complete" else {} for p in points]


def _write_csv(path: Path, rec: dict) -> Path:
    axes = rec["axes"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "id", "status", *axes, *COLUMNS, "pareto", "pareto_fronts", "error", "report"])
        for p in rec["points"]:
            m = p.get("metrics", {})
            w.writerow([p["index"], p["id"], p["status"], *(_cell(p["settings"].get(a)) for a in axes),
                        *(_cell(m.get(c)) for c in COLUMNS), p.get("pareto", False),
                        " ".join(p.get("pareto_fronts", [])), p.get("error") or "", _report_link(p) or ""])
    return path


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return str(v)


def _report_link(p: dict) -> str | None:
    return f"{p['run_dir']}/report.html" if p.get("metrics", {}).get("report") else None


def _plots(out_dir: Path, points: list[dict]) -> dict[str, Path]:
    """One scatter per front: every complete point, the front's points joined and ringed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _rows(points)
    paths: dict[str, Path] = {}
    for name, x, y in FRONTS:
        have = [i for i, r in enumerate(rows) if isinstance(r.get(x), (int, float)) and isinstance(r.get(y), (int, float))]
        if not have:
            continue  # no point has both numbers (that stage was not run): no plot, the page says so
        on = sorted(front(rows, (x, y)), key=lambda i: rows[i][x])
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.scatter([rows[i][x] for i in have], [rows[i][y] for i in have], color="0.6", label="points", zorder=2)
        ax.plot([rows[i][x] for i in on], [rows[i][y] for i in on], "o-", color="C3", label="Pareto front", zorder=3)
        for i in have:
            ax.annotate(str(points[i]["index"]), (rows[i][x], rows[i][y]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
        ax.set_xlabel(LABELS.get(x, x))
        ax.set_ylabel(LABELS.get(y, y))
        ax.set_title(name.replace("_", " "))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        path = out_dir / "plots" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        paths[name] = path
    return paths


def _write_html(path: Path, rec: dict) -> Path:
    e = html.escape
    eng = rec["engine"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>hwflow sweep {e(rec['name'])}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:90%}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}th{background:#eee}"
        "tr.pareto td{background:#fff3e0}td.l{text-align:left}</style></head><body>",
        f"<h1>hwflow sweep {e(rec['name'])}</h1>",
        f"<p>{len(rec['points'])} of {rec['planned_points']} points ({e(_counts(rec['counts']))}); "
        f"wall time {rec.get('wall_time_s', 0):.0f} s on {e(eng['name'])} {e(str(eng.get('version', '')))} "
        f"({e(str(eng.get('address', '')))}, {eng.get('nodes', '?')} node(s), {eng.get('cpus', 0):g} CPUs, "
        f"at most {rec.get('max_parallel', '?')} points at once). Sweep file <code>{e(rec['sweep_file'])}</code>, "
        f"base flow <code>{e(rec['base_flow'])}</code>. Highlighted rows: <code>pareto: true</code>.</p>",
        "<h2>Pareto fronts</h2>",
    ]
    for name, x, y in FRONTS:
        if name in rec.get("plots", {}):
            parts.append(f"<figure style='display:inline-block'><img src='{e(rec['plots'][name])}' alt='{e(name)}'>"
                         f"<figcaption>{e(name)}: points {e(', '.join(_indices(rec, rec['fronts'][name])))}"
                         "</figcaption></figure>")
        else:
            parts.append(f"<p>{e(name)}: no point has both {e(LABELS.get(x, x))} and {e(LABELS.get(y, y))} "
                         "(that stage was not run, or failed).</p>")
    axes = rec["axes"]
    shown = ("accuracy", "mismatches", "lut", "ff", "bram", "dsp", "fmax_mhz", "ii", "inferences_per_s",
             "area_um2", "power_mw", "energy_nj", "wall_time_s")
    parts.append("<h2>Points</h2><table><tr><th>#</th><th>point</th><th>status</th>"
                 + "".join(f"<th>{e(a)}</th>" for a in axes) + "".join(f"<th>{e(c)}</th>" for c in shown)
                 + "<th>fronts</th><th>report</th></tr>")
    for p in rec["points"]:
        m = p.get("metrics", {})
        link = _report_link(p)
        status = p["status"] + (f": {p.get('error')}" if p.get("error") else "")
        parts.append(
            f"<tr class='{'pareto' if p.get('pareto') else ''}'><td>{p['index']}</td><td class='l'>{e(p['id'])}</td>"
            f"<td class='l'>{e(status[:200])}</td>"
            + "".join(f"<td>{e(_cell(p['settings'].get(a)))}</td>" for a in axes)
            + "".join(f"<td>{e(_fmt(m.get(c)))}</td>" for c in shown)
            + f"<td class='l'>{e(' '.join(p.get('pareto_fronts', [])))}</td>"
            + (f"<td><a href='{e(link)}'>report</a></td>" if link else "<td></td>") + "</tr>")
    parts.append("</table><p>Numbers: accuracy from the point's training record, mismatches from its "
                 "co-simulation (and hls4ml C-sim), LUT/FF/BRAM/DSP from Yosys on the core for the first "
                 "FPGA target, Fmax from nextpnr for the first board, inferences/s = design clock / II, "
                 "area/power/energy from the ASIC profile. Also: sweep.json, sweep.csv.</p></body></html>")
    path.write_text("\n".join(parts))
    return path


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _indices(rec: dict, ids: list[str]) -> list[str]:
    by_id = {p["id"]: p["index"] for p in rec["points"]}
    return [str(by_id[i]) for i in ids]
