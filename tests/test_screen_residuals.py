"""The screen's residual model: features of real enumerated candidates, recovery of a composition-dependent error,
and round-by-round verification that re-ranks by the corrected predictions."""

from __future__ import annotations

import numpy as np
import pytest

from phenograd.optimize.screen_residuals import (
    ResidualModel,
    candidate_features,
    round_sizes,
    verify_in_rounds,
)
from phenograd.optimize.space import enumerate_space, load_space


def test_features_are_the_slab_and_first_shell_compositions(write_space):
    space = load_space(write_space())
    enum = enumerate_space(space)
    x = candidate_features(enum, space.metals)
    m = len(space.metals)
    assert x.shape == (len(enum.candidates), 2 * m)
    assert np.allclose(x[:, :m].sum(1), 1) and np.allclose(x[:, m:].sum(1), 1)
    assert set(np.round(x[:, m:] * 3).ravel().tolist()) <= {0.0, 1.0, 2.0, 3.0}  # three atoms of a (111) hollow
    for c in enum.candidates[:20]:
        symbols = enum.slabs[c.slab_index].get_chemical_symbols()
        assert x[c.index, :m] == pytest.approx([symbols.count(e) / len(symbols) for e in space.metals])
    # a unary slab's shell is that metal alone
    pure = [c for c in enum.candidates if len(set(enum.slabs[c.slab_index].get_chemical_symbols())) == 1]
    assert pure and all(x[c.index, m:].max() == 1 for c in pure)


def test_residual_model_learns_a_per_metal_error_from_few_points():
    rng = np.random.default_rng(0)
    x = rng.dirichlet(np.ones(4), size=400)
    e_pred = rng.normal(0, 0.5, 400)
    residual = 0.6 * x[:, 3] - 0.2 + rng.normal(0, 0.03, 400)  # the last metal underpredicted
    model = ResidualModel().fit(x[:15], residual[:15], e_pred[:15])
    error_after = np.abs(residual[15:] - model.predict(x[15:], e_pred[15:]))
    assert error_after.mean() < 0.5 * np.abs(residual[15:]).mean()
    assert np.allclose(ResidualModel().predict(x[:3], e_pred[:3]), 0)  # no verification: no correction


def test_round_sizes_split_the_budget():
    assert round_sizes(50, 5) == [10] * 5
    assert round_sizes(7, 3) == [3, 2, 2] and round_sizes(2, 5) == [1, 1]


def test_rounds_rerank_by_the_corrected_predictions():
    """Truth = prediction + 1 eV on candidates rich in metal 0: after the first round has seen that error, the
    later rounds pick candidates that are truly near the target, which the raw ranking misses."""
    rng = np.random.default_rng(1)
    n = 300
    x = np.hstack([rng.dirichlet(np.ones(2), size=n)] * 2)
    e_pred = rng.uniform(-2, 0, n)
    truth = e_pred + 1.0 * x[:, 0]
    target = -1.0
    calls = []

    def verify(indices):
        calls.append(list(indices))
        return {i: float(truth[i]) for i in indices}

    def pick(scores, k, last):
        return [int(i) for i in np.argsort(scores, kind="stable")[:k]]

    selected, corrected = verify_in_rounds(lambda e: np.abs(e - target), e_pred, x, np.zeros(n), 20, 4, verify, pick)
    assert [len(c) for c in calls] == [5, 5, 5, 5] and len(set(selected)) == 20
    assert calls[0] == pick(np.abs(e_pred - target), 5, False)  # round one: the raw ranking
    static = np.argsort(np.abs(e_pred - target), kind="stable")[:20]
    hits = lambda idx: int((np.abs(truth[idx] - target) <= 0.1).sum())  # noqa: E731
    assert hits(selected) > hits(static)
    assert np.abs(corrected - truth).mean() < 0.2 * np.abs(e_pred - truth).mean()
