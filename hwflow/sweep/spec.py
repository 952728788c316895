"""The sweep file: a base flow file, the settings every point changes, validated with pydantic.

A sweep names a base flow file (``flow:``), settings applied to every point (``set:``), and
either grid axes (``grid:``, every combination is a point) or an Optuna search
(``search:``). Settings are dotted paths of flow-file fields (``rtl.throughput``,
``train.epochs``, ``targets.boards``); each point's flow file is validated like a flow file,
before anything runs, and errors name the sweep file's field and line (``ConfigError``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from hwflow.config import FlowConfig, _line_of, _Strict, _strip_lines, load_yaml_model
from hwflow.errors import ConfigError
from hwflow.flow import STAGE_NAMES

# what a point reports (hwflow.sweep.metrics) and an Optuna objective may name
METRICS = ("accuracy", "mismatches", "lut", "ff", "bram", "dsp", "fmax_mhz", "ii", "latency_cycles",
           "inferences_per_s", "area_um2", "power_mw", "energy_nj", "wall_time_s")


class RangeAxis(_Strict):
    """Values from ``start`` to ``stop`` (both included): ``step`` apart, or ``num`` values
    spaced evenly (``log: true``: evenly on a log scale); rounded to integers when the
    bounds and step are integers."""

    start: float
    stop: float
    step: float | None = Field(None, gt=0)
    num: int | None = Field(None, ge=2)
    log: bool = False

    @model_validator(mode="after")
    def _one_spacing(self) -> "RangeAxis":
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of step or num")
        if self.stop < self.start:
            raise ValueError("stop is below start")
        if self.log and (self.num is None or self.start <= 0):
            raise ValueError("log: true needs num and a positive start")
        return self

    def values(self) -> list[float | int]:
        if self.step is not None:
            n = int(math.floor((self.stop - self.start) / self.step + 1e-9)) + 1
            vals = [self.start + i * self.step for i in range(n)]
        elif self.log:
            ratio = (self.stop / self.start) ** (1 / (self.num - 1))
            vals = [self.start * ratio**i for i in range(self.num)]
        else:
            vals = [self.start + i * (self.stop - self.start) / (self.num - 1) for i in range(self.num)]
        # integer bounds (and step) give integers (epochs, throughputs): a float 2.0 would not
        # validate as an int field
        ints = all(float(x).is_integer() for x in (self.start, self.stop, self.step or 1))
        return [int(round(v)) for v in vals] if ints else vals


class SearchParam(_Strict):
    """One dimension of an Optuna search: ``low``..``high`` (ints when both are), or ``choices``."""

    low: float | None = None
    high: float | None = None
    step: float | None = Field(None, gt=0)
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "SearchParam":
        ranged = self.low is not None and self.high is not None
        if ranged == (self.choices is not None):
            raise ValueError("give either low and high, or choices")
        if ranged and self.high < self.low:
            raise ValueError("high is below low")
        if self.choices is not None and not self.choices:
            raise ValueError("choices is empty")
        return self


class SearchSpec(_Strict):
    trials: int = Field(..., ge=1, description="trial budget (points)")
    sampler: Literal["tpe", "random", "nsga2"] = "tpe"
    seed: int = 0
    objectives: dict[str, Literal["maximize", "minimize"]] = Field(..., min_length=1)
    space: dict[str, SearchParam] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _known_metrics(self) -> "SearchSpec":
        unknown = [m for m in self.objectives if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric {', '.join(unknown)}; metrics: {', '.join(METRICS)}")
        return self


class Resources(_Strict):
    """What one point's stage asks of a Ray node (Ray's ``num_cpus`` and ``memory``)."""

    cpus: float = Field(1, gt=0)
    memory_gb: float | None = Field(None, gt=0)


class SweepSpec(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    flow: Path = Field(..., description="base flow file, relative to the sweep file")
    set: dict[str, Any] = Field(default_factory=dict, description="settings applied to every point")
    grid: dict[str, list[Any] | RangeAxis] | None = None
    search: SearchSpec | None = None
    until: str | None = Field(None, description="last flow stage of every point (then the point's report)")
    resources: dict[str, Resources] = Field(default_factory=dict,
                                            description="per stage name, or 'default' for the others")
    max_parallel: int | None = Field(None, ge=1, description="points in flight at once (--max-parallel wins)")

    @model_validator(mode="after")
    def _checks(self) -> "SweepSpec":
        if (self.grid is None) == (self.search is None):
            raise ValueError("give exactly one of grid (axes) or search (an Optuna search)")
        if self.grid is not None and not self.grid:
            raise ValueError("grid has no axes")
        if self.until is not None and self.until not in STAGE_NAMES:
            raise ValueError(f"until {self.until!r} is not a stage; stages: {', '.join(STAGE_NAMES)}")
        bad = [k for k in self.resources if k != "default" and k not in STAGE_NAMES]
        if bad:
            raise ValueError(f"resources for {', '.join(bad)}: not a stage; use 'default' or one of "
                             f"{', '.join(STAGE_NAMES)}")
        return self

    def resources_for(self, stage_name: str) -> Resources:
        return self.resources.get(stage_name) or self.resources.get("default") or Resources()


@dataclass(frozen=True)
class Point:
    """One flow of the sweep: the settings it changes and its validated flow file."""

    id: str
    settings: dict[str, Any]
    flow: FlowConfig
    raw: dict  # the point's flow file as written (base + set + settings), validated as ``flow``


@dataclass
class Sweep:
    spec: SweepSpec
    path: Path
    base: dict  # the base flow file as a mapping (lines stripped), model.path made absolute
    lines: dict  # the sweep file with its line marks, for error messages

    def line(self, *loc) -> str:
        line = _line_of(self.lines, loc)
        return f"{self.path}:{line}" if line else str(self.path)

    def point(self, settings: dict[str, Any], where: tuple) -> Point:
        """The point with these settings (on top of ``set:``), validated as a flow file."""
        raw = copy.deepcopy(self.base)
        for key, value in {**self.spec.set, **settings}.items():
            _assign(raw, key, value)
        pid = point_id(settings)
        raw["name"] = f"{self.spec.name}-{pid}"
        try:
            cfg = FlowConfig.model_validate(raw)
        except ValidationError as e:
            shown = ", ".join(f"{k}={v!r}" for k, v in settings.items()) or "(no axis)"
            errs = "; ".join(f"field '{'.'.join(str(x) for x in err['loc'])}': {err['msg']}" for err in e.errors())
            raise ConfigError(f"{self.line(*where)}: the point {shown} is not a valid flow: {errs}") from None
        return Point(pid, dict(settings), cfg, raw)


def point_id(settings: dict[str, Any]) -> str:
    """A point's directory name: a digest of its settings, so a rerun of an edited sweep
    finds the points it already ran whatever their order."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return "p" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _assign(raw: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = raw
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[leaf] = value


def check_setting(dotted: str) -> None:
    """A dotted path must name a flow-file field (``rtl.throughput``), or one key of a mapping
    field (``model.options.w_bits``: the builder checks the name when the point runs);
    ValueError lists the fields where it goes wrong."""
    model: type[BaseModel] | None = FlowConfig
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        if model is dict and i == len(parts) - 1:
            return
        if model is None or model is dict:
            raise ValueError(f"{'.'.join(parts[:i])} has no sub-settings")
        fields = model.model_fields
        if part not in fields:
            where = ".".join(dotted.split(".")[:i]) or "a flow file"
            raise ValueError(f"{part!r} is not a setting of {where}; settings: {', '.join(fields)}")
        ann = fields[part].annotation
        if typing.get_origin(ann) is dict:
            model = dict
        else:
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file and its base flow file."""
    path = Path(path)
    spec, raw = load_yaml_model(path, SweepSpec, "sweep file", "name:, flow:, grid: or search:")
    sweep = Sweep(spec, path, _base_flow(path, spec), raw)
    axes = [("set", k) for k in spec.set]
    axes += [("grid", k) for k in spec.grid or {}] + [("search", "space", k) for k in (spec.search.space if spec.search else {})]
    for loc in axes:
        try:
            check_setting(loc[-1])
        except ValueError as e:
            raise ConfigError(f"{sweep.line(*loc)}: field '{'.'.join(loc)}': {e}") from None
    return sweep


def _base_flow(sweep_path: Path, spec: SweepSpec) -> dict:
    flow_path = spec.flow if spec.flow.is_absolute() else sweep_path.parent / spec.flow
    # a broken base flow fails here, naming its own file and line
    cfg, raw = load_yaml_model(flow_path, FlowConfig, "flow file", "name:, model:, ...")
    raw = _strip_lines(raw)
    if cfg.model.path is not None:  # relative to the base flow file, which the points do not sit beside
        raw["model"]["path"] = str(cfg.model.path if cfg.model.path.is_absolute()
                                   else (flow_path.parent / cfg.model.path).resolve())
    return raw


def grid_points(sweep: Sweep) -> list[Point]:
    """Every combination of the grid's axes, in the file's order (the last axis varies fastest)."""
    import itertools

    grid = sweep.spec.grid or {}
    keys = list(grid)
    values = [axis.values() if isinstance(axis, RangeAxis) else axis for axis in grid.values()]
    for key, vals in zip(keys, values):
        if not vals:
            raise ConfigError(f"{sweep.line('grid', key)}: field 'grid.{key}': the axis has no values")
    points = [sweep.point(dict(zip(keys, combo)), ("grid",)) for combo in itertools.product(*values)]
    seen: dict[str, Point] = {}
    for p in points:
        if p.id in seen:
            raise ConfigError(f"{sweep.line('grid')}: two points have the same settings {p.settings}")
        seen[p.id] = p
    return points
