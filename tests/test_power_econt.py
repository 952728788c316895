"""ECON-T encoder through the whole ASIC flow at 40 MHz (slow: ~150k cells at 180 nm).

Select with ``pytest -m slow tests/test_power_econt.py``. scripts/bench_energy.py runs the
same flow and writes the comparison table of docs/econt_comparison.md.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from hwflow.power import profile
from hwflow.power.node_scaling import PAPER, comparison_markdown

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def econt_run(tmp_path_factory):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from hwflow.backends.rtl.generate import generate_rtl
    from hwflow.frontends import export_zoo_model

    d = tmp_path_factory.mktemp("econt")
    onnx = export_zoo_model("econt", "qkeras", d / "econt.onnx")
    generate_rtl(onnx, d / "run", top="econt")
    return d / "run"


def test_econt_profile_and_comparison(econt_run):
    real = profile(econt_run, clock_mhz=40.0, samples=40, dataset="hgcal")
    assert real["gate_level_check"]["mismatches"] == 0
    assert 1e6 < real["area_um2"] < 5e7
    assert real["energy_per_inference_nj"] == pytest.approx(real["total_power_mw"] * 1e-3 / 40e6 * 1e9 * real["ii"])
    zeros = profile(econt_run, clock_mhz=40.0, samples=40, data="zeros", check_rtl=False)
    assert zeros["dynamic_power_mw"] < real["dynamic_power_mw"]
    assert zeros["leakage_power_mw"] == pytest.approx(real["leakage_power_mw"], rel=1e-9)
    md = comparison_markdown(real)
    assert f"{PAPER['area_mm2']:.3g}" in md and "ESTIMATE" in md and "What differs" in md


def test_econt_register_weights_cost_more(econt_run):
    from hwflow.power.regweights import compare_weight_storage
    from hwflow.power.data import load_stimulus
    from hwflow.power.design import load_design

    d = load_design(econt_run)
    q = load_stimulus(d.input, 20, dataset="hgcal").q
    x = (q * 2.0 ** -d.input.frac).reshape((len(q), *d.input.shape[1:])).astype(np.float32)
    reg = compare_weight_storage(econt_run / "model.onnx", x, econt_run / "regw", samples=20)
    t = reg["scaled_totals"]
    assert reg["estimate"] is True
    assert t["registers"]["area_um2"] > t["hardwired"]["area_um2"]
    assert t["registers"]["flip_flops"] > t["hardwired"]["flip_flops"] + 2144 * 6 * 0.9
