"""Between real-valued tensors and the integers q of the stream's elements (docs/INTERFACES.md
section 4): x = q * scale * 2**-frac, within the port's value range (``int_min``/``int_max``
of rtl.json where given, else the element width's). Plus stimulus and the reference
outputs. Packing q into beats is ``PortFormat.pack``/``unpack``
(hwflow.backends.rtl.design); their hex files, hwflow.backends.rtl.words."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwflow.errors import ConfigError


def _range(port: dict) -> tuple[int, int]:
    w, signed = int(port["element_width"]), bool(port["signed"])
    lo = -(1 << (w - 1)) if signed else 0
    hi = (1 << (w - 1)) - 1 if signed else (1 << w) - 1
    if port.get("int_min") is not None:
        lo, hi = max(lo, int(port["int_min"])), min(hi, int(port["int_max"]))
    return lo, hi


def _step(port: dict) -> float:
    return float(port.get("scale", 1.0)) * 2.0 ** -int(port["frac"])


def to_int(port: dict, x: np.ndarray, what: str, strict: bool = True) -> np.ndarray | None:
    """Real values -> integers q (n, elements). strict: raise ConfigError for values off
    the grid or out of range; otherwise return None for them (caller reports mismatches)."""
    n = len(x)
    q = np.asarray(x, dtype=np.float64).reshape(n, -1) / _step(port)
    qi = np.round(q)
    lo, hi = _range(port)
    bad = (qi != q) | (qi < lo) | (qi > hi) | ~np.isfinite(q)
    if np.any(bad):
        if not strict:
            return None
        s, e = np.argwhere(bad)[0]
        raise ConfigError(
            f"{what} sample {s} element {e} = {float(np.asarray(x).reshape(n, -1)[s, e])!r} is not on the "
            f"port grid (step {_step(port)}, integer range [{lo}, {hi}])"
        )
    if q.shape[1] != int(port["elements"]):
        raise ConfigError(f"{what}: {q.shape[1]} elements per sample, the port has {port['elements']}")
    if max(abs(lo), abs(hi)) < 2**53:   # every float64 integer here converts exactly
        return qi.astype(np.int64)
    return qi.astype(object).astype(np.int64) if hi < 2**62 else qi.astype(object)


def port_ints(port: dict, q: np.ndarray) -> np.ndarray:
    """The port's integers as given (``--raw``): whole numbers within its range, else ConfigError."""
    return to_int({**port, "frac": 0, "scale": 1.0}, q, "raw input")


def to_real(port: dict, q: np.ndarray) -> np.ndarray:
    return np.asarray(q, dtype=np.float64) * _step(port)


def corner_ints(lo: int, hi: int, n_el: int) -> list[np.ndarray]:
    """0, max, most negative (min), and the two alternating max/min patterns."""
    alt = np.array([hi if i % 2 == 0 else lo for i in range(n_el)])
    rows = [np.zeros(n_el, dtype=np.int64), np.full(n_el, hi), np.full(n_el, lo), alt, np.where(alt == hi, lo, hi)]
    if lo <= 0 <= hi:
        rows.append(np.array([hi if i % 2 == 0 else 0 for i in range(n_el)]))
    return rows


def make_inputs(rtl: dict, model_path: Path, samples: int, seed: int) -> np.ndarray:
    """Corners then seeded random inputs on the input port's grid (real values)."""
    port = rtl["input"]
    shape = (samples, *port["shape"][1:])
    if port.get("format_source") == "ir":
        from hwflow.ir import load_model, make_stimulus

        x = make_stimulus(load_model(str(model_path)), n=samples, seed=seed, corners=True)
        return np.asarray(x, dtype=np.float64).reshape(shape)
    lo, hi = _range(port)
    n_el = int(port["elements"])
    rows = corner_ints(lo, hi, n_el)[:samples]
    rng = np.random.default_rng(seed)
    rest = rng.integers(lo, hi + 1, size=(samples - len(rows), n_el), dtype=np.int64)
    q = np.concatenate([np.array(rows, dtype=np.int64).reshape(-1, n_el), rest])
    return to_real(port, q).reshape(shape)


def check_inputs(rtl: dict, x: np.ndarray) -> np.ndarray:
    port = rtl["input"]
    x = np.asarray(x, dtype=np.float64)
    per = int(port["elements"])
    if x.size % per or x.ndim < 1:
        raise ConfigError(f"inputs of shape {x.shape} do not split into samples of {per} elements")
    return x.reshape((-1, *port["shape"][1:]))


def reference(model_path: Path, x: np.ndarray) -> np.ndarray:
    """Outputs of the reference executor (the one judge) for a batch of inputs (float64)."""
    from hwflow.ir import ReferenceExecutor, load_model

    ex = ReferenceExecutor(load_model(str(model_path)))
    # in chunks: bounded memory for 10^6 samples (the executor refuses one batch that large)
    return np.asarray(ex.run_batched(x), dtype=np.float64)
