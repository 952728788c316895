"""hwflow.data: shapes, determinism, value grids, HGCAL geometry."""

from __future__ import annotations

import numpy as np
import pytest

from hwflow.data import load_dataset, hgcal
from hwflow.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", ["digits", "hgcal", "jets"])
def test_deterministic_and_seed_dependent(name):
    a = load_dataset(name, seed=3)
    b = load_dataset(name, seed=3)
    c = load_dataset(name, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])


def test_digits_grid_and_shapes():
    xtr, ytr, xte, yte = load_dataset("digits")
    assert xtr.shape[1:] == (8, 8, 1) and len(xtr) + len(xte) == 1797
    assert set(np.unique(ytr)) == set(range(10))
    np.testing.assert_array_equal(xtr * 16, np.round(xtr * 16))  # exact k/16
    assert load_dataset("digits", layout="nchw")[0].shape[1:] == (1, 8, 8)


def test_hgcal_layout_normalisation_geometry():
    xtr, ytr, _, _ = load_dataset("hgcal", n_train=2000, n_test=10)
    assert xtr.shape == (2000, 8, 8, 1) and ytr is xtr
    assert not xtr[:, hgcal.unused_mask()].any()  # 16 unused positions always zero
    np.testing.assert_array_equal(xtr * 1024, np.floor(xtr * 1024))  # 10-bit grid
    assert xtr.max() < 1.0
    s = hgcal.image_to_cells(xtr).sum(1)
    assert s.max() <= 1.0 and s.min() > 0.5 - 48 / 1024  # shift normalisation (minus truncation)
    # geometry: 48 distinct centres; image neighbours are physical neighbours (pitch 2.4 cm)
    c = hgcal.CELL_CENTRES
    assert c.shape == (48, 2) and len(np.unique(np.round(c, 6), axis=0)) == 48
    d = np.linalg.norm(c[:, None] - c[None], axis=-1)
    rc = hgcal.CELL_ROWCOL
    nb = np.abs(rc[:, None] - rc[None]).sum(-1) == 1
    assert d[nb].max() <= np.sort(d, 1)[:, 1].max() + 1e-9
    cells = hgcal.image_to_cells(xtr)
    np.testing.assert_array_equal(hgcal.cells_to_image(cells), xtr)


def test_jets_classes_balanced_and_standardised():
    xtr, ytr, xte, yte = load_dataset("jets")
    assert xtr.shape[1] == 16 and set(np.unique(ytr)) == set(range(5))
    np.testing.assert_allclose(xtr.mean(0), 0, atol=1e-3)
    np.testing.assert_allclose(xtr.std(0), 1, atol=1e-3)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError, match="digits"):
        load_dataset("mnist")
