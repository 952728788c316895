"""``simulate``: stream inputs through the generated design in Verilator (cocotb) and
compare every output, bit-exactly, with the reference executor of the same QONNX model."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hwflow.artifacts import read_json, stage, write_json
from hwflow.backends.rtl.design import RtlDesign, load_design
from hwflow.backends.rtl.words import read_hex, write_hex
from hwflow.errors import ConfigError, HwflowError, MismatchError
from hwflow.sim import codec
from hwflow.sim.runner import build, run_testbench

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
) -> dict:
    """Co-simulate ``run_dir`` (made by ``generate_rtl``); writes ``sim.json``.

    inputs: real-valued inputs (array or ``.npy``), first axis = samples, each on the
    input port's fixed-point grid; default: corners then seeded random (``samples``
    in all). save_outputs: ``.npy`` of the RTL outputs as real values.
    Raises MismatchError (after writing sim.json) when any output differs, unless
    ``raise_on_mismatch`` is False.
    """
    run_dir = Path(run_dir).resolve()  # the testbench runs in another working directory
    design = load_rtl(run_dir)
    rtl = design.raw  # the codec reads the port entries (with their value ranges) as written
    model_path = design.model
    if inputs is not None and not isinstance(inputs, np.ndarray):
        in_path = Path(inputs)
        if not in_path.exists():
            raise ConfigError(f"inputs file {in_path} not found")
        inputs = np.load(in_path, allow_pickle=False)
    params = {"samples": samples if inputs is None else int(len(inputs)), "seed": seed, "vcd": vcd,
              "custom_inputs": inputs is not None, "valid_prob": valid_prob, "ready_prob": ready_prob}
    with stage(run_dir, "sim", inputs={"rtl": run_dir / "rtl.json", "model": model_path}, params=params) as st:
        t0 = time.time()
        x = codec.make_inputs(rtl, model_path, samples, seed) if inputs is None else codec.check_inputs(rtl, inputs)
        q_in = codec.to_int(rtl["input"], x, "input")
        y_ref = codec.reference(model_path, rtl, x)
        q_ref = codec.to_int(rtl["output"], y_ref, "reference output", strict=False)
        work = run_dir / "sim"
        work.mkdir(exist_ok=True)
        write_hex(work / "stimulus.hex", design.input.pack(q_in), design.input.tdata_width)
        expected = None
        if q_ref is not None:
            write_hex(work / "expected.hex", design.output.pack(q_ref), design.output.tdata_width)
            expected = "expected.hex"
        cfg = {
            "tdata_in": design.input.tdata_width, "tdata_out": design.output.tdata_width,
            "latency": design.latency_cycles, "ii": design.ii, "stimulus": "stimulus.hex", "expected": expected,
            "outputs": "outputs.hex", "results": "tb_results.json", "seed": seed, "burst": 64,
            "valid_prob": valid_prob, "ready_prob": ready_prob,
        }
        write_json(work / "tb_config.json", cfg)
        t_prep = time.time() - t0

        bdir = run_dir / ("sim_build_vcd" if vcd else "sim_build")
        b = build(list(design.files), design.top, bdir, waves=vcd, cxx_opt="-O2" if design.ii > 1 else "-O0")
        t1 = time.time()
        (work / "tb_results.json").unlink(missing_ok=True)
        run_testbench(design.top, bdir, work, work / "tb_config.json", waves=vcd)
        t_sim = time.time() - t1
        if not (work / "tb_results.json").exists():
            raise HwflowError(f"the testbench ended without results; see {work / 'sim.log'}")
        tb = read_json(work / "tb_results.json")

        q_out = design.output.unpack(read_hex(work / "outputs.hex"))
        y_rtl = codec.to_real(rtl["output"], q_out).reshape((len(x), *design.output.shape[1:]))
        diff = np.any(y_rtl.reshape(len(x), -1) != y_ref.reshape(len(x), -1), axis=1)
        n_bad = int(diff.sum())
        first = None
        if n_bad:
            i = int(np.argmax(diff))
            first = {"index": i, "input": x[i].ravel().tolist(), "expected": y_ref[i].ravel().tolist(),
                     "got": y_rtl[i].ravel().tolist()}
        if save_outputs is not None:
            np.save(Path(save_outputs), y_rtl)
            st.output(Path(save_outputs))
        for f in ("stimulus.hex", "outputs.hex", "tb_results.json", "sim.log"):
            st.output(work / f)
        if vcd and (work / "dump.vcd").exists():
            st.output(work / "dump.vcd")
        res = {
            "samples": int(len(x)),
            "mismatches": n_bad,
            "passed": n_bad == 0 and tb["mismatches"] == 0 and tb["ii_in_burst"]
            and tb["latency_measured"] == [design.latency_cycles],
            "first_mismatch": first,
            "testbench_mismatches": tb["mismatches"],
            "testbench_first_mismatch": tb["first_mismatch"],
            "simulated_cycles": tb["cycles"],
            "latency_cycles": design.latency_cycles,
            "latency_measured": tb["latency_measured"],
            "ii": design.ii,
            # the design accepted one input every `ii` cycles during the full-rate burst
            "ii_as_declared": tb["ii_in_burst"],
            "build": b,
            "prepare_time_s": round(t_prep, 3),
            "sim_wall_time_s": round(t_sim, 3),
            "testbench_wall_time_s": round(tb["wall_time_s"], 3),
            # simulated inferences per wall-clock second of the testbench run
            "inferences_per_second": round(len(x) / tb["wall_time_s"], 1) if tb["wall_time_s"] > 0 else None,
            "valid_prob": valid_prob,
            "ready_prob": ready_prob,
            "vcd": str((work / "dump.vcd").relative_to(run_dir)) if vcd else None,
        }
        st.result.update(res)
    if raise_on_mismatch and not res["passed"]:
        if n_bad == 0 and tb["mismatches"] == 0:
            raise MismatchError(
                f"RTL simulation of {run_dir}: outputs match but the handshake timing does not "
                f"(latency measured {tb['latency_measured']} vs {design.latency_cycles} declared, "
                f"II={design.ii} held during the full-rate burst: {tb['ii_in_burst']})"
            )
        f = first or tb["first_mismatch"]
        raise MismatchError(
            f"RTL simulation of {run_dir} differs from the reference in {max(n_bad, tb['mismatches'])} of "
            f"{len(x)} samples; first: {f}"
        )
    return res
