"""The ECP5 benchmark script end to end on a small model (slow: not in the default run).

The real benchmark (jet tagger on the ULX3S) is `scripts/bench_ecp5.py` without arguments.
"""

from __future__ import annotations

import importlib.util

import pytest

from hwflow.artifacts import read_json


@pytest.mark.slow
def test_bench_ecp5_script_small_model(tmp_path, external_dir, repo_root):
    spec = importlib.util.spec_from_file_location("bench_ecp5", repo_root / "scripts" / "bench_ecp5.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--model", str(external_dir / "bnn_model_fc_1layer.onnx"), "--out", str(tmp_path),
                         "--core-synth"])
    saved = read_json(tmp_path / "bench_ecp5.json")
    assert saved == result
    assert saved["part"] == "LFE5U-85F-CABGA381" and saved["pnr"]["fmax_mhz"] > 25
    assert saved["pnr"]["utilization"]["TRELLIS_COMB"]["available"] == 83640
    assert saved["status"] == "complete" and saved["bitstream"]["bytes"] > 0
    assert 0 < saved["core_synth"]["resources"]["lut"] < saved["board_top_synth"]["resources"]["lut"]


def test_bench_ecp5_records_how_far_a_stopped_place_and_route_got(tmp_path, external_dir, repo_root):
    spec = importlib.util.spec_from_file_location("bench_ecp5", repo_root / "scripts" / "bench_ecp5.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--model", str(external_dir / "bnn_model_fc_1layer.onnx"), "--out", str(tmp_path),
                         "--pnr-timeout", "0.002"])
    saved = read_json(tmp_path / "bench_ecp5.json")
    assert saved == result and saved["status"] == "stopped"
    assert saved["board_top_synth"]["resources"]["lut"] > 0            # the synthesis before it is kept
    assert "stopped after 0.12 s" in saved["pnr"]["error"] and saved["pnr"]["router"] == "router2"
    assert isinstance(saved["pnr"]["progress"], list)
    assert read_json(tmp_path / "run" / "bitstream.json")["status"] == "failed"
