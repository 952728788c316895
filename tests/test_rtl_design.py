"""The one reader of ``rtl.json`` (hwflow.backends.rtl.design): fields and error behaviour."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hwflow.backends.rtl.design import PortFormat, RtlNotGenerated, load_design
from hwflow.errors import ConfigError, NotBuiltYet

POWER_CORE = Path(__file__).parent / "data" / "power"


@pytest.fixture
def run(tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(POWER_CORE, run)
    return run


def _edit(run: Path, **changes) -> None:
    rec = json.loads((run / "rtl.json").read_text())
    for k, v in changes.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    (run / "rtl.json").write_text(json.dumps(rec))


def test_fields(run):
    d = load_design(run)
    assert d.top == "dot_core" and d.files == ((run / "verilog" / "dot_core.v").resolve(),)
    assert (d.ii, d.latency_cycles, d.clock_port, d.reset_port, d.reset_active_high) == (1, 1, "clk", "rst", True)
    assert d.input == PortFormat(8, 4, True, 0, 1.0, (1, 8)) and d.input.tdata_width == 32
    assert d.output.tdata_width == 16 and (d.output.int_min, d.output.int_max) == (0, 255)
    assert d.weights == "hardwired" and d.model is None and d.config is None
    assert d.raw["top"] == "dot_core" and d.rtl_json == run / "rtl.json"
    first = d.design_id
    (run / "verilog" / "dot_core.v").write_text((run / "verilog" / "dot_core.v").read_text() + "\n// edited\n")
    assert load_design(run).design_id != first


def test_missing_rtl_json_names_the_command(tmp_path):
    with pytest.raises(RtlNotGenerated, match=r"rtl\.json does not exist.*hwflow rtl MODEL -o") as e:
        load_design(tmp_path)
    assert isinstance(e.value, NotBuiltYet) and isinstance(e.value, ConfigError)


@pytest.mark.parametrize("change, message", [
    ({"top": None}, "'top'"),
    ({"input": {"elements": 8, "element_width": 4, "signed": True, "frac": 0}}, "input: bad port format.*tdata_width"),
    ({"output": {"elements": 2, "element_width": 8, "signed": False, "frac": 0, "tdata_width": 17}},
     "output: tdata_width 17 != elements x element_width"),
    ({"ii": 0}, "ii must be >= 1"),
    ({"files": ["verilog/dot_core.v", "verilog/gone.v"]}, "lists Verilog files that do not exist: .*gone.v"),
    ({"config": {"addr_width": 3}}, "config: bad config port"),
])
def test_bad_records_raise_config_errors_naming_file_and_field(run, change, message):
    _edit(run, **change)
    with pytest.raises(ConfigError, match=message) as e:
        load_design(run)
    assert str(run / "rtl.json") in str(e.value) and not isinstance(e.value, NotBuiltYet)


def test_unreadable_json(run):
    (run / "rtl.json").write_text("{not json")
    with pytest.raises(ConfigError, match="rtl.json"):
        load_design(run)
