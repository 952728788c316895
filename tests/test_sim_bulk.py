"""Bulk co-simulation (hwflow.sim.bulk, issue #15): the C++ harness gives the same outputs as
the cocotb testbench, catches a one-bit change in the Verilog and a corrupted output word
with the sample named, keeps back-pressure and gaps, measures II and latency, and reuses
its build."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from _rtl_util import tiny_mlp
from typer.testing import CliRunner

from hwflow.artifacts import read_json, write_json
from hwflow.backends.rtl import generate_rtl
from hwflow.backends.rtl.design import PortFormat, load_design
from hwflow.cli import app
from hwflow.errors import ConfigError, MismatchError
from hwflow.sim import bulk, simulate

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("bulk_mlp")
    generate_rtl(tiny_mlp(d / "tiny_mlp.onnx"), d / "run", latency_cutoff=2.0)
    return d / "run"


def _copy(run, dst):
    shutil.copytree(run, dst)
    return dst


@pytest.mark.parametrize("ew,n_el,signed", [(1, 3, False), (3, 5, True), (8, 4, True), (16, 16, True),
                                            (6, 11, False), (17, 4, True)])
def test_pack_bytes_is_portformat_pack(ew, n_el, signed):
    fmt = PortFormat(n_el, ew, signed)
    rng = np.random.default_rng(ew * 100 + n_el)
    q = rng.integers(fmt.int_min, fmt.int_max + 1, size=(300, n_el))
    q[:2] = [fmt.int_min] * n_el, [fmt.int_max] * n_el
    raw = bulk.pack_bytes(fmt, q)
    assert raw.shape == (300, bulk.word_bytes(fmt.tdata_width))
    assert [int.from_bytes(r.tobytes(), "little") for r in raw] == fmt.pack(q)
    np.testing.assert_array_equal(bulk.unpack_bytes(fmt, raw), q)
    with pytest.raises(ConfigError, match="vector 7, element 1"):
        bad = q.copy()
        bad[7, 1] = fmt.int_max + 1
        bulk.pack_bytes(fmt, bad)


def test_bulk_equals_cocotb_and_reuses_its_build(mlp_run, tmp_path):
    a = simulate(mlp_run, samples=1000, seed=2, engine="bulk", save_outputs=tmp_path / "bulk.npy")
    assert a["engine"] == "bulk" and a["passed"] and a["mismatches"] == 0
    assert a["latency_measured"] == [load_design(mlp_run).latency_cycles] and a["ii_as_declared"]
    b = simulate(mlp_run, samples=1000, seed=2, engine="cocotb", save_outputs=tmp_path / "cocotb.npy")
    assert b["engine"] == "cocotb" and b["passed"]
    np.testing.assert_array_equal(np.load(tmp_path / "bulk.npy"), np.load(tmp_path / "cocotb.npy"))
    # same design: the second bulk run does not rebuild
    c = simulate(mlp_run, samples=500, seed=3)
    assert c["engine"] == "bulk" and c["build"]["cached"] and c["build_time_s"] == 0.0
    rec = read_json(mlp_run / "sim.json")
    assert rec["engine"] == "bulk" and rec["inferences_per_second"] > 0 and "sim_wall_time_s" in rec


def test_full_rate_measures_ii_and_latency(mlp_run):
    n = 2000
    lat = load_design(mlp_run).latency_cycles
    r = simulate(mlp_run, samples=n, valid_prob=1.0, ready_prob=1.0)
    # one input accepted and one output delivered every cycle from the first to the last
    assert r["passed"] and r["simulated_cycles"] == n + lat
    # gaps and back-pressure: the same outputs over many more cycles
    g = simulate(mlp_run, samples=n, valid_prob=0.3, ready_prob=0.4)
    assert g["passed"] and g["simulated_cycles"] > 2 * n


def test_wrong_declared_ii_is_caught(mlp_run, tmp_path):
    run = _copy(mlp_run, tmp_path / "run")
    rtl = read_json(run / "rtl.json")
    rtl["ii"] = 2
    write_json(run / "rtl.json", rtl)
    with pytest.raises(MismatchError, match="handshake timing"):
        simulate(run, samples=300)
    assert read_json(run / "sim.json")["ii_as_declared"] is False


def test_one_bit_verilog_change_is_caught_with_the_sample(mlp_run, tmp_path):
    run = _copy(mlp_run, tmp_path / "run")
    d = load_design(run)
    top = next(f for f in d.files if f.stem == d.top)
    text = top.read_text()
    # flip bit 0 of output element 0 whenever its low 4 bits are 0101
    m = re.search(r"^(\s*)assign m_axis_tdata\[(\d+):0\] = (.*);$", text, re.M)
    hi = int(m.group(2))
    patched = (f"{m.group(1)}wire [{hi}:0] hw_e0 = {m.group(3)};\n"
               f"{m.group(1)}assign m_axis_tdata[{hi}:0] = hw_e0 ^ {{{hi}'d0, hw_e0[3:0] == 4'd5}};")
    top.write_text(text[:m.start()] + patched + text[m.end():])
    with pytest.raises(MismatchError, match="first"):
        simulate(run, samples=2000, seed=4)
    rec = read_json(run / "sim.json")
    assert rec["build"]["cached"] is False      # the changed Verilog was rebuilt
    # the first sample whose reference output element 0 ends in 0101
    from hwflow.sim import codec

    x = codec.make_inputs(d.raw, d.model, 2000, 4)
    q = codec.to_int(d.raw["output"], codec.reference(d.model, x), "ref")
    hits = np.nonzero((q[:, 0] & 0xF) == 5)[0]
    assert len(hits) > 0 and rec["mismatches"] == len(hits)
    assert rec["first_mismatch"]["index"] == int(hits[0])
    want = int(rec["first_mismatch"]["expected_word"], 16)
    assert int(rec["first_mismatch"]["got_word"], 16) == want ^ 1


def test_corrupted_output_word_is_named(mlp_run, tmp_path, monkeypatch):
    run = _copy(mlp_run, tmp_path / "run")
    wait = bulk.BulkRun.wait

    def corrupt(self):
        raw, res = wait(self)
        raw = raw.copy()
        raw[137, 0] ^= 0x4
        return raw, res

    monkeypatch.setattr(bulk.BulkRun, "wait", corrupt)
    res = CliRunner().invoke(app, ["sim", str(run), "--samples", "400"])
    assert res.exit_code == MismatchError.exit_code
    rec = read_json(run / "sim.json")
    assert rec["mismatches"] == 1 and rec["first_mismatch"]["index"] == 137
    assert "'index': 137" in res.output


def test_engine_options(mlp_run, tmp_path):
    with pytest.raises(ConfigError, match="engine"):
        simulate(mlp_run, samples=10, engine="iverilog")
    with pytest.raises(ConfigError, match="cocotb"):
        simulate(mlp_run, samples=10, engine="bulk", vcd=True)
    res = CliRunner().invoke(app, ["sim", str(mlp_run), "--samples", "100", "--engine", "bulk"])
    assert res.exit_code == 0, res.output
    assert "(bulk)" in res.output and "0 mismatches" in res.output


def test_bulk_loads_register_weights_through_the_config_port(tmp_path):
    """A design with weights in registers: the harness writes every configuration word
    during reset; without it the outputs would be x . 0."""
    from hwflow.power.regweights import LayerSlice, write_slice_design

    rng = np.random.default_rng(1)
    w = np.array([5, -3, 0, -8])
    x = rng.integers(0, 16, size=(300, 8))
    s = LayerSlice("toy", "Conv", count=3, weights=w, w_width=4, x=x, x_width=4, x_signed=False, positions=2)
    write_slice_design(tmp_path / "r", "toy_registers", s, "registers")
    d = load_design(tmp_path / "r")
    assert d.config is not None
    exe, _ = bulk.build(d)
    raw, res = bulk.BulkRun(exe, d, bulk.pack_bytes(d.input, x), tmp_path / "work", valid_prob=0.5,
                            ready_prob=0.6).wait()
    assert res["outputs"] == len(x) and not res["timeout"]
    np.testing.assert_array_equal(bulk.unpack_bytes(d.output, raw), x.reshape(-1, 2, 4) @ w)


def test_failing_reference_stops_the_harness(mlp_run, tmp_path, monkeypatch):
    """The harness runs in a thread while the reference is computed; when the reference
    raises, the harness is cancelled (its process group killed) before the error leaves."""
    from hwflow.sim import codec
    from hwflow.tools import live_tool_groups

    run = _copy(mlp_run, tmp_path / "run")
    cancelled = []
    cancel = bulk.BulkRun.cancel

    def spy(self):
        cancelled.append(self.thread.is_alive())
        cancel(self)
        cancelled.append(self.thread.is_alive())

    def broken_reference(*args, **kwargs):
        raise RuntimeError("reference broke")

    monkeypatch.setattr(bulk.BulkRun, "cancel", spy)
    monkeypatch.setattr(codec, "reference", broken_reference)
    with pytest.raises(RuntimeError, match="reference broke"):
        simulate(run, samples=2_000_000, seed=0)  # seconds of harness work left when it is cancelled
    assert cancelled == [True, False]  # running when cancelled, gone after
    assert not live_tool_groups()
    assert read_json(run / "sim.json")["status"] != "complete"
