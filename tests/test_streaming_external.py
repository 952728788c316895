"""Every model in ../shared/models/external, as its authors wrote it, on the streaming
architecture: 10,000 samples bit-exact in co-simulation, with the declared latency and II
measured (issue 14's acceptance; slow: a Verilator build per model)."""

import pytest

from hwflow.artifacts import read_json
from hwflow.backends.rtl import generate_rtl
from hwflow.frontends import export_file
from hwflow.sim.simulate import simulate

pytestmark = pytest.mark.slow

# model file, weights file (a QKeras .json architecture), folding (None: PE = SIMD = 1);
# TFC is folded only to keep its 784-input first layer from taking 53,488 cycles a sample
EXTERNAL = [
    ("TFC_2W2A.onnx", None, "16x16,16x16,16x16,10x16"),
    ("bnn_model_fc_1layer.onnx", None, None),
    ("qkeras_3layer.json", "qkeras_3layer_weights.h5", None),
    ("qkeras_jettagging.onnx", None, None),
]


@pytest.mark.parametrize("name,weights,folding", EXTERNAL, ids=[e[0] for e in EXTERNAL])
def test_external_model_streaming_10k(external_dir, tmp_path, name, weights, folding):
    model = external_dir / name
    if weights is not None:
        model = export_file(model, tmp_path / "model.onnx", weights=external_dir / weights)
    run = tmp_path / "run"
    generate_rtl(model, run, architecture="streaming", folding=folding)
    rec = read_json(run / "rtl.json")
    assert rec["pipeline"]["architecture"] == "streaming"
    r = simulate(run, samples=10_000, seed=0)
    assert r["samples"] == 10_000 and r["mismatches"] == 0 and r["passed"]
    assert r["latency_measured"] == [rec["latency_cycles"]] and r["ii_as_declared"]
