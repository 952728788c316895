"""``generate_rtl``: QONNX model -> pipelined Verilog with a valid/ready wrapper + rtl.json."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from da4ml.trace import comb_trace, to_pipeline

from hwflow.artifacts import sanitize_identifier, stage
from hwflow.backends.rtl.lint import lint_design
from hwflow.backends.rtl.model_io import input_format, prepare_model
from hwflow.backends.rtl.tracer import trace_model
from hwflow.backends.rtl.verilog import output_format, write_design
from hwflow.errors import ConfigError

DEFAULT_LATENCY_CUTOFF = 5.0


def generate_rtl(
    model_path: str | Path,
    run_dir: str | Path,
    *,
    top: str | None = None,
    latency_cutoff: float = DEFAULT_LATENCY_CUTOFF,
    input_type: str | None = None,
    lint: bool = True,
) -> Path:
    """Write ``<run_dir>/verilog/*.v``, ``<run_dir>/model.onnx`` (the cleaned model the
    RTL implements, the reference for ``simulate``) and ``<run_dir>/rtl.json``.

    latency_cutoff: pipeline register spacing in da4ml's delay units (about one adder
    level each); higher = fewer stages and a slower clock, ``<= 0`` = a single
    combinational stage between the input and output registers.
    input_type: ``ap_fixed<W,I>``-style format of the input, required in spirit for models
    with a float input (default ``ap_fixed<16,6>`` then); overrides the IR's type.
    Returns the path of rtl.json.
    """
    model_path, run_dir = Path(model_path), Path(run_dir)
    top = sanitize_identifier(top or model_path.stem)
    if latency_cutoff is None:
        raise ConfigError("latency_cutoff must be a number")
    params = {"top": top, "latency_cutoff": float(latency_cutoff), "input_type": input_type}
    with stage(run_dir, "rtl", inputs={"model": model_path}, params=params) as st:
        t0 = time.time()
        model, _types, stripped = prepare_model(model_path, input_type)
        in_fmt = input_format(model)
        tr = trace_model(model, in_fmt)
        # inputs no output depends on (zero weights) get width 0: no register, no unused bits
        comb = comb_trace(tr.inputs, tr.outputs, keep_dead_inputs=False)
        if latency_cutoff > 0:
            pipe = to_pipeline(comb, float(latency_cutoff), retiming=True, verbose=False)
            stages = list(pipe.solutions)
        else:
            stages = [comb]
        out_fmt = output_format(stages[-1].out_qint)
        t_trace = time.time() - t0

        vdir = run_dir / "verilog"
        if vdir.exists():
            shutil.rmtree(vdir)
        files, latency = write_design(
            vdir, top, stages, in_fmt, len(tr.inputs), out_fmt, len(tr.outputs)
        )
        clean_path = run_dir / "model.onnx"
        model.save(str(clean_path))
        for f in files:
            st.output(f)
        st.output(clean_path)
        lint_report = lint_design(files, top, run_dir / "lint.log") if lint else None

        def port(name, shape, fmt, n):
            return {
                "tensor": name, "shape": list(shape), "elements": n,
                **fmt.to_json(), "int_min": fmt.int_min, "int_max": fmt.int_max,
                "tdata_width": n * fmt.width,
            }

        st.result.update(
            {
                "top": top,
                "files": [str(f.relative_to(run_dir)) for f in files],
                "model": "model.onnx",
                "source_model": str(model_path),
                "latency_cycles": latency,
                "ii": 1,
                "clock_port": "clk",
                "reset_port": "rst",
                "reset_active_high": True,
                "input": {**port(tr.input_name, tr.input_shape, in_fmt, len(tr.inputs)), "format_source": "option" if input_type else "ir"},
                "output": port(tr.output_name, tr.output_shape, out_fmt, len(tr.outputs)),
                "weights": "hardwired",
                "stripped_output_ops": stripped,
                "pipeline": {
                    "stages": len(stages),
                    "latency_cutoff": float(latency_cutoff),
                    "estimated_luts_da4ml": float(sum(s.cost for s in stages)),
                    "register_bits": int(sum(sum(_bits(s.inp_qint)) for s in stages) + sum(_bits(stages[-1].out_qint))),
                },
                "generation_time_s": round(time.time() - t0, 3),
                "trace_time_s": round(t_trace, 3),
                "lint": lint_report,
            }
        )
    return run_dir / "rtl.json"


def _bits(qints) -> list[int]:
    from da4ml.types import minimal_kif

    return [int(sum(minimal_kif(q))) for q in qints]
