"""Vitis/Vivado HLS synthesis reports -> numbers for ``hls.json``.

hls4ml has ``hls4ml.report.parse_vivado_report``; it locates the solution through the
``hls.app``/``vivado_hls.app`` project file, prints instead of raising when something is
missing, and returns every number as a string. We read the same documented file
(``<prj>/<solution>/syn/report/<top>_csynth.xml``: ``UserAssignments``,
``PerformanceEstimates/SummaryOfTimingAnalysis``, ``.../SummaryOfOverallLatency``,
``AreaEstimates/Resources`` and ``AvailableResources``) with typed values and a typed error,
and the test checks both parsers agree on the golden report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hwflow.errors import ToolFailed

RESOURCE_KEYS = {"LUT": "lut", "FF": "ff", "DSP": "dsp", "DSP48E": "dsp", "BRAM_18K": "bram_18k", "URAM": "uram"}


def _num(text: str | None):
    if text is None:
        return None
    t = text.strip()
    if t in ("", "undef", "-"):
        return None
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            return t


def find_csynth_xml(project_dir: str | Path, top: str) -> Path | None:
    """The csynth XML of the first solution (Vivado HLS / Vitis HLS layouts)."""
    project_dir = Path(project_dir)
    hits = sorted(project_dir.glob(f"{top}_prj/*/syn/report/{top}_csynth.xml"))
    if not hits:
        hits = sorted(project_dir.glob(f"**/syn/report/{top}_csynth.xml"))
    return hits[0] if hits else None


def parse_csynth_xml(path: str | Path) -> dict:
    """Latency, II, resources and timing from a ``<top>_csynth.xml``."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ToolFailed("HLS report", 1, str(path), f"unreadable csynth report: {e}") from e
    ua = root.find("UserAssignments")
    perf = root.find("PerformanceEstimates")
    area = root.find("AreaEstimates")
    if perf is None or area is None:
        raise ToolFailed("HLS report", 1, str(path), "csynth report without PerformanceEstimates/AreaEstimates")
    lat = perf.find("SummaryOfOverallLatency")
    timing = perf.find("SummaryOfTimingAnalysis")
    out: dict = {
        "report": str(path),
        "part": _num(ua.findtext("Part")) if ua is not None else None,
        "top": _num(ua.findtext("TopModelName")) if ua is not None else None,
        "clock_unit": (ua.findtext("unit") if ua is not None else None) or "ns",
        "target_clock_ns": _num(ua.findtext("TargetClockPeriod")) if ua is not None else None,
        "clock_uncertainty_ns": _num(ua.findtext("ClockUncertainty")) if ua is not None else None,
        "estimated_clock_ns": _num(timing.findtext("EstimatedClockPeriod")) if timing is not None else None,
        "latency_cycles": {
            "best": _num(lat.findtext("Best-caseLatency")) if lat is not None else None,
            "average": _num(lat.findtext("Average-caseLatency")) if lat is not None else None,
            "worst": _num(lat.findtext("Worst-caseLatency")) if lat is not None else None,
        },
        "ii": {
            "min": _num(lat.findtext("Interval-min")) if lat is not None else None,
            "max": _num(lat.findtext("Interval-max")) if lat is not None else None,
        },
        "resources": {},
        "available": {},
    }
    for section, key in (("Resources", "resources"), ("AvailableResources", "available")):
        node = area.find(section)
        for child in node if node is not None else []:
            out[key][RESOURCE_KEYS.get(child.tag, child.tag.lower())] = _num(child.text)
    est, tgt = out["estimated_clock_ns"], out["target_clock_ns"]
    if isinstance(est, (int, float)) and isinstance(tgt, (int, float)):
        out["timing_met"] = est <= tgt
        out["fmax_mhz"] = round(1000.0 / est, 3) if est > 0 else None
    return out


def parse_build(project_dir: str | Path, top: str) -> dict:
    xml = find_csynth_xml(project_dir, top)
    if xml is None:
        raise ToolFailed("HLS synthesis", 1, str(project_dir),
                         f"no {top}_csynth.xml under {project_dir}: synthesis did not produce a report")
    rep = parse_csynth_xml(xml)
    rep["report"] = str(xml.relative_to(Path(project_dir)))
    return rep
