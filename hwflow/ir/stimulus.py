"""`make_stimulus`: seeded inputs on the grid each model input can actually take.

The grid comes from, in order: the input's QONNX datatype annotation; the quantizer(s)
that consume the input (their output levels); otherwise ``DEFAULT_INPUT_TYPE`` (the type
``clean_model`` gives an unquantized input). Corners first (0, maximum, most negative, the
two alternating max/min patterns), then uniform random integers of the type.
"""

from __future__ import annotations

import numpy as np

from hwflow.ir.fixed import FixedType

# the input type clean_model gives a float input that no quantizer guards (hls4ml's default)
DEFAULT_INPUT_TYPE = FixedType.from_range(-(2**15), 2**15 - 1, 10)


def input_types(model) -> dict[str, FixedType]:
    """FixedType of the values each graph input takes (what hardware receives)."""
    from hwflow.ir.analysis import GraphAnalysis, annotated_input_type
    from hwflow.ir.load import ensure_shapes

    model = ensure_shapes(model)
    init = {i.name for i in model.graph.initializer}
    res = {}
    ana = None
    for inp in model.graph.input:
        name = inp.name
        if name in init:
            continue
        t = annotated_input_type(model, name)
        if t is None:
            consumers = model.find_consumers(name) or []
            qs = [c for c in consumers if c.op_type in ("Quant", "IntQuant", "BipolarQuant")]
            if qs and len(qs) == len(consumers):
                if ana is None:
                    ana = GraphAnalysis(model)
                types = {ana.info[q.output[0]].fixed_type() for q in qs}
                if len(types) == 1:
                    t = types.pop()
        res[name] = t if t is not None and not t.is_float else DEFAULT_INPUT_TYPE
    return res


def stimulus_for_type(t: FixedType, shape: list[int], n: int, seed: int = 0, corners: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    feat = list(shape[1:])
    size = int(np.prod(feat)) if feat else 1
    if t.is_bipolar:
        lo_q, hi_q = -1, 1
        rand = rng.integers(0, 2, size=(n, size)) * 2 - 1
    else:
        lo_q, hi_q = t.int_min, t.int_max
        rand = rng.integers(lo_q, hi_q, size=(n, size), endpoint=True)
    rows = []
    if corners:
        zero = 1 if t.is_bipolar else 0  # 0 is not a bipolar value
        alt = np.where(np.arange(size) % 2 == 0, hi_q, lo_q)
        alt2 = np.where(np.arange(size) % 2 == 0, lo_q, hi_q)
        rows = [np.full(size, zero), np.full(size, hi_q), np.full(size, lo_q), alt, alt2]
    q = np.concatenate([np.array(rows, dtype=np.int64).reshape(-1, size), rand.astype(np.int64)])[:n]
    vals = q.astype(np.float64) * (1.0 if t.is_bipolar else np.ldexp(1.0, -t.frac))
    if t.scale != 1.0:
        vals = (vals * np.float32(t.scale)).astype(np.float32).astype(np.float64)
    return vals.reshape([len(vals)] + feat)


def make_stimulus(model, n: int = 1000, seed: int = 0, corners: bool = True):
    """n input samples (corners first when ``corners``) on each input's grid.

    Returns an array for a single-input model, else a dict name -> array.
    """
    from hwflow.ir.load import ensure_shapes

    model = ensure_shapes(model)
    types = input_types(model)
    out = {}
    for i, (name, t) in enumerate(types.items()):
        out[name] = stimulus_for_type(t, model.get_tensor_shape(name), n, seed + i, corners)
    if len(out) == 1:
        return next(iter(out.values()))
    return out
