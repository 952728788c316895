"""FixedType and ir.json."""

from __future__ import annotations

import json

import pytest

from hwflow.ir import FixedType, clean_model, infer_fixed_point, load_model, write_ir_json
from hwflow.ir.fixed import bits_for_range

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("lo,hi,signed,width", [
    (0, 0, False, 1), (0, 1, False, 1), (0, 255, False, 8), (0, 256, False, 9),
    (-1, 0, True, 1), (-1, 1, True, 2), (-128, 127, True, 8), (-129, 0, True, 9), (-128, 128, True, 9),
    (-5, 3, True, 4), (-4, 3, True, 3), (-3, 4, True, 4),
])
def test_bits_for_range(lo, hi, signed, width):
    assert bits_for_range(lo, hi) == (signed, width)
    t = FixedType.from_range(lo, hi, 0)
    assert (t.signed, t.width, t.int_min, t.int_max) == (signed, width, lo, hi)


def test_hls_types():
    assert FixedType.from_range(-512, 511, 6).hls_type() == "ap_fixed<10,4>"
    assert FixedType.from_range(-32, 31, 0).hls_type() == "ap_int<6>"
    assert FixedType.from_range(0, 1, 0).hls_type() == "ap_uint<1>"
    assert FixedType.from_range(0, 63, 6).hls_type() == "ap_ufixed<6,0>"
    assert FixedType.from_range(0, 12, -2).hls_type() == "ap_ufixed<4,6>"  # values 0..48 in steps of 4
    assert FixedType.bipolar().hls_type() == "ap_int<2>" and FixedType.bipolar().is_bipolar
    assert FixedType.float32().hls_type() == "float" and not FixedType.float32().is_power_of_two


def test_values_and_json_round_trip():
    t = FixedType.from_range(-20, 24, 5)
    assert t.step == 2.0 ** -5 and t.min_value == -20 / 32 and t.max_value == 24 / 32
    assert t.is_power_of_two and t.int_bits == t.width - 5
    s = FixedType.from_range(-7, 7, 0, scale=0.3)
    assert not s.is_power_of_two and s.to_json()["power_of_two"] is False
    for x in (t, s, FixedType.bipolar(), FixedType.float32()):
        d = json.loads(json.dumps(x.to_json()))
        assert FixedType.from_json(d) == x
    with pytest.raises(Exception):
        t.width = 3  # frozen


def test_ir_json_next_to_model(external_dir, tmp_path):
    m = clean_model(load_model(external_dir / "qkeras_jettagging.onnx"))
    m.save(str(tmp_path / "model.onnx"))
    p = write_ir_json(m, tmp_path / "model.onnx")
    assert p == tmp_path / "ir.json"
    d = json.loads(p.read_text())
    types = infer_fixed_point(m)
    assert set(d["tensors"]) == set(types)
    for name, entry in d["tensors"].items():
        assert FixedType.from_json(entry["type"]) == types[name]
    macs = {n["name"]: n["macs"] for n in d["nodes"] if n["op_type"] == "MatMul"}
    assert sorted(macs.values()) == sorted([16 * 64, 64 * 32, 32 * 32, 32 * 5])
    assert d["total_macs"] == sum(macs.values())


def test_first_layer_accumulator_bounds_are_attained(external_dir):
    """Tight, not only safe: the worst-case input of the first MatMul reaches int_max and
    int_min of the inferred accumulator type exactly (the next layers' bounds are safe
    over-approximations since their inputs are not independent)."""
    import numpy as np

    from hwflow.ir import ReferenceExecutor

    m = clean_model(load_model(external_dir / "qkeras_jettagging.onnx"))
    types = infer_fixed_point(m)
    ex = ReferenceExecutor(m)
    mm = [n for n in m.graph.node if n.op_type == "MatMul"][0]
    t, tx = types[mm.output[0]], types[mm.input[0]]
    w = ex.consts[mm.input[1]]
    col_hi = int(np.argmax(np.where(w > 0, w * tx.max_value, w * tx.min_value).sum(axis=0)))
    col_lo = int(np.argmin(np.where(w > 0, w * tx.min_value, w * tx.max_value).sum(axis=0)))
    x_hi = np.where(w[:, col_hi] > 0, tx.max_value, tx.min_value)[None]
    x_lo = np.where(w[:, col_lo] > 0, tx.min_value, tx.max_value)[None]
    acc = ex.run(np.concatenate([x_hi, x_lo]), intermediate=True)[mm.output[0]]
    assert acc[0, col_hi] == t.max_value
    assert acc[1, col_lo] == t.min_value
