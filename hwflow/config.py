"""The flow file: what ``hwflow run FLOW.yaml`` builds, validated with pydantic.

Errors name the field and the line of the YAML file it came from (``ConfigError``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hwflow.errors import ConfigError

Framework = Literal["qkeras", "brevitas"]


M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Strict):
    """Either a model from ``models/`` (``zoo``), or an existing file (``path``): a QONNX
    model (.onnx) or a QKeras model (.json+.h5, .h5, .keras)."""

    zoo: str | None = None
    path: Path | None = None
    framework: Framework = "qkeras"
    options: dict[str, int | float | bool | str] = Field(
        default_factory=dict, description="keyword options of the zoo model's builder, e.g. {w_bits: 4} for "
        "jet_mlp (hwflow train --option w_bits=4); a name the builder does not take is an error")

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        if (self.zoo is None) == (self.path is None):
            raise ValueError("give exactly one of model.zoo (a name from models/) or model.path (a file)")
        if self.options and self.zoo is None:
            raise ValueError("model.options are the zoo builder's; a model.path file has none")
        return self


class TrainSpec(_Strict):
    enabled: bool = True
    epochs: int = Field(5, ge=0)
    seed: int = 0
    dataset: str | None = Field(None, description="dataset (hwflow.data) of the profiling stimulus; "
                                                  "default: the zoo model's own")


class HlsSpec(_Strict):
    enabled: bool = True
    backend: Literal["Vitis", "Vivado", "VivadoAccelerator", "Catapult", "oneAPI"] = "Vitis"
    io: Literal["parallel", "stream"] = "parallel"
    reuse: int = Field(1, ge=1)
    samples: int = Field(1000, ge=1)
    build: bool = False


class RtlSpec(_Strict):
    enabled: bool = True
    samples: int = Field(10000, ge=1)
    weights: Literal["hardwired", "registers"] = "hardwired"
    # parallel: II = 1; folded: one kernel per conv layer, pixel by pixel; auto: folded
    # only when a conv layer is too large to unroll (hwflow.backends.rtl.folded); streaming:
    # MLPs as folded matrix-vector units, the folding chosen to fit targets.boards[0] at
    # `throughput` inferences/s (or fixed by `folding`, "PExSIMD,..." per layer)
    architecture: Literal["auto", "parallel", "folded", "streaming"] = "auto"
    throughput: float | None = Field(None, gt=0)
    folding: str | None = None

    @model_validator(mode="after")
    def _streaming_options(self):
        if self.architecture != "streaming" and (self.throughput is not None or self.folding is not None):
            raise ValueError("throughput and folding apply to architecture: streaming")
        return self


class TargetsSpec(_Strict):
    fpga: list[Literal["ice40", "ecp5", "gowin", "xilinx"]] = Field(default_factory=list)
    boards: list[str] = Field(default_factory=list)
    # the names `hwflow profile --target` takes (asic-osu018); the bare library name of
    # earlier flow files (osu018) is still read
    asic: list[Literal["osu018"]] = Field(default_factory=list)

    @field_validator("asic", mode="before")
    @classmethod
    def _cli_names(cls, v):
        return [x[len("asic-"):] if isinstance(x, str) and x.startswith("asic-") else x for x in v] \
            if isinstance(v, list) else v


class FlowConfig(_Strict):
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$")
    model: ModelSpec
    train: TrainSpec = Field(default_factory=TrainSpec)
    hls: HlsSpec = Field(default_factory=HlsSpec)
    rtl: RtlSpec = Field(default_factory=RtlSpec)
    targets: TargetsSpec = Field(default_factory=TargetsSpec)
    clock: str | float | None = Field(None, description="clock: a frequency (40MHz) or a period (25ns); a bare "
                                      "number is MHz (as --clock)")
    clock_mhz: float = Field(40.0, gt=0, description="deprecated spelling of clock (MHz)")
    profile_samples: int = Field(200, ge=1, description="samples driven through the gate-level simulation")
    # yosys: no build step (slow per cycle); bulk: Verilator build first, then fast (streaming
    # designs with hundreds of cycles per inference: docs/simulation.md)
    profile_simulator: Literal["yosys", "verilator", "bulk"] = "yosys"


    @model_validator(mode="after")
    def _one_clock(self):
        if self.clock is not None:
            if "clock_mhz" in self.model_fields_set:
                raise ValueError("give clock (40MHz, 25ns) or the deprecated clock_mhz, not both")
            from hwflow.units import parse_clock

            try:
                self.clock_mhz = parse_clock(self.clock)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return self

    def deprecations(self) -> list[str]:
        """Notes on deprecated spellings this flow file uses."""
        if "clock_mhz" in self.model_fields_set and self.clock is None:
            return [f"clock_mhz is deprecated: write `clock: {self.clock_mhz:g}MHz`"]
        return []


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key (for error messages)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=deep)
    lines = {loader.construct_object(k): k.start_mark.line + 1 for k, _ in node.value}
    mapping["__lines__"] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip_lines(obj):
    if isinstance(obj, dict):
        return {k: _strip_lines(v) for k, v in obj.items() if k != "__lines__"}
    if isinstance(obj, list):
        return [_strip_lines(v) for v in obj]
    return obj


def _line_of(raw, loc: tuple) -> int | None:
    line, node = None, raw
    for key in loc:
        if isinstance(node, dict):
            line = node.get("__lines__", {}).get(key, line)
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            break
    return line


def load_yaml_model(path: str | Path, model: type[M], kind: str, shape: str) -> tuple[M, dict]:
    """Read a YAML file and validate it as ``model``; errors name the file, line and field.
    Returns the model and the raw mapping with its line marks (``_line_of`` reads them).
    ``kind`` names the file in messages ("flow file"), ``shape`` its top-level keys."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read {kind} {path}: {e.strerror}") from e
    try:
        raw = yaml.load(text, Loader=_LineLoader)  # noqa: S506 -- a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a {kind} is a mapping ({shape})")
    try:
        return model.model_validate(_strip_lines(raw)), raw
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(x for x in err["loc"] if x != "__root__")
            line = _line_of(raw, loc)
            field = ".".join(str(x) for x in loc) or "(top level)"
            where = f"{path}:{line}" if line else str(path)
            msgs.append(f"{where}: field '{field}': {err['msg']}")
        raise ConfigError(f"invalid {kind}:\n  " + "\n  ".join(msgs)) from None


def load_flow(path: str | Path) -> FlowConfig:
    """Read and validate a flow file; relative model paths are resolved against its folder."""
    path = Path(path)
    cfg, _ = load_yaml_model(path, FlowConfig, "flow file", "name:, model:, ...")
    if cfg.model.path is not None and not cfg.model.path.is_absolute():
        cfg.model.path = (path.parent / cfg.model.path).resolve()
    return cfg
