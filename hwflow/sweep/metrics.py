"""The numbers of one point, read from the records its ``hwflow run`` wrote (nothing computed
anew except the throughput, clock / II).

Resources are the first FPGA target's (``targets.fpga[0]``, Yosys on the core alone), Fmax
the first board's (nextpnr, with the board top), area/power/energy the first ASIC target's.
A number whose stage did not run (disabled, failed, after ``until``) is ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwflow.artifacts import read_json, stage_record
from hwflow.config import FlowConfig


def _complete(path: Path) -> dict | None:
    rec = stage_record(path.parent, path.stem) if path.exists() else None
    return rec if rec is not None and rec.get("status") == "complete" else None


def design_clock_mhz(cfg: FlowConfig) -> float:
    """The clock the design runs at: the first board's (its bitstream's clock), else the
    flow file's ``clock_mhz`` (the ASIC profile's)."""
    if cfg.targets.boards:
        from hwflow.boards import load_board

        return load_board(cfg.targets.boards[0]).clock.frequency_hz / 1e6
    return float(cfg.clock_mhz)


def point_metrics(run_dir: str | Path, cfg: FlowConfig) -> dict[str, Any]:
    run_dir = Path(run_dir)
    hw = run_dir / "hw"
    m: dict[str, Any] = {}
    train = _complete(run_dir / "flow" / "train.json")
    m["accuracy"] = (train or {}).get("summary", {}).get("test_accuracy")
    samples = mismatches = None
    for name, path in (("sim", hw / "sim.json"), ("hls", run_dir / "hls.json")):
        rec = _complete(path)
        if rec is not None and rec.get("mismatches") is not None:
            mismatches = (mismatches or 0) + int(rec["mismatches"])
            samples = (samples or 0) + int(rec.get("samples") or rec.get("csim", {}).get("samples") or 0)
    m["mismatches"], m["samples"] = mismatches, samples
    synth = _complete(run_dir / "flow" / "synth.json")
    family = cfg.targets.fpga[0] if cfg.targets.fpga else None
    res = ((synth or {}).get("summary", {}).get(family) or {}) if family else {}
    for key in ("lut", "ff", "bram", "dsp"):
        m[key] = res.get(key)
    bit = _complete(hw / "bitstream.json")
    fmax = (bit or {}).get("fmax_min_mhz")
    m["fmax_mhz"] = round(fmax, 2) if isinstance(fmax, (int, float)) else None
    rtl = _complete(hw / "rtl.json")
    m["ii"] = (rtl or {}).get("ii")
    m["latency_cycles"] = (rtl or {}).get("latency_cycles")
    m["clock_mhz"] = design_clock_mhz(cfg)
    m["inferences_per_s"] = round(m["clock_mhz"] * 1e6 / m["ii"], 1) if m["ii"] else None
    prof = _complete(hw / "profile.json")
    m["area_um2"] = (prof or {}).get("area_um2")
    m["power_mw"] = (prof or {}).get("total_power_mw")
    m["energy_nj"] = (prof or {}).get("energy_per_inference_nj")
    report = run_dir / "report.html"
    m["report"] = str(report) if report.exists() else None
    return m


def failed_stage(run_dir: str | Path) -> tuple[str, str] | None:
    """(stage, "ErrorType: message") of the stage record that says failed or interrupted."""
    flow_dir = Path(run_dir) / "flow"
    from hwflow.flow import STAGE_NAMES

    for name in STAGE_NAMES:
        p = flow_dir / f"{name}.json"
        if p.exists():
            try:
                rec = read_json(p)
            except ValueError:
                continue
            if rec.get("status") in ("failed", "interrupted"):
                return name, str(rec.get("error") or rec["status"])
    return None
