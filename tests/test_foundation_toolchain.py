"""The toolchain works, not just imports: Verilator + cocotb simulate, Yosys synthesizes for
iCE40 and ECP5, nextpnr-ice40 places and routes, on a hand-written adder tree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hwflow.tools import Nextpnr, Packer, Verilator, Yosys

pytestmark = pytest.mark.tools

ADDER = Path(__file__).resolve().parents[1] / "rtl_tests" / "hdl" / "adder_tree.v"
N, W = 8, 8
LEVELS = 3


def test_adder_tree_cocotb_verilator(tmp_path, monkeypatch):
    from cocotb_tools.runner import get_runner

    env = Verilator().env()
    for key in ("VERILATOR_ROOT", "PATH"):
        monkeypatch.setenv(key, env[key])
    monkeypatch.delenv("CXXFLAGS", raising=False)
    runner = get_runner("verilator")
    runner.build(
        sources=[ADDER], hdl_toplevel="adder_tree", build_dir=tmp_path / "build",
        parameters={"N": N, "W": W}, always=True,
    )
    results = runner.test(
        hdl_toplevel="adder_tree", test_module="test_adder_tree",
        test_dir=ADDER.parents[1], build_dir=tmp_path / "build",
        extra_env={"ADDER_SAMPLES": "300"}, results_xml=str(tmp_path / "results.xml"),
    )
    xml = Path(results).read_text()
    assert 'name="adder_tree_sums"' in xml
    assert "<failure" not in xml and "<error" not in xml, xml


def _synth(tmp_path: Path, family: str, n: int = N, w: int = W) -> dict:
    script = tmp_path / f"synth_{family}.ys"
    stat = tmp_path / f"stat_{family}.json"
    script.write_text(
        f"read_verilog {ADDER}\n"
        f"chparam -set N {n} -set W {w} adder_tree\n"
        f"synth_{family} -top adder_tree -json {tmp_path / f'adder_{family}.json'}\n"
        f"tee -q -o {stat} stat -json\n"
    )
    Yosys().run_script(script, cwd=tmp_path, log=tmp_path / f"yosys_{family}.log")
    return json.loads(stat.read_text())


def _cells(stat: dict) -> dict[str, int]:
    design = stat.get("design") or next(iter(stat["modules"].values()))
    return {k: int(v) for k, v in design["num_cells_by_type"].items()}


# Registers of the tree: level l+1 holds N>>(l+1) sums of (W+LEVELS) bits each; Yosys keeps
# only the bits that can differ from the sign (W+l+1 bits at level l+1). 4*9 + 2*10 + 1*11.
EXPECTED_FFS = sum((N >> (lvl + 1)) * (W + lvl + 1) for lvl in range(LEVELS))


@pytest.mark.parametrize("family,ff_prefix,carry_prefix", [("ice40", "SB_DFF", "SB_CARRY"), ("ecp5", "TRELLIS_FF", "CCU2C")])
def test_yosys_synth_adder_tree(tmp_path, family, ff_prefix, carry_prefix):
    cells = _cells(_synth(tmp_path, family))
    ffs = sum(v for k, v in cells.items() if k.startswith(ff_prefix))
    carries = sum(v for k, v in cells.items() if k.startswith(carry_prefix))
    assert ffs == EXPECTED_FFS, cells
    assert carries > 0, cells  # the adders map to carry chains


def test_nextpnr_ice40_routes_adder_tree(tmp_path):
    _synth(tmp_path, "ice40", n=4, w=4)  # 4x4 bits: its ports fit the 39 IOs of the SG48 package
    asc = tmp_path / "adder.asc"
    report = tmp_path / "report.json"
    nextpnr = Nextpnr("ice40")
    from hwflow.tools import run_tool

    # YoWASP tools run sandboxed and see only the working directory: relative paths
    run_tool(
        [nextpnr.locate(), "--up5k", "--package", "sg48", "--json", "adder_ice40.json",
         "--asc", asc.name, "--report", report.name, "--freq", "24", "--seed", "1"],
        cwd=tmp_path, log=tmp_path / "nextpnr.log", tool="nextpnr-ice40",
    )
    rep = json.loads(report.read_text())
    fmax = rep["fmax"]
    assert fmax and all(v["achieved"] > 24 for v in fmax.values()), fmax
    run_tool([Packer("ice40").locate(), asc.name, "adder.bin"], cwd=tmp_path, tool="icepack")
    data = (tmp_path / "adder.bin").read_bytes()
    # iCE40 bitstreams start with the 0x7EAA997E synchronisation word (after a comment block)
    assert bytes.fromhex("7EAA997E") in data[:64]
    assert len(data) > 100_000


def test_verilator_lint_fails_on_a_warning(tmp_path):
    from hwflow.backends.rtl.lint import lint_design
    from hwflow.errors import ToolFailed

    clean = tmp_path / "clean.v"
    clean.write_text("module clean(input wire [3:0] a, output wire [3:0] y);\n  assign y = ~a;\nendmodule\n")
    rec = lint_design([clean], "clean", tmp_path / "clean.log")
    assert rec["warnings"] == 0 and rec["version"] == Verilator().version()
    unused = tmp_path / "unused.v"  # input b is never read: a -Wall warning
    unused.write_text("module unused(input wire [3:0] a, input wire b, output wire [3:0] y);\n"
                      "  assign y = ~a;\nendmodule\n")
    with pytest.raises(ToolFailed, match="UNUSED"):
        lint_design([unused], "unused", tmp_path / "unused.log")
    assert "--lint-only" in (tmp_path / "unused.log").read_text()
