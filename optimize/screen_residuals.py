"""Learn the surrogate's error on a screened space from the candidates verified so far.

    from phenograd.optimize.screen_residuals import candidate_features, ResidualModel
    x = candidate_features(enum, metals)             # (C, F)
    model = ResidualModel().fit(x[done], e_verified[done] - e_pred[done], e_pred[done])
    e_corrected = e_pred + model.predict(x, e_pred)

A surrogate's error on a new space is not noise: it is largely a function of which metals make the slab and
which bind the adsorbate (on CHGNet's O-on-binaries space the shipped model underpredicts Au- and Ag-rich slabs
by tenths of an eV). A Bayesian linear model of the residual (verified minus predicted E_ads, eV) on

    [1, the slab's composition (M fractions), the adsorbate's first shell (M fractions), E_pred - mean(E_pred)]

learns that from a handful of verifications; the last feature carries a scale error of the surrogate. The
prior std of the weights and the noise std are chosen by the marginal likelihood on a small grid. Screening in
rounds (screen(residual_rounds=...)) re-ranks by the corrected predictions after each round.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from .space import Enumeration

WEIGHT_SDS = (0.1, 0.3, 1.0)  # eV per unit feature: prior std of the weights
NOISE_SDS = (0.05, 0.1, 0.2, 0.4)  # eV: the scatter no feature explains
# top-layer atoms that bind an adsorbate on each kind of site (fcc and hcp hollows of (111): 3)
FIRST_SHELL = {"ontop": 1, "bridge": 2, "hollow": 4}


def candidate_features(enum: Enumeration, metals) -> np.ndarray:
    """(C, 2M) per candidate: its slab's composition over `metals` (M,) and that of its site's first shell (the
    FIRST_SHELL top-layer atoms nearest the site, minimum image; 3 for fcc and hcp), each as fractions."""
    metals = list(metals)
    out = np.zeros((len(enum.candidates), 2 * len(metals)))
    per_slab: dict[int, tuple] = {}
    for c in enum.candidates:
        if c.slab_index not in per_slab:
            slab = enum.slabs[c.slab_index]
            symbols = np.array(slab.get_chemical_symbols())
            z = slab.positions[:, 2]
            top = np.flatnonzero(z > z.max() - 0.5)
            composition = np.array([(symbols == m).mean() for m in metals])
            per_slab[c.slab_index] = (slab, symbols, top, composition)
        slab, symbols, top, composition = per_slab[c.slab_index]
        cell = slab.cell[:2, :2]
        frac = np.linalg.solve(cell.T, (slab.positions[top, :2] - np.asarray(c.site_xy)[None]).T).T
        frac -= np.round(frac)
        shell = symbols[
            top[np.argsort(np.linalg.norm(frac @ cell, axis=1), kind="stable")[: FIRST_SHELL.get(c.site, 3)]]
        ]
        out[c.index, : len(metals)] = composition
        out[c.index, len(metals) :] = [(shell == m).mean() for m in metals]
    return out


class ResidualModel:
    """Bayesian linear regression of residuals (eV) on candidate features and the centred prediction."""

    def __init__(self):
        self.weights = None
        self.centre = 0.0

    def _design(self, x: np.ndarray, e_pred: np.ndarray) -> np.ndarray:
        x, e_pred = np.asarray(x, float), np.asarray(e_pred, float)
        return np.hstack([np.ones((len(x), 1)), x, (e_pred - self.centre)[:, None]])

    def fit(self, x: np.ndarray, residual: np.ndarray, e_pred: np.ndarray) -> ResidualModel:
        """Condition on verified candidates: features x (n, F), residuals (n,) eV, predictions e_pred (n,) eV."""
        residual = np.asarray(residual, float)
        if len(residual) == 0:
            self.weights = None
            return self
        self.centre = float(np.mean(e_pred))
        a = self._design(x, e_pred)

        def log_evidence(prior_sd: float, noise_sd: float) -> float:
            k = prior_sd**2 * a @ a.T + noise_sd**2 * np.eye(len(residual))
            chol = np.linalg.cholesky(k)
            z = np.linalg.solve(chol, residual)
            return -0.5 * z @ z - np.log(np.diag(chol)).sum()

        prior_sd, noise_sd = max(itertools.product(WEIGHT_SDS, NOISE_SDS), key=lambda g: log_evidence(*g))
        precision = a.T @ a / noise_sd**2 + np.eye(a.shape[1]) / prior_sd**2
        self.weights = np.linalg.solve(precision, a.T @ residual / noise_sd**2)
        return self

    def predict(self, x: np.ndarray, e_pred: np.ndarray) -> np.ndarray:
        """Posterior mean residual (n,) eV of candidates with features x (n, F) and predictions e_pred (n,) eV;
        zeros before any verification."""
        if self.weights is None:
            return np.zeros(len(e_pred))
        return self._design(x, e_pred) @ self.weights


def round_sizes(total: int, rounds: int) -> list[int]:
    """`total` verifications split into `rounds` (at most `total`) nearly equal rounds, the larger ones first."""
    rounds = max(1, min(rounds, total))
    return [total // rounds + (1 if r < total % rounds else 0) for r in range(rounds)]


def verify_in_rounds(
    score_of: Callable[[np.ndarray], np.ndarray],
    e_pred: np.ndarray,
    features: np.ndarray,
    groups: np.ndarray,
    total: int,
    rounds: int,
    verify: Callable[[list[int]], dict[int, float | None]],
    pick: Callable[[np.ndarray, int, bool], list[int]],
) -> tuple[list[int], np.ndarray]:
    """Verify `total` candidates in `rounds`; after each, re-rank by predictions corrected with a ResidualModel
    fitted per group (adsorbate) on the verified candidates so far.

    Args:
        score_of: corrected E_ads (C,) eV -> the objective's scores (C,), lower is better.
        e_pred: (C,) the surrogate's E_ads, eV.
        features: (C, F) candidate_features.
        groups: (C,) a residual model per distinct value (the adsorbate).
        total, rounds: verifications in all and how many rounds they are split into.
        verify: candidate indices -> {index: verified E_ads in eV, or None where the simulation failed}.
        pick: (scores with the verified ones at +inf, n, last round) -> the n (or more) candidates to verify.
    Returns:
        the verified candidates in order, and the corrected E_ads (C,) eV after the last round.
    """
    corrected = np.asarray(e_pred, float).copy()
    selected: list[int] = []
    verified: dict[int, float | None] = {}
    sizes = round_sizes(total, rounds)
    for r, size in enumerate(sizes):
        scores = np.asarray(score_of(corrected), float).copy()
        scores[selected] = np.inf
        new = [i for i in pick(scores, size, r == len(sizes) - 1) if i not in verified]
        verified.update(verify(new))
        selected += new
        for group in np.unique(groups):
            members = np.flatnonzero(groups == group)
            done = [i for i in selected if groups[i] == group and verified.get(i) is not None]
            residual = np.array([verified[i] for i in done]) - e_pred[done]
            model = ResidualModel().fit(features[done], residual, e_pred[done])
            corrected[members] = e_pred[members] + model.predict(features[members], e_pred[members])
    return selected, corrected
