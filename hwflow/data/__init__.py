"""Datasets for the model zoo, available without network access.

``load_dataset(name, seed=0) -> (x_train, y_train, x_test, y_test)``

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (real data), pixel values
  0..16 scaled by 1/16 (exact on a 4-fractional-bit grid), shape ``(N, 8, 8, 1)``
  (channels last; pass ``layout="nchw"`` for ``(N, 1, 8, 8)``), labels 0..9.
- ``hgcal``: SYNTHETIC HGCAL-like trigger-cell data for the ECON-T encoder
  (:mod:`hwflow.data.hgcal`): 48 cells arranged in the 8x8x1 ECON-T input layout, values
  on a 10-bit unsigned grid; the "labels" are the inputs themselves (autoencoder).
- ``jets``: SYNTHETIC jet-substructure-like data (:mod:`hwflow.data.jets`): 16 features,
  5 classes (g, q, W, Z, t); not the real hls4ml LHC jet dataset.

Every dataset is deterministic given ``seed``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hwflow.errors import ConfigError

from . import digits, hgcal, jets

_LOADERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = {
    "digits": digits.load,
    "hgcal": hgcal.load,
    "jets": jets.load,
}

DATASETS = tuple(sorted(_LOADERS))


def load_dataset(name: str, seed: int = 0, **kwargs):
    """Return ``(x_train, y_train, x_test, y_test)`` of the named dataset.

    Extra keyword arguments go to the dataset's loader (``layout=`` for image data,
    ``n_train=``/``n_test=`` for the synthetic generators).
    """
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}") from None
    return loader(seed=seed, **kwargs)


__all__ = ["load_dataset", "DATASETS", "hgcal", "jets", "digits"]
