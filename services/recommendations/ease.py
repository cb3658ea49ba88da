"""EASE: the closed-form item-item model of Steck, "Embarrassingly Shallow Autoencoders for Sparse
Data" (WWW 2019).

With X the (users × items) interaction matrix, the item-item weights are

    B = argmin ||X − XB||² + λ||B||²  subject to diag(B) = 0
      = I − P · diagMat(1 / diag(P)),  P = (XᵀX + λI)⁻¹

and a user's scores are x_u B: every item scored by how well the user's history reconstructs it.
One dense (items × items) inverse: seconds for a few thousand items, numpy only. `lam` is the one
hyper-parameter; `choose_lambda` picks it with a validation metric.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["EaseModel", "choose_lambda", "fit_ease", "interaction_matrix"]


@dataclass(frozen=True)
class EaseModel:
    """Item-item weights (items × items, zero diagonal) and the λ they were fitted with."""

    weights: np.ndarray
    lam: float

    def scores(self, history: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores of every item for each row of `history` (users × items)."""
        if sp.issparse(history):
            return np.asarray(sp.csr_matrix(history) @ self.weights)
        return np.asarray(history, dtype=np.float64) @ self.weights


def fit_ease(x: sp.spmatrix | np.ndarray, lam: float) -> EaseModel:
    """Fit EASE on an interaction matrix `x` (users × items, implicit 0/1 or weights)."""
    if lam <= 0:
        raise ValueError("lam must be positive")
    if sp.issparse(x):
        csr = sp.csr_matrix(x, dtype=np.float64)
        gram = (csr.T @ csr).toarray()
    else:
        dense = np.asarray(x, dtype=np.float64)
        gram = dense.T @ dense
    gram[np.diag_indices_from(gram)] += lam
    p = np.linalg.inv(gram)
    b = p / (-np.diag(p))
    b[np.diag_indices_from(b)] = 0.0
    return EaseModel(b.astype(np.float32), lam)


def interaction_matrix(
    rows: Sequence[tuple[int, int, float]], shape: tuple[int, int], *, binary: bool = True
) -> sp.csr_matrix:
    """A CSR matrix from (user index, item index, weight); duplicates are summed (or set to 1)."""
    if not rows:
        return sp.csr_matrix(shape, dtype=np.float32)
    users = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    items = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    values = (
        np.ones(len(rows), dtype=np.float32)
        if binary
        else np.fromiter((r[2] for r in rows), dtype=np.float32, count=len(rows))
    )
    matrix = sp.csr_matrix((values, (users, items)), shape=shape)
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    return matrix


def choose_lambda(
    x: sp.spmatrix, grid: Sequence[float], quality: Callable[[EaseModel], float]
) -> tuple[EaseModel, dict[float, float]]:
    """Fit one model per λ of `grid` and keep the one `quality` (a validation metric) rates best."""
    best: EaseModel | None = None
    best_value = -np.inf
    seen: dict[float, float] = {}
    for lam in grid:
        model = fit_ease(x, lam)
        value = quality(model)
        seen[lam] = value
        if value > best_value:
            best, best_value = model, value
    if best is None:
        raise ValueError("empty λ grid")
    return best, seen
