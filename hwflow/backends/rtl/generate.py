"""``generate_rtl``: QONNX model -> pipelined Verilog with a valid/ready wrapper + rtl.json."""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from da4ml.trace import comb_trace

from hwflow.artifacts import sanitize_identifier, stage
from hwflow.backends.rtl.folded import choose_folding, trace_folded
from hwflow.backends.rtl.folded_verilog import folded_register_bits, write_folded_design
from hwflow.backends.rtl.lint import lint_design
from hwflow.backends.rtl.model_io import input_format, prepare_model
from hwflow.backends.rtl.pipeline_depth import max_cutoff_for_clock, pipeline_for_clock, register_bits, stage_delay
from hwflow.backends.rtl.pipeline_depth import split as split_pipeline
from hwflow.backends.rtl.tracer import ElementFormat, trace_model
from hwflow.backends.rtl.verilog import output_format, write_design
from hwflow.errors import ConfigError
from hwflow.ir.streamline import streamlining_record

DEFAULT_LATENCY_CUTOFF = 5.0


def generate_rtl(
    model_path: str | Path,
    run_dir: str | Path,
    *,
    top: str | None = None,
    latency_cutoff: float | None = None,
    input_type: str | None = None,
    lint: bool = True,
    architecture: str = "auto",
    progress=None,
    board=None,
    throughput: float | None = None,
    clock_mhz: float | None = None,
    folding: str | None = None,
    timing_target: str = "asic-osu018",
) -> Path:
    """Write ``<run_dir>/verilog/*.v``, ``<run_dir>/model.onnx`` (the cleaned model the
    RTL implements, the reference for ``simulate``) and ``<run_dir>/rtl.json``.

    latency_cutoff: pipeline register spacing in da4ml's delay units (about one adder
    level each); higher = fewer stages and a slower clock, ``<= 0`` = a single
    combinational stage between the input and output registers. Default: chosen from
    ``clock_mhz`` when given (parallel/folded), else ``DEFAULT_LATENCY_CUTOFF``.
    clock_mhz + timing_target (parallel/folded): the cutoff that meets the clock on the target
    (asic-osu018, ice40, ecp5) with the fewest register bits (``pipeline_depth.py``).
    input_type: ``ap_fixed<W,I>``-style format of the input, required in spirit for models
    with a float input (default ``ap_fixed<16,6>`` then); overrides the IR's type.
    architecture: ``parallel`` (every layer unrolled, II = 1), ``folded`` (each conv layer
    one kernel applied pixel by pixel, one image in flight; ``folded.py``) or ``auto``
    (folded when a conv layer is too large to unroll, see ``folded.AUTO_FOLD_MACS``).
    progress: optional callable receiving a line of text per traced segment (folded).
    board, throughput, clock_mhz, folding: the ``streaming`` architecture (MLPs; one folded
    matrix-vector unit per layer, ``streaming/``): ``folding`` ("PExSIMD,..." per layer) fixes
    the folding, else it is chosen for ``board`` (a name or Board: device LUT/FF/BRAM/DSP) and
    the ``throughput`` target (inferences/s at ``clock_mhz``, default the board's clock);
    ``FitError`` when nothing fits. With a board, ``architecture="auto"`` means streaming.
    Returns the path of rtl.json.
    """
    model_path, run_dir = Path(model_path), Path(run_dir)
    top = sanitize_identifier(top or model_path.stem)
    board_obj = None
    if board is not None:
        from hwflow.boards import load_board

        board_obj = load_board(board) if isinstance(board, (str, Path)) else board
        if architecture == "auto":
            architecture = "streaming"
    if architecture not in ("auto", "parallel", "folded", "streaming"):
        raise ConfigError(f"architecture must be parallel, folded, streaming or auto, not {architecture!r}")
    if throughput is not None and (throughput <= 0 or (board_obj is None and not clock_mhz)):
        raise ConfigError("--throughput needs a positive value and --board or --clock (cycles per inference = "
                          f"clock / throughput), got throughput={throughput}, clock={clock_mhz}")
    if architecture != "streaming" and (throughput is not None or folding is not None):
        raise ConfigError("--throughput and --folding apply to the streaming architecture (give --board or "
                          "--architecture streaming)")
    # parallel/folded with a clock: the pipeline depth is chosen for it (pipeline_depth.py)
    timing = (clock_mhz, timing_target) if clock_mhz and architecture != "streaming" else None
    if timing and latency_cutoff is not None:
        raise ConfigError("give --clock (the pipeline depth is chosen for it) or --latency-cutoff, not both")
    if timing:
        stage_delay(timing_target)  # an unknown target fails before any work
    elif latency_cutoff is None:
        latency_cutoff = DEFAULT_LATENCY_CUTOFF
    params = {"top": top, "latency_cutoff": None if timing else float(latency_cutoff), "input_type": input_type,
              "architecture": architecture, "board": board_obj.name if board_obj else None,
              "throughput": throughput, "clock_mhz": clock_mhz, "folding": folding,
              **({"timing_target": timing_target} if timing else {})}
    with stage(run_dir, "rtl", inputs={"model": model_path}, params=params) as st:
        t0 = time.time()
        model, _types, boundary = prepare_model(model_path, input_type)
        in_fmt = input_format(model)
        if architecture == "streaming":
            from hwflow.backends.rtl.streaming.layers import refuse_unsupported

            refuse_unsupported(model)  # before any expensive work
            fold = None
        else:
            fold = choose_folding(model, architecture)
        vdir = run_dir / "verilog"
        if vdir.exists():
            shutil.rmtree(vdir)
        if architecture == "streaming":
            d = _build_streaming(model, in_fmt, vdir, top, progress, board_obj, throughput, clock_mhz, folding)
        else:
            build = _build_folded if fold else _build_parallel
            d = build(model, in_fmt, fold, latency_cutoff, vdir, top, progress, timing)
        t_trace = d.trace_time_s
        clean_path = run_dir / "model.onnx"
        model.save(str(clean_path))
        for f in d.files:
            st.output(f)
        st.output(clean_path)
        software, software_files = boundary.save(run_dir)  # what runs around the hardware
        for f in software_files:
            st.output(f)
        lint_report = lint_design(d.files, top, run_dir / "lint.log") if lint else None

        def port(name, shape, n, fmt):
            return {
                "tensor": name, "shape": list(shape), "elements": n,
                **fmt.to_json(), "int_min": fmt.int_min, "int_max": fmt.int_max,
                "tdata_width": n * fmt.width,
            }

        st.result.update(
            {
                "top": top,
                "files": [str(f.relative_to(run_dir)) for f in d.files],
                "model": "model.onnx",
                "source_model": str(model_path),
                "latency_cycles": d.latency,
                "ii": d.ii,
                "clock_port": "clk",
                "reset_port": "rst",
                "reset_active_high": True,
                "input": {**port(*d.in_port, in_fmt), "format_source": "option" if input_type else "ir"},
                "output": port(*d.out_port, d.out_fmt),
                "weights": "hardwired",
                "stripped_output_ops": boundary.tail_ops,
                "software": software,
                "streamlining": streamlining_record(model),
                "pipeline": {
                    "latency_cutoff": None if latency_cutoff is None else float(latency_cutoff),
                    **d.pipeline,  # the parallel/folded design's cutoff when chosen from the clock
                    # da4ml's estimate of its traced logic; none for the streaming MVUs
                    "estimated_luts_da4ml": float(sum(s.cost for s in d.stages)) if d.stages else None,
                },
                "generation_time_s": round(time.time() - t0, 3),
                "trace_time_s": round(t_trace, 3),
                "lint": lint_report,
            }
        )
    return run_dir / "rtl.json"


@dataclass
class _Design:
    """What a backend architecture built: files, timing, ports (name, shape, elements)."""

    files: list[Path]
    latency: int
    ii: int
    in_port: tuple
    out_port: tuple
    out_fmt: ElementFormat
    stages: list  # every da4ml CombLogic of the design
    pipeline: dict  # architecture-specific part of rtl.json's "pipeline"
    trace_time_s: float


def _build_parallel(model, in_fmt, _fold, latency_cutoff, vdir, top, _progress, timing) -> _Design:
    t0 = time.time()
    tr = trace_model(model, in_fmt)
    # inputs no output depends on (zero weights) get width 0: no register, no unused bits
    comb = comb_trace(tr.inputs, tr.outputs, keep_dead_inputs=False)
    clock_choice = None
    if timing:
        stages, latency_cutoff, clock_choice = pipeline_for_clock(comb, *timing)
    else:
        stages = split_pipeline(comb, float(latency_cutoff))
    out_fmt = output_format(stages[-1].out_qint)
    t_trace = time.time() - t0
    files, latency = write_design(vdir, top, stages, in_fmt, len(tr.inputs), out_fmt, len(tr.outputs))
    return _Design(
        files=files, latency=latency, ii=1,
        in_port=(tr.input_name, tr.input_shape, len(tr.inputs)),
        out_port=(tr.output_name, tr.output_shape, len(tr.outputs)), out_fmt=out_fmt, stages=stages,
        pipeline={"architecture": "parallel", "stages": len(stages), "register_bits": register_bits(stages),
                  "latency_cutoff": float(latency_cutoff),
                  **({"clock_choice": clock_choice} if clock_choice else {})},
        trace_time_s=t_trace)


def _build_folded(model, in_fmt, fold, latency_cutoff, vdir, top, progress, timing) -> _Design:
    t0 = time.time()
    if timing:  # the largest cutoff that meets the clock (no search over the segments' register bits)
        latency_cutoff = max_cutoff_for_clock(*timing)
    tr = trace_folded(model, in_fmt, fold, latency_cutoff, progress=progress)
    out_fmt = output_format(tr.output_qints())
    t_trace = time.time() - t0
    files, sched = write_folded_design(vdir, top, tr, out_fmt)
    layers = [{"node": c.name, "ops": [n.op_type for n in c.nodes], "in_shape": list(c.in_shape),
               "out_shape": list(c.out_shape), "kernel": list(c.kernel), "steps": c.steps, "stages": len(c.stages),
               "load_cycle": sched.loads[k]}
              for k, c in enumerate(tr.segments) if k in sched.loads]
    return _Design(
        files=files, latency=sched.latency, ii=sched.ii,
        in_port=(tr.input_name, tr.input_shape, len(tr.input_qints)),
        out_port=(tr.output_name, tr.output_shape, len(tr.output_qints())), out_fmt=out_fmt,
        stages=[st for seg in tr.segments for st in seg.stages],
        pipeline={"architecture": "folded", "segments": len(tr.segments), "folded_layers": layers,
                  "register_bits": folded_register_bits(tr, in_fmt, out_fmt), "latency_cutoff": float(latency_cutoff)},
        trace_time_s=t_trace)


def _build_streaming(model, in_fmt, vdir, top, progress, board, throughput, clock_mhz, folding) -> _Design:
    from hwflow.backends.rtl.streaming.build import build_streaming
    from hwflow.backends.rtl.streaming.folding import folding_chooser

    sd = build_streaming(model, in_fmt, vdir, top,
                         folding_chooser(board=board, throughput=throughput, clock_mhz=clock_mhz, folding=folding,
                                         in_fmt=in_fmt),
                         progress=progress)
    inits = {i.name for i in model.graph.initializer}
    in_name = next(i.name for i in model.graph.input if i.name not in inits)
    out_name = model.graph.output[0].name
    in_shape = tuple(int(d) for d in model.get_tensor_shape(in_name))
    out_shape = tuple(int(d) for d in model.get_tensor_shape(out_name))
    return _Design(files=sd.files, latency=sd.latency, ii=sd.ii,
                   in_port=(in_name, in_shape, math.prod(in_shape[1:])),
                   out_port=(out_name, out_shape, math.prod(out_shape[1:])),
                   out_fmt=sd.out_fmt, stages=[], pipeline=sd.record, trace_time_s=sd.trace_time_s)
