"""QONNX -> hls4ml project whose C simulation is bit-exact with the IR reference.

``run_hls(model, run_dir, options)`` is the stage behind ``hwflow hls``: prepare the graph
(``prepare``), convert it with every type set from the IR (``convert``, ``precision``),
compile the C simulation with g++ and check it sample by sample (``csim``), optionally run
the vendor HLS build (``vendor``, ``report``), and record everything in ``<run>/hls.json``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# hls4ml imports TensorFlow. Loaded with Keras 3 it would make QKeras unusable for the rest of
# the process (QKeras needs tf-keras 2, chosen only before TensorFlow's first import), e.g. in a
# flow that exports a QKeras model after an hls4ml stage. The ONNX path works with both.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from hwflow.backends.hls4ml.options import BACKENDS, HLSOptions, LayerOptions
from hwflow.backends.hls4ml.vendor import BuildSteps

__all__ = ["run_hls", "HLSOptions", "LayerOptions", "BuildSteps", "BACKENDS", "PROJECT_DIR", "scan_project_types"]

PROJECT_DIR = "hls4ml_prj"
N_CORNERS = 5


def scan_project_types(project_dir: str | Path) -> dict[str, str]:
    """``typedef`` name -> C++ type of the generated ``firmware/defines.h``."""
    import re

    text = (Path(project_dir) / "firmware" / "defines.h").read_text()
    return {m.group(2): m.group(1).strip() for m in re.finditer(r"typedef\s+(.+?)\s+(\w+)\s*;", text)}


def run_hls(
    model: str | Path,
    run_dir: str | Path,
    options: HLSOptions | None = None,
    samples: int = 1000,
    seed: int = 0,
    build: bool = False,
    build_steps: BuildSteps | None = None,
    inputs=None,
    labels=None,
) -> dict:
    """Write the hls4ml project, check its C simulation against the reference, maybe build.

    Returns the ``hls.json`` record. Raises ``MismatchError`` (after recording the first
    mismatch) when C-sim and reference differ, ``UnsupportedOp`` naming the node hls4ml or
    hwflow cannot take exactly, and ``VendorToolMissing`` after a complete C-sim stage when
    ``build`` was asked for without the vendor tool installed.
    ``inputs``: the model's inputs (array) instead of the stimulus: the software before the
    hardware (``hwflow.ir.boundary``) turns them into the design's inputs; ``labels``: their
    classes, the accuracy of the C-sim outputs (through the software after it) is recorded.
    """
    import hls4ml

    from hwflow.artifacts import read_json, stage
    from hwflow.backends.hls4ml.convert import convert
    from hwflow.backends.hls4ml.csim import compile_project, run_check
    from hwflow.backends.hls4ml.precision import typedefs_not_set
    from hwflow.backends.hls4ml.prepare import prepare
    from hwflow.backends.hls4ml.vendor import run_vendor_build
    from hwflow.errors import ConfigError, HwflowError, MismatchError, VendorToolMissing
    from hwflow.ir import make_stimulus
    from hwflow.ir.streamline import streamlining_record

    options = options or HLSOptions()
    run_dir = Path(run_dir)
    project_dir = run_dir / PROJECT_DIR
    params = {"options": options.to_json(), "samples": samples, "seed": seed, "build": build}
    if inputs is not None:  # only when given: records of stimulus runs stay valid
        params["given_inputs"] = int(len(inputs))
    missing_tool: VendorToolMissing | None = None
    with stage(run_dir, "hls", inputs={"model": model}, params=params) as st:
        st.tools["hls4ml"] = hls4ml.__version__
        t0 = time.perf_counter()
        prepared = prepare(str(model))
        boundary, software, software_files = _software_boundary(model, prepared, run_dir)
        for f in software_files:
            st.output(f)
        conv = convert(prepared, options, project_dir)
        convert_time = time.perf_counter() - t0
        (run_dir / "hls4ml_convert.log").write_text(conv.hls4ml_log)
        st.result.update({
            "backend": options.backend, "io_type": options.io_type, "strategy": options.strategy,
            "reuse_factor": options.reuse_factor, "project_dir": PROJECT_DIR,
            "project_name": options.project_name, "convert_time_s": round(convert_time, 3),
            "stripped_output_ops": prepared.stripped_ops, "channels_last": prepared.channels_last,
            "software": software,
            "streamlining": streamlining_record(prepared.source),
            "precisions": [p.to_json() for p in conv.precisions],
        })
        compile_time = compile_project(conv)
        st.output(project_dir)
        typedefs = scan_project_types(project_dir)
        st.result["project_types"] = typedefs
        unexpected = typedefs_not_set(typedefs, conv.set_types)
        if unexpected:
            raise HwflowError(f"generated types hwflow did not set (a bug): {unexpected}")
        # make_stimulus counts its corners (0, max, min, two alternating patterns) in n
        if inputs is None:
            x = make_stimulus(prepared.source, n=samples + N_CORNERS, seed=seed, corners=True)
        elif boundary is None:
            raise ConfigError("inputs: a model with several inputs or outputs has no single software boundary")
        else:
            x = boundary.to_port(inputs)
        res = run_check(conv, prepared, x, compile_time)
        st.result["csim"] = {**res.to_json(), **({"random_samples": samples, "corner_samples": N_CORNERS}
                                                 if inputs is None else {"given_inputs": int(len(x))})}
        if labels is not None:
            from hwflow.ir.boundary import accuracy

            st.result["accuracy"] = accuracy(boundary.from_port(res.outputs["hls"][0]), labels)
        st.result["mismatches"] = res.mismatches
        st.result["first_mismatch"] = res.first_mismatch
        st.result["compile_time_s"] = round(compile_time, 3)
        if res.mismatches:
            fm = res.first_mismatch
            where = fm["first_layer"].get("layer") if fm else None
            raise MismatchError(
                f"hls4ml C simulation differs from the reference on {res.mismatches} of {res.samples} samples; "
                f"first: sample {fm['sample']}, output {fm['output']}[{fm['element']}] = {fm['hls']} "
                f"(reference {fm['reference']}), first differing layer: {where} (details in {st.record_path})")
        if build:
            try:
                st.result["build"] = {"status": "complete",
                                      **run_vendor_build(project_dir, options.backend, _top(options), build_steps)}
            except VendorToolMissing as e:
                st.result["build"] = {"status": "not installed", "message": str(e)}
                missing_tool = e
        else:
            st.result["build"] = {"status": "not requested"}
    if missing_tool is not None:
        raise missing_tool
    return read_json(run_dir / "hls.json")


def _software_boundary(model, prepared, run_dir: Path):
    """What runs in software around the hls4ml design (``hwflow.ir.boundary``), written beside
    it: (Boundary, record, files); none for a model with several inputs or outputs."""
    import copy

    from qonnx.core.modelwrapper import ModelWrapper

    from hwflow.ir import load_model
    from hwflow.ir.boundary import boundary_around

    raw = load_model(str(model))
    if len(raw.graph.output) != 1 or len({i.name for i in raw.graph.input} - {t.name for t in raw.graph.initializer}) != 1:
        return None, None, []
    boundary = boundary_around(raw, ModelWrapper(copy.deepcopy(prepared.source.model)))
    return (boundary, *boundary.save(run_dir))


def _top(options: HLSOptions) -> str:
    return options.project_name + ("_axi" if options.backend == "VivadoAccelerator" else "")

