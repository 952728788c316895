"""``simulate``: stream inputs through the generated design in Verilator and compare every
output word, bit-exactly, with the reference executor of the same QONNX model.

Two engines drive the same stream protocol: ``bulk`` (hwflow.sim.bulk: a C++ harness, no
Python per cycle; the default) and ``cocotb`` (rtl_tests/stream_tb.py: protocol and corner
tests, waveforms)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from hwflow.artifacts import read_json, stage, write_json
from hwflow.backends.rtl.design import RtlDesign, load_design
from hwflow.backends.rtl.words import read_hex, write_hex
from hwflow.errors import ConfigError, HwflowError, MismatchError
from hwflow.ir.boundary import Boundary, accuracy, load_labels
from hwflow.sim import bulk, codec
from hwflow.sim.runner import run_testbench
from hwflow.tools.cocotb import build

DEFAULT_SAMPLES = 1000


def load_rtl(run_dir: Path) -> RtlDesign:
    """The design of ``run_dir``, which must be a complete ``generate_rtl`` record with a model."""
    design = load_design(run_dir)
    status = design.raw.get("status")
    if status != "complete":
        raise ConfigError(f"{design.rtl_json} is not complete (status {status!r}): regenerate the RTL")
    if design.model is None:
        raise ConfigError(f"{design.rtl_json} names no model file to compare the simulation with")
    return design


ENGINES = ("bulk", "cocotb")


def simulate(
    run_dir: str | Path,
    inputs: np.ndarray | str | Path | None = None,
    samples: int = DEFAULT_SAMPLES,
    vcd: bool = False,
    seed: int = 0,
    save_outputs: str | Path | None = None,
    valid_prob: float = 0.7,
    ready_prob: float = 0.7,
    raise_on_mismatch: bool = True,
    engine: str | None = None,
    burst: int = 64,
    progress: Callable[[str], None] | None = None,
    raw_ports: bool = False,
    labels: np.ndarray | str | Path | None = None,
) -> dict:
    """Co-simulate ``run_dir`` (made by ``generate_rtl``); writes ``sim.json``.

    inputs: the model's inputs (array or ``.npy``), first axis = samples; the software in
    front of the port (``hwflow.ir.boundary``: layout, pre-processing, input quantizer) turns
    them into port values; default: corners then seeded random port values (``samples`` in
    all). save_outputs: ``.npy`` of the model's outputs (the RTL's, through the software
    tail). raw_ports: no software on either side: ``inputs`` and the saved outputs are the ports'
    integers. labels: class labels of ``inputs`` (array or file): the accuracy is recorded.
    engine: ``bulk`` (default; the C++ harness of ``hwflow.sim.bulk``, no Python per
    cycle) or ``cocotb`` (the Python testbench ``rtl_tests/stream_tb.py``; the one that
    writes ``--vcd`` waveforms, so ``vcd`` implies it). Both run the same phases: ``burst``
    beats at full rate (latency and II checked), then seeded random input gaps
    (``valid_prob``) and output back-pressure (``ready_prob``).
    progress: called with progress lines (build steps, simulated samples).
    Raises MismatchError (after writing sim.json) when any output differs, unless
    ``raise_on_mismatch`` is False.
    """
    engine = engine or ("cocotb" if vcd else "bulk")
    if engine not in ENGINES:
        raise ConfigError(f"simulation engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if vcd and engine != "cocotb":
        raise ConfigError("waveforms (--vcd) come from the cocotb engine: use --engine cocotb or leave it out")
    run_dir = Path(run_dir).resolve()  # the simulators run in other working directories
    design = load_rtl(run_dir)
    rtl = design.raw  # the codec reads the port entries (with their value ranges) as written
    model_path = design.model
    if inputs is not None and not isinstance(inputs, np.ndarray):
        from hwflow.artifacts import load_array_file

        in_path = Path(inputs)
        # the file gate, no pickles, finite real numbers only (InvalidInputsFile otherwise)
        inputs = load_array_file(in_path, "inputs file")
        if isinstance(inputs, dict):
            if len(inputs) != 1:
                raise ConfigError(f"inputs file {in_path}: the design has one input port, the .npz holds "
                                  f"{sorted(inputs)}")
            inputs = next(iter(inputs.values()))
    boundary = Boundary.load(run_dir, rtl.get("software"), rtl["input"]["shape"], rtl["output"]["shape"])
    if labels is not None and not isinstance(labels, np.ndarray):
        labels = load_labels(labels)
    if labels is not None and inputs is None:
        raise ConfigError("--labels go with --inputs (the labels of those samples)")
    if inputs is not None:
        # before the stage starts: a shape or grid error leaves the last sim.json as it was
        x_given = codec.check_inputs(rtl, codec.to_real(rtl["input"], codec.port_ints(rtl["input"], inputs))) \
            if raw_ports else codec.check_inputs(rtl, boundary.to_port(inputs))
        codec.to_int(rtl["input"], x_given, "input")
    params = {"samples": samples if inputs is None else int(len(inputs)), "seed": seed, "vcd": vcd,
              "custom_inputs": inputs is not None, "valid_prob": valid_prob, "ready_prob": ready_prob,
              "engine": engine, "burst": burst, "raw_ports": raw_ports}
    with stage(run_dir, "sim", inputs={"rtl": run_dir / "rtl.json", "model": model_path}, params=params) as st:
        t0 = time.time()
        x = codec.make_inputs(rtl, model_path, samples, seed) if inputs is None else x_given
        q_in = codec.to_int(rtl["input"], x, "input")
        t_prep = time.time() - t0
        work = run_dir / "sim"
        work.mkdir(exist_ok=True)
        if engine == "bulk":
            exe, b = bulk.build(design, progress=progress)
            words_in = bulk.pack_bytes(design.input, q_in)
            t1 = time.time()
            # the harness runs in its own process: the reference is computed meanwhile
            job = bulk.BulkRun(exe, design, words_in, work, seed=seed, valid_prob=valid_prob,
                               ready_prob=ready_prob, burst=burst, progress=progress)
        t_ref = time.time()
        try:
            y_ref = codec.reference(model_path, x)
            q_ref = codec.to_int(rtl["output"], y_ref, "reference output", strict=False)
        except BaseException:
            if engine == "bulk":
                job.cancel()  # no harness outlives a failed reference
            raise
        t_ref = time.time() - t_ref
        if engine == "bulk":
            raw, tb = job.wait()
            t_sim = time.time() - t1
            q_out = bulk.unpack_bytes(design.output, raw)
            tb["ii_in_burst"] = tb["burst_accept_gaps"] in ([], [design.ii])
            # cycles between accepted inputs at full rate (one value when the II holds)
            tb["ii_measured"] = tb["burst_accept_gaps"]
            tb_wall = job.wall_time_s
            st.output(work / "bulk_sim.log")
        else:
            write_hex(work / "stimulus.hex", design.input.pack(q_in), design.input.tdata_width)
            expected = None
            if q_ref is not None:
                write_hex(work / "expected.hex", design.output.pack(q_ref), design.output.tdata_width)
                expected = "expected.hex"
            cfg = {
                "tdata_in": design.input.tdata_width, "tdata_out": design.output.tdata_width,
                "latency": design.latency_cycles, "ii": design.ii, "stimulus": "stimulus.hex",
                "expected": expected, "outputs": "outputs.hex", "results": "tb_results.json", "seed": seed,
                "burst": burst, "valid_prob": valid_prob, "ready_prob": ready_prob,
            }
            write_json(work / "tb_config.json", cfg)
            bdir = run_dir / ("sim_build_vcd" if vcd else "sim_build")
            if progress:
                progress(f"cocotb sim: building (or reusing) the Verilator model in {bdir.name}")
            b = build(list(design.files), design.top, bdir, waves=vcd, cxx_opt="-O2" if design.ii > 1 else "-O0")
            t1 = time.time()
            (work / "tb_results.json").unlink(missing_ok=True)
            if progress:
                progress(f"cocotb sim: streaming {len(x):,} samples")
            run_testbench(design.top, bdir, work, work / "tb_config.json", waves=vcd)
            t_sim = time.time() - t1
            if not (work / "tb_results.json").exists():
                raise HwflowError(f"the testbench ended without results; see {work / 'sim.log'}")
            tb = read_json(work / "tb_results.json")
            tb_wall = tb["wall_time_s"]
            q_out = design.output.unpack(read_hex(work / "outputs.hex"))
            for f in ("stimulus.hex", "outputs.hex", "tb_results.json", "sim.log"):
                st.output(work / f)
            if vcd and (work / "dump.vcd").exists():
                st.output(work / "dump.vcd")

        first, n_bad = _compare(x, y_ref, q_out, q_ref, rtl, design)
        y_rtl = codec.to_real(rtl["output"], q_out).reshape((len(x), *design.output.shape[1:]))
        if save_outputs is not None or labels is not None:
            y_model = boundary.from_port(y_rtl) if not raw_ports else None
        if save_outputs is not None:
            np.save(Path(save_outputs), q_out.reshape(y_rtl.shape) if raw_ports else y_model)
            st.output(Path(save_outputs))
        tb_mismatches = tb.get("mismatches", n_bad)
        res = {
            "engine": engine,
            "samples": int(len(x)),
            "mismatches": n_bad,
            "passed": n_bad == 0 and tb_mismatches == 0 and tb["ii_in_burst"]
            and tb["latency_measured"] == [design.latency_cycles],
            "first_mismatch": first,
            "testbench_mismatches": tb_mismatches,
            "testbench_first_mismatch": tb.get("first_mismatch"),
            "simulated_cycles": tb["cycles"],
            "latency_cycles": design.latency_cycles,
            "latency_measured": tb["latency_measured"],
            "ii": design.ii,
            # the design accepted one input every `ii` cycles during the full-rate burst
            "ii_as_declared": tb["ii_in_burst"],
            "ii_measured": tb.get("ii_measured"),
            "burst": burst,
            "build": b,
            # Verilator + C++ compile of this run (0 when an earlier build was reused)
            "build_time_s": b["build_time_s"],
            "prepare_time_s": round(t_prep, 3),
            "reference_time_s": round(t_ref, 3),
            "sim_wall_time_s": round(t_sim, 3),
            "testbench_wall_time_s": round(tb_wall, 3) if tb_wall is not None else None,
            # simulated inferences per wall-clock second of the simulator process
            "inferences_per_second": round(len(x) / tb_wall, 1) if tb_wall else None,
            "valid_prob": valid_prob,
            "ready_prob": ready_prob,
            "vcd": str((work / "dump.vcd").relative_to(run_dir)) if vcd else None,
            # what ran in software around the hardware (none with raw port values)
            "software": rtl.get("software") if not raw_ports else None,
        }
        if labels is not None:
            res["accuracy"] = accuracy(y_model if y_model is not None else y_rtl, labels)
        st.result.update(res)
    if raise_on_mismatch and not res["passed"]:
        if n_bad == 0 and tb_mismatches == 0:
            raise MismatchError(
                f"RTL simulation of {run_dir}: outputs match but the handshake timing does not "
                f"(latency measured {tb['latency_measured']} vs {design.latency_cycles} declared, "
                f"II={design.ii} held during the full-rate burst: {tb['ii_in_burst']})"
            )
        f = first or tb.get("first_mismatch")
        raise MismatchError(
            f"RTL simulation of {run_dir} ({engine}) differs from the reference in {max(n_bad, tb_mismatches)} of "
            f"{len(x)} samples; first: {f}"
        )
    return res


def _compare(x: np.ndarray, y_ref: np.ndarray, q_out: np.ndarray, q_ref: np.ndarray | None, rtl: dict,
             design: RtlDesign) -> tuple[dict | None, int]:
    """Output words against the reference, sample by sample: (first mismatch, count).

    Word for word where every reference output is on the output port's grid; otherwise
    (a reference value the port cannot carry) as real values, which flags those samples."""
    n = len(x)
    if len(q_out) != n:
        raise MismatchError(f"RTL simulation of {design.run_dir}: {n} inputs gave {len(q_out)} outputs")
    if q_ref is not None:
        diff = np.any(q_out != q_ref.reshape(n, -1), axis=1)
    else:
        y_rtl = codec.to_real(rtl["output"], q_out)
        diff = np.any(y_rtl.reshape(n, -1) != y_ref.reshape(n, -1), axis=1)
    n_bad = int(diff.sum())
    if not n_bad:
        return None, 0
    i = int(np.argmax(diff))
    y_rtl_i = codec.to_real(rtl["output"], q_out[i:i + 1])
    first = {"index": i, "input": x[i].ravel().tolist(), "expected": y_ref[i].ravel().tolist(),
             "got": y_rtl_i.ravel().tolist(), "got_word": f"{design.output.pack(q_out[i:i + 1])[0]:x}"}
    if q_ref is not None:
        first["expected_word"] = f"{design.output.pack(q_ref[i:i + 1])[0]:x}"
    return first, n_bad
