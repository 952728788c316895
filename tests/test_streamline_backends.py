"""Acceptance of streamlining in hardware: models as their authors write them (Brevitas default
float-scale quantizers with BatchNorm1d / BatchNorm2d + max-pooling / BN before a sign, and a
FINN-style graph with BatchNormalization nodes) go through hls4ml C simulation and through the
RTL backend + Verilator co-simulation with 0 mismatches against the reference, on 1,000 random
and corner samples each (default run, small widths); the 8-bit Brevitas defaults and seeds
at 10,000 samples are the slow set."""

from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # hls4ml imports TensorFlow

import pytest  # noqa: E402

from _streamline_models import BUILDERS, build  # noqa: E402

MODELS = sorted(BUILDERS)


def _hls(model, run, samples):
    from hwflow.backends.hls4ml import HLSOptions, run_hls

    rec = run_hls(model, run, HLSOptions(io_type="io_parallel"), samples=samples, seed=0)
    assert rec["status"] == "complete"
    check = rec["csim"] if "csim" in rec else rec
    assert check["mismatches"] == 0 and check["samples"] >= samples
    return rec


def _rtl_sim(model, run, samples):
    from hwflow.backends.rtl import generate_rtl
    from hwflow.sim import simulate

    rtl = generate_rtl(model, run)
    r = simulate(run, samples=samples, seed=0)
    assert r["samples"] == samples and r["mismatches"] == 0 and r["passed"]
    return rtl, r


@pytest.mark.parametrize("name", MODELS)
def test_streamlined_model_hls_csim_bit_exact(tmp_path, name):
    _hls(build(name, tmp_path), tmp_path / "hls", 1000)


@pytest.mark.parametrize("name", MODELS)
def test_streamlined_model_rtl_cosim_bit_exact(tmp_path, name):
    import json

    rtl, _ = _rtl_sim(build(name, tmp_path), tmp_path / "rtl", 1000)
    rec = json.loads(rtl.read_text())
    assert any(t["transformation"] == "FoldFloatIntoThresholds" for t in rec["streamlining"])


# the 8-bit CNN fully parallel is 255 comparators per channel at every pixel: hours of
# Verilator here, so the CNN takes a second small seed instead of its full size
SLOW = [(n, s, seed) for n in MODELS for s, seed in (("full", 0), ("small", 1))
        if (n, s) != ("brevitas_cnn_bn_pool", "full")] + [("brevitas_cnn_bn_pool", "small", 2)]


@pytest.mark.slow
@pytest.mark.parametrize("name,size,seed", SLOW)
def test_streamlined_model_10k(tmp_path, name, size, seed):
    model = build(name, tmp_path, seed=seed, size=size)
    _hls(model, tmp_path / "hls", 10_000)
    _rtl_sim(model, tmp_path / "rtl", 10_000)


@pytest.mark.parametrize("name", ["finn_style_mlp"])
def test_streamlined_model_on_streaming_architecture(tmp_path, name):
    """The folded streaming MVUs take the streamlined graph too (integer weights in ROM,
    MultiThreshold tails): 0 mismatches on 1,000 samples with back-pressure."""
    import json

    from hwflow.backends.rtl import generate_rtl
    from hwflow.sim import simulate

    rtl = json.loads(generate_rtl(build(name, tmp_path), tmp_path / "rtl", architecture="streaming").read_text())
    assert rtl["pipeline"]["architecture"] == "streaming" and rtl["ii"] > 1
    r = simulate(tmp_path / "rtl", samples=1000, seed=0)
    assert r["samples"] == 1000 and r["mismatches"] == 0 and r["passed"]
