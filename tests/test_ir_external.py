"""The three external QONNX models: our executor vs qonnx execute_onnx, every tensor."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.ir import ReferenceExecutor, clean_model, infer_fixed_point, load_model, make_stimulus

from _ir_util import compare_every_tensor, execute_onnx_batched, execute_onnx_samples

MODELS = ["qkeras_jettagging.onnx", "bnn_model_fc_1layer.onnx", "TFC_2W2A.onnx"]
PER_TENSOR_SAMPLES = {"qkeras_jettagging.onnx": 100, "bnn_model_fc_1layer.onnx": 200, "TFC_2W2A.onnx": 50}


@pytest.fixture(scope="module", params=MODELS)
def cleaned(request, external_dir):
    raw = load_model(external_dir / request.param)
    return request.param, raw, clean_model(raw)


def test_every_tensor_matches_execute_onnx(cleaned):
    name, raw, m = cleaned
    n = PER_TENSOR_SAMPLES[name]
    ex = ReferenceExecutor(m)
    x = make_stimulus(m, n=n, seed=1)
    bad, checked = compare_every_tensor(m, ex, x)
    assert all(o in checked for n in m.graph.node for o in n.output)
    assert not bad, f"{name}: mismatching tensors {bad}"


def test_every_tensor_1000_batched(cleaned):
    """1,000 seeded inputs + corners, every tensor, against execute_onnx run on the whole
    batch (ChangeBatchSize: the same node-by-node semantics, fast)."""
    name, raw, m = cleaned
    ex = ReferenceExecutor(m)
    x = make_stimulus(m, n=1000, seed=0)
    ours = ex.run(x, intermediate=True)
    ref = execute_onnx_batched(m, x, full=True)
    compared = 0
    for t, v in ref.items():
        if v is None or t in ex.consts or t not in ours:
            continue
        assert np.array_equal(ours[t], np.asarray(v, dtype=np.float64).reshape(ours[t].shape)), t
        compared += 1
    assert compared >= len([n for n in m.graph.node if n.output[0] not in ex.consts])


@pytest.mark.slow
def test_every_tensor_1000_per_sample(cleaned):
    """The acceptance run: 1,000 inputs, execute_onnx sample by sample, every tensor."""
    name, raw, m = cleaned
    ex = ReferenceExecutor(m)
    x = make_stimulus(m, n=1000, seed=0)
    bad, checked = compare_every_tensor(m, ex, x)
    assert not bad, f"{name}: mismatching tensors {bad}"


def test_corners_come_first(cleaned):
    name, raw, m = cleaned
    x = make_stimulus(m, n=10, seed=0)
    flat = x.reshape(len(x), -1)
    t = infer_fixed_point(m)[m.graph.input[0].name]
    assert len(x) == 10
    assert np.all(flat[1] == t.max_value) and np.all(flat[2] == t.min_value)
    assert flat[3][0] == t.max_value and flat[3][1] == t.min_value
    if not t.is_bipolar:
        assert np.all(flat[0] == 0)
    # every value on the grid and in range
    q = flat / t.step
    assert np.array_equal(q, np.round(q)) and q.min() >= t.int_min and q.max() <= t.int_max


def test_types_hold_every_observed_value(cleaned):
    """Each tensor's observed integer values lie in [int_min, int_max] of its FixedType,
    and the range is attained at its ends for the tight MAC bounds of random inputs."""
    name, raw, m = cleaned
    types = infer_fixed_point(m)
    ex = ReferenceExecutor(m)
    vals = ex.run(make_stimulus(m, n=2000, seed=3), intermediate=True)
    for tname, v in vals.items():
        t = types[tname]
        if t.is_float:
            continue
        q = np.asarray(v, dtype=np.float64) / t.step
        assert np.array_equal(q, np.round(q)), f"{tname} off its grid {t}"
        assert q.min() >= t.int_min and q.max() <= t.int_max, f"{tname}: {q.min()}..{q.max()} outside {t}"
        assert t.signed == (t.int_min < 0)
        lim_lo = -(2 ** (t.width - 1)) if t.signed else 0
        lim_hi = 2 ** (t.width - 1) - 1 if t.signed else 2 ** t.width - 1
        assert lim_lo <= t.int_min and t.int_max <= lim_hi


def test_clean_keeps_outputs(cleaned, external_dir):
    """Original model (with pre-processing) and cleaned model give the same outputs."""
    from hwflow.ir.clean import split_preprocessing

    name, raw, m = cleaned
    pre, _core = split_preprocessing(raw)
    x_core = make_stimulus(m, n=40, seed=5)
    if pre is None:
        x_raw = x_core
    else:
        x_raw = make_raw_inputs_for(pre, raw, 40)
        x_core = np.concatenate([r[pre.graph.output[0].name] for r in execute_onnx_samples(pre, x_raw, full=False)])
    ref_raw = np.concatenate([r[raw.graph.output[0].name] for r in execute_onnx_samples(raw, x_raw, full=False)])
    ref_clean = np.concatenate([r[m.graph.output[0].name] for r in execute_onnx_samples(m, x_core, full=False)])
    assert np.array_equal(ref_raw, ref_clean)
    assert np.array_equal(ReferenceExecutor(m).run(x_core), ref_clean.astype(np.float64))


def make_raw_inputs_for(pre, raw, n):
    """Inputs of a model with pre-processing: pixel-like values k/255 in [0, 1]."""
    shape = pre.get_tensor_shape(pre.graph.input[0].name)
    rng = np.random.default_rng(7)
    return (rng.integers(0, 256, size=[n] + list(shape[1:])) / 255.0).astype(np.float32)


def test_executor_runs_models_as_loaded(external_dir):
    """No clean-up: the executor folds the exporters' shape arithmetic itself and matches
    execute_onnx on every remaining tensor of the original graph (float pixels for TFC)."""
    for name in MODELS:
        raw = load_model(external_dir / name)
        ex = ReferenceExecutor(raw)
        shape = raw.get_tensor_shape(ex.inputs[0])
        if name == "TFC_2W2A.onnx":
            x = np.random.default_rng(0).random([20] + shape[1:]).astype(np.float32)
        else:
            x = make_stimulus(raw, n=20, seed=2)
        bad, checked = compare_every_tensor(raw, ex, x)
        assert not bad, (name, bad)
        assert len(checked) > len(raw.graph.node) // 2
