"""Unit tests of the power flow's pieces that need no tool: VCD activity, packing, clocks,
OpenSTA report parsing."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.backends.rtl.design import PortFormat
from hwflow.errors import ConfigError, MismatchError
from hwflow.power.opensta import parse_checks, parse_power
from hwflow.power.profile import parse_clock
from hwflow.power.simulate import compare_outputs
from hwflow.power.stimulus import quantize_inputs
from hwflow.power.vcd import read_vcd_activity, sample_outputs

VCD = """$version test $end
$timescale 1ps $end
$scope module tb $end
 $var wire 1 ! clk $end
 $scope module dut $end
  $var wire 1 ! clk $end
  $var wire 1 " a $end
  $var wire 1 " a_alias $end
  $var wire 2 # v [1:0] $end
 $upscope $end
$upscope $end
$enddefinitions $end
#0
0!
0"
b00 #
#5000
1!
1"
#10000
0!
b11 #
#15000
1!
0"
b10 #
#20000
0!
1"
#40000
0"
"""


def test_vcd_toggles_duty_window_and_aliases(tmp_path):
    p = tmp_path / "a.vcd"
    p.write_text(VCD)
    # window 0..20 ns (the VCD is in ps): the change at 40 ns is outside
    act = read_vcd_activity(p, "dut", 0, 20)
    assert act.toggles["a"] == 3 and act.toggles["a_alias"] == 3
    assert act.toggles["clk"] == 4
    assert act.toggles["v[0]"] == 2 and act.toggles["v[1]"] == 1
    assert act.duty("a") == pytest.approx((10 + 0) / 20 + 0.0 + 0.0)  # high 5..15 ns
    assert act.duty("v[1]") == pytest.approx(10 / 20)                  # high 10..20 ns
    assert act.rate("clk", 10) == pytest.approx(2.0)                    # 2 toggles per 10 ns period
    late = read_vcd_activity(p, "dut", 10, 40)
    assert late.toggles["a"] == 3                                        # 15, 20, 40 ns


def test_vcd_with_unbalanced_upscope_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "bad.vcd"
    p.write_text("$timescale 1ps $end\n$upscope $end\n$enddefinitions $end\n#0\n")
    with pytest.raises(ConfigError, match=r"bad.vcd: VCD header has a \$upscope without an open \$scope"):
        read_vcd_activity(p, "dut", 0, 20)
    with pytest.raises(ConfigError, match="bad.vcd"):
        sample_outputs(p, "clk", "valid", "data")


def test_pack_unpack_roundtrip_and_quantize():
    fmt = PortFormat(elements=3, element_width=4, signed=True, frac=1, scale=1.0, shape=(1, 3))
    q = np.array([[0, 7, -8], [-1, 1, 3]])
    words = fmt.pack(q)
    assert words[0] == (0 | 7 << 4 | 8 << 8)
    assert (fmt.unpack(words) == q).all()
    # x = q * 2**-1; saturates at the element range
    assert quantize_inputs(np.array([[0.5, 100.0, -100.0]]), fmt).tolist() == [[1, 7, -8]]
    with pytest.raises(ConfigError):
        fmt.pack(np.array([[0, 8, 0]]))


def test_parse_clock():
    assert parse_clock("40MHz") == 40.0
    assert parse_clock("25ns") == pytest.approx(40.0)
    assert parse_clock("1.2 GHz") == pytest.approx(1200.0)
    assert parse_clock(100) == 100.0
    for bad in ("fast", "0MHz", "-3MHz"):
        with pytest.raises(ConfigError):
            parse_clock(bad)


def test_compare_outputs_names_first_mismatch():
    compare_outputs([1, 2, 3], [1, 2, 3], "x")
    with pytest.raises(MismatchError, match="beat 1"):
        compare_outputs([1, 2, 3], [1, 5, 3], "x")


POWER = """Group                  Internal  Switching    Leakage      Total
                          Power      Power      Power      Power
----------------------------------------------------------------
Sequential             1.0e-04    2.0e-06    3.0e-09    1.02e-04  30.1%
Combinational          2.0e-04    1.0e-04    5.0e-08    3.0e-04  69.9%
Total                  3.0e-04    1.02e-04   5.3e-08    4.02e-04 100.0%
"""
CHECKS = """Startpoint: s_axis_tdata_0 (input port clocked by clk)
Endpoint: u651 (rising edge-triggered flip-flop clocked by clk)
   0.2133    0.2133 ^ u3/Y (INVX1)
   0.1838    0.3971 v u68/Y (XNOR2X1)
            21.1435   slack (MET)
"""


def test_parse_sta_reports():
    p = parse_power(POWER)
    assert p["Total"]["switching"] == pytest.approx(1.02e-4) and p["Sequential"]["leakage"] == 3e-9
    c = parse_checks(CHECKS, 25.0)
    assert c["slack_ns"] == pytest.approx(21.1435)
    assert c["fmax_mhz"] == pytest.approx(1e3 / (25 - 21.1435), rel=1e-4)
    assert [s["cell"] for s in c["critical_path"]] == ["INVX1", "XNOR2X1"]
    assert c["startpoint"] == "s_axis_tdata_0"
