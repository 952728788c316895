"""Turn the JSON records of a run directory into a Markdown report and an HTML page.

The report reads only what the stages wrote (``<stage>.json`` records, ``ir.json``); it
computes nothing new, so every number in it is traceable to the tool that produced it.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from hwflow.artifacts import read_json
from hwflow.report import plots

RECORDS = ("train", "hls", "rtl", "sim", "synth", "bitstream", "profile")


def collect_run(run_dir: str | Path) -> dict[str, Any]:
    """Every stage record of the run (missing ones left out)."""
    run_dir = Path(run_dir)
    data: dict[str, Any] = {}
    for name in RECORDS:
        # a flow keeps the hardware stages in <run>/hw; a hand-made run dir may hold all
        for p in (run_dir / f"{name}.json", run_dir / "hw" / f"{name}.json"):
            if p.exists():
                data[name] = read_json(p)
                break
    flow_cfg = run_dir / "flow" / "flow_config.json"
    if flow_cfg.exists():
        data["flow"] = read_json(flow_cfg)
    if (run_dir / "ir.json").exists():
        data["ir"] = read_json(run_dir / "ir.json")
    return data


def model_summary(ir: dict) -> list[tuple[str, str]]:
    """Rows describing the model, from ``ir.json`` (the IR's fixed-point analysis)."""
    rows = []
    ops: dict[str, int] = {}
    for node in ir.get("nodes", []):
        ops[node["op_type"]] = ops.get(node["op_type"], 0) + 1
    rows.append(("operators", ", ".join(f"{k} x{v}" for k, v in sorted(ops.items()))))
    for key, label in (("total_macs", "multiply-accumulates"), ("total_bit_ops", "bit operations"),
                       ("weight_bits", "parameter bits")):
        if key in ir:
            rows.append((label, _fmt(ir[key])))
    tensors = ir.get("tensors", {})
    for kind in ("inputs", "outputs"):
        for name in ir.get(kind, []):
            t = tensors.get(name, {}) if isinstance(tensors, dict) else {}
            typ = t.get("type") or t.get("fixed") or {}
            desc = ", ".join(f"{k}={typ[k]}" for k in ("signed", "width", "frac", "scale") if k in typ)
            rows.append((f"{kind[:-1]} {name}", f"shape {t.get('shape')}; {desc}" if t else name))
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) <= 8 and all(isinstance(x, (int, float, str)) for x in v):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, (dict, list)):
        return "…"
    return str(v)


def _scalars(rec: dict, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Flat (key, value) rows of a record's scalar fields, one level of nesting."""
    rows = []
    bookkeeping = {"schema", "inputs", "params", "params_digest", "outputs", "tools", "host", "started"}
    for k, v in rec.items():
        if k in bookkeeping or k in skip:
            continue
        if isinstance(v, dict):
            for k2, v2 in v.items():
                if not isinstance(v2, (dict, list)):
                    rows.append((f"{k}.{k2}", _fmt(v2)))
        elif not isinstance(v, list) or len(v) <= 8:
            rows.append((k, _fmt(v)))
    return rows


def certificate(data: dict) -> list[dict]:
    """Bit-exactness evidence: samples checked and mismatches per backend."""
    rows = []
    for stage_name, label in (("hls", "hls4ml C simulation"), ("sim", "RTL co-simulation (Verilator)")):
        rec = data.get(stage_name)
        if not rec:
            continue
        rows.append({
            "backend": label,
            "samples": rec.get("samples", (rec.get("csim") or {}).get("samples")),
            "mismatches": rec.get("mismatches", rec.get("mismatch_count")),
            "status": rec.get("status"),
        })
    return rows


def _md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(run_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and the plots (``plots/*.png``)."""
    run_dir = Path(run_dir)
    data = collect_run(run_dir)
    figures = plots.make_all(data, run_dir / "plots")
    title = f"hwflow report: {data.get('flow', {}).get('name', run_dir.name)}"

    md = [f"# {title}", ""]
    from hwflow.report.summary import key_numbers

    summary = key_numbers(run_dir)
    if summary:
        md += ["## Summary", "", _md_table(["what", "value", "from"], [list(r) for r in summary]), ""]
    model_rows = model_summary(data["ir"]) if "ir" in data else []
    if model_rows:
        md += ["## Model", "", "From `ir.json`.", "", _md_table(["", ""], [list(r) for r in model_rows]), ""]
    cert = certificate(data)
    sections: list[tuple[str, str, list[tuple[str, str]]]] = []
    if cert:
        md += ["## Bit-exactness certificate", "",
               _md_table(["backend", "samples", "mismatches", "status"],
                         [[c["backend"], c["samples"], c["mismatches"], c["status"]] for c in cert]), ""]
    for name in RECORDS:
        if name in data:
            rows = _scalars(data[name])
            sections.append((name, f"{name}.json", rows))
            md += [f"## {name}", "", f"From `{name}.json`.", "", _md_table(["field", "value"], [list(r) for r in rows]), ""]
    for fig_name, path in figures.items():
        md += [f"![{fig_name}]({Path(os.path.relpath(path, run_dir)).as_posix()})", ""]
    md_path = run_dir / "report.md"
    md_path.write_text("\n".join(md))

    html_path = run_dir / "report.html"
    if model_rows:
        sections.insert(0, ("model", "ir.json", model_rows))
    html_path.write_text(_html(title, summary, cert, sections, figures))
    return {"markdown": md_path, "html": html_path, **{f"plot_{k}": v for k, v in figures.items()}}


def _html(title: str, summary, cert: list[dict], sections, figures: dict[str, Path]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;font-size:14px}th{background:#f0f0f0}.ok{color:#070;font-weight:bold}"
        ".bad{color:#b00;font-weight:bold}img{max-width:100%;border:1px solid #ddd;margin:0.5em 0}</style>",
        "</head><body>", f"<h1>{esc(title)}</h1>",
    ]
    if summary:
        parts.append("<h2>Summary</h2><table><tr><th>what</th><th>value</th><th>from</th></tr>")
        parts += [f"<tr><td>{esc(a)}</td><td>{esc(b)}</td><td><code>{esc(c)}</code></td></tr>" for a, b, c in summary]
        parts.append("</table>")
    if cert:
        parts.append("<h2>Bit-exactness certificate</h2><table><tr><th>backend</th><th>samples</th>"
                     "<th>mismatches</th><th>status</th></tr>")
        for c in cert:
            cls = "ok" if c["mismatches"] == 0 else "bad"
            parts.append(f"<tr><td>{esc(c['backend'])}</td><td>{esc(_fmt(c['samples']))}</td>"
                         f"<td class='{cls}'>{esc(_fmt(c['mismatches']))}</td><td>{esc(_fmt(c['status']))}</td></tr>")
        parts.append("</table>")
    if figures:
        parts.append("<h2>Plots</h2>")
        for name, path in figures.items():
            b64 = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{b64}'>"
                         f"<figcaption>{esc(name)}</figcaption></figure>")
    for name, source, rows in sections:
        parts.append(f"<h2>{esc(name)}</h2><p>From <code>{esc(source)}</code>.</p><table>")
        parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
