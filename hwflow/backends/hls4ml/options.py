"""Options of the hls4ml stage, validated once, with errors that list the legal values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hwflow.errors import ConfigError

# hls4ml backend names as hls4ml spells them; the ones whose project we write and compile.
BACKENDS = ("Vitis", "Vivado", "VivadoAccelerator")
IO_TYPES = {"parallel": "io_parallel", "stream": "io_stream", "io_parallel": "io_parallel", "io_stream": "io_stream"}
STRATEGIES = ("Latency", "Resource")


def _one_of(value: str, legal, what: str) -> str:
    for v in legal:
        if value.lower() == v.lower():
            return v
    raise ConfigError(f"unknown {what} {value!r}; legal values: {', '.join(legal)}")


@dataclass
class LayerOptions:
    """Per-layer overrides (keyed by hls4ml layer name or ONNX node name)."""

    reuse_factor: int | None = None
    strategy: str | None = None


@dataclass
class HLSOptions:
    backend: str = "Vitis"
    io_type: str = "io_parallel"
    strategy: str = "Latency"
    reuse_factor: int = 1
    part: str | None = None
    clock_period: float = 5.0
    project_name: str = "myproject"
    layers: dict[str, LayerOptions] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.backend = _one_of(self.backend, BACKENDS, "hls4ml backend")
        if self.io_type.lower() not in IO_TYPES:
            raise ConfigError(f"unknown io type {self.io_type!r}; legal values: parallel, stream")
        self.io_type = IO_TYPES[self.io_type.lower()]
        self.strategy = _one_of(self.strategy, STRATEGIES, "strategy")
        if int(self.reuse_factor) < 1:
            raise ConfigError(f"reuse factor must be >= 1, got {self.reuse_factor}")
        self.reuse_factor = int(self.reuse_factor)
        if self.clock_period <= 0:
            raise ConfigError(f"clock period must be > 0 ns, got {self.clock_period}")
        layers = {}
        for name, lo in (self.layers or {}).items():
            if isinstance(lo, dict):
                unknown = set(lo) - {"reuse_factor", "strategy"}
                if unknown:
                    raise ConfigError(f"layer {name!r}: unknown option(s) {sorted(unknown)}; "
                                      "legal: reuse_factor, strategy")
                lo = LayerOptions(**lo)
            if lo.strategy is not None:
                lo.strategy = _one_of(lo.strategy, STRATEGIES, f"strategy of layer {name!r}")
            if lo.reuse_factor is not None and int(lo.reuse_factor) < 1:
                raise ConfigError(f"layer {name!r}: reuse factor must be >= 1")
            layers[name] = lo
        self.layers = layers
        from hwflow.artifacts import sanitize_identifier

        if sanitize_identifier(self.project_name) != self.project_name:
            raise ConfigError(f"project name {self.project_name!r} is not a C identifier")

    def to_json(self) -> dict:
        return asdict(self)
