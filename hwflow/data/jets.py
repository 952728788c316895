"""SYNTHETIC jet-substructure-like data: 16 features, 5 classes.

This is NOT the hls4ml LHC jet dataset (which needs a download). It is a seeded toy with
the same shape: 16 standardised high-level features per jet and five classes
(g, q, W, Z, t). Each class has a few latent physics-like parameters (prong count, mass,
constituent multiplicity) from which the 16 features are computed with non-linear maps
and noise, so the classes overlap and an MLP has to learn something (W and Z differ only
by their mass peak, as in real data).
"""

from __future__ import annotations

import numpy as np

CLASSES = ("g", "q", "w", "z", "t")
FEATURES = (
    "j_zlogz", "j_c1_b0_mmdt", "j_c1_b1_mmdt", "j_c1_b2_mmdt", "j_c2_b1_mmdt",
    "j_c2_b2_mmdt", "j_d2_b1_mmdt", "j_d2_b2_mmdt", "j_d2_a1_b1_mmdt", "j_d2_a1_b2_mmdt",
    "j_m2_b1_mmdt", "j_m2_b2_mmdt", "j_n2_b1_mmdt", "j_n2_b2_mmdt", "j_mass_mmdt",
    "j_multiplicity",
)  # fmt: skip

# per class: (mass mean, mass sigma, prongs, multiplicity mean)
_CLASS_PARAMS = {
    0: (30.0, 20.0, 1.0, 45.0),  # gluon: light, wide, many constituents
    1: (20.0, 15.0, 1.0, 30.0),  # light quark
    2: (80.4, 9.0, 2.0, 35.0),  # W
    3: (91.2, 9.0, 2.0, 35.0),  # Z
    4: (172.0, 18.0, 3.0, 50.0),  # top
}


def _features(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(y)
    p = np.array([_CLASS_PARAMS[int(c)] for c in y])
    mass = np.abs(rng.normal(p[:, 0], p[:, 1]))
    prongs = p[:, 2] + rng.normal(0, 0.45, n)
    mult = rng.poisson(p[:, 3]).astype(float)
    tau = rng.normal(0, 1, (n, 16))
    f = np.empty((n, 16))
    f[:, 0] = -np.log1p(mult) * 0.8 + 0.3 * tau[:, 0]
    for k, beta in enumerate((0.0, 1.0, 2.0)):
        f[:, 1 + k] = np.exp(-0.6 * prongs) * (1 + beta * 0.2) + 0.08 * tau[:, 1 + k]
    f[:, 4] = np.tanh(prongs - 1.5) + 0.25 * tau[:, 4]
    f[:, 5] = np.tanh(prongs - 2.5) + 0.25 * tau[:, 5]
    for k in range(4):
        f[:, 6 + k] = 3.0 / (0.5 + prongs**2) + 0.3 * tau[:, 6 + k] + 0.1 * k
    f[:, 10] = np.log1p(mass) * (prongs > 1.5) + 0.3 * tau[:, 10]
    f[:, 11] = np.log1p(mass) * (prongs > 2.5) + 0.3 * tau[:, 11]
    f[:, 12] = 1.0 / (1.0 + np.exp(prongs - 2.0)) + 0.1 * tau[:, 12]
    f[:, 13] = 1.0 / (1.0 + np.exp(prongs - 3.0)) + 0.1 * tau[:, 13]
    f[:, 14] = mass + 4.0 * tau[:, 14]
    f[:, 15] = mult
    return f


def load(seed: int = 0, n_train: int = 20000, n_test: int = 5000, layout: str | None = None):
    """Balanced classes; features standardised with the training set's mean and std."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x1E7]))
    n = n_train + n_test
    y = rng.integers(0, len(CLASSES), n)
    x = _features(y, rng)
    mu, sd = x[:n_train].mean(0), x[:n_train].std(0) + 1e-9
    x = ((x - mu) / sd).astype(np.float32)
    return x[:n_train], y[:n_train].astype(np.int64), x[n_train:], y[n_train:].astype(np.int64)
