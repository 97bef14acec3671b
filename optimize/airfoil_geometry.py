"""Geometric quantities of CST airfoils in torch (differentiable), for constraints.

All take CST designs of shape (..., 18) (see phenograd.datasets.cst) and return
tensors of shape (...) or (..., n); lengths in chords, angles in degrees.
"""

from __future__ import annotations

from math import comb

import numpy as np
import torch
from scipy.special import beta

from phenograd.datasets.airfoil import cosine_spacing
from phenograd.datasets.cst import N1, N2, N_WEIGHTS, cst_surfaces

#: Stations where the thickness must stay positive (and where the maximum is searched).
THICKNESS_STATIONS = cosine_spacing(101)[1:-1]


def local_thickness(params: torch.Tensor, x) -> torch.Tensor:
    """Upper minus lower y/c at stations x (n,), measured vertically: shape (..., n)."""
    xs = torch.as_tensor(np.atleast_1d(np.asarray(x, dtype=float)), dtype=params.dtype)
    y_up, y_lo = cst_surfaces(params, xs)
    return y_up - y_lo


def max_thickness(params: torch.Tensor) -> torch.Tensor:
    """Largest t/c over 99 cosine-spaced stations: shape (...)."""
    return local_thickness(params, THICKNESS_STATIONS).max(dim=-1).values


def te_angle(params: torch.Tensor) -> torch.Tensor:
    """Trailing-edge wedge angle in degrees: atan(w_up[-1]) - atan(w_lo[-1]) + atan(t_te).

    With N2 = 1 the CST surface slope at x = 1 is -w[-1] (plus the trailing-edge
    thickness term), so this is the exact angle between the two surfaces there; it is
    also AeroSandbox's KulfanAirfoil.TE_angle, so constraints compare one to one.
    """
    wu, wl, te = params[..., N_WEIGHTS - 1], params[..., 2 * N_WEIGHTS - 1], params[..., -1]
    return torch.rad2deg(torch.atan(wu) - torch.atan(wl) + torch.atan(te))


def _mode_areas(dtype) -> torch.Tensor:
    """Exact integral over [0, 1] of each class-times-Bernstein mode: comb(n, i) B(N1+i+1, N2+n-i+1)."""
    n = N_WEIGHTS - 1
    return torch.tensor([comb(n, i) * beta(N1 + i + 1, N2 + n - i + 1) for i in range(N_WEIGHTS)], dtype=dtype)


def area(params: torch.Tensor) -> torch.Tensor:
    """Cross-section area in chords² (exact for CST: the leading-edge term cancels), shape (...)."""
    a = _mode_areas(params.dtype)
    wu, wl, te = params[..., :N_WEIGHTS], params[..., N_WEIGHTS : 2 * N_WEIGHTS], params[..., -1]
    return (wu - wl) @ a + te / 2


def wiggliness(params: torch.Tensor) -> torch.Tensor:
    """Summed squared second differences of the upper and lower CST weights, shape (...)."""
    wu, wl = params[..., :N_WEIGHTS], params[..., N_WEIGHTS : 2 * N_WEIGHTS]
    return (torch.diff(wu, n=2, dim=-1) ** 2).sum(-1) + (torch.diff(wl, n=2, dim=-1) ** 2).sum(-1)
