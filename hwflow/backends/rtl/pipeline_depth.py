"""Pipeline depth from the clock (parallel architecture): the da4ml latency cutoff that meets
a target clock with the fewest pipeline register bits.

da4ml gives every operation a latency in its own delay units (about one adder level; an
adder's latency grows with its width, see ``da4ml.trace.fixed_variable``) and
``to_pipeline(comb, cutoff)`` puts a register level wherever the running latency crosses a
multiple of ``cutoff``. A stage then holds at most ``cutoff`` units, so it meets a clock of
period T when ``overhead_ns + cutoff * ns_per_level <= T`` (the :class:`StageDelay` of the
target). Among the cutoffs that meet T we keep the one with the fewest register bits: fewer
stages is not always fewer bits (a register level cut where sums are wide can hold more bits
than two levels cut where they are narrow), so a few stage counts are tried.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from da4ml.trace import to_pipeline
from da4ml.types import CombLogic, minimal_kif

from hwflow.errors import ConfigError


@dataclass(frozen=True)
class StageDelay:
    """Delay of one pipeline stage on a target: ``overhead_ns`` (register clock-to-q, setup,
    enable logic) + ``ns_per_level`` per da4ml delay unit. ``source`` says where it comes from."""

    target: str
    ns_per_level: float
    overhead_ns: float
    source: str


# Straight lines through measured critical paths (docs/econt_comparison.md, "Pipeline depth
# from the clock", gives the commands). osu018: the ECON-T encoder with trained weights, whose
# adders are wider than the test MLP's (whose 10 levels took 7.68 ns, below this line). FPGA:
# the 8-6-3 test MLP of tests/_rtl_util.py (10 levels) in one stage and at cutoff 2, each
# critical path inside the model.
STAGE_DELAYS = {
    "asic-osu018": StageDelay(
        "asic-osu018", 0.86, 3.5,
        "OpenSTA critical paths on osu018 (typical corner, no wire load) of the ECON-T encoder: 7.77 ns at "
        "cutoff 5 (random-init weights, ABC default script) and 21.49 ns in one stage of 21 levels (trained "
        "weights, ABC fast script)"),
    "ice40": StageDelay(
        "ice40", 5.3, 19.6,
        "nextpnr-ice40 Fmax on the iCEBreaker (UP5K) of the 8-6-3 test MLP: 13.79 MHz (72.5 ns) in one stage of "
        "10 levels, 33.12 MHz (30.2 ns) at cutoff 2"),
    "ecp5": StageDelay(
        "ecp5", 1.9, 6.4,
        "nextpnr-ecp5 Fmax on the ULX3S (85F) of the 8-6-3 test MLP: 39.47 MHz (25.3 ns) in one stage of 10 "
        "levels, 98.28 MHz (10.2 ns) at cutoff 2"),
}
# fraction of the clock period the delay model may use: the model is fitted pre-layout
TIMING_MARGIN = 0.9
# stage counts tried beyond the fewest that meets the clock
EXTRA_STAGE_COUNTS = 3


def stage_delay(target: str) -> StageDelay:
    try:
        return STAGE_DELAYS[target]
    except KeyError:
        raise ConfigError(f"no stage delay model for timing target {target!r}; "
                          f"valid: {', '.join(STAGE_DELAYS)}") from None


def register_bits(stages: list[CombLogic]) -> int:
    """Flip-flops of the parallel design: each stage's input register and the output register."""

    def bits(qints) -> int:
        return sum(int(sum(minimal_kif(q))) for q in qints)

    return sum(bits(s.inp_qint) for s in stages) + bits(stages[-1].out_qint)


def logic_depth(comb: CombLogic) -> float:
    """da4ml delay units from the inputs to the latest output."""
    return float(max((comb.ops[i].latency for i in comb.out_idxs if i >= 0), default=0.0))


def max_levels_per_stage(clock_mhz: float, delay: StageDelay) -> float:
    return (TIMING_MARGIN * 1e3 / clock_mhz - delay.overhead_ns) / delay.ns_per_level


def max_cutoff_for_clock(clock_mhz: float, target: str) -> float:
    """The largest cutoff whose stages meet ``clock_mhz`` on ``target`` (at least one level)."""
    delay = stage_delay(target)
    cmax = max_levels_per_stage(clock_mhz, delay)
    if cmax < 1.0:
        raise ConfigError(
            f"clock {clock_mhz:g} MHz is too fast for {target}: a stage of one adder level takes about "
            f"{delay.overhead_ns + delay.ns_per_level:.2f} ns ({delay.source}); the fastest clock is "
            f"{TIMING_MARGIN * 1e3 / (delay.overhead_ns + delay.ns_per_level):.0f} MHz")
    return cmax


def split(comb: CombLogic, cutoff: float) -> list[CombLogic]:
    """``cutoff <= 0``: one combinational stage."""
    if cutoff <= 0:
        return [comb]
    return list(to_pipeline(comb, float(cutoff), retiming=True, verbose=False).solutions)


def pipeline_for_clock(comb: CombLogic, clock_mhz: float, target: str) -> tuple[list[CombLogic], float, dict]:
    """The stages with the fewest register bits whose cutoff meets ``clock_mhz`` on ``target``;
    returns (stages, cutoff, record for rtl.json)."""
    if not clock_mhz or clock_mhz <= 0:
        raise ConfigError(f"clock must be positive, got {clock_mhz!r}")
    delay = stage_delay(target)
    depth = logic_depth(comb)
    cmax = max_levels_per_stage(clock_mhz, delay)
    if depth <= cmax:
        cutoffs = [0.0]
    else:
        cmax = max_cutoff_for_clock(clock_mhz, target)
        n_min = math.ceil(depth / cmax)
        # the largest cutoff, and for a few stage counts the cutoff that spreads the depth evenly
        cutoffs = sorted({round(cmax, 6)} | {round(depth / n, 6) for n in range(n_min, n_min + EXTRA_STAGE_COUNTS + 1)
                                              if depth / n <= cmax}, reverse=True)
    tried = []
    best = None
    for c in cutoffs:
        try:
            stages = split(comb, c)
        except AssertionError as e:  # da4ml: one operation is deeper than the cutoff
            tried.append({"cutoff": c, "refused": str(e)})
            continue
        bits = register_bits(stages)
        tried.append({"cutoff": c, "stages": len(stages), "register_bits": bits})
        if best is None or (bits, len(stages)) < (best[2], len(best[1])):
            best = (c, stages, bits)
    if best is None:
        raise ConfigError(f"no pipeline of the design meets {clock_mhz:g} MHz on {target}: {tried}")
    cutoff, stages, bits = best
    record = {
        "clock_mhz": clock_mhz, "timing_target": target, "stage_delay": asdict(delay), "timing_margin": TIMING_MARGIN,
        "logic_depth_levels": depth, "max_levels_per_stage": round(cmax, 3),
        "estimated_stage_ns": round(delay.overhead_ns + delay.ns_per_level * min(depth, cutoff or depth), 3),
        "cutoffs_tried": tried, "chosen_cutoff": cutoff, "register_bits": bits,
    }
    return stages, cutoff, record
