"""hls4ml C simulation (g++) equals the IR reference, sample by sample, on the external models
and on a graph with the hwflow BiPer operator; a corrupted type is caught and located; the CLI
writes the project and exits 4 when --build has no vendor tool.

Each C-sim compile takes ~15-45 s on the shared machine: one compile per case per session.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from _hls4ml_util import biper_model, run_once
from hwflow.errors import MismatchError, VendorToolMissing

REPO = Path(__file__).resolve().parents[1]
N = 1000


def _assert_bit_exact(rec: dict, err, n=N):
    assert err is None, f"{type(err).__name__}: {err}"
    assert rec["status"] == "complete"
    cs = rec["csim"]
    assert cs["samples"] >= n + 4  # corners (0, max, min, alternating) come on top
    assert cs["mismatches"] == 0 and cs["first_mismatch"] is None
    assert rec["mismatches"] == 0


@pytest.fixture(scope="module")
def jet_parallel(tmp_path_factory, external_dir):
    run = tmp_path_factory.mktemp("jet_par")
    return run_once("jet-parallel", external_dir / "qkeras_jettagging.onnx", run, io="parallel", samples=N), run


def test_jet_tagger_io_parallel_bit_exact(jet_parallel):
    (rec, err), run = jet_parallel
    _assert_bit_exact(rec, err)
    # hardware output is the logits: the float Softmax is cut and recorded
    assert rec["stripped_output_ops"] == ["Softmax Softmax_0"]
    layers = {p["layer"]: p for p in rec["precisions"]}
    dense = layers["Dense_MatMul_0"]["types"]
    assert set(dense) == {"weight_t", "bias_t", "accum_t", "result_t"}
    assert dense["weight_t"] == "fixed<6,1,TRN,WRAP,0>"
    assert layers["Relu_0"]["types"]["result_t"] == "ufixed<6,0,RND_CONV,SAT,0>"
    assert rec["compile_time_s"] > 0 and rec["tools"]["hls4ml"] == "1.3.0"
    assert (run / rec["project_dir"] / "firmware" / "myproject.cpp").exists()
    assert json.loads((run / "manifest.json").read_text())["stages"]["hls"]["record"] == "hls.json"


def test_jet_tagger_project_has_no_hls4ml_default_type(jet_parallel):
    """Scan the compiled project: every typedef is one hwflow set from the IR; the only
    ap_fixed<16,6> are the unquantized input's (the IR's DEFAULT_INPUT_TYPE) and its Quant."""
    (rec, err), run = jet_parallel
    assert err is None
    defines = (run / rec["project_dir"] / "firmware" / "defines.h").read_text()
    params = (run / rec["project_dir"] / "firmware" / "parameters.h").read_text()
    set_by_hwflow = {t for p in rec["precisions"] for t in p["types"].values()}
    assert "fixed<16,6,TRN,WRAP,0>" in set_by_hwflow  # the input, chosen by the IR
    for line in defines.splitlines() + params.splitlines():
        if "ap_fixed<16,6>" in line.replace(" ", ""):
            assert line.strip() == "typedef ap_fixed<16,6> input_t;", line
    for name, cpp in rec["project_types"].items():
        assert "16,6" not in cpp or name in ("input_t", "Quant_0_act_table_t") or "AP_RND_CONV" in cpp, name


@pytest.mark.slow
def test_jet_tagger_io_stream_bit_exact(tmp_path_factory, external_dir):
    run = tmp_path_factory.mktemp("jet_stream")
    rec, err = run_once("jet-stream", external_dir / "qkeras_jettagging.onnx", run, io="stream", samples=N)
    _assert_bit_exact(rec, err)
    assert rec["io_type"] == "io_stream"
    assert "hls::stream" in (run / rec["project_dir"] / "firmware" / "myproject.cpp").read_text()


def test_bnn_via_cli_build_without_vendor_tool(tmp_path, external_dir):
    """`hwflow hls --build` without vitis_hls: C-sim checked, project written, exit code 4."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                  if not (Path(p) / "vitis_hls").exists())
    env.pop("HWFLOW_VITIS_HLS", None)
    run = tmp_path / "run"
    r = subprocess.run([str(REPO / ".venv" / "bin" / "hwflow"), "hls",
                        str(external_dir / "bnn_model_fc_1layer.onnx"), "-o", str(run), "--build",
                        "--samples", str(N)], capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == VendorToolMissing.exit_code, r.stderr
    assert "vitis_hls is not installed" in r.stderr
    rec = json.loads((run / "hls.json").read_text())
    _assert_bit_exact(rec, None)
    assert rec["build"]["status"] == "not installed"
    prj = run / rec["project_dir"]
    assert (prj / "build_prj.tcl").exists() and (prj / "firmware" / "myproject.cpp").exists()
    # the binary layer: thresholds on the integer sum, xnor weights, bipolar in/out
    layers = {p["layer"]: p for p in rec["precisions"]}
    assert layers["bnbt_bn_Add_0"]["types"]["result_t"] == "uint<1>"
    assert layers["Dense_MatMul_0"]["types"]["weight_t"] == "uint<1>"


@pytest.fixture(scope="module")
def biper_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("biper")
    model = biper_model(d / "biper.onnx", log2_period=1, bits=6, frac=3)
    return run_once("biper", model, d / "run", io="parallel", samples=N), d


def test_biper_extension_layer_bit_exact(biper_run):
    (rec, err), d = biper_run
    _assert_bit_exact(rec, err)
    layers = {p["class"]: p for p in rec["precisions"]}
    assert layers["BiPer"]["types"]["result_t"] == "int<2>"
    cpp = (d / "run" / rec["project_dir"] / "firmware" / "myproject.cpp").read_text()
    assert "nnet::biper<" in cpp
    params = (d / "run" / rec["project_dir"] / "firmware" / "parameters.h").read_text()
    assert "bit_index = 3;" in params  # k + f - 1 = 1 + 3 - 1
    assert (d / "run" / rec["project_dir"] / "firmware" / "nnet_utils" / "nnet_biper.h").exists()


def test_corrupted_type_is_caught_and_located(tmp_path):
    """Narrow one accumulator below what the IR asks for: the check must fail, naming it."""
    from hls4ml.model.types import IntegerPrecisionType

    from hwflow.backends.hls4ml import HLSOptions
    from hwflow.backends.hls4ml.convert import convert
    from hwflow.backends.hls4ml.csim import compile_project, run_check
    from hwflow.backends.hls4ml.prepare import prepare
    from hwflow.ir import make_stimulus

    model = biper_model(tmp_path / "biper.onnx", log2_period=2, bits=6, frac=3, seed=1)
    prepared = prepare(str(model))
    conv = convert(prepared, HLSOptions(), tmp_path / "prj")
    from hls4ml.backends.fpga.fpga_types import APTypeConverter

    dense = conv.hmodel.graph["Dense_MatMul_0"]
    dense.types["accum_t"].precision = APTypeConverter().convert(IntegerPrecisionType(width=2, signed=True))
    compile_project(conv)
    x = make_stimulus(prepared.source, n=200, seed=0, corners=True)
    res = run_check(conv, prepared, x, 0.0)
    assert res.mismatches > 0
    fm = res.first_mismatch
    assert fm["first_layer"]["layer"] == "Dense_MatMul_0"
    assert fm["hls"] != fm["reference"]
    assert 0 <= fm["sample"] < res.samples
    assert MismatchError.exit_code == 7



@pytest.mark.slow
def test_tfc_2w2a_bit_exact(tmp_path_factory, external_dir):
    """TFC_2W2A through the MultiThreshold extension layer (~60 s compile)."""
    run = tmp_path_factory.mktemp("tfc")
    rec, err = run_once("tfc", external_dir / "TFC_2W2A.onnx", run, io="parallel", samples=N)
    _assert_bit_exact(rec, err)
    assert sum(p["class"] == "MultiThreshold" for p in rec["precisions"]) == 3
    assert "nnet::multithreshold<" in (run / rec["project_dir"] / "firmware" / "myproject.cpp").read_text()


@pytest.mark.slow
def test_resource_strategy_with_reuse_is_bit_exact(tmp_path_factory, external_dir):
    from hwflow.backends.hls4ml import HLSOptions

    run = tmp_path_factory.mktemp("jet_resource")
    opts = HLSOptions(strategy="Resource", reuse_factor=4, layers={"MatMul_1": {"reuse_factor": 8}})
    rec, err = run_once("jet-resource", external_dir / "qkeras_jettagging.onnx", run, options=opts, samples=N)
    _assert_bit_exact(rec, err)
    assert rec["strategy"] == "Resource" and rec["reuse_factor"] == 4


@pytest.mark.slow
def test_cli_build_with_fake_vitis_hls(tmp_path, external_dir):
    """--build with a (fake) vitis_hls on PATH: the report's numbers land in hls.json."""
    import stat
    import sys

    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "vitis_hls"
    report = Path(__file__).parent / "data" / "hls4ml" / "myproject_csynth.xml"
    fake.write_text(f"#!{sys.executable}\nimport shutil, sys\nfrom pathlib import Path\n"
                    "d = Path('myproject_prj/solution1/syn/report'); d.mkdir(parents=True, exist_ok=True)\n"
                    f"shutil.copy({str(report)!r}, d / 'myproject_csynth.xml')\n"
                    "Path('fake_args.txt').write_text(' '.join(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    run = tmp_path / "run"
    r = subprocess.run([str(REPO / ".venv" / "bin" / "hwflow"), "hls",
                        str(external_dir / "bnn_model_fc_1layer.onnx"), "-o", str(run), "--build", "--samples", "50"],
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr
    rec = json.loads((run / "hls.json").read_text())
    assert rec["build"]["status"] == "complete"
    assert rec["build"]["latency_cycles"]["worst"] == 11 and rec["build"]["resources"]["dsp"] == 12
    assert (run / rec["project_dir"] / "fake_args.txt").read_text() == "-f build_prj.tcl"
    assert "latency 11 cycles" in r.stdout


@pytest.mark.slow
def test_biper_extension_layer_io_stream_bit_exact(tmp_path_factory):
    d = tmp_path_factory.mktemp("biper_stream")
    model = biper_model(d / "biper.onnx", log2_period=4, bits=6, frac=3, seed=2)  # sign-bit mode
    rec, err = run_once("biper-stream", model, d / "run", io="stream", samples=N)
    _assert_bit_exact(rec, err)
    cpp = (d / "run" / rec["project_dir"] / "firmware" / "myproject.cpp").read_text()
    assert "nnet::biper_stream<" in cpp


@pytest.mark.slow
@pytest.mark.parametrize("model,io,backend", [
    ("bnn_model_fc_1layer.onnx", "stream", "Vitis"),
    ("TFC_2W2A.onnx", "stream", "Vitis"),
    ("qkeras_jettagging.onnx", "parallel", "Vivado"),
])
def test_external_models_other_io_and_backends(tmp_path_factory, external_dir, model, io, backend):
    from hwflow.backends.hls4ml import HLSOptions

    run = tmp_path_factory.mktemp(f"{model.split('.')[0]}_{io}_{backend}")
    rec, err = run_once(f"{model}-{io}-{backend}", external_dir / model, run,
                        options=HLSOptions(io_type=io, backend=backend), samples=N)
    _assert_bit_exact(rec, err)
    assert rec["backend"] == backend and rec["io_type"] == f"io_{io}"
