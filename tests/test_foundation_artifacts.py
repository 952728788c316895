"""Stage records: complete only when the work finished; skipped only when nothing changed."""

from __future__ import annotations

import json

import pytest

from hwflow.artifacts import is_up_to_date, sanitize_identifier, stage, stage_record

pytestmark = pytest.mark.unit


def test_stage_complete_and_up_to_date(tmp_path):
    src = tmp_path / "model.onnx"
    src.write_bytes(b"abc")
    run = tmp_path / "run"
    with stage(run, "hls", inputs={"model": src}, params={"reuse": 1}) as st:
        (run / "out.txt").write_text("x")
        st.output(run / "out.txt")
        st.result["mismatches"] = 0
    rec = json.loads((run / "hls.json").read_text())
    assert rec["status"] == "complete" and rec["mismatches"] == 0 and rec["outputs"] == ["out.txt"]
    assert json.loads((run / "manifest.json").read_text())["stages"]["hls"]["outputs"] == ["out.txt"]
    assert is_up_to_date(run, "hls", inputs={"model": src}, params={"reuse": 1})
    assert not is_up_to_date(run, "hls", inputs={"model": src}, params={"reuse": 2})
    src.write_bytes(b"abd")
    assert not is_up_to_date(run, "hls", inputs={"model": src}, params={"reuse": 1})


def test_failed_and_interrupted_stages_are_not_complete(tmp_path):
    with pytest.raises(ValueError):
        with stage(tmp_path, "rtl"):
            raise ValueError("boom")
    rec = stage_record(tmp_path, "rtl")
    assert rec["status"] == "failed" and "boom" in rec["error"]
    assert not is_up_to_date(tmp_path, "rtl")
    with pytest.raises(KeyboardInterrupt):
        with stage(tmp_path, "sim"):
            raise KeyboardInterrupt
    assert stage_record(tmp_path, "sim")["status"] == "interrupted"
    assert not (tmp_path / "manifest.json").exists()


def test_missing_output_makes_stage_stale(tmp_path):
    with stage(tmp_path, "synth") as st:
        (tmp_path / "net.json").write_text("{}")
        st.output(tmp_path / "net.json")
    assert is_up_to_date(tmp_path, "synth")
    (tmp_path / "net.json").unlink()
    assert not is_up_to_date(tmp_path, "synth")


@pytest.mark.parametrize("name,expected", [
    ("dense_1/BiasAdd:0", "dense_1_BiasAdd_0"), ("0abc", "n_0abc"), ("", "n_"),
    ("a b;rm -rf /", "a_b_rm__rf__"), ("_x", "n_x"),
])
def test_sanitize_identifier(name, expected):
    assert sanitize_identifier(name) == expected


def test_failed_or_interrupted_rerun_keeps_the_last_complete_record(tmp_path):
    with stage(tmp_path, "sim", params={"samples": 10}) as st:
        st.result["mismatches"] = 0
    complete = stage_record(tmp_path, "sim")
    with pytest.raises(ValueError):
        with stage(tmp_path, "sim", params={"samples": 20}):
            raise ValueError("bad inputs file")
    failed = stage_record(tmp_path, "sim")
    assert failed["status"] == "failed" and failed["last_complete"] == "sim.last-complete.json"
    assert json.loads((tmp_path / "sim.last-complete.json").read_text()) == complete
    with pytest.raises(KeyboardInterrupt):  # a second failure keeps the same complete copy
        with stage(tmp_path, "sim", params={"samples": 30}):
            raise KeyboardInterrupt
    assert stage_record(tmp_path, "sim")["status"] == "interrupted"
    assert json.loads((tmp_path / "sim.last-complete.json").read_text()) == complete
    with stage(tmp_path, "sim", params={"samples": 40}) as st:  # a complete rerun supersedes it
        st.result["mismatches"] = 0
    assert stage_record(tmp_path, "sim")["status"] == "complete"
    assert not (tmp_path / "sim.last-complete.json").exists()


def test_report_summary_shows_a_stage_that_did_not_complete(tmp_path):
    from hwflow.report.summary import key_numbers

    with stage(tmp_path, "profile", params={}) as st:
        st.result["energy_per_inference_nj"] = 4.62
    assert ("energy/inference (nJ)", "4.62", "profile.json") in key_numbers(tmp_path)
    with pytest.raises(RuntimeError):
        with stage(tmp_path, "profile", params={"samples": 2}):
            raise RuntimeError("OpenSTA failed")
    rows = {what: value for what, value, _ in key_numbers(tmp_path)}
    assert rows["profile stage"].startswith("failed: RuntimeError: OpenSTA failed")
    assert "profile.last-complete.json" in rows["profile stage"]
    assert "energy/inference (nJ)" not in rows  # a failed record's numbers are not shown as results
