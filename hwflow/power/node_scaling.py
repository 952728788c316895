"""The ECON-T comparison: our 180 nm numbers next to the paper's 65 nm ones, with a
labelled first-order node-scaling estimate and the list of what differs.

Scaling model (classical constant-field scaling, first order; an ESTIMATE):
- area    ~ (L2/L1)^2                          (cell area with the feature size squared)
- energy  ~ C V^2 with C ~ L                   -> E2/E1 = (L2/L1) (V2/V1)^2
- power at the same clock ~ energy per cycle   -> the same factor as energy
Voltages: osu018 liberty nominal 1.8 V; 65 nm core assumed 1.2 V (the nominal core voltage
of 65 nm CMOS processes). Leakage does NOT follow this model (it grows at 65 nm); the
scaled total uses the dynamic power only and says so.
"""

from __future__ import annotations

from pathlib import Path

PAPER = {"node_nm": 65, "area_mm2": 3.6, "power_mw": 95.0, "energy_nj": 2.4, "clock_mhz": 40.0,
         "source": "ECON-T paper (A reconfigurable neural network ASIC for detector front-end data compression "
                   "at the HL-LHC): 3.6 mm^2, 95 mW, 2.4 nJ per inference at 40 MHz, 65 nm"}
V_180, V_65 = 1.8, 1.2


def scale_factors(l1: float = 180.0, l2: float = 65.0, v1: float = V_180, v2: float = V_65) -> dict:
    return {"area": (l2 / l1) ** 2, "energy": (l2 / l1) * (v2 / v1) ** 2,
            "model": f"area x (L2/L1)^2, energy and power x (L2/L1)(V2/V1)^2; L {l1:g}->{l2:g} nm, "
                     f"V {v1:g}->{v2:g} V"}


def _scaled(p: dict, f: dict) -> dict:
    return {"area_mm2": p["area_mm2"] * f["area"], "power_mw": p["dynamic_power_mw"] * f["energy"],
            "energy_nj": p["dynamic_energy_nj"] * f["energy"]}


DIFFERENCES = [
    "technology: open osu018 180 nm library at 1.8 V (typical corner) vs a commercial 65 nm process;"
    " the node scaling above is first order only",
    "pre-layout: our area is the sum of liberty cell areas (no placement density, no wires, no I/O or power"
    " grid; balanced BUFX4 buffer trees stand in for fan-out repair and clock-tree synthesis); power uses pin"
    " capacitances without wire load; the paper's numbers are post-layout/measured",
    "clocking: our encoder is pipelined with plain flip-flops on a free-running clock (no clock gating);"
    " at 180 nm its clock network is most of its power (see the all-zero-data measurement when present);"
    " the paper's register count and clocking scheme are not modelled",
    "radiation tolerance: ECON-T triplicates its registers (TMR) for the HL-LHC environment; ours has"
    " plain flip-flops",
    "weights: the paper's weights are programmable (I2C-loaded registers); our measured design hard-wires"
    " them; the register-weight column is a scaled-slice estimate",
    "architecture: our encoder is da4ml shift-and-add logic pipelined for the clock (latency in cycles"
    " given in profile.json); ECON-T's RTL was produced with HLS (Catapult) under its own constraints",
    "data and weights: synthetic HGCAL-like inputs (hwflow.data.hgcal) and the zoo model's random-init"
    " (untrained) weights; activity, and so power, depends on both",
    "scope: the paper's numbers cover the ECON-T encoder block as built (with its I/O formatting and"
    " configuration logic); ours cover only the encoder network behind a valid/ready wrapper",
    "activity: zero-delay gate-level simulation (no glitches); glitch power in deep adder trees is real"
    " and can be tens of percent",
]


def comparison_markdown(hardwired: dict, registers: dict | None = None, paper: dict | None = PAPER) -> str:
    """``hardwired``: profile.json result of the full design; ``registers``: the scaled-slice
    totals of :func:`hwflow.power.regweights.compare_weight_storage` (or None); ``paper``:
    the ECON-T paper column and the list of differences (None for other models)."""
    f = scale_factors(hardwired.get("node_nm") or 180, PAPER["node_nm"], hardwired.get("voltage_v") or V_180)
    hw = {"area_mm2": hardwired["area_um2"] * 1e-6, "power_mw": hardwired["total_power_mw"],
          "dynamic_power_mw": hardwired["dynamic_power_mw"],
          "energy_nj": hardwired["energy_per_inference_nj"],
          "dynamic_energy_nj": hardwired["dynamic_energy_per_inference_nj"]}
    cols = [("paper, 65 nm (measured)", {k: paper[k] for k in ("area_mm2", "power_mw", "energy_nj")})] if paper else []
    cols += [("hwflow hard-wired, 180 nm (measured: Yosys + OpenSTA)", hw),
            ("hard-wired scaled to 65 nm (ESTIMATE)", _scaled(hw, f))]
    if registers is not None:
        reg_hw = registers["scaled_totals"]["hardwired"]
        reg = registers["scaled_totals"]["registers"]
        ratio_area = reg["area_um2"] / reg_hw["area_um2"]
        ratio_e = reg["energy_per_inference_nj"] / reg_hw["energy_per_inference_nj"]
        rw = {"area_mm2": reg["area_um2"] * 1e-6, "power_mw": reg["total_power_mw"],
              "dynamic_power_mw": reg["dynamic_power_mw"], "energy_nj": reg["energy_per_inference_nj"],
              "dynamic_energy_nj": reg["dynamic_power_mw"] * 1e-3 / (hardwired["clock_mhz"] * 1e6) * 1e9}
        cols.insert(len(cols) - 1, ("hwflow register weights, 180 nm (ESTIMATE: measured layer slices x count)", rw))
        cols.append(("register weights scaled to 65 nm (ESTIMATE)", _scaled(rw, f)))
    head = "| | " + " | ".join(c for c, _ in cols) + " |"
    sep = "|---" * (len(cols) + 1) + "|"
    rows = [head, sep]
    for key, label in (("area_mm2", "area (mm^2)"), ("power_mw", f"power at {hardwired['clock_mhz']:g} MHz (mW)"),
                       ("energy_nj", "energy per inference (nJ)")):
        rows.append(f"| {label} | " + " | ".join(f"{v[key]:.3g}" for _, v in cols) + " |")
    title = ("# ECON-T encoder: hwflow at 180 nm next to the paper at 65 nm" if paper
             else f"# {hardwired.get('top', 'design')}: area, power and energy at 180 nm")
    out = [title, "",
           f"Clock {hardwired['clock_mhz']:g} MHz, II = {hardwired['ii']}; energy per inference = power x II / f.",
           "", *rows, "",
           f"Node scaling (ESTIMATE, first order): {f['model']} (area x {f['area']:.3f}, energy/power x "
           f"{f['energy']:.3f}); the scaled columns use dynamic power only (leakage does not scale this way).", ""]
    if registers is not None:
        out += [f"Register weights vs hard-wired, same slices and flow: area x {ratio_area:.2f}, energy per "
                f"inference x {ratio_e:.2f}. Slice-sum of the hard-wired variant: "
                f"{reg_hw['area_um2'] * 1e-6:.3g} mm^2, {reg_hw['energy_per_inference_nj']:.3g} nJ "
                "(a check of the slice model against the measured full design above).", "",
                f"Estimate model: {registers['estimate_model']}.", ""]
    a = hardwired.get("activity", {})
    out += ["Measured design: " + f"{hardwired['cell_count']} cells, {hardwired['area_um2']:.0f} um^2, "
            f"Fmax {hardwired.get('fmax_mhz')} MHz, activity from {a.get('source', '?')} "
            f"(mean {a.get('mean_toggles_per_cycle', float('nan')):.3f} toggles per net per cycle).", ""]
    if paper:
        out += ["## What differs", "", *[f"- {d}" for d in DIFFERENCES], "", f"Paper numbers: {paper['source']}.", ""]
    return "\n".join(out)


def write_comparison(path: Path, hardwired: dict, registers: dict | None = None, paper: dict | None = PAPER) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(comparison_markdown(hardwired, registers, paper))
    return path
