"""ECON-T encoder through the whole ASIC flow at 40 MHz (slow: ~150k cells at 180 nm).

Select with ``pytest -m slow tests/test_power_econt.py``. scripts/bench_energy.py runs the
same flow and writes the comparison table of docs/econt_comparison.md.

Synthesizing the encoder takes ~25 minutes here. ``HWFLOW_ECONT_RUN=<dir>`` (an ``econt``
run directory of scripts/bench_energy.py) lets the fixture copy that run's RTL and netlist
instead: the synthesis stamp does not depend on the directory, so the copy reuses the
netlist when its sources are the same, and every simulation and OpenSTA run of these tests
is still done here (the run's profile records are not copied).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwflow.artifacts import write_json
from hwflow.power import profile
from hwflow.power.node_scaling import PAPER, comparison_markdown

pytestmark = pytest.mark.slow

SAMPLES = 40


@pytest.fixture(scope="module")
def econt_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("econt")
    src = os.environ.get("HWFLOW_ECONT_RUN")
    if src:
        src = Path(src)
        run = d / "run"
        run.mkdir()
        for f in ("rtl.json", "model.onnx"):
            shutil.copy2(src / f, run / f)
        shutil.copytree(src / "verilog", run / "verilog")
        synth = src / "profile" / "asic-osu018" / "synth"
        shutil.copytree(synth, run / "profile" / "asic-osu018" / "synth",
                        ignore=shutil.ignore_patterns("netlist_sta.v", "*.log"))
        return run
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from hwflow.backends.rtl.generate import generate_rtl
    from hwflow.frontends import export_zoo_model

    onnx = export_zoo_model("econt", "qkeras", d / "econt.onnx")
    generate_rtl(onnx, d / "run", top="econt")
    return d / "run"


@pytest.fixture(scope="module")
def real_and_zeros(econt_run):
    """The encoder on real (HGCAL test split) data, then on all-zero data: same netlist,
    two gate-level simulations, two OpenSTA runs."""
    real = profile(econt_run, clock_mhz=40.0, samples=SAMPLES, dataset="hgcal", plots=False, reuse=False)
    zeros = profile(econt_run, clock_mhz=40.0, samples=SAMPLES, data="zeros", check_rtl=False, plots=False,
                    reuse=False)
    # both results side by side (profile.json keeps only the last run)
    keys = ("area_um2", "cell_count", "power_mw", "dynamic_power_mw", "leakage_power_mw", "energy_per_inference_nj",
            "activity")
    write_json(econt_run / "real_vs_zeros.json", {"real": {k: real[k] for k in keys},
                                                   "zeros": {k: zeros[k] for k in keys}})
    return real, zeros


def test_econt_profile_and_comparison(real_and_zeros):
    real, _ = real_and_zeros
    assert real["gate_level_check"]["mismatches"] == 0 and real["gate_level_check"]["compared_with_rtl"]
    assert 1e6 < real["area_um2"] < 5e7 and real["cell_count"] > 100_000
    assert real["energy_per_inference_nj"] == pytest.approx(real["total_power_mw"] * 1e-3 / 40e6 * 1e9 * real["ii"])
    assert real["timing"]["met"] and real["fmax_mhz"] > 40
    md = comparison_markdown(real)
    assert f"{PAPER['area_mm2']:.3g}" in md and "ESTIMATE" in md and "What differs" in md


def test_econt_zero_data_lowers_dynamic_power_not_leakage(real_and_zeros):
    """Power follows activity on an ECON-T-size netlist: with all-zero inputs only the clock
    network and the stream handshake toggle; real data also toggles the adder trees. (On this
    netlist the clock network -- 6.5k flip-flop clock pins and their buffer tree -- is most of
    the power even with real data, so the data-dependent part is a fraction of the total.)"""
    real, zeros = real_and_zeros
    assert zeros["area_um2"] == real["area_um2"] and zeros["cell_count"] == real["cell_count"]
    assert zeros["activity"]["mean_toggles_per_cycle"] < 1e-3 < 0.1 < real["activity"]["mean_toggles_per_cycle"]
    assert zeros["dynamic_power_mw"] < 0.9 * real["dynamic_power_mw"]
    assert zeros["power_mw"]["switching"] < real["power_mw"]["switching"]
    assert zeros["power_mw"]["internal"] < real["power_mw"]["internal"]
    # leakage is a property of the cells, not of the data (osu018 gives one cell_leakage_power per cell)
    assert zeros["leakage_power_mw"] == pytest.approx(real["leakage_power_mw"], rel=1e-6)


def test_econt_register_weights_cost_more(econt_run):
    from hwflow.backends.rtl.design import load_design
    from hwflow.power.data import load_stimulus
    from hwflow.power.regweights import compare_weight_storage

    d = load_design(econt_run)
    q = load_stimulus(d.input, 20, dataset="hgcal").q
    x = (q * 2.0 ** -d.input.frac).reshape((len(q), *d.input.shape[1:])).astype(np.float32)
    reg = compare_weight_storage(econt_run / "model.onnx", x, econt_run / "regw", samples=20)
    t = reg["scaled_totals"]
    assert reg["estimate"] is True
    assert t["registers"]["area_um2"] > t["hardwired"]["area_um2"]
    assert t["registers"]["flip_flops"] > t["hardwired"]["flip_flops"] + 2144 * 6 * 0.9
