"""Flow files: the bundled examples validate; every invalid field is named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwflow.config import load_flow
from hwflow.errors import ConfigError
from hwflow.flow import STAGE_NAMES, run_flow

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
# examples/sweep_*.yaml are sweep files (tests/test_sweep_spec.py validates them)
FLOWS = sorted(p for p in (REPO / "examples").glob("*.yaml") if not p.name.startswith("sweep_")) + [
    REPO / "hwflow" / "flows" / "demo.yaml"]


@pytest.mark.parametrize("flow", FLOWS, ids=lambda p: p.name)
def test_bundled_flows_validate(flow):
    cfg = load_flow(flow)
    assert cfg.name and (cfg.model.zoo or cfg.model.path)


@pytest.mark.parametrize("text,field,line", [
    ("name: x\nmodel:\n  zoo: econt\n  framwork: qkeras\n", "model.framwork", 4),
    ("name: x\nmodel:\n  zoo: econt\ntrain:\n  epochs: -3\n", "train.epochs", 5),
    ("name: x\nmodel:\n  zoo: econt\nhls:\n  io: serial\n", "hls.io", 5),
    ("name: x\nmodel:\n  zoo: econt\ntargets:\n  asic: [tsmc7]\n", "targets.asic.0", None),
    ("name: 'bad name/..'\nmodel:\n  zoo: econt\n", "name", 1),
    ("name: x\nmodel:\n  framework: brevitas\n", "model", 2),
    ("name: x\nmodel:\n  zoo: econt\nrtl:\n  throughput: 1000\n", "rtl", 4),
    ("name: x\nmodel:\n  zoo: econt\nrtl:\n  architecture: systolic\n", "rtl.architecture", 5),
    ("name: x\nmodel:\n  zoo: econt\nprofile_simulator: spice\n", "profile_simulator", 4),
])
def test_invalid_flow_names_field_and_line(tmp_path, text, field, line):
    p = tmp_path / "flow.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_flow(p)
    msg = str(err.value)
    assert f"field '{field}'" in msg, msg
    if line:
        assert f"flow.yaml:{line}:" in msg, msg


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "name: [unclosed\n"])
def test_not_a_flow_file(tmp_path, text):
    p = tmp_path / "flow.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError):
        load_flow(p)


def test_unknown_stage_range_is_rejected(tmp_path):
    cfg = load_flow(REPO / "hwflow" / "flows" / "demo.yaml")
    with pytest.raises(ConfigError, match="stages: " + ", ".join(STAGE_NAMES)):
        run_flow(cfg, tmp_path, from_stage="synthesis")
