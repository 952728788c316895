"""Register-bank weights versus hard-wired weights on a tiny slice: the configuration port
really loads the weights (outputs = x . w), and registers cost area."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.backends.rtl.design import load_design
from hwflow.power import profile
from hwflow.power.regweights import LayerSlice, write_slice_design
from hwflow.power.simulate import run_stream


@pytest.fixture(scope="module")
def tiny_slice():
    rng = np.random.default_rng(1)
    w = np.array([5, -3, 0, -8])            # 4-bit signed weights, including the most negative
    x = rng.integers(0, 16, size=(40, 8))   # two positions x 4 inputs, 4-bit unsigned
    x[:2] = [[15] * 8, [0] * 8]             # corners first
    return LayerSlice("toy", "Conv", count=3, weights=w, w_width=4, x=x, x_width=4, x_signed=False, positions=2)


def test_register_bank_loads_weights_through_config_port(tmp_path, tiny_slice):
    write_slice_design(tmp_path / "r", "toy_registers", tiny_slice, "registers")
    d = load_design(tmp_path / "r")
    assert d.config is not None and d.config.words == (5, 13, 0, 8)   # two's complement, 4 bits
    words = d.input.pack(tiny_slice.x)
    res = run_stream(d, d.files, d.top, words, tmp_path / "sim", vcd=False)
    got = d.output.unpack(res.outputs)
    want = tiny_slice.x.reshape(-1, 2, 4) @ tiny_slice.weights
    assert (got == want).all()


def test_yosys_harness_loads_weights_too(tmp_path, tiny_slice):
    from hwflow.power.yosys_sim import run_yosys_stream

    write_slice_design(tmp_path / "r", "toy_registers", tiny_slice, "registers")
    d = load_design(tmp_path / "r")
    res = run_yosys_stream(d, d.files, d.input.pack(tiny_slice.x), tmp_path / "ysim", vcd_all=False)
    assert (d.output.unpack(res.outputs) == tiny_slice.x.reshape(-1, 2, 4) @ tiny_slice.weights).all()


def test_registers_cost_area_and_flip_flops(tmp_path, tiny_slice):
    res = {}
    for mode in ("hardwired", "registers"):
        run = tmp_path / mode
        write_slice_design(run, f"toy_{mode}", tiny_slice, mode)
        res[mode] = profile(run, samples=len(tiny_slice.x), data=run / "inputs.npy")
        assert res[mode]["gate_level_check"]["mismatches"] == 0
    ff = {m: sum(n for c, n in r["cell_counts"].items() if c.startswith("DFF")) for m, r in res.items()}
    # the weight bank (4 x 4 bits); the hard-wired slice also drops input bits that meet weight 0
    assert ff["registers"] - ff["hardwired"] >= 4 * 4
    assert res["registers"]["area_um2"] > 1.5 * res["hardwired"]["area_um2"]
    assert res["registers"]["leakage_power_mw"] > res["hardwired"]["leakage_power_mw"]


def test_fast_synthesis_recipe_keeps_the_logic(tmp_path, tiny_slice):
    """Slices are mapped with the fast recipe (synth -noabc + ABC's fast script): the
    gate-level netlist still matches the RTL, and the record says which recipe was used."""
    from hwflow.artifacts import read_json
    from hwflow.errors import ConfigError

    run = tmp_path / "hw"
    write_slice_design(run, "toy_hardwired", tiny_slice, "hardwired")
    r = profile(run, samples=len(tiny_slice.x), data=run / "inputs.npy", synth="fast", plots=False)
    assert r["gate_level_check"]["mismatches"] == 0 and r["synthesis"]["effort"] == "fast"
    script = (run / "profile" / "asic-osu018" / "synth" / "asic_synth.ys").read_text()
    assert "-noabc" in script and '+strash;dretime;map' in script
    assert read_json(run / "profile.json")["params"]["synth"] == "fast"
    with pytest.raises(ConfigError, match="synthesis effort"):
        profile(run, samples=4, data=run / "inputs.npy", synth="bogus", reuse=False)
