"""Input samples -> integers on the RTL input grid (docs/INTERFACES.md section 4);
``PortFormat.pack`` makes the ``s_axis_tdata`` words of them.

``quantize_inputs`` puts real-valued samples on the RTL input grid
(x = q * scale * 2**-frac), rounding half away from zero and saturating to the element
range. The power flow only needs realistic bit patterns, so this is not the model's own
input quantizer (whose rounding mode may differ); co-simulation (``hwflow.sim``) instead
refuses values that are off the grid.
"""

from __future__ import annotations

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
