"""SYNTHETIC HGCAL-like trigger-cell data for the ECON-T encoder.

This is NOT detector data. It is a seeded toy generator with the structure that matters
for the ECON-T autoencoder (CMS HGCAL, "A reconfigurable neural network ASIC for detector
front-end data compression at the HL-LHC"):

- Geometry: one hexagonal silicon module (circumradius ``MODULE_RADIUS_CM``) split into
  three rhombi of 4x4 trigger cells = 48 cells. ``CELL_CENTRES`` holds their (x, y)
  centres in cm, used as the ground metric of the energy mover's distance.
- Events: 0..n electromagnetic-shower-like deposits (lognormal energy, core + halo
  Gaussian lateral profile, centre uniform over a disc slightly larger than the module so
  showers can be partly contained), plus pile-up noise (sparse exponential deposits in
  every cell), digitised to integer charges.
- Normalisation as the ECON-T ASIC does it, by a shift: each cell charge is divided by
  ``2**ceil(log2(module sum))`` (so the normalised sum lies in (0.5, 1]), then truncated to
  a 10-bit unsigned fraction (value = k / 1024, k in 0..1023).
- Layout: the 48 cells are placed into the 8x8x1 ECON-T input; rhombus 0 in the top-left
  4x4 quadrant, rhombus 1 top-right, rhombus 2 bottom-left, oriented so that cells that
  touch across a rhombus border are neighbours in the image; the bottom-right quadrant
  (16 positions) is unused and always zero.
"""

from __future__ import annotations

import numpy as np

N_CELLS = 48
MODULE_RADIUS_CM = 9.6  # side of an 8-inch hexagonal module, roughly
INPUT_BITS = 10  # ECON-T encoder input: 10-bit unsigned fraction
INPUT_STEP = 2.0**-INPUT_BITS


def _rhombus_axes(k: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.deg2rad(120.0 * k), np.deg2rad(120.0 * k + 120.0)
    u = MODULE_RADIUS_CM * np.array([np.cos(a), np.sin(a)])
    w = MODULE_RADIUS_CM * np.array([np.cos(b), np.sin(b)])
    return u, w


def _placement(k: int, i: int, j: int) -> tuple[int, int]:
    """(row, col) in the 8x8 input of cell (i along u, j along w) of rhombus k.

    Rhombus 0 touches rhombus 1 along its i=0 cells and rhombus 2 along its j=0 cells;
    the orientations below put those pairs next to each other across the quadrant borders.
    """
    if k == 0:
        return 3 - j, 3 - i
    if k == 1:
        return 3 - i, 4 + j
    return 4 + i, 3 - j


def _geometry() -> tuple[np.ndarray, np.ndarray]:
    centres, rc = [], []
    for k in range(3):
        u, w = _rhombus_axes(k)
        for i in range(4):
            for j in range(4):
                centres.append((i + 0.5) / 4 * u + (j + 0.5) / 4 * w)
                rc.append(_placement(k, i, j))
    return np.asarray(centres), np.asarray(rc, dtype=np.int64)


#: (48, 2) cell centres in cm (module centre at the origin)
CELL_CENTRES, CELL_ROWCOL = _geometry()
#: cell area in cm^2 (hexagon area / 48)
CELL_AREA = 1.5 * np.sqrt(3.0) * MODULE_RADIUS_CM**2 / N_CELLS


def cells_to_image(cells: np.ndarray) -> np.ndarray:
    """(N, 48) -> (N, 8, 8, 1) ECON-T layout, unused positions zero."""
    cells = np.asarray(cells)
    img = np.zeros((cells.shape[0], 8, 8, 1), dtype=cells.dtype)
    img[:, CELL_ROWCOL[:, 0], CELL_ROWCOL[:, 1], 0] = cells
    return img


def image_to_cells(img: np.ndarray) -> np.ndarray:
    """(N, 8, 8, 1) or (N, 8, 8) or (N, 1, 8, 8) -> (N, 48) in ``CELL_CENTRES`` order."""
    img = np.asarray(img)
    if img.ndim == 4 and img.shape[1] == 1 and img.shape[-1] != 1:
        img = img[:, 0]
    elif img.ndim == 4:
        img = img[..., 0]
    return img[:, CELL_ROWCOL[:, 0], CELL_ROWCOL[:, 1]]


def unused_mask() -> np.ndarray:
    """(8, 8) boolean: True where the input position holds no trigger cell."""
    m = np.ones((8, 8), dtype=bool)
    m[CELL_ROWCOL[:, 0], CELL_ROWCOL[:, 1]] = False
    return m


def generate_charges(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 48) non-negative integer charges with a non-zero module sum."""
    out = np.zeros((n, N_CELLS))
    n_showers = rng.poisson(0.9, size=n) + (rng.random(n) < 0.8)
    max_sh = int(n_showers.max())
    for s in range(max_sh):
        active = n_showers > s
        m = int(active.sum())
        radius = 1.2 * MODULE_RADIUS_CM * np.sqrt(rng.random(m))
        phi = rng.uniform(0, 2 * np.pi, m)
        centre = np.stack([radius * np.cos(phi), radius * np.sin(phi)], axis=1)
        energy = np.exp(rng.normal(np.log(60.0), 0.9, m))
        core = rng.uniform(1.2, 2.0, m)[:, None]  # cm, Moliere-like core
        halo = 2.5 * core
        d2 = ((CELL_CENTRES[None, :, :] - centre[:, None, :]) ** 2).sum(-1)
        profile = 0.8 * np.exp(-d2 / (2 * core**2)) / (2 * np.pi * core**2) + 0.2 * np.exp(
            -d2 / (2 * halo**2)
        ) / (2 * np.pi * halo**2)
        out[active] += energy[:, None] * profile * CELL_AREA
    # pile-up: sparse exponential deposits in every cell
    pu_hit = rng.random((n, N_CELLS)) < 0.25
    out += pu_hit * rng.exponential(1.5, size=(n, N_CELLS))
    charges = np.floor(out + rng.random((n, N_CELLS)))  # stochastic digitisation
    empty = charges.sum(1) == 0
    charges[empty, rng.integers(0, N_CELLS, int(empty.sum()))] = 1.0
    return charges


def normalise(charges: np.ndarray) -> np.ndarray:
    """ECON-T style: divide by 2**ceil(log2(sum)) (a shift), truncate to 10 bits."""
    total = charges.sum(axis=1, keepdims=True)
    shift = np.ceil(np.log2(total))
    q = np.floor(charges * 2.0 ** (INPUT_BITS - shift))
    return np.minimum(q, 2**INPUT_BITS - 1) * INPUT_STEP


def load(seed: int = 0, n_train: int = 20000, n_test: int = 4000, layout: str = "nhwc"):
    """Returns (x_train, x_train, x_test, x_test): the target of an autoencoder is its input."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x4C]))
    x = cells_to_image(normalise(generate_charges(n_train + n_test, rng))).astype(np.float32)
    if layout == "nchw":
        x = x.transpose(0, 3, 1, 2)
    x_tr, x_te = np.ascontiguousarray(x[:n_train]), np.ascontiguousarray(x[n_train:])
    return x_tr, x_tr, x_te, x_te
