"""scikit-learn's bundled 8x8 digits (real data, shipped with scikit-learn, no download)."""

from __future__ import annotations

import numpy as np

from hwflow.errors import ConfigError

N_CLASSES = 10
# pixel values are integers 0..16; x/16 is exact with 4 fractional bits and lies in [0, 1]
PIXEL_SCALE = 1.0 / 16.0


def load(seed: int = 0, layout: str = "nhwc", test_fraction: float = 0.25):
    """Seeded stratified split of the 1,797 images; float32 values k/16 in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if layout not in ("nhwc", "nchw"):
        raise ConfigError(f"layout must be 'nhwc' or 'nchw', not {layout!r}")
    d = load_digits()
    x = (d.images.astype(np.float32) * PIXEL_SCALE)[:, :, :, None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    if layout == "nchw":
        x_tr, x_te = x_tr.transpose(0, 3, 1, 2), x_te.transpose(0, 3, 1, 2)
    return (np.ascontiguousarray(x_tr), y_tr, np.ascontiguousarray(x_te), y_te)
