"""Board files: every board loads and validates; bad files fail with the legal values;
adding a board is adding a file; constraints are rendered from the board's pins."""

from __future__ import annotations

import shutil

import pytest

from hwflow.boards import boards_dir, list_boards, load_board
from hwflow.errors import ConfigError
from hwflow.synth.constraints import render_constraints

pytestmark = pytest.mark.unit

REQUIRED = {
    # name: (family, device, package, part, clock pin, MHz, uart rx, uart tx, toolchain)
    "icebreaker": ("ice40", "iCE40UP5K", "SG48", "iCE40UP5K-SG48", "35", 12, "6", "9", "open"),
    "ulx3s": ("ecp5", "LFE5U-85F", "CABGA381", "LFE5U-85F-CABGA381", "G2", 25, "M1", "L4", "open"),
    "orangecrab": ("ecp5", "LFE5U-25F", "CSFBGA285", "LFE5U-25F-CSFBGA285", "A9", 48, "N17", "M18", "open"),
    "arty_a7_35": ("xilinx", "xc7a35ti", "csg324", "xc7a35ticsg324-1L", "E3", 100, "A9", "D10", "vendor"),
    "pynq_z2": ("xilinx", "xc7z020", "clg400", "xc7z020clg400-1", "H16", 125, "U12", "T14", "vendor"),
}

ICEBREAKER = """\
name = "myboard"
title = "test board"
family = "ice40"
device = "iCE40UP5K"
package = "SG48"
toolchain = "open"
[clock]
pin = "35"
frequency_hz = 12e6
[uart]
rx = "6"
tx = "9"
[[leds]]
pin = "11"
inverted = true
[constraints]
format = "pcf"
"""


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_required_boards(name):
    fam, dev, pkg, part, clk, mhz, rx, tx, tc = REQUIRED[name]
    b = load_board(name)
    assert (b.family, b.device, b.package, b.part, b.toolchain) == (fam, dev, pkg, part, tc)
    assert (b.clock.pin, b.clock.frequency_hz, b.uart.rx, b.uart.tx, b.uart.baud) == (clk, mhz * 1e6, rx, tx, 115200)
    assert b.leds and b.capacity.lut > 0


def test_every_board_file_loads():
    assert set(REQUIRED) <= set(list_boards())
    for name in list_boards():
        assert load_board(name).name == name


def test_nextpnr_arguments_from_device_data():
    assert load_board("icebreaker").nextpnr_args == ["--up5k", "--package", "sg48"]
    assert load_board("ulx3s").nextpnr_args == ["--85k", "--package", "CABGA381", "--speed", "6"]
    assert load_board("orangecrab").nextpnr_args == ["--25k", "--package", "CSFBGA285", "--speed", "8"]


def test_unknown_board_lists_known_ones():
    with pytest.raises(ConfigError, match="known boards: .*icebreaker.*ulx3s"):
        load_board("no_such_board")


@pytest.fixture
def board_dir(tmp_path, monkeypatch):
    d = tmp_path / "boards"
    d.mkdir()
    shutil.copy(boards_dir() / "_devices.toml", d / "_devices.toml")
    monkeypatch.setenv("HWFLOW_BOARDS_DIR", str(d))
    return d


def test_adding_a_board_is_adding_a_file(board_dir):
    (board_dir / "myboard.toml").write_text(ICEBREAKER)
    assert list_boards() == ["myboard"]
    b = load_board("myboard")
    assert b.part == "iCE40UP5K-SG48" and b.leds[0].inverted


@pytest.mark.parametrize("edit, message", [
    (('family = "ice40"', 'family = "ice41"'), "family: Input should be 'ice40', 'ecp5', 'gowin' or 'xilinx'"),
    (('device = "iCE40UP5K"', 'device = "iCE40HX9K"'), "unknown device 'iCE40HX9K'; known devices: .*LFE5U-85F.*iCE40UP5K"),
    (('device = "iCE40UP5K"', 'device = "LFE5U-25F"'), "device LFE5U-25F is an ecp5 part"),
    (('format = "pcf"', 'format = "lpf"'), "constraints.format must be 'pcf' for ice40"),
    (('format = "pcf"', 'format = "sdc"'), "Input should be 'pcf', 'lpf', 'xdc' or 'cst'"),
    (('tx = "9"', 'tx = "6"'), "pins used twice: 6"),
    (('frequency_hz = 12e6', 'frequency_hz = -1'), "clock.frequency_hz: Input should be greater than 0"),
    (('toolchain = "open"', 'toolchain = "maybe"'), "toolchain: Input should be 'open' or 'vendor'"),
    (('[uart]', '[uart]\nparity = "even"'), "uart.parity: Extra inputs are not permitted"),
    (('name = "myboard"', 'name = "other"'), "must match the file name 'myboard'"),
])
def test_invalid_board_file_names_field_and_legal_values(board_dir, edit, message):
    (board_dir / "myboard.toml").write_text(ICEBREAKER.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_board("myboard")


def test_board_file_that_is_not_toml(board_dir):
    (board_dir / "myboard.toml").write_text("name = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_board("myboard")


def test_constraints_pcf_icebreaker():
    text = render_constraints(load_board("icebreaker"))
    assert text.splitlines()[1:] == [
        "set_io clk 35", "set_io -pullup yes uart_rx 6", "set_io uart_tx 9",
        "set_io led[0] 11", "set_io led[1] 37", "set_frequency clk 12"]


def test_constraints_lpf_ulx3s():
    lines = render_constraints(load_board("ulx3s")).splitlines()
    assert 'LOCATE COMP "clk" SITE "G2";' in lines
    assert 'LOCATE COMP "uart_rx" SITE "M1";' in lines and 'LOCATE COMP "uart_tx" SITE "L4";' in lines
    assert 'LOCATE COMP "led[7]" SITE "H3";' in lines
    assert 'LOCATE COMP "tie_high[0]" SITE "L2";' in lines
    assert 'IOBUF PORT "uart_tx" IO_TYPE=LVCMOS33;' in lines
    assert lines[-1] == 'FREQUENCY PORT "clk" 25 MHZ;'


def test_constraints_xdc_arty():
    lines = render_constraints(load_board("arty_a7_35")).splitlines()
    assert "set_property -dict { PACKAGE_PIN E3 IOSTANDARD LVCMOS33 } [get_ports { clk }]" in lines
    assert "set_property -dict { PACKAGE_PIN A9 IOSTANDARD LVCMOS33 } [get_ports { uart_rx }]" in lines
    assert "create_clock -name clk -period 10.000 [get_ports { clk }]" in lines
    assert lines[-1] == "set_property CONFIG_VOLTAGE 3.3 [current_design]"
