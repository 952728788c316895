"""Input samples -> packed ``s_axis_tdata`` words (CONTRACTS.md section 4), and back.

``quantize_inputs`` puts real-valued samples on the RTL input grid
(x = q * scale * 2**-frac), rounding half away from zero and saturating to the element
range: the power flow needs realistic bit patterns, and the model's own input quantizer,
where the run directory has one, is applied first by :func:`model_input_integers`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hwflow.backends.rtl.design import PortFormat
from hwflow.errors import ConfigError


def quantize_inputs(x: np.ndarray, fmt: PortFormat) -> np.ndarray:
    """Real values -> integers q on the input grid, shape (N, elements)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if x.shape[1] != fmt.elements:
        raise ConfigError(f"input samples have {x.shape[1]} elements per sample; the design takes {fmt.elements}")
    step = fmt.scale * 2.0 ** (-fmt.frac)
    q = np.sign(x) * np.floor(np.abs(x) / step + 0.5)
    lo, hi = fmt.int_min, fmt.int_max
    return np.clip(q, lo, hi).astype(np.int64)


def pack_words(q: np.ndarray, fmt: PortFormat) -> list[int]:
    """Integers (N, elements) -> one tdata word per sample, element 0 in the LSBs."""
    q = np.asarray(q, dtype=np.int64).reshape(len(q), -1)
    lo, hi = fmt.int_min, fmt.int_max
    if q.shape[1] != fmt.elements or q.min(initial=0) < lo or q.max(initial=0) > hi:
        raise ConfigError(f"integer inputs must have shape (N, {fmt.elements}) within [{lo}, {hi}]")
    mask = (1 << fmt.element_width) - 1
    words = []
    for row in q:
        w = 0
        for i, v in enumerate(row.tolist()):
            w |= (int(v) & mask) << (i * fmt.element_width)
        words.append(w)
    return words


def unpack_words(words: list[int], fmt: PortFormat) -> np.ndarray:
    mask = (1 << fmt.element_width) - 1
    out = np.zeros((len(words), fmt.elements), dtype=np.int64)
    for n, w in enumerate(words):
        for i in range(fmt.elements):
            v = (w >> (i * fmt.element_width)) & mask
            if fmt.signed and v >> (fmt.element_width - 1):
                v -= 1 << fmt.element_width
            out[n, i] = v
    return out


def write_hex(words: list[int], width: int, path: Path) -> Path:
    digits = max(1, (width + 3) // 4)
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))
    return path


def read_hex(path: Path) -> list[int]:
    return [int(line, 16) for line in Path(path).read_text().split() if line and "x" not in line.lower()]
