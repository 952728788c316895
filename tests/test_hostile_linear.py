"""Issue #17: graph passes in linear time. ``load_model`` returns a ``LinearModelWrapper``
whose SortGraph / tensor renaming / shape look-ups use indexes instead of a scan per node;
the results must be exactly qonnx's."""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames, SortGraph

from hwflow.ir import clean_model, infer_fixed_point, ir_summary, load_model
from hwflow.ir.linear import LinearModelWrapper

sys.path.insert(0, str(Path(__file__).parent))
from hostile.make_corpus import Net  # noqa: E402


def _chain(n: int) -> bytes:
    net = Net()
    prev = "acc"
    for i in range(n):
        net.nodes.insert(4 + i, helper.make_node("Identity", [prev], [f"id{i}"], name=f"identity_{i}"))
        prev = f"id{i}"
    net.node("quant_out").input[0] = prev
    return net.bytes()


def _models(external_dir):
    yield "chain", load_model(_chain(50)).model
    for p in sorted(external_dir.glob("*.onnx")):
        yield p.name, load_model(p).model


def test_clean_model_is_identical_to_qonnx_passes(external_dir):
    for name, proto in _models(external_dir):
        a = clean_model(ModelWrapper(copy.deepcopy(proto)))
        b = clean_model(LinearModelWrapper(copy.deepcopy(proto)))
        assert isinstance(b, LinearModelWrapper)
        assert a.model.SerializeToString() == b.model.SerializeToString(), name


@pytest.mark.parametrize("seed", range(4))
def test_sort_and_names_identical_on_shuffled_graphs(external_dir, seed):
    rng = np.random.default_rng(seed)
    for name, proto in _models(external_dir):
        p = copy.deepcopy(proto)
        nodes = list(p.graph.node)
        rng.shuffle(nodes)
        del p.graph.node[:]
        p.graph.node.extend(nodes)
        x = ModelWrapper(copy.deepcopy(p)).transform(SortGraph(), cleanup=False)
        y = LinearModelWrapper(copy.deepcopy(p)).transform(SortGraph(), cleanup=False)
        assert x.model.SerializeToString() == y.model.SerializeToString(), name
        x = x.transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())
        y = y.transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())
        assert x.model.SerializeToString() == y.model.SerializeToString(), name


def test_identity_chain_has_no_per_node_scans(monkeypatch):
    """Count qonnx's scanning look-ups while inspecting a 1,000-node chain: a handful per
    pass (misses on initializers), not one per node and pass (was > 20,000)."""
    calls = {"find_producer": 0, "get_tensor_shape": 0}
    for meth in calls:
        orig = getattr(ModelWrapper, meth)

        def counted(self, *a, _orig=orig, _name=meth, **k):
            calls[_name] += 1
            return _orig(self, *a, **k)
        monkeypatch.setattr(ModelWrapper, meth, counted)
    m = clean_model(load_model(_chain(1000)))
    ir_summary(m, infer_fixed_point(m))
    assert calls["find_producer"] < 500, calls
    assert calls["get_tensor_shape"] < 2000, calls


def test_identity_chain_3000_inspects_in_seconds():
    t0 = time.process_time()
    m = clean_model(load_model(_chain(3000)))
    ir_summary(m, infer_fixed_point(m))
    cpu = time.process_time() - t0
    assert cpu < 40, f"{cpu:.1f} s CPU for 3,000 Identity nodes (quadratic passes took > 120 s)"
