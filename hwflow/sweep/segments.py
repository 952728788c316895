"""A point's flow cut into segments: runs of consecutive stages that ask Ray for the same
resources, each one ``hwflow run --from A --until B`` (one Ray task).

A long synthesis stage that asks for more memory than training then waits for a node that
has it, instead of the whole point holding the most it ever needs. The point's report runs
last, whatever ``until`` is, so every point has its own report to link to.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwflow.config import FlowConfig
from hwflow.flow import STAGE_NAMES, STAGES
from hwflow.sweep.spec import Resources, SweepSpec


@dataclass(frozen=True)
class Segment:
    first: str
    last: str
    resources: Resources


def segments(spec: SweepSpec, cfg: FlowConfig) -> list[Segment]:
    until = STAGE_NAMES.index(spec.until) if spec.until else len(STAGES) - 1
    enabled = [i for i, st in enumerate(STAGES) if i <= until and st.enabled(cfg) and st.name != "report"]
    enabled.append(STAGE_NAMES.index("report"))
    out: list[Segment] = []
    prev = None
    for i in enabled:
        res = spec.resources_for(STAGE_NAMES[i])
        # joinable: same request, and only disabled stages between (they do nothing)
        between = range(prev + 1, i) if prev is not None else range(0)
        joinable = out and out[-1].resources == res and all(not STAGES[j].enabled(cfg) for j in between)
        if joinable:
            out[-1] = Segment(out[-1].first, STAGE_NAMES[i], res)
        else:
            out.append(Segment(STAGE_NAMES[i], STAGE_NAMES[i], res))
        prev = i
    return out
