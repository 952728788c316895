"""Acceptance (slow: big Verilator builds): 10,000 samples (corners + random), 0
mismatches, for the external jet tagger and TFC and the zoo models from both frameworks
(the BiPer BNN folded: its Verilator model is compiled at -O2, ~10 min under load).
The default run co-simulates the BNN and a small MLP (test_sim_stream.py); these builds
take minutes each on a shared 2-core machine."""

from __future__ import annotations

import os

import pytest

from hwflow.backends.rtl import generate_rtl
from hwflow.sim import simulate

# biper_bnn: the conv BiPer BNN, folded by generate_rtl's "auto" architecture (II = 166)
ZOO = [("jet_mlp", "qkeras"), ("jet_mlp", "brevitas"), ("econt", "qkeras"), ("econt", "brevitas"),
       ("biper_bnn", "qkeras"), ("biper_bnn", "brevitas")]


def _check(model, run):
    generate_rtl(model, run)
    r = simulate(run, samples=10_000, seed=0)
    assert r["samples"] == 10_000 and r["mismatches"] == 0 and r["passed"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qkeras_jettagging.onnx", "TFC_2W2A.onnx"])
def test_external_model_10k(external_dir, tmp_path, name):
    _check(external_dir / name, tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("name,framework", ZOO)
def test_zoo_model_10k(tmp_path, name, framework):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from hwflow.frontends import export_zoo_model

    model = export_zoo_model(name, framework, tmp_path / f"{name}_{framework}.onnx", seed=0)
    _check(model, tmp_path / "run")
