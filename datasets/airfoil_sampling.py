"""Samplers over the airfoil design space, fitted only to real *training* airfoils.

Two families, both seeded and deterministic:

* ``sobol_shapes``: scipy's scrambled Sobol sequence over a box in CST space.
  The box is set in camber/thickness coordinates (c = (wu + wl)/2,
  t = (wu - wl)/2 per Bernstein weight) from the 1st-99th percentiles of the
  CST fits of the training airfoils, so most draws are valid airfoils; invalid
  draws (crossing surfaces, too thin or too thick) are rejected.
* ``mixed_shapes``: convex mixes of 2-3 training parents (Dirichlet weights),
  thickness scaled by a factor in [0.75, 1.25], plus a correlated perturbation
  drawn from the training CST covariance (5 % of it by default).

Held-out (test) airfoils are never parents and never shape the bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from phenograd.core.errors import InputError

from .airfoil import cosine_spacing, real_airfoils
from .cache import cached_arrays
from .cst import N_CST, N_WEIGHTS, cst_surfaces, fit_cst

MIN_MAX_THICKNESS = 0.03
MAX_MAX_THICKNESS = 0.30


@dataclass(frozen=True)
class CstStatistics:
    """CST fits of the real training airfoils: (n, 18) parameters and their names."""

    params: np.ndarray
    names: tuple[str, ...]


@lru_cache(maxsize=1)
def training_cst() -> CstStatistics:
    """CST fits of every real training airfoil (deterministic; cached on disk after the first call)."""
    foils = real_airfoils("train")

    def compute() -> dict:
        return {"params": np.stack([fit_cst(a.coordinates) for a in foils])}

    key = [(a.name, len(a.coordinates), float(a.coordinates.sum())) for a in foils]
    params = cached_arrays("training-cst", key, [Path(__file__).with_name("cst.py")], compute)["params"]
    return CstStatistics(params=params, names=tuple(a.name for a in foils))


def _to_camber_thickness(p: np.ndarray) -> np.ndarray:
    wu, wl = p[..., :N_WEIGHTS], p[..., N_WEIGHTS : 2 * N_WEIGHTS]
    return np.concatenate([(wu + wl) / 2, (wu - wl) / 2, p[..., -2:]], axis=-1)


def _from_camber_thickness(q: np.ndarray) -> np.ndarray:
    c, t = q[..., :N_WEIGHTS], q[..., N_WEIGHTS : 2 * N_WEIGHTS]
    return np.concatenate([c + t, c - t, q[..., -2:]], axis=-1)


def valid_mask(params: np.ndarray) -> np.ndarray:
    """Which CST designs (n, 18) are plausible airfoils: positive thickness
    everywhere aft of the leading edge, max thickness in [3 %, 30 %] of chord."""
    x = torch.as_tensor(cosine_spacing(101)[1:-1])
    yu, yl = cst_surfaces(torch.as_tensor(params, dtype=torch.float64), x)
    t = (yu - yl).numpy()
    ok = (t.min(axis=1) > 1e-4) & (t.max(axis=1) >= MIN_MAX_THICKNESS) & (t.max(axis=1) <= MAX_MAX_THICKNESS)
    ok &= np.all(np.abs(params[:, :-1]) <= 1.5, axis=1) & (params[:, -1] >= 0) & (params[:, -1] <= 0.05)
    return ok


def design_bounds(lo_pct: float = 1.0, hi_pct: float = 99.0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (18,) in camber/thickness coordinates from training fits."""
    q = _to_camber_thickness(training_cst().params)
    lo, hi = np.percentile(q, lo_pct, axis=0), np.percentile(q, hi_pct, axis=0)
    lo[-1] = max(lo[-1], 0.0)
    return lo, hi


def sobol_shapes(n: int, seed: int) -> np.ndarray:
    """n valid CST designs (n, 18) from a scrambled Sobol sequence, rejection-filtered."""
    from scipy.stats import qmc

    if n < 0:
        raise InputError(f"number of shapes must be >= 0, got {n}")
    lo, hi = design_bounds()
    sampler = qmc.Sobol(d=N_CST, scramble=True, seed=seed)
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = int(2 ** np.ceil(np.log2(max(64, 2 * (n - have)))))
        q = qmc.scale(sampler.random(m), lo, hi)
        p = _from_camber_thickness(q)
        p = p[valid_mask(p)]
        out.append(p)
        have += len(p)
    return np.concatenate(out)[:n] if n else np.zeros((0, N_CST))


def mixed_shapes(n: int, seed: int, perturbation: float = 0.05) -> np.ndarray:
    """n valid CST designs (n, 18) mixed and perturbed from training airfoils."""
    if n < 0:
        raise InputError(f"number of shapes must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    parents = training_cst().params
    q_parents = _to_camber_thickness(parents)
    cov = np.cov(q_parents.T)
    chol = np.linalg.cholesky(cov + 1e-10 * np.eye(N_CST))
    out: list[np.ndarray] = []
    have = 0
    while have < n:
        m = max(64, 2 * (n - have))
        k = rng.integers(2, 4, size=m)
        q = np.empty((m, N_CST))
        for i in range(m):
            idx = rng.choice(len(parents), size=k[i], replace=False)
            w = rng.dirichlet(np.ones(k[i]))
            q[i] = w @ q_parents[idx]
        scale = rng.uniform(0.75, 1.25, size=(m, 1))
        q[:, N_WEIGHTS : 2 * N_WEIGHTS] *= scale
        q[:, -1:] *= scale
        q += np.sqrt(perturbation) * rng.standard_normal((m, N_CST)) @ chol.T
        q[:, -1] = np.clip(q[:, -1], 0.0, None)
        p = _from_camber_thickness(q)
        p = p[valid_mask(p)]
        out.append(p)
        have += len(p)
    return np.concatenate(out)[:n] if n else np.zeros((0, N_CST))


def reynolds_samples(n_shapes: int, per_shape: int, low: float, high: float, seed: int) -> np.ndarray:
    """Reynolds numbers (n_shapes, per_shape), log-uniform in [low, high], stratified:
    each shape gets one draw from each of `per_shape` equal log-bands. 3 significant digits."""
    if not (0 < low <= high):
        raise InputError(f"bad Reynolds range [{low}, {high}]")
    rng = np.random.default_rng(seed)
    a, b = np.log10(low), np.log10(high)
    edges = np.linspace(a, b, per_shape + 1)
    u = rng.random((n_shapes, per_shape))
    logs = edges[:-1] + u * (edges[1:] - edges[:-1])
    return np.array([[float(f"{10**v:.3g}") for v in row] for row in logs]).reshape(n_shapes, per_shape)
