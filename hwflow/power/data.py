"""Where the samples that drive the gate-level simulation come from.

Power follows activity, so the stimulus matters: by default the test split of the model's
dataset (``dataset=`` name from :mod:`hwflow.data`), or a ``.npy`` file of real-valued
model inputs, or ``"zeros"`` (all-zero inputs: the lower bound of data-dependent power),
or, when nothing names the data, uniformly random integers over the input range (labelled
as such in the output: random data toggles more than real data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwflow.backends.rtl.design import PortFormat
from hwflow.errors import ConfigError
from hwflow.power.stimulus import quantize_inputs


@dataclass
class Stimulus:
    q: np.ndarray          # integers (N, elements) on the RTL input grid
    source: str            # what the samples are, for the assumptions list


def _to_rtl_layout(x: np.ndarray, fmt: PortFormat) -> np.ndarray:
    """Flatten samples in the C order of the QONNX input tensor (NCHW models from NHWC data)."""
    shape = tuple(fmt.shape[1:]) if len(fmt.shape) > 1 else ()
    if shape and x.shape[1:] != shape and x.ndim == 4 and len(shape) == 3 \
            and x.shape[1:] == (shape[1], shape[2], shape[0]):
        x = np.transpose(x, (0, 3, 1, 2))
    return x.reshape(len(x), -1)


def load_stimulus(fmt: PortFormat, samples: int, data: str | Path | np.ndarray | None = None,
                  dataset: str | None = None, seed: int = 0, boundary=None) -> Stimulus:
    """``boundary`` (hwflow.ir.boundary.Boundary of the run): model inputs given as ``data``
    go through the software before the hardware, as ``exec`` and ``sim`` run them."""
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}")
    if isinstance(data, str) and data == "zeros":
        return Stimulus(np.zeros((samples, fmt.elements), dtype=np.int64), "all-zero inputs")
    if data is not None:
        if isinstance(data, np.ndarray):
            x, src = data, "array given by the caller"
        else:
            p = Path(data)
            if not p.exists() or p.suffix != ".npy":
                raise ConfigError(f"--data must be an existing .npy file of model inputs (or 'zeros'): {p}")
            from hwflow.artifacts import load_array_file

            x, src = load_array_file(p, "--data file"), f"{p.name}"  # finite numbers, no pickles
            if isinstance(x, dict):
                raise ConfigError(f"--data {p} must be one array (.npy), not an .npz")
        if boundary is not None and (boundary.front is not None or boundary.layout is not None):
            x = np.asarray(x, dtype=np.float64)[:samples]
            per = int(np.prod(boundary.input_shape[1:]))
            if x.ndim < 1 or int(np.prod(x.shape[1:])) != per:
                raise ConfigError(f"--data samples of shape {list(x.shape[1:])} have {int(np.prod(x.shape[1:]))} "
                                  f"elements; the model takes {per} ({boundary.input_shape[1:]})")
            x = boundary.to_port(x)
            how = "through the software before the hardware (" + ", ".join(boundary.before_ops()) + ")"
        else:
            x, how = _to_rtl_layout(np.asarray(x, dtype=np.float64), fmt)[:samples], "rounded to the input grid"
        return Stimulus(quantize_inputs(x, fmt), f"{len(x)} samples of {src}, {how}")
    if dataset is not None:
        from hwflow.data import load_dataset

        _, _, x_test, _ = load_dataset(dataset, seed=seed)
        x = _to_rtl_layout(np.asarray(x_test, dtype=np.float64), fmt)[:samples]
        return Stimulus(quantize_inputs(x, fmt),
                        f"{len(x)} test samples of dataset '{dataset}', rounded to the input grid")
    lo, hi = fmt.int_min, fmt.int_max
    rng = np.random.default_rng(seed)
    return Stimulus(rng.integers(lo, hi + 1, size=(samples, fmt.elements)),
                    f"{samples} uniformly random input vectors (no dataset given: random data toggles "
                    "more than real data)")
