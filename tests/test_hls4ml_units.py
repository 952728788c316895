"""hls4ml backend pieces that need no C-sim compile: options, precision rules, BiPer bit
selection (and its C++ against the reference, with a small g++ build), report parsing,
vendor build scripts with fake tools, project scripts, unsupported models."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import _hls4ml_util  # noqa: F401  (sets TF_USE_LEGACY_KERAS before hls4ml imports TensorFlow)
from hwflow.errors import ConfigError, ModelError, UnsupportedOp, VendorToolMissing

DATA = Path(__file__).parent / "data" / "hls4ml"
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ options
def test_options_normalise_and_reject_with_legal_values():
    from hwflow.backends.hls4ml import HLSOptions

    o = HLSOptions(backend="vitis", io_type="stream", strategy="resource", reuse_factor=4,
                   layers={"MatMul_0": {"reuse_factor": 2}})
    assert (o.backend, o.io_type, o.strategy, o.reuse_factor) == ("Vitis", "io_stream", "Resource", 4)
    assert o.layers["MatMul_0"].reuse_factor == 2
    with pytest.raises(ConfigError, match="Vitis, Vivado"):
        HLSOptions(backend="quartus_pro")
    with pytest.raises(ConfigError, match="parallel, stream"):
        HLSOptions(io_type="serial-ish")
    with pytest.raises(ConfigError, match=">= 1"):
        HLSOptions(reuse_factor=0)
    with pytest.raises(ConfigError, match="legal: reuse_factor, strategy"):
        HLSOptions(layers={"MatMul_0": {"reuse": 2}})


# ------------------------------------------------------------------------------ precisions
def test_exact_and_accumulator_precisions():
    from hwflow.backends.hls4ml.precision import accum_precision, exact_precision, values_precision
    from hwflow.ir import FixedType

    t = FixedType.from_range(-40, 31, 5)  # ap_fixed<7,2>
    assert str(exact_precision(t)) == "fixed<7,2,TRN,WRAP,0>"
    assert str(exact_precision(FixedType.from_range(0, 12, 0))) == "uint<4>"
    # 8 fractional bits, integer range of a 10-bit signed sum + guard bit
    acc = accum_precision(FixedType.from_range(-300, 500, 4), 8)
    assert acc.width - acc.integer == 8 and acc.signed
    assert -300 * 16 >= -(2 ** (acc.width - 1)) and 500 * 16 <= 2 ** (acc.width - 1) - 1
    assert str(values_precision([0.25, -1.5, 3.0], "x")) == "fixed<5,3,TRN,WRAP,0>"
    with pytest.raises(ModelError):
        accum_precision(FixedType.from_range(0, 3, 6), 2)  # accumulator coarser than its result
    with pytest.raises(UnsupportedOp):
        exact_precision(FixedType(signed=True, width=8, frac=3, scale=0.3, int_min=-128, int_max=127))


def test_quantizer_precision_keeps_rounding_and_checks_grid():
    from hls4ml.model.types import FixedPrecisionType, RoundingMode, SaturationMode

    from hwflow.backends.hls4ml.precision import is_quantizer, quantizer_precision
    from hwflow.ir import FixedType

    q = FixedPrecisionType(6, 0, False, "RND_CONV", "SAT")
    assert is_quantizer(q) and not is_quantizer(FixedPrecisionType(6, 0, False))
    p = quantizer_precision(FixedType.from_range(0, 31, 6), q)  # IR: tighter 5-bit range, same grid
    assert (p.width, p.integer, p.signed) == (5, -1, False)
    assert p.rounding_mode == RoundingMode.RND_CONV and p.saturation_mode == SaturationMode.SAT
    with pytest.raises(ModelError, match="grid"):
        quantizer_precision(FixedType.from_range(0, 31, 5), q)


# ------------------------------------------------------------------------------ BiPer
@pytest.mark.parametrize("k,frac,width,signed,expected", [
    (1, 3, 6, True, (3, 0)),    # bit k+f-1 inside the word
    (4, 3, 6, True, (5, 1)),    # above the word: the sign bit
    (4, 3, 6, False, (0, 2)),   # above an unsigned word: always +1
    (0, 1, 4, True, (0, 0)),
])
def test_biper_bit_selection(k, frac, width, signed, expected):
    from hwflow.backends.hls4ml.extensions import biper_bit

    assert biper_bit(k, frac, width, signed) == expected


def test_biper_bit_rejects_period_below_grid():
    from hwflow.backends.hls4ml.extensions import biper_bit

    with pytest.raises(ModelError, match="k \\+ f >= 1"):
        biper_bit(-3, 2, 8, True)


CASES = [(6, 3, True, 1), (6, 3, True, 4), (6, 3, True, 2), (5, 2, False, 1), (5, 2, False, 5), (8, 0, True, 3),
         (4, -2, True, 3)]


def test_biper_cpp_header_matches_reference_exhaustively(tmp_path):
    """nnet_biper.h, compiled with g++ and the ap_types hls4ml ships, against hwflow.ir's BiPer
    on every value of several input types (inside/above the word, signed/unsigned)."""
    import hls4ml

    from hwflow.backends.hls4ml.extensions import BIPER_HEADER, biper_bit
    from hwflow.ir.custom_op import biper

    if shutil.which("g++") is None:
        pytest.fail("g++ is required for the hls4ml C simulation")
    tmpl = Path(hls4ml.__file__).parent / "templates" / "vivado"
    structs, body = [], []
    for i, (w, f, signed, k) in enumerate(CASES):
        bit, mode = biper_bit(k, f, w, signed)
        base = "ap_fixed" if signed else "ap_ufixed"
        structs.append(f"struct cfg{i} : nnet::biper_config {{ static const unsigned n_in = 1; "
                       f"static const unsigned bit_index = {bit}; static const unsigned bit_mode = {mode}; }};\n"
                       f"typedef {base}<{w},{w - f}> in{i}_t;\n")
        lo, hi = (-(2 ** (w - 1)), 2 ** (w - 1) - 1) if signed else (0, 2 ** w - 1)
        body.append(f"""
    for (int q = {lo}; q <= {hi}; q++) {{
        in{i}_t x[1]; x[0].range() = q; ap_int<2> y[1];
        nnet::biper<in{i}_t, ap_int<2>, cfg{i}>(x, y);
        printf("{i} %d %d\\n", q, (int)y[0]); }}""")
    src = tmp_path / "t.cpp"
    src.write_text('#include <cstdio>\n#include "ap_fixed.h"\n#include "nnet_utils/nnet_biper.h"\n'
                   + "".join(structs) + "int main() {" + "".join(body) + "\n return 0; }\n")
    inc = [f"-I{tmpl / 'ap_types'}", f"-I{tmpl / 'nnet_utils'}", f"-I{tmpl}", f"-I{BIPER_HEADER.parents[1]}"]
    exe = tmp_path / "t"
    subprocess.run(["g++", "-O0", "-std=c++14", *inc, str(src), "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    rows = np.array([list(map(int, ln.split())) for ln in out if ln.strip()])
    assert len(rows) == sum(2 ** w for w, *_ in CASES)
    for i, (w, f, signed, k) in enumerate(CASES):
        sel = rows[rows[:, 0] == i]
        x = np.ldexp(sel[:, 1].astype(np.float64), -f)
        np.testing.assert_array_equal(sel[:, 2], biper(x, k), err_msg=f"case {CASES[i]}")


# ------------------------------------------------------------------------------ reports
def _fake_project(root: Path, backend: str = "vitis") -> Path:
    rep = root / "myproject_prj" / "solution1" / "syn" / "report"
    rep.mkdir(parents=True)
    shutil.copy(DATA / "myproject_csynth.xml", rep / "myproject_csynth.xml")
    shutil.copy(DATA / "hls.app", root / "myproject_prj" / "hls.app")
    (root / "project.tcl").write_text(f'variable project_name\nset project_name "myproject"\n'
                                      f'variable backend\nset backend "{backend}"\n')
    return root


def test_csynth_report_parser_golden():
    from hwflow.backends.hls4ml.report import parse_csynth_xml

    r = parse_csynth_xml(DATA / "myproject_csynth.xml")
    assert r["latency_cycles"] == {"best": 9, "average": 9, "worst": 11}
    assert r["ii"] == {"min": 1, "max": 2}
    assert r["resources"] == {"bram_18k": 0, "dsp": 12, "ff": 4321, "lut": 17654, "uram": 0}
    assert r["available"]["lut"] == 1728000
    assert r["target_clock_ns"] == 5.0 and r["estimated_clock_ns"] == 3.651 and r["timing_met"] is True
    assert r["part"] == "xcvu13p-flga2577-2-e" and r["fmax_mhz"] == pytest.approx(273.898, abs=1e-3)


def test_csynth_parser_agrees_with_hls4ml(tmp_path):
    from hls4ml.report import parse_vivado_report

    from hwflow.backends.hls4ml.report import parse_build

    prj = _fake_project(tmp_path)
    ours = parse_build(prj, "myproject")
    theirs = parse_vivado_report(str(prj))["CSynthesisReport"]
    assert ours["latency_cycles"]["worst"] == int(theirs["WorstLatency"])
    assert ours["ii"]["max"] == int(theirs["IntervalMax"])
    for k_ours, k_theirs in (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("bram_18k", "BRAM_18K")):
        assert ours["resources"][k_ours] == int(theirs[k_theirs])
    assert ours["estimated_clock_ns"] == float(theirs["EstimatedClockPeriod"])
    assert ours["report"] == "myproject_prj/solution1/syn/report/myproject_csynth.xml"


def test_csynth_parser_typed_error_on_broken_report(tmp_path):
    from hwflow.backends.hls4ml.report import parse_build, parse_csynth_xml
    from hwflow.errors import ToolFailed

    bad = tmp_path / "x_csynth.xml"
    bad.write_text("<profile><UserAssignments/>")
    with pytest.raises(ToolFailed):
        parse_csynth_xml(bad)
    with pytest.raises(ToolFailed, match="did not produce a report"):
        parse_build(tmp_path, "myproject")


# ------------------------------------------------------------------------------ vendor build
FAKE_TOOL = """#!{python}
import os, shutil, sys
from pathlib import Path
with open(os.environ["FAKE_HLS_LOG"], "a") as f:
    f.write(os.path.basename(sys.argv[0]) + " " + " ".join(sys.argv[1:]) + "\\n")
    f.write("cwd " + os.getcwd() + "\\n")
    opt = Path("build_opt.tcl")
    f.write("build_opt " + (opt.read_text().replace("\\n", "|") if opt.exists() else "-") + "\\n")
rep = Path("myproject_prj/solution1/syn/report")
rep.mkdir(parents=True, exist_ok=True)
shutil.copy(os.environ["FAKE_HLS_REPORT"], rep / "myproject_csynth.xml")
sys.exit(int(os.environ.get("FAKE_HLS_EXIT", "0")))
"""


@pytest.fixture
def fake_tools(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("vitis_hls", "vivado_hls"):
        p = bindir / name
        p.write_text(FAKE_TOOL.format(python=sys.executable))
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_HLS_LOG", str(log))
    monkeypatch.setenv("FAKE_HLS_REPORT", str(DATA / "myproject_csynth.xml"))
    for var in ("HWFLOW_VITIS_HLS", "HWFLOW_VIVADO_HLS"):
        monkeypatch.delenv(var, raising=False)
    return log


def test_vitis_build_runs_project_script_and_parses_report(tmp_path, fake_tools):
    from hwflow.backends.hls4ml.vendor import BuildSteps, run_vendor_build

    prj = tmp_path / "prj"
    prj.mkdir()
    rep = run_vendor_build(prj, "Vitis", "myproject", BuildSteps(cosim=True))
    calls = fake_tools.read_text().splitlines()
    assert calls[0] == "vitis_hls -f build_prj.tcl"
    assert calls[1] == f"cwd {prj}"
    opts = dict(kv.split() for kv in calls[2].removeprefix("build_opt array set opt {|").rstrip("}|").split("|"))
    assert opts == {"reset": "1", "csim": "0", "synth": "1", "cosim": "1", "validation": "0", "export": "0",
                    "vsynth": "0", "fifo_opt": "0"}
    assert rep["latency_cycles"]["worst"] == 11 and rep["resources"]["lut"] == 17654
    assert (prj / "vendor_build.log").exists()


def test_vivado_build_passes_options_as_arguments(tmp_path, fake_tools):
    from hwflow.backends.hls4ml.vendor import run_vendor_build

    prj = tmp_path / "prj"
    prj.mkdir()
    run_vendor_build(prj, "Vivado", "myproject")
    call = fake_tools.read_text().splitlines()[0]
    assert call == "vivado_hls -f build_prj.tcl reset=1 csim=0 synth=1 cosim=0 validation=0 export=0 vsynth=0 fifo_opt=0"


def test_vendor_build_failure_is_typed(tmp_path, fake_tools, monkeypatch):
    from hwflow.backends.hls4ml.vendor import run_vendor_build
    from hwflow.errors import ToolFailed

    monkeypatch.setenv("FAKE_HLS_EXIT", "3")
    (tmp_path / "prj").mkdir()
    with pytest.raises(ToolFailed, match="vitis_hls failed with exit code 3"):
        run_vendor_build(tmp_path / "prj", "Vitis", "myproject")


def test_vendor_tool_missing_is_exit_code_4(tmp_path, monkeypatch):
    from hwflow.backends.hls4ml.vendor import run_vendor_build

    monkeypatch.setenv("PATH", str(tmp_path))  # no vitis_hls anywhere
    monkeypatch.setenv("HWFLOW_VITIS_HLS", str(tmp_path / "nowhere" / "vitis_hls"))
    (tmp_path / "prj").mkdir()
    with pytest.raises(VendorToolMissing, match="vitis_hls is not installed") as e:
        run_vendor_build(tmp_path / "prj", "Vitis", "myproject")
    assert e.value.exit_code == 4


# ------------------------------------------------------------------------------ project scripts
@pytest.fixture(scope="module")
def written_jet_project(tmp_path_factory, external_dir):
    """The jet tagger converted and written (no compile): scripts and types to inspect."""
    from hwflow.backends.hls4ml import HLSOptions
    from hwflow.backends.hls4ml.convert import convert
    from hwflow.backends.hls4ml.csim import write_project
    from hwflow.backends.hls4ml.prepare import prepare

    out = tmp_path_factory.mktemp("jet_written") / "prj"
    opts = HLSOptions(part="xc7z020clg400-1", clock_period=8.0, strategy="Resource", reuse_factor=4,
                      layers={"MatMul_1": {"reuse_factor": 8}})
    conv = convert(prepare(external_dir / "qkeras_jettagging.onnx"), opts, out)
    write_project(conv)
    return out, conv


def test_generated_build_scripts(written_jet_project):
    out, _ = written_jet_project
    prj_tcl = (out / "project.tcl").read_text()
    assert 'set part "xc7z020clg400-1"' in prj_tcl
    assert "set clock_period 8" in prj_tcl and 'set backend "vitis"' in prj_tcl
    build = (out / "build_prj.tcl").read_text()
    for needle in ("set_top ${project_name}", "csynth_design", "source [file join $tcldir build_opt.tcl]",
                   "export_design -format ip_catalog", "create_clock -period $clock_period"):
        assert needle in build
    lib = (out / "build_lib.sh").read_text()
    assert 'CFLAGS="-O1 -fPIC"' in lib


def test_reuse_and_strategy_reach_the_generated_config(written_jet_project):
    out, conv = written_jet_project
    params = (out / "firmware" / "parameters.h").read_text()
    layers = {layer.name: layer for layer in conv.hmodel.get_layers()}
    assert layers["Dense_MatMul_0"].get_attr("reuse_factor") == 4
    assert layers["Dense_MatMul_1"].get_attr("reuse_factor") == 8
    assert layers["Dense_MatMul_0"].get_attr("strategy") == "resource"
    assert "static const unsigned reuse_factor = 8;" in params


def test_every_generated_type_was_set_from_the_ir(written_jet_project):
    from hwflow.backends.hls4ml import scan_project_types
    from hwflow.backends.hls4ml.precision import typedefs_not_set

    out, conv = written_jet_project
    typedefs = scan_project_types(out)
    assert len(typedefs) > 20
    assert typedefs_not_set(typedefs, conv.set_types) == {}
    # hls4ml's default ap_fixed<16,6> appears only where the IR chose it: the unquantized input
    # (DEFAULT_INPUT_TYPE) and the Quant that the IR placed on it
    sixteen_six = {n for n, t in typedefs.items() if t.replace(" ", "").startswith("ap_fixed<16,6")}
    by_tensor = {p.layer: p for p in conv.precisions}
    assert sixteen_six <= {"input_t", conv.hmodel.graph["Quant_0_act"].get_output_variable().type.name,
                           "Quant_0_act_table_t"}
    assert by_tensor["global_in"].types["result_t"] == "fixed<16,6,TRN,WRAP,0>"


def test_untouched_type_is_detected(written_jet_project):
    """The scan can fail: a typedef hwflow did not set is reported."""
    from hwflow.backends.hls4ml import scan_project_types
    from hwflow.backends.hls4ml.precision import typedefs_not_set

    out, conv = written_jet_project
    typedefs = dict(scan_project_types(out))
    typedefs["Relu_0_table_t"] = "ap_fixed<16,6>"
    typedefs["mystery_t"] = "ap_fixed<16,6>"
    assert set(typedefs_not_set(typedefs, conv.set_types)) == {"Relu_0_table_t", "mystery_t"}


# ------------------------------------------------------------------------------ TFC / unsupported
def test_tfc_2w2a_converts_with_the_multithreshold_layer(tmp_path, external_dir):
    """TFC_2W2A: float batch norms before 2-bit Quants (the IR folds them to MultiThreshold)
    become hwflow's MultiThreshold layer; the float batch norm on the logits is cut off."""
    from hwflow.backends.hls4ml import HLSOptions
    from hwflow.backends.hls4ml.convert import convert
    from hwflow.backends.hls4ml.prepare import prepare

    prepared = prepare(external_dir / "TFC_2W2A.onnx")
    assert [s.split()[0] for s in prepared.stripped_ops] == ["Add", "Mul", "Div", "Sub"]
    conv = convert(prepared, HLSOptions(), tmp_path / "prj")
    mts = [p for p in conv.precisions if p.class_name == "MultiThreshold"]
    assert len(mts) == 3
    for p in mts:
        layer = conv.hmodel.graph[p.layer]
        thr = layer.weights["thresholds"].data
        assert thr.size == 64 * 2 and np.all(thr == np.round(thr))  # on the integer grid of the sums
        assert p.types["result_t"] == "int<2>"


def _float_inside_model(path: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.float32(0.25), "s"), numpy_helper.from_array(np.float32(0.0), "z"),
             numpy_helper.from_array(np.float32(6.0), "b"),
             numpy_helper.from_array(np.ones((4, 2), dtype=np.float32) * 0.5, "w")]
    nodes = [
        helper.make_node("Quant", ["x", "s", "z", "b"], ["xq"], name="qx", domain="qonnx.custom_op.general",
                         signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("Tanh", ["xq"], ["t"], name="the_tanh"),
        helper.make_node("Quant", ["w", "s", "z", "b"], ["wq"], name="qw", domain="qonnx.custom_op.general",
                         signed=1, narrow=0, rounding_mode="ROUND"),
        helper.make_node("MatMul", ["t", "wq"], ["y"], name="mm"),
    ]
    g = helper.make_graph(nodes, "float_inside", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("qonnx.custom_op.general", 1)])
    path.write_bytes(m.SerializeToString())
    return path


def test_cli_reports_unsupported_model_with_exit_code(tmp_path):
    """A float operator inside the graph cannot be bit-exact in hls4ml: typed error naming
    the node, non-zero exit, failed record."""
    model = _float_inside_model(tmp_path / "float_inside.onnx")
    r = subprocess.run([str(REPO / ".venv" / "bin" / "hwflow"), "hls", str(model), "-o", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == ModelError.exit_code, r.stderr
    assert "error (" in r.stderr
    rec = __import__("json").loads((tmp_path / "run" / "hls.json").read_text())
    assert rec["status"] == "failed"
    # (the CLI's rich console drops "[node '...']" as markup; the record keeps it)
    assert "the_tanh" in rec["error"] or "mm" in rec["error"]


@pytest.mark.parametrize("backend,tcl_backend", [("Vivado", "vivado"), ("VivadoAccelerator", "vivadoaccelerator")])
def test_other_backends_write_projects_with_ir_types(tmp_path, external_dir, backend, tcl_backend):
    from hwflow.backends.hls4ml import HLSOptions, scan_project_types
    from hwflow.backends.hls4ml.convert import convert
    from hwflow.backends.hls4ml.csim import write_project
    from hwflow.backends.hls4ml.precision import typedefs_not_set
    from hwflow.backends.hls4ml.prepare import prepare

    out = tmp_path / "prj"
    conv = convert(prepare(external_dir / "bnn_model_fc_1layer.onnx"), HLSOptions(backend=backend), out)
    write_project(conv)
    assert f'set backend "{tcl_backend}"' in (out / "project.tcl").read_text()
    assert "csynth_design" in (out / "build_prj.tcl").read_text()
    assert typedefs_not_set(scan_project_types(out), conv.set_types) == {}


def test_non_power_of_two_weight_scale_is_streamlined_into_the_software_tail(tmp_path):
    """A Brevitas-style float weight scale: the IR moves it behind the MatMul, where it is the
    float tail after the last integer tensor (cut off, recorded); no Quant keeps a float scale."""
    from _hls4ml_util import non_po2_model

    from hwflow.backends.hls4ml.prepare import prepare
    from hwflow.ir.analysis import pow2_exponent

    prep = prepare(non_po2_model(tmp_path / "m.onnx"))
    assert any(op.startswith("Mul") for op in prep.stripped_ops), prep.stripped_ops
    for q in prep.model.get_nodes_by_op_type("Quant"):
        assert pow2_exponent(prep.model.get_initializer(q.input[1])) is not None, q.name


def test_vivado_synthesis_report_is_read_with_hls4ml(tmp_path, fake_tools):
    """With vsynth, the post-synthesis utilisation comes from hls4ml's parser of vivado_synth.rpt."""
    from hwflow.backends.hls4ml.vendor import BuildSteps, run_vendor_build

    prj = _fake_project(tmp_path / "prj")
    (prj / "vivado_synth.rpt").write_text(
        "1. CLB Logic\n------------\n| Site Type | Used | Fixed |\n| CLB LUTs* | 1234 | 0 |\n"
        "| CLB Registers | 567 | 0 |\n2. BLOCKRAM\n| Block RAM Tile | 2 | 0 |\n3. ARITHMETIC\n| DSPs | 9 | 0 |\n")
    rep = run_vendor_build(prj, "Vitis", "myproject", BuildSteps(vsynth=True))
    assert rep["vivado_synth"] == {"lut": 1234, "ff": 567, "bram_18k": 2, "dsp48e": 9}
    assert rep["steps"]["vsynth"] is True
