"""ECON-T training loss and metric on the 48 trigger cells (numpy + torch).

- Telescope loss (after fastml-science ``telescopeMSE2``): squared error weighted by
  ``max(true, pred)``, at three granularities -- the 48 trigger cells, 2x2 super-cells (12:
  each rhombus of 4x4 cells split into four 2x2 blocks) and 4x4 super-cells (the 3 rhombi)
  -- combined as ``4 * TC + 2 * (2x2) + 1 * (4x4)``. (The original also uses overlapping
  2x2 windows; here the 2x2 blocks do not overlap.)
- Energy mover's distance between the input and the reconstruction, both as energy
  distributions over the 48 cell centres (negative reconstructed charge clipped to 0,
  each normalised to unit sum), ground distance = Euclidean distance between cell centres
  in cm: the optimal-transport linear programme solved exactly by scipy's HiGHS (POT is not
  installed; the problem is small).
"""

from __future__ import annotations

import numpy as np

from hwflow.data.hgcal import CELL_CENTRES, CELL_ROWCOL, N_CELLS


def _groups() -> tuple[np.ndarray, np.ndarray]:
    """(48 x 12) and (48 x 3) 0/1 matrices mapping cells to 2x2 and 4x4 super-cells."""
    m2 = np.zeros((N_CELLS, 12))
    m4 = np.zeros((N_CELLS, 3))
    for c in range(N_CELLS):
        k, rest = divmod(c, 16)  # cells are ordered rhombus k, then i (4), then j (4)
        i, j = divmod(rest, 4)
        m2[c, 4 * k + 2 * (i // 2) + (j // 2)] = 1.0
        m4[c, k] = 1.0
    return m2, m4


REMAP_2X2, REMAP_4X4 = _groups()
_FLAT_INDEX = CELL_ROWCOL[:, 0] * 8 + CELL_ROWCOL[:, 1]


def cells_torch(img):
    """(N, 1, 8, 8) or (N, 8, 8, 1) torch tensor -> (N, 48) in ``CELL_CENTRES`` order."""
    import torch

    if img.dim() == 4 and img.shape[-1] == 1 and img.shape[1] != 1:
        img = img[..., 0]
    elif img.dim() == 4:
        img = img[:, 0]
    idx = torch.as_tensor(_FLAT_INDEX, device=img.device)
    return img.reshape(img.shape[0], 64)[:, idx]


def telescope_loss_torch(true_img, pred_img):
    """Telescope MSE (mean over the batch) between two image batches; differentiable."""
    import torch

    t, p = cells_torch(true_img), cells_torch(pred_img)
    r2 = torch.as_tensor(REMAP_2X2, dtype=t.dtype, device=t.device)
    r4 = torch.as_tensor(REMAP_4X4, dtype=t.dtype, device=t.device)

    def term(a, b):
        return ((a - b) ** 2 * torch.maximum(a, b)).mean(dim=1)

    loss = 4 * term(t, p) + 2 * term(t @ r2, p @ r2) + term(t @ r4, p @ r4)
    return loss.mean()


def _ground_metric() -> np.ndarray:
    d = CELL_CENTRES[:, None, :] - CELL_CENTRES[None, :, :]
    return np.sqrt((d**2).sum(-1))


GROUND = _ground_metric()


def emd(a: np.ndarray, b: np.ndarray) -> float:
    """EMD (cm) between two non-negative 48-cell charge vectors (normalised here)."""
    from scipy.optimize import linprog

    a = np.clip(np.asarray(a, dtype=np.float64), 0, None)
    b = np.clip(np.asarray(b, dtype=np.float64), 0, None)
    if a.sum() <= 0 or b.sum() <= 0:
        return float("nan")
    a, b = a / a.sum(), b / b.sum()
    # only cells with mass take part (smaller programme, same optimum)
    ia, ib = np.nonzero(a > 0)[0], np.nonzero(b > 0)[0]
    na, nb = len(ia), len(ib)
    cost = GROUND[np.ix_(ia, ib)].ravel()
    a_eq = np.zeros((na + nb, na * nb))
    for r in range(na):
        a_eq[r, r * nb : (r + 1) * nb] = 1.0
    for c in range(nb):
        a_eq[na + c, c::nb] = 1.0
    b_eq = np.concatenate([a[ia], b[ib]])
    res = linprog(cost, A_eq=a_eq[:-1], b_eq=b_eq[:-1], bounds=(0, None), method="highs")
    if not res.success:  # pragma: no cover - the transport problem is always feasible
        return float("nan")
    return float(res.fun)


def emd_batch(true_cells: np.ndarray, pred_cells: np.ndarray) -> np.ndarray:
    return np.array([emd(t, p) for t, p in zip(true_cells, pred_cells)])


__all__ = ["telescope_loss_torch", "cells_torch", "emd", "emd_batch", "REMAP_2X2", "REMAP_4X4", "GROUND"]
