"""``hwflow run``: the whole flow as a list of stages over one run directory.

Each stage is a small adapter over one area's API (which writes its own ``<stage>.json``);
the flow keeps its own record per stage in ``<run>/flow/<stage>.json`` with the digests of
the stage's inputs and the digest of its part of the flow file, so a stage whose inputs and
settings did not change is skipped, ``--from``/``--until`` select a range, and a stage that
was interrupted (Ctrl-C) is never recorded as complete and is redone next time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hwflow.artifacts import is_up_to_date, read_json, stage, write_json
from hwflow.config import FlowConfig
from hwflow.errors import ConfigError, HwflowError, NotBuiltYet


@dataclass
class FlowContext:
    cfg: FlowConfig
    run_dir: Path
    log: Callable[[str], None] = print
    # one line about the running stage's progress (epochs, traced segments), for display
    progress: Callable[[str], None] = lambda text: None

    @property
    def model_onnx(self) -> Path:
        return self.run_dir / "model.onnx"

    @property
    def hw_dir(self) -> Path:
        """The hardware run directory (rtl.json, sim.json, synth.json, bitstream.json,
        profile.json): the RTL backend keeps its own cleaned copy of the model there."""
        return self.run_dir / "hw"

    def path(self, *parts: str) -> Path:
        return self.run_dir.joinpath(*parts)


@dataclass(frozen=True)
class FlowStage:
    name: str
    run: Callable[[FlowContext], dict | None]
    inputs: Callable[[FlowContext], dict[str, Path]]
    params: Callable[[FlowConfig], dict[str, Any]]
    enabled: Callable[[FlowConfig], bool] = lambda cfg: True
    outputs: Callable[[FlowContext], list[Path]] = lambda ctx: []


@dataclass
class StageOutcome:
    name: str
    status: str  # complete | skipped (up to date) | disabled | out of range | failed
    wall_time_s: float = 0.0
    summary: dict = field(default_factory=dict)


def _dump(model) -> dict:
    return model.model_dump(mode="json")


# --- stage adapters: each calls one area's public API ------------------------------------


def _train(ctx: FlowContext) -> dict:
    spec = ctx.cfg.model
    if spec.zoo is None:  # an external file: "training" is importing it
        return _import_external(ctx)
    if not ctx.cfg.train.enabled:  # the zoo model as initialised, exported without training
        from hwflow.frontends import export_zoo_model

        export_zoo_model(spec.zoo, spec.framework, ctx.model_onnx, seed=ctx.cfg.train.seed, options=spec.options)
        return {"trained": False}
    if spec.framework == "qkeras":
        from hwflow.train.keras import train_keras as train
    else:
        from hwflow.train.torch import train_torch as train
    result = train(spec.zoo, ctx.run_dir, epochs=ctx.cfg.train.epochs, seed=ctx.cfg.train.seed, progress=ctx.progress,
                   options=spec.options)
    if not ctx.model_onnx.exists():
        raise HwflowError(f"training of {spec.zoo} finished but wrote no {ctx.model_onnx}")
    return result if isinstance(result, dict) else {}


def _import_external(ctx: FlowContext) -> dict:
    import shutil

    src = Path(ctx.cfg.model.path)
    if not src.exists():
        raise ConfigError(f"model.path {src} does not exist")
    if src.suffix == ".onnx":
        shutil.copyfile(src, ctx.model_onnx)
    else:
        from hwflow.frontends import export_file

        export_file(src, ctx.model_onnx)
    return {"imported": str(src)}


def _ir(ctx: FlowContext) -> dict:
    from hwflow.ir import clean_model, infer_fixed_point, load_model, write_ir_json

    model = clean_model(load_model(ctx.model_onnx))
    write_ir_json(model, ctx.model_onnx, infer_fixed_point(model))
    return {"ir": "ir.json"}


def _hls(ctx: FlowContext) -> dict:
    from hwflow.backends.hls4ml import run_hls
    from hwflow.backends.hls4ml.options import HLSOptions

    h = ctx.cfg.hls
    options = HLSOptions(backend=h.backend, io_type=h.io, reuse_factor=h.reuse)
    rec = run_hls(ctx.model_onnx, ctx.run_dir, options=options, samples=h.samples, build=h.build)
    return {"samples": rec.get("csim", {}).get("samples"), "mismatches": rec.get("mismatches"),
            "compile_time_s": rec.get("compile_time_s")}


def _rtl(ctx: FlowContext) -> dict:
    from hwflow.backends.rtl import generate_rtl

    if ctx.cfg.rtl.weights != "hardwired":
        raise NotBuiltYet(f"rtl.weights: {ctx.cfg.rtl.weights!r} is not built into the flow yet; use 'hardwired'")
    r = ctx.cfg.rtl
    kw = {}
    if r.architecture == "streaming":
        # the folding is chosen for the first board the flow builds for (its clock and capacity)
        boards = ctx.cfg.targets.boards
        kw = {"board": boards[0] if boards else None, "throughput": r.throughput, "folding": r.folding,
              "clock_mhz": None if boards else ctx.cfg.clock_mhz}
    generate_rtl(ctx.model_onnx, ctx.hw_dir, architecture=r.architecture, progress=ctx.progress, **kw)
    rec = read_json(ctx.hw_dir / "rtl.json")
    return {k: rec[k] for k in ("top", "latency_cycles", "ii") if k in rec}


def _sim(ctx: FlowContext) -> dict:
    from hwflow.sim import simulate

    rec = simulate(ctx.hw_dir, samples=ctx.cfg.rtl.samples)
    return {k: rec.get(k) for k in ("samples", "mismatches", "inferences_per_second")}


def _synth(ctx: FlowContext) -> dict:
    from hwflow.synth import synthesize

    results = {}
    for family in ctx.cfg.targets.fpga:
        results[family] = synthesize(ctx.hw_dir, target=family).get("resources")
    return results


def _bitstream(ctx: FlowContext) -> dict:
    from hwflow.synth import build_bitstream

    results = {}
    for board in ctx.cfg.targets.boards:
        rec = build_bitstream(ctx.hw_dir, board=board, progress=ctx.progress)
        results[board] = {k: rec.get(k) for k in ("bitstream", "fmax_mhz", "timing_met")}
    return results


def _profile(ctx: FlowContext) -> dict:
    from hwflow.power import profile

    results = {}
    dataset = _dataset(ctx.cfg)  # real data: power follows activity; None -> labelled random data
    for lib in ctx.cfg.targets.asic:
        rec = profile(ctx.hw_dir, target=f"asic-{lib}", clock_mhz=ctx.cfg.clock_mhz, samples=ctx.cfg.profile_samples,
                      dataset=dataset, simulator=ctx.cfg.profile_simulator)
        results[f"asic-{lib}"] = {k: rec.get(k) for k in ("area_um2", "energy_per_inference_nj") if k in rec}
    return results


def _dataset(cfg: FlowConfig) -> str | None:
    """The dataset that drives the gate-level simulation: the flow file's, else the zoo
    model's own; an external model file names none."""
    if cfg.train.dataset:
        return cfg.train.dataset
    if cfg.model.zoo:
        from hwflow import zoo

        return getattr(zoo.load_definition(cfg.model.zoo, cfg.model.framework), "DATASET", None)
    return None


def _report(ctx: FlowContext) -> dict:
    from hwflow.report import write_report

    paths = write_report(ctx.run_dir)
    return {k: str(v) for k, v in paths.items()}


def _model_inputs(ctx: FlowContext) -> dict[str, Path]:
    return {"model": ctx.model_onnx}


def _rtl_inputs(ctx: FlowContext) -> dict[str, Path]:
    return {"model": ctx.model_onnx, "rtl": ctx.hw_dir / "rtl.json"}


def _train_inputs(ctx: FlowContext) -> dict[str, Path]:
    p = ctx.cfg.model.path
    return {"model_file": Path(p)} if p is not None and Path(p).is_file() else {}


def _records(ctx: FlowContext) -> dict[str, Path]:
    names = ("train", "ir", "hls", "rtl", "sim", "synth", "bitstream", "profile")
    return {n: ctx.path("flow", f"{n}.json") for n in names if ctx.path("flow", f"{n}.json").exists()}


STAGES: tuple[FlowStage, ...] = (
    FlowStage("train", _train, _train_inputs, lambda c: {"model": _dump(c.model), "train": _dump(c.train)},
              outputs=lambda ctx: [ctx.model_onnx]),
    FlowStage("ir", _ir, _model_inputs, lambda c: {}, outputs=lambda ctx: [ctx.path("ir.json")]),
    FlowStage("hls", _hls, _model_inputs, lambda c: _dump(c.hls), enabled=lambda c: c.hls.enabled),
    FlowStage("rtl", _rtl, _model_inputs,
              lambda c: {"weights": c.rtl.weights, "architecture": c.rtl.architecture, "throughput": c.rtl.throughput,
                         "folding": c.rtl.folding, "boards": c.targets.boards if c.rtl.architecture == "streaming" else []},
              enabled=lambda c: c.rtl.enabled,
              outputs=lambda ctx: [ctx.hw_dir / "rtl.json"]),
    FlowStage("sim", _sim, _rtl_inputs, lambda c: {"samples": c.rtl.samples}, enabled=lambda c: c.rtl.enabled),
    FlowStage("synth", _synth, _rtl_inputs, lambda c: {"fpga": c.targets.fpga},
              enabled=lambda c: c.rtl.enabled and bool(c.targets.fpga)),
    FlowStage("bitstream", _bitstream, _rtl_inputs, lambda c: {"boards": c.targets.boards},
              enabled=lambda c: c.rtl.enabled and bool(c.targets.boards)),
    FlowStage("profile", _profile, _rtl_inputs,
              lambda c: {"asic": c.targets.asic, "clock_mhz": c.clock_mhz, "samples": c.profile_samples,
                         # only when not the default: the records of earlier runs stay valid
                         **({"simulator": c.profile_simulator} if c.profile_simulator != "yosys" else {})},
              enabled=lambda c: c.rtl.enabled and bool(c.targets.asic)),
    FlowStage("report", _report, _records, lambda c: {}),
)
STAGE_NAMES = tuple(s.name for s in STAGES)


def _check_range(name: str | None, what: str) -> None:
    if name is not None and name not in STAGE_NAMES:
        raise ConfigError(f"{what} {name!r} is not a stage; stages: {', '.join(STAGE_NAMES)}")


def run_flow(
    cfg: FlowConfig,
    run_dir: str | Path,
    from_stage: str | None = None,
    until_stage: str | None = None,
    force: bool = False,
    on_stage: Callable[[str, str], None] | None = None,
    on_progress: Callable[[str, str], None] | None = None,
) -> list[StageOutcome]:
    """Run the flow's stages in order; returns what happened to each.

    ``on_stage(name, event)`` is called with event ``start``/``done``/``skip``/``disabled``/
    ``out of range`` (for progress display); ``on_progress(name, text)`` with a line about the
    running stage's progress where the stage reports any (epochs, traced segments). A failing stage raises after its record says ``failed``; later
    stages do not run.
    """
    _check_range(from_stage, "--from")
    _check_range(until_stage, "--until")
    # absolute: simulators and YoWASP tools run in other working directories
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "flow" / "flow_config.json", _dump(cfg))
    ctx = FlowContext(cfg, run_dir)
    lo = STAGE_NAMES.index(from_stage) if from_stage else 0
    hi = STAGE_NAMES.index(until_stage) if until_stage else len(STAGES) - 1
    outcomes: list[StageOutcome] = []
    notify = on_stage or (lambda name, event: None)
    for i, st in enumerate(STAGES):
        if not st.enabled(cfg):
            outcomes.append(StageOutcome(st.name, "disabled"))
            notify(st.name, "disabled")
            continue
        if not lo <= i <= hi:
            outcomes.append(StageOutcome(st.name, "out of range"))
            notify(st.name, "out of range")
            continue
        inputs = st.inputs(ctx)
        params = st.params(cfg)
        # "report" always reruns: it is cheap and reads every other record
        if not force and st.name != "report" and all(p.exists() for p in inputs.values()) and is_up_to_date(
                run_dir / "flow", st.name, inputs=inputs, params=params):
            outcomes.append(StageOutcome(st.name, "skipped"))
            notify(st.name, "skip")
            continue
        notify(st.name, "start")
        if on_progress is not None:
            ctx.progress = lambda text, name=st.name: on_progress(name, text)
        t0 = time.time()
        with stage(run_dir / "flow", st.name, inputs=inputs, params=params) as rec:
            summary = st.run(ctx) or {}
            for out in st.outputs(ctx):
                rec.output(out)
            rec.result["summary"] = summary
        outcomes.append(StageOutcome(st.name, "complete", round(time.time() - t0, 2), summary))
        notify(st.name, "done")
    return outcomes
