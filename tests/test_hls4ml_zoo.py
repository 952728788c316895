"""hls4ml C simulation equals the IR reference on the zoo models exported from QKeras and
Brevitas (``hwflow.frontends.export_zoo_model``): 1,000 samples + corners, 0 mismatches.

The default run checks the ECON-T encoder from both frameworks (io_parallel from QKeras,
io_stream from Brevitas); the full matrix (every model x framework, and io_stream for the
MLPs and the encoder) is ``-m slow`` (one C-sim compile each, 15-130 s on the shared machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _hls4ml_util import run_once

ZOO = ["econt", "jet_mlp", "digits_cnn", "digits_cnn_8bit", "digits_cnn_apriori", "biper_bnn"]
FRAMEWORKS = ["qkeras", "brevitas"]
N = 1000
DEFAULT = {("econt", "qkeras", "parallel"), ("econt", "brevitas", "stream")}
STREAM = [("econt", "qkeras"), ("econt", "brevitas"), ("jet_mlp", "qkeras"), ("jet_mlp", "brevitas")]

CASES = [(m, f, "parallel") for m in ZOO for f in FRAMEWORKS] + [(m, f, "stream") for m, f in STREAM]


@pytest.fixture(scope="session")
def zoo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("zoo")


def exported(zoo_dir: Path, name: str, framework: str) -> Path:
    from hwflow.frontends import export_zoo_model

    path = zoo_dir / f"{name}_{framework}.onnx"
    if not path.exists():
        export_zoo_model(name, framework, path, seed=0)
    return path


@pytest.mark.parametrize(
    "name,framework,io",
    [pytest.param(*c, id="-".join(c), marks=() if c in DEFAULT else pytest.mark.slow) for c in CASES],
)
def test_zoo_model_csim_bit_exact(zoo_dir, name, framework, io):
    model = exported(zoo_dir, name, framework)
    run = zoo_dir / f"run_{name}_{framework}_{io}"
    rec, err = run_once(f"zoo-{name}-{framework}-{io}", model, run, io=io, samples=N)
    assert err is None, f"{type(err).__name__}: {err}"
    assert rec["status"] == "complete"
    assert rec["csim"]["samples"] == N + 5
    assert rec["csim"]["mismatches"] == 0, rec["csim"]["first_mismatch"]
    assert rec["io_type"] == f"io_{io}"
    # every layer's types came from the IR and are recorded
    assert all(p["types"] for p in rec["precisions"])
