"""Vivado flow for Xilinx boards: golden TCL, clear error without Vivado, and a fake
``vivado`` on PATH that records its arguments and writes the files Vivado would."""

from __future__ import annotations

import json
import os
import shutil
import stat
import textwrap

import pytest
from typer.testing import CliRunner

from hwflow.artifacts import read_json
from hwflow.boards import load_board
from hwflow.cli import app
from hwflow.errors import ConfigError, VendorToolMissing
from hwflow.synth.vivado import VivadoFlow, parse_utilization, parse_wns

from _fpga_util import EW_CORE

pytestmark = pytest.mark.unit

UTIL_RPT = """\
1. Slice Logic
--------------

+-------------------------+------+-------+------------+-----------+-------+
|        Site Type        | Used | Fixed | Prohibited | Available | Util% |
+-------------------------+------+-------+------------+-----------+-------+
| Slice LUTs              |  412 |     0 |          0 |     20800 |  1.98 |
|   LUT as Logic          |  412 |     0 |          0 |     20800 |  1.98 |
| Slice Registers         |  390 |     0 |          0 |     41600 |  0.94 |
+-------------------------+------+-------+------------+-----------+-------+
| Block RAM Tile | 0.5 |     0 |          0 |        50 |  1.00 |
| DSPs           |   4 |     0 |          0 |        90 |  4.44 |
"""

TIMING_RPT = """\
------------------------------------------------------------------------------------------------
| Design Timing Summary
| ---------------------
------------------------------------------------------------------------------------------------

    WNS(ns)      TNS(ns)  TNS Failing Endpoints  TNS Total Endpoints      WHS(ns)      THS(ns)
    -------      -------  ---------------------  -------------------      -------      -------
      4.500        0.000                      0                  812        0.061        0.000
"""

# A stand-in for Vivado: records argv and cwd, writes the bitstream and reports that the
# generated TCL asks for (names taken from the script, so the test checks they agree).
FAKE_VIVADO = textwrap.dedent('''\
    #!{python}
    import json, os, re, sys
    log = os.environ["FAKE_VIVADO_RECORD"]
    with open(log, "a") as f:
        f.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
    tcl = open(sys.argv[sys.argv.index("-source") + 1]).read()
    for name in re.findall(r"-file (\\S+)", tcl):
        text = {{"utilization.rpt": {util!r}, "timing_summary.rpt": {timing!r}}}.get(name, "power report\\n")
        open(name, "w").write(text)
    open(re.search(r"write_bitstream -force (\\S+)", tcl).group(1), "wb").write(b"\\xff" * 64)
    ''')


@pytest.fixture
def arty_run(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(EW_CORE, run)
    return run


def test_generated_tcl_golden(tmp_path):
    files = [tmp_path / "uart_rx.v", tmp_path / "core.v"]
    xdc = tmp_path / "arty_a7_35.xdc"
    tcl = VivadoFlow(load_board("arty_a7_35")).tcl(files, "hwflow_board_top", xdc, "arty_a7_35.bit")
    assert tcl == textwrap.dedent(f"""\
        # hwflow: Vivado batch flow for Digilent Arty A7-35T (xc7a35ticsg324-1L); run with
        #   vivado -mode batch -nojournal -log vivado.log -source flow.tcl
        set_param general.maxThreads 2
        create_project -in_memory -part xc7a35ticsg324-1L
        read_verilog -sv {{{tmp_path}/uart_rx.v}}
        read_verilog -sv {{{tmp_path}/core.v}}
        read_xdc {{{tmp_path}/arty_a7_35.xdc}}
        synth_design -top hwflow_board_top -part xc7a35ticsg324-1L
        opt_design
        place_design
        route_design
        report_utilization -file utilization.rpt
        report_timing_summary -file timing_summary.rpt
        report_power -file power.rpt
        write_bitstream -force arty_a7_35.bit
        exit
        """)


def test_vivado_flow_only_for_xilinx():
    with pytest.raises(ConfigError, match="for Xilinx boards"):
        VivadoFlow(load_board("icebreaker"))


def test_bitstream_without_vivado_is_a_clear_vendor_error(arty_run, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("HWFLOW_VIVADO", raising=False)
    res = CliRunner().invoke(app, ["bitstream", str(arty_run), "--board", "pynq_z2"])
    assert res.exit_code == VendorToolMissing.exit_code, res.output
    assert "vivado is not installed" in res.output and "HWFLOW_VIVADO" in res.output
    assert not (arty_run / "bitstream.json").exists()


def test_bitstream_with_fake_vivado(arty_run, tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "vivado"
    fake.write_text(FAKE_VIVADO.format(python=shutil.which("python3") or "/usr/bin/python3",
                                       util=UTIL_RPT, timing=TIMING_RPT))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / "vivado_calls.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_VIVADO_RECORD", str(record))
    monkeypatch.delenv("HWFLOW_VIVADO", raising=False)

    res = CliRunner().invoke(app, ["bitstream", str(arty_run), "--board", "arty_a7_35"])
    assert res.exit_code == 0, res.output

    calls = [json.loads(l) for l in record.read_text().splitlines()]
    run_calls = [c for c in calls if "-source" in c["argv"]]      # doctor-style -version calls aside
    assert len(run_calls) == 1
    assert run_calls[0]["argv"] == ["-mode", "batch", "-nojournal", "-log", "vivado.log", "-source", "flow.tcl"]
    out_dir = arty_run / "fpga" / "arty_a7_35"
    assert run_calls[0]["cwd"] == str(out_dir.resolve())
    xdc = (out_dir / "arty_a7_35.xdc").read_text()
    assert "PACKAGE_PIN D10" in xdc and "create_clock -name clk -period 10.000" in xdc
    assert "module hwflow_board_top" in (out_dir / "hwflow_board_top.v").read_text()

    rec = read_json(arty_run / "bitstream.json")
    assert rec["status"] == "complete" and rec["flow"] == "vivado" and rec["part"] == "xc7a35ticsg324-1L"
    assert rec["wns_ns"] == 4.5 and rec["fmax_min_mhz"] == pytest.approx(1000 / (10 - 4.5), abs=0.01)
    assert rec["timing_met"] and rec["utilization"]["Slice LUTs"]["used"] == 412
    assert (arty_run / rec["bitstream"]).read_bytes() == b"\xff" * 64


def test_report_parsers():
    util = parse_utilization(UTIL_RPT)
    assert util["Slice LUTs"] == {"used": 412.0, "available": 20800.0, "percent": 1.98}
    assert util["Block RAM Tile"]["used"] == 0.5 and util["DSPs"]["available"] == 90.0
    assert parse_wns(TIMING_RPT) == 4.5
    assert parse_wns("no summary here") is None
