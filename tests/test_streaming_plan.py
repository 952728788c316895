"""`hwflow inspect MODEL --board NAME`: the streaming design hwflow rtl --board would build
(folding, cycles, II, estimated resources per layer) before anything is built; FitError when
nothing fits."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hwflow.backends.rtl.streaming.plan import plan_streaming
from hwflow.cli import app


def test_plan_is_the_design_rtl_builds(external_dir, tmp_path):
    """The plan's folding and timing are what generate_rtl(board=...) records."""
    from hwflow.backends.rtl import generate_rtl

    model = external_dir / "qkeras_jettagging.onnx"
    plan = plan_streaming(model, "icebreaker")
    rtl = json.loads(generate_rtl(model, tmp_path / "run", board="icebreaker", lint=False).read_text())
    assert [(r["pe"], r["simd"]) for r in plan["layers"]] == \
        [(ly["folding"]["pe"], ly["folding"]["simd"]) for ly in rtl["pipeline"]["layers"]]
    assert (plan["ii"], plan["latency_cycles"]) == (rtl["ii"], rtl["latency_cycles"])
    assert sum(r["cycles"] for r in plan["layers"]) >= plan["ii"]
    assert abs(plan["estimate_total"]["lut"] - sum(r["estimate"]["lut"] for r in plan["layers"])) < 0.5  # rounding


def test_inspect_board_prints_the_plan_and_fit_error_exits_8(external_dir):
    model = str(external_dir / "qkeras_jettagging.onnx")
    res = CliRunner().invoke(app, ["inspect", model, "--board", "icebreaker", "--json"])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)["streaming_plan"]
    assert plan["board"] == "icebreaker" and plan["ii"] > 1 and len(plan["layers"]) == 4
    res = CliRunner().invoke(app, ["inspect", model, "--board", "icebreaker", "--throughput", "1000000"])
    assert res.exit_code == 8 and "FitError" in res.output
    res = CliRunner().invoke(app, ["inspect", model, "--throughput", "1000"])
    assert res.exit_code == 2 and "--board" in res.output
