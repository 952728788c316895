"""One vocabulary (issue #16 items 3 and 4): clocks with units everywhere, flow-file names
equal to the CLI's, every listed valid value accepted, one run-directory layout, and error
hints that name the command that fixes the problem."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from hwflow.cli import app
from hwflow.errors import ConfigError, HwflowError

runner = CliRunner()

pytestmark = pytest.mark.unit


def _text(r) -> str:
    return " ".join(r.output.split())


def test_version():
    from hwflow import __version__

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"hwflow {__version__}"


@pytest.mark.parametrize("text,mhz", [("40MHz", 40.0), ("25ns", 40.0), ("40", 40.0), (40, 40.0), ("1.5GHz", 1500.0),
                                      ("100 MHz", 100.0), ("5ns", 200.0)])
def test_clock_units(text, mhz):
    from hwflow.units import parse_clock

    assert parse_clock(text) == pytest.approx(mhz)


@pytest.mark.parametrize("bad", ["fast", "-5MHz", "0ns", "40 parsecs", float("inf"), float("nan"), "1e999MHz"])
def test_bad_clock_is_a_config_error(bad):
    from hwflow.units import parse_clock

    with pytest.raises(ConfigError):
        parse_clock(bad)


def _flow(tmp_path, tail: str):
    from hwflow.config import load_flow

    p = tmp_path / "f.yaml"
    p.write_text("name: t\nmodel:\n  zoo: jet_mlp\n" + tail)
    return load_flow(p)


def test_flow_file_clock_and_target_names_are_the_cli_ones(tmp_path):
    cfg = _flow(tmp_path, "targets:\n  asic: [asic-osu018]\nclock: 25ns\n")
    assert cfg.clock_mhz == pytest.approx(40.0) and cfg.targets.asic == ["osu018"] and cfg.deprecations() == []
    old = _flow(tmp_path, "targets:\n  asic: [osu018]\nclock_mhz: 50\n")
    assert old.clock_mhz == 50 and old.targets.asic == ["osu018"]
    assert old.deprecations() == ["clock_mhz is deprecated: write `clock: 50MHz`"]
    with pytest.raises(ConfigError, match="not both"):
        _flow(tmp_path, "clock: 40MHz\nclock_mhz: 40\n")
    with pytest.raises(ConfigError, match="clock"):
        _flow(tmp_path, "clock: soon\n")


def _listed(message: str) -> list[str]:
    """The values an error message offers ('choose one of: a, b', 'legal values: a, b', 'valid: a, b')."""
    m = re.search(r"(?:one of:?|legal values:|valid:)\s*([\w\-, ]+)", message)
    assert m, message
    return [v for v in re.split(r",\s*|\s+or\s+", m.group(1).strip()) if v]


def test_every_listed_synth_target_is_accepted():
    from hwflow.synth.flow import resolve_target

    with pytest.raises(ConfigError) as e:
        resolve_target("bogus", None)
    listed = _listed(str(e.value).split("(")[0])
    assert set(listed) == {"ice40", "ecp5", "gowin", "xilinx"}
    for t in listed:
        assert resolve_target(t, None) == t
    help_text = _text(runner.invoke(app, ["synth", "--help"]))
    assert "asic-osu018" not in help_text


def test_every_listed_profile_target_and_sim_engine_is_accepted(tmp_path):
    from hwflow.backends.rtl.design import RtlNotGenerated
    from hwflow.power import profile
    from hwflow.sim import simulate

    for call in (lambda v: profile(tmp_path, target=v), lambda v: simulate(tmp_path, engine=v)):
        with pytest.raises(ConfigError) as e:
            call("bogus")
        listed = _listed(str(e.value))
        assert len(listed) >= 2
        for v in listed:
            with pytest.raises(RtlNotGenerated):  # past the option check: the run has no RTL
                call(v)


@pytest.mark.parametrize("field", ["backend", "io_type", "strategy"])
def test_every_listed_hls_option_is_accepted(field):
    from hwflow.backends.hls4ml import HLSOptions

    with pytest.raises(ConfigError) as e:
        HLSOptions(**{field: "bogus"})
    for v in _listed(str(e.value)):
        HLSOptions(**{field: v})


def test_one_run_directory_layout(tmp_path):
    """`hwflow run -o X` keeps the hardware in X/hw; every hardware command takes X too."""
    from hwflow.cli.common import hardware_run

    (tmp_path / "hw").mkdir()
    (tmp_path / "hw" / "rtl.json").write_text("{}")
    assert hardware_run(tmp_path, "sim") == tmp_path / "hw"
    assert hardware_run(tmp_path / "hw", "sim") == tmp_path / "hw"


def test_hints_name_the_command_that_fixes_it(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not read")
    for cmd in ("sim", "synth", "profile", "bitstream"):
        args = [cmd, str(model)] + (["--board", "icebreaker"] if cmd == "bitstream" else [])
        r = runner.invoke(app, args)
        assert r.exit_code == 2, r.output
        assert f"hwflow rtl {model} -o RUN" in _text(r), r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["sim", str(empty)])
    assert r.exit_code == 2 and f"hwflow rtl MODEL -o {empty}" in _text(r)
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.onnx").write_bytes(b"x")
    for cmd in ("rtl", "hls", "inspect", "exec"):
        args = [cmd, str(run)] + {"rtl": ["-o", str(tmp_path / "o")], "hls": ["-o", str(tmp_path / "o")],
                                  "inspect": [], "exec": ["--inputs", str(model), "-o", str(tmp_path / "y.npy")]}[cmd]
        r = runner.invoke(app, args)
        assert r.exit_code == 6, r.output
        assert "takes a model file (.onnx), not a directory" in _text(r) and str(run / "model.onnx") in _text(r)
    assert "RUN" in runner.invoke(app, ["report", "--help"]).output


def test_quiet_filter_drops_absl_lines_only():
    from hwflow.cli.quiet import ABSL_LINE

    assert ABSL_LINE.match(b"I0000 00:00:1796403768.443546   25463 port.cc:153] oneDNN custom operations are on.\n")
    assert ABSL_LINE.match(b"E0000 00:00:1796403413.218813   18331 cuda_platform.cc:52] failed call to cuInit\n")
    assert ABSL_LINE.match(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    assert not ABSL_LINE.match(b"error (ConfigError): clock 'soon': give a frequency like 40MHz\n")
    assert issubclass(ConfigError, HwflowError)
