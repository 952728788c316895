"""Pipeline depth from the clock (parallel architecture, issue #14 item 3): a slower clock gets
fewer pipeline register bits, every stage fits the clock's delay budget, the choice is recorded
in rtl.json, and the designs stay bit-exact in co-simulation (with gaps and back-pressure, so
the per-stage load enables are exercised)."""

from __future__ import annotations

import pytest
from _rtl_util import tiny_mlp
from da4ml.trace import comb_trace

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.backends.rtl.model_io import input_format, prepare_model
from hwflow.backends.rtl.pipeline_depth import (
    STAGE_DELAYS,
    TIMING_MARGIN,
    logic_depth,
    max_levels_per_stage,
    pipeline_for_clock,
    register_bits,
    split,
)
from hwflow.backends.rtl.tracer import trace_model
from hwflow.errors import ConfigError


@pytest.fixture(scope="module")
def tiny_comb(tmp_path_factory):
    m, _, _ = prepare_model(tiny_mlp(tmp_path_factory.mktemp("depth") / "tiny.onnx"))
    tr = trace_model(m, input_format(m))
    return comb_trace(tr.inputs, tr.outputs, keep_dead_inputs=False)


def _clock_for_levels(levels: float, target: str = "asic-osu018") -> float:
    """The clock (MHz) at which a stage may hold exactly ``levels`` da4ml delay units."""
    d = STAGE_DELAYS[target]
    return TIMING_MARGIN * 1e3 / (d.overhead_ns + d.ns_per_level * levels)


@pytest.mark.unit
def test_slower_clock_fewer_register_bits(tiny_comb):
    depth = logic_depth(tiny_comb)
    assert depth >= 6  # the 8-6-3 MLP has a few adder levels to cut
    bits = {}
    for levels in (2, 4, depth):
        stages, cutoff, rec = pipeline_for_clock(tiny_comb, _clock_for_levels(levels), "asic-osu018")
        bits[levels] = register_bits(stages)
        assert rec["register_bits"] == bits[levels] and rec["logic_depth_levels"] == depth
        # every stage within the budget: the chosen cutoff is at most what the clock allows
        assert cutoff <= max_levels_per_stage(rec["clock_mhz"], STAGE_DELAYS["asic-osu018"]) + 1e-6
        if levels >= depth:
            assert len(stages) == 1 and cutoff == 0  # one combinational stage: input + output register
    assert bits[depth] < bits[4] < bits[2]
    # fewest bits among the cutoffs that meet the clock: never more than the largest allowed cutoff's
    stages, _, rec = pipeline_for_clock(tiny_comb, _clock_for_levels(3), "asic-osu018")
    assert register_bits(stages) <= register_bits(split(tiny_comb, rec["max_levels_per_stage"]))
    assert register_bits(stages) == min(t["register_bits"] for t in rec["cutoffs_tried"] if "register_bits" in t)


@pytest.mark.unit
def test_target_changes_the_depth(tiny_comb):
    # at the same clock an iCE40 (slow LUTs and routing) needs more stages than the 180 nm cells
    asic, _, _ = pipeline_for_clock(tiny_comb, 14.0, "asic-osu018")
    ice40, _, _ = pipeline_for_clock(tiny_comb, 14.0, "ice40")
    assert len(ice40) > len(asic)


@pytest.mark.unit
def test_bad_clock_or_target(tiny_comb):
    with pytest.raises(ConfigError, match="too fast for asic-osu018"):
        pipeline_for_clock(tiny_comb, 5000.0, "asic-osu018")
    with pytest.raises(ConfigError, match="no stage delay model for timing target 'tsmc7'"):
        pipeline_for_clock(tiny_comb, 40.0, "tsmc7")


@pytest.mark.tools
def test_clock_chosen_designs_are_bit_exact(tmp_path):
    from hwflow.sim import simulate

    model = tiny_mlp(tmp_path / "tiny.onnx")
    recs = {}
    for name, mhz in (("slow", 20.0), ("fast", _clock_for_levels(2))):
        run = tmp_path / name
        rec = read_json(generate_rtl(model, run, clock_mhz=mhz))
        assert rec["lint"]["warnings"] == 0
        choice = rec["pipeline"]["clock_choice"]
        assert choice["clock_mhz"] == mhz and choice["timing_target"] == "asic-osu018"
        assert rec["pipeline"]["latency_cutoff"] == choice["chosen_cutoff"]
        assert rec["pipeline"]["register_bits"] == choice["register_bits"]
        s = simulate(run, samples=500, seed=3, engine="bulk")  # random gaps and back-pressure
        assert s["passed"] and s["mismatches"] == 0
        assert s["latency_measured"] == [rec["latency_cycles"]]
        recs[name] = rec
    assert recs["slow"]["latency_cycles"] == 2
    assert recs["slow"]["pipeline"]["register_bits"] < recs["fast"]["pipeline"]["register_bits"]
    assert recs["slow"]["latency_cycles"] < recs["fast"]["latency_cycles"]
    with pytest.raises(ConfigError, match="not both"):
        generate_rtl(model, tmp_path / "both", clock_mhz=20.0, latency_cutoff=2.0)
