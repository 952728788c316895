"""End-to-end co-simulation: QONNX -> Verilog -> cocotb/Verilator, 10,000 samples each,
bit-exact against the reference executor; CLI --inputs/--save-outputs; mismatch exit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from _rtl_util import tiny_mlp
from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.cli import app
from hwflow.errors import MismatchError
from hwflow.ir import ReferenceExecutor, load_model
from hwflow.sim import simulate

pytestmark = pytest.mark.tools

N = 10_000


@pytest.fixture(scope="module")
def bnn_run(external_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("sim_bnn")
    generate_rtl(external_dir / "bnn_model_fc_1layer.onnx", run)
    return run


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim_mlp")
    generate_rtl(tiny_mlp(d / "tiny_mlp.onnx"), d / "run", latency_cutoff=2.0)
    return d / "run"


@pytest.mark.parametrize("which", ["bnn_run", "mlp_run"])
def test_10k_samples_bit_exact(request, which):
    run = request.getfixturevalue(which)
    r = simulate(run, samples=N, seed=1)
    assert r["samples"] == N and r["mismatches"] == 0 and r["testbench_mismatches"] == 0
    assert r["passed"]
    assert r["latency_measured"] == [read_json(run / "rtl.json")["latency_cycles"]]
    assert r["ii_as_declared"]
    # random gaps and back-pressure: more cycles than samples
    assert r["simulated_cycles"] > N
    rec = read_json(run / "sim.json")
    assert rec["status"] == "complete" and rec["mismatches"] == 0 and rec["samples"] == N


def test_cli_inputs_and_save_outputs(mlp_run, tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(-32, 32, size=(300, 8)) * 2.0**-3  # on the 6-bit input grid
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(app, ["sim", str(mlp_run), "--inputs", str(tmp_path / "x.npy"),
                                   "--save-outputs", str(tmp_path / "y.npy")])
    assert res.exit_code == 0, res.output
    y = np.load(tmp_path / "y.npy")
    ref = ReferenceExecutor(load_model(str(mlp_run / "model.onnx"))).run(x)
    assert y.shape == (300, 3)
    np.testing.assert_array_equal(y, np.asarray(ref).reshape(y.shape))
    assert read_json(mlp_run / "sim.json")["samples"] == 300


def test_off_grid_inputs_are_quantized_in_software_and_raw_ones_rejected(mlp_run, tmp_path):
    """Model inputs go through the input quantizer in software (as exec runs them); --raw
    takes the port's integers, and a value that is none is refused."""
    x = np.random.default_rng(2).uniform(-3, 3, (40, 8))
    np.save(tmp_path / "x.npy", x)
    res = CliRunner().invoke(app, ["sim", str(mlp_run), "--inputs", str(tmp_path / "x.npy"),
                                   "--save-outputs", str(tmp_path / "y.npy")])
    assert res.exit_code == 0, res.output
    assert "software before the hardware: Quant" in " ".join(res.output.split())
    ex = CliRunner().invoke(app, ["exec", str(read_json(mlp_run / "rtl.json")["source_model"]), "--inputs",
                                  str(tmp_path / "x.npy"), "-o", str(tmp_path / "y_exec.npy")])
    assert ex.exit_code == 0, ex.output
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "y_exec.npy"))
    np.save(tmp_path / "q.npy", np.full((4, 8), 0.01))
    res = CliRunner().invoke(app, ["sim", str(mlp_run), "--inputs", str(tmp_path / "q.npy"), "--raw"])
    assert res.exit_code != 0
    assert "grid" in res.output


@pytest.mark.parametrize("bad", ["nan", "object"])
def test_unreadable_inputs_file_is_refused_before_the_stage(mlp_run, tmp_path, bad):
    """NaN or a pickled object array: InvalidInputsFile, and the last sim.json is not touched."""
    before = (mlp_run / "sim.json").read_bytes() if (mlp_run / "sim.json").exists() else None
    x = np.full((4, 8), np.nan) if bad == "nan" else np.array([object()] * 4, dtype=object)
    np.save(tmp_path / "x.npy", x, allow_pickle=True)
    res = CliRunner().invoke(app, ["sim", str(mlp_run), "--inputs", str(tmp_path / "x.npy")])
    assert res.exit_code != 0 and "InvalidInputsFile" in res.output
    after = (mlp_run / "sim.json").read_bytes() if (mlp_run / "sim.json").exists() else None
    assert after == before


def test_mismatch_is_reported_and_exits_nonzero(mlp_run, tmp_path):
    # a run whose reference model differs from the hardware (one weight changed): the same
    # Verilog (cached build) must now be caught disagreeing, sample by sample
    import onnx
    from onnx import numpy_helper

    run = tmp_path / "run"
    shutil.copytree(mlp_run, run)
    m = onnx.load(str(run / "model.onnx"))
    init = max(m.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w = numpy_helper.to_array(init).copy()
    w.flat[0] = w.flat[0] + 1.0
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(m, str(run / "model.onnx"))
    with pytest.raises(MismatchError, match="first"):
        simulate(run, samples=200)
    rec = read_json(run / "sim.json")
    assert rec["mismatches"] > 0 and rec["passed"] is False
    assert rec["first_mismatch"]["index"] >= 0 and len(rec["first_mismatch"]["input"]) == 8
    res = CliRunner().invoke(app, ["sim", str(run), "--samples", "50"])
    assert res.exit_code == MismatchError.exit_code


def test_cli_rtl_then_sim(tmp_path):
    model = tiny_mlp(tmp_path / "m.onnx", seed=3)
    res = CliRunner().invoke(app, ["rtl", str(model), "-o", str(tmp_path / "run"), "--latency-cutoff", "0"])
    assert res.exit_code == 0, res.output
    assert "latency 2 cycles" in res.output
    res = CliRunner().invoke(app, ["sim", str(tmp_path / "run"), "--samples", "500"])
    assert res.exit_code == 0, res.output
    assert "0 mismatches" in res.output


def test_sim_without_rtl_fails_cleanly(tmp_path):
    res = CliRunner().invoke(app, ["sim", str(tmp_path)])
    assert res.exit_code != 0 and "rtl.json" in res.output


@pytest.mark.slow
def test_vcd_dump(mlp_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(mlp_run, run, ignore=shutil.ignore_patterns("sim_build*"))
    r = simulate(run, samples=20, vcd=True)
    assert r["passed"] and (run / r["vcd"]).stat().st_size > 0
