"""EASE (Steck 2019): the closed form equals the constrained least-squares solution it stands for,
and on data with known structure it recovers the held-out title."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from services.recommendations.ease import choose_lambda, fit_ease, interaction_matrix


def _clusters() -> tuple[sp.csr_matrix, list[int]]:
    """40 users: the first 20 watched every title of cluster A (0-9) but one, the others every
    title of cluster B (10-19) but one; each also watched one title of the other cluster."""
    rows: list[tuple[int, int, float]] = []
    held = []
    for u in range(40):
        base = 0 if u < 20 else 10
        other = 10 if u < 20 else 0
        missing = base + u % 10
        held.append(missing)
        rows += [(u, base + j, 1.0) for j in range(10) if base + j != missing]
        rows.append((u, other + (u * 3) % 10, 1.0))
    return interaction_matrix(rows, (40, 20)), held


def test_ease_recovers_the_held_out_title_of_each_cluster() -> None:
    x, held = _clusters()
    model = fit_ease(x, lam=5.0)
    scores = model.scores(x)
    scores[x.toarray() > 0] = -np.inf  # rank only what the user has not watched
    assert [int(i) for i in scores.argmax(axis=1)] == held
    # the weights are item-item and never let an item explain itself
    assert model.weights.shape == (20, 20)
    assert np.all(np.diag(model.weights) == 0.0)
    # within a cluster items support each other; across clusters they do not
    assert model.weights[:10, :10].sum() > 0 and model.weights[10:, 10:].sum() > 0
    assert model.weights[:10, :10].sum() > model.weights[:10, 10:].sum()
    assert model.weights[1, 2] > model.weights[1, 12]


def test_closed_form_equals_the_per_item_ridge_regression() -> None:
    """B's column j is the ridge regression of item j on all other items (diag(B) = 0)."""
    rng = np.random.default_rng(2)
    x = (rng.random((60, 12)) < 0.3).astype(np.float64)
    lam = 3.0
    b = fit_ease(x, lam).weights.astype(np.float64)
    gram = x.T @ x
    for j in range(12):
        others = [i for i in range(12) if i != j]
        expected = np.linalg.solve(gram[np.ix_(others, others)] + lam * np.eye(11), gram[others, j])
        assert np.allclose(b[others, j], expected, atol=1e-5)
        assert b[j, j] == 0.0
    # sparse and dense inputs give the same model
    assert np.allclose(fit_ease(sp.csr_matrix(x), lam).weights, b, atol=1e-6)


def test_interaction_matrix_binarises_or_sums_repeats() -> None:
    rows = [(0, 1, 2.0), (0, 1, 3.0), (1, 0, 1.0)]
    assert interaction_matrix(rows, (2, 2)).toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]
    summed = interaction_matrix(rows, (2, 2), binary=False).toarray().tolist()
    assert summed == [[0.0, 5.0], [1.0, 0.0]]
    assert interaction_matrix([], (3, 4)).shape == (3, 4)


def test_lambda_is_chosen_by_the_validation_metric_and_must_be_positive() -> None:
    x, held = _clusters()
    dense = x.toarray()

    def hit_rate(model) -> float:
        scores = model.scores(x)
        scores[dense > 0] = -np.inf
        return float(np.mean(scores.argmax(axis=1) == np.array(held)))

    best, seen = choose_lambda(x, (1.0, 5.0, 1e6), hit_rate)
    assert set(seen) == {1.0, 5.0, 1e6}
    assert seen[5.0] == 1.0
    assert best.lam == max(seen, key=lambda lam: (seen[lam], -lam))
    with pytest.raises(ValueError, match="positive"):
        fit_ease(x, 0.0)
    with pytest.raises(ValueError, match="empty"):
        choose_lambda(x, (), hit_rate)
