"""Sweep files (hwflow.sweep.spec): validation names the field and the line, axes expand to
validated flow files, segments follow the resource requests, Pareto marks follow dominance."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwflow.errors import ConfigError
from hwflow.sweep.pareto import front, mark_pareto
from hwflow.sweep.segments import segments
from hwflow.sweep.spec import RangeAxis, grid_points, load_sweep, point_id

pytestmark = pytest.mark.unit

BASE = """\
name: jet
model:
  zoo: jet_mlp
  framework: brevitas
train:
  epochs: 1
hls:
  enabled: false
rtl:
  architecture: streaming
targets:
  boards: [icebreaker]
"""


def _sweep(tmp_path: Path, body: str) -> Path:
    (tmp_path / "base.yaml").write_text(BASE)
    path = tmp_path / "sweep.yaml"
    path.write_text("name: s\nflow: base.yaml\n" + body)
    return path


def test_grid_points_are_validated_flows_in_file_order(tmp_path):
    sweep = load_sweep(_sweep(tmp_path, "set:\n  rtl.samples: 100\ngrid:\n  rtl.throughput: [1000, 5000]\n"
                                        "  train.epochs: {start: 1, stop: 3, step: 2}\n"))
    points = grid_points(sweep)
    assert [p.settings for p in points] == [
        {"rtl.throughput": 1000, "train.epochs": 1}, {"rtl.throughput": 1000, "train.epochs": 3},
        {"rtl.throughput": 5000, "train.epochs": 1}, {"rtl.throughput": 5000, "train.epochs": 3}]
    assert points[3].flow.rtl.throughput == 5000 and points[3].flow.train.epochs == 3
    assert all(p.flow.rtl.samples == 100 for p in points)  # `set:` applies to every point
    assert points[0].flow.name == f"s-{points[0].id}"
    # the id is the settings' digest: the same point keeps its run directory when the grid grows
    assert point_id({"train.epochs": 1, "rtl.throughput": 1000}) == points[0].id


def test_unknown_setting_names_field_and_line(tmp_path):
    path = _sweep(tmp_path, "grid:\n  rtl.thruput: [1000]\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(path)
    assert f"{path}:4" in str(e.value) and "grid.rtl.thruput" in str(e.value) and "throughput" in str(e.value)


def test_schema_error_names_field_and_line(tmp_path):
    path = _sweep(tmp_path, "until: synthesis\ngrid:\n  train.epochs: [1]\n")
    with pytest.raises(ConfigError, match=r"until 'synthesis' is not a stage"):
        load_sweep(path)
    path = _sweep(tmp_path, "grid:\n  train.epochs: [1]\nresources:\n  synth: {cpus: 0}\n")
    with pytest.raises(ConfigError) as e:
        load_sweep(path)
    assert f"{path}:6" in str(e.value) and "resources.synth.cpus" in str(e.value)


def test_invalid_point_is_refused_before_running(tmp_path):
    # a throughput on a non-streaming architecture is not a valid flow file
    path = _sweep(tmp_path, "grid:\n  rtl.architecture: [streaming, parallel]\n  rtl.throughput: [1000]\n")
    with pytest.raises(ConfigError, match=r"rtl.architecture='parallel'.*not a valid flow.*streaming"):
        grid_points(load_sweep(path))


def test_grid_xor_search(tmp_path):
    with pytest.raises(ConfigError, match="exactly one of grid"):
        load_sweep(_sweep(tmp_path, ""))
    sweep = load_sweep(_sweep(tmp_path, "search:\n  trials: 3\n  objectives: {accuracy: maximize, lut: minimize}\n"
                                        "  space:\n    rtl.throughput: {low: 1000, high: 5000, log: true}\n"))
    assert sweep.spec.search.trials == 3
    with pytest.raises(ConfigError, match="unknown metric luts"):
        load_sweep(_sweep(tmp_path, "search:\n  trials: 3\n  objectives: {luts: minimize}\n"
                                    "  space:\n    train.epochs: {low: 1, high: 2}\n"))


def test_range_axis_values():
    assert RangeAxis(start=1, stop=7, step=3).values() == [1, 4, 7]
    assert RangeAxis(start=10000, stop=1000000, num=3, log=True).values() == [10000, 100000, 1000000]
    assert RangeAxis(start=0.5, stop=1.5, num=3).values() == [0.5, 1.0, 1.5]
    with pytest.raises(ValueError):
        RangeAxis(start=1, stop=2)


def test_segments_group_stages_by_resources(tmp_path):
    path = _sweep(tmp_path, "grid:\n  train.epochs: [1]\nresources:\n  default: {cpus: 1}\n"
                            "  train: {cpus: 2, memory_gb: 2}\n")
    sweep = load_sweep(path)
    cfg = grid_points(sweep)[0].flow
    segs = [(s.first, s.last, s.resources.cpus) for s in segments(sweep.spec, cfg)]
    # hls is disabled and no FPGA/ASIC target is set: rtl..report run as one segment
    assert segs == [("train", "train", 2), ("ir", "report", 1)]
    sweep.spec.until = "rtl"
    assert [(s.first, s.last) for s in segments(sweep.spec, cfg)] == [("train", "train"), ("ir", "rtl"),
                                                                      ("report", "report")]


def test_pareto_marks():
    pts = [{"status": "complete", "metrics": m} for m in (
        {"accuracy": 0.9, "lut": 100, "inferences_per_s": 10, "energy_nj": None},
        {"accuracy": 0.8, "lut": 50, "inferences_per_s": 10, "energy_nj": None},
        {"accuracy": 0.8, "lut": 120, "inferences_per_s": 5, "energy_nj": None},  # dominated by both
    )] + [{"status": "failed", "metrics": {"accuracy": 1.0, "lut": 1}}]
    mark_pareto(pts)
    assert [p["pareto"] for p in pts] == [True, True, False, False]
    assert pts[0]["pareto_fronts"] == ["accuracy_vs_lut"]
    assert "throughput_vs_lut" in pts[1]["pareto_fronts"] and pts[2]["pareto_fronts"] == []
    assert front([{"lut": 1, "accuracy": 0.5}, {"lut": 1, "accuracy": 0.5}], ("lut", "accuracy")) == [0, 1]


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "examples").glob("sweep_*.yaml")),
                         ids=lambda p: p.name)
def test_bundled_sweeps_validate(path):
    sweep = load_sweep(path)
    if sweep.spec.grid is not None:
        assert len(grid_points(sweep)) >= 4
    else:
        assert sweep.spec.search.trials >= 4


def test_doctor_reports_ray():
    from hwflow.tools import PYTHON_STACKS

    (ray_stack,) = [s for s in PYTHON_STACKS if s.name == "ray+optuna"]
    status = ray_stack.status()
    assert status.enables == ("sweep",) and not status.required  # the default flow runs without it
    assert status.found and "ray 2.60.0" in status.version
