"""Kulfan CST airfoils in torch, differentiable end to end, and least-squares CST fits.

Convention (NeuralFoil's, so results compare): a CST design is a vector of 18
numbers, shape (..., 18): ``[upper_weights(8), lower_weights(8),
leading_edge_weight, te_thickness]``, class function exponents N1 = 0.5,
N2 = 1.0, and Kulfan's leading-edge modification
``le_weight * x * (1 - x)**(n_weights + 0.5)`` added to both surfaces. The
coordinates are in chords, Selig ordered, leading edge at the origin.
"""

from __future__ import annotations

from math import comb

import numpy as np
import torch

from phenograd.core.errors import InputError

from .airfoil import DEFAULT_POINTS_PER_SIDE, cosine_spacing, surface_y

N_WEIGHTS = 8
N_CST = 2 * N_WEIGHTS + 2
N1, N2 = 0.5, 1.0

CST_NAMES = tuple(
    [f"upper_{i}" for i in range(N_WEIGHTS)] + [f"lower_{i}" for i in range(N_WEIGHTS)] + ["le_weight", "te_thickness"]
)


def cst_basis(x: torch.Tensor, n_weights: int = N_WEIGHTS) -> torch.Tensor:
    """Class function times Bernstein basis, shape (len(x), n_weights)."""
    order = n_weights - 1
    k = torch.arange(n_weights, dtype=x.dtype)
    binom = torch.tensor([comb(order, i) for i in range(n_weights)], dtype=x.dtype)
    xx = x[:, None]
    bern = binom * xx**k * (1.0 - xx) ** (order - k)
    return (xx**N1 * (1.0 - xx) ** N2) * bern


def cst_surfaces(params: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper and lower y/c at stations x for CST designs.

    params: (..., 18); x: (n,) in [0, 1]. Returns two tensors of shape (..., n).
    Differentiable in params (and in x away from x = 0).
    """
    if params.shape[-1] != N_CST:
        raise InputError(f"CST design must have {N_CST} values, got {params.shape[-1]}")
    basis = cst_basis(x).to(params.dtype)
    wu, wl = params[..., :N_WEIGHTS], params[..., N_WEIGHTS : 2 * N_WEIGHTS]
    le, te = params[..., -2:-1], params[..., -1:]
    lem = x * (1.0 - x) ** (N_WEIGHTS + 0.5)
    y_up = wu @ basis.T + x * te / 2 + le * lem
    y_lo = wl @ basis.T - x * te / 2 + le * lem
    return y_up, y_lo


def cst_coordinates(params: torch.Tensor, n_points_per_side: int = DEFAULT_POINTS_PER_SIDE) -> torch.Tensor:
    """Selig-ordered contour of CST designs, shape (..., 2*n_points_per_side - 1, 2).

    Differentiable end to end with respect to params (..., 18).

    Args:
        params: CST designs (..., 18): 8 upper and 8 lower Kulfan weights, the leading-edge
            modification and the trailing-edge thickness (N1 = 0.5, N2 = 1.0).
        n_points_per_side: cosine-spaced points per surface (the leading-edge point is shared).
    """
    x = torch.as_tensor(cosine_spacing(n_points_per_side), dtype=params.dtype)
    y_up, y_lo = cst_surfaces(params, x)
    xs = torch.cat([x.flip(0), x[1:]])
    ys = torch.cat([y_up.flip(-1), y_lo[..., 1:]], dim=-1)
    return torch.stack([xs.expand_as(ys), ys], dim=-1)


def cst_to_coordinates(params, n_points_per_side: int = DEFAULT_POINTS_PER_SIDE) -> np.ndarray:
    """NumPy convenience: (18,) CST vector -> (2n-1, 2) contour; checks values first."""
    arr = np.asarray(params, dtype=float)
    check_cst(arr)
    return cst_coordinates(torch.as_tensor(arr), n_points_per_side).numpy()


#: Loose physical bounds for a single CST value; anything outside is not an airfoil.
CST_ABS_LIMIT = 2.0
TE_THICKNESS_MAX = 0.1


def check_cst(params: np.ndarray, name: str = "CST design") -> None:
    """Raise InputError for a malformed or out-of-range CST vector (18,)."""
    arr = np.asarray(params, dtype=float)
    if arr.shape != (N_CST,):
        raise InputError(f"{name}: expected {N_CST} values, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or infinite values")
    if np.any(np.abs(arr[:-1]) > CST_ABS_LIMIT):
        i = int(np.argmax(np.abs(arr[:-1])))
        raise InputError(f"{name}: {CST_NAMES[i]} = {arr[i]:.4g} outside [-{CST_ABS_LIMIT}, {CST_ABS_LIMIT}]")
    if not (0.0 <= arr[-1] <= TE_THICKNESS_MAX):
        raise InputError(f"{name}: te_thickness = {arr[-1]:.4g} outside [0, {TE_THICKNESS_MAX}]")


def fit_cst(coordinates: np.ndarray, n_fit_points: int = 201) -> np.ndarray:
    """Least-squares CST vector (18,) of a normalised Selig contour (N, 2).

    Each surface is interpolated at cosine-spaced stations and the (linear) CST
    model is fitted by scipy's bounded linear least squares with te_thickness >= 0.

    Args:
        coordinates: a normalised Selig contour (N, 2), chord 1 (check_airfoil returns one).
        n_fit_points: cosine-spaced stations per surface at which the surfaces are interpolated and fitted.
    """
    from scipy.optimize import lsq_linear

    coords = np.asarray(coordinates, dtype=float)
    le = int(np.argmin(coords[:, 0]))
    upper = coords[: le + 1][::-1]
    lower = coords[le:]
    x = cosine_spacing(n_fit_points)
    yu = surface_y(upper, x)
    yl = surface_y(lower, x)
    basis = cst_basis(torch.as_tensor(x)).numpy()
    lem = x * (1.0 - x) ** (N_WEIGHTS + 0.5)
    zeros = np.zeros_like(basis)
    a_up = np.hstack([basis, zeros, lem[:, None], x[:, None] / 2])
    a_lo = np.hstack([zeros, basis, lem[:, None], -x[:, None] / 2])
    a = np.vstack([a_up, a_lo])
    b = np.concatenate([yu, yl])
    lower_b = np.full(N_CST, -np.inf)
    upper_b = np.full(N_CST, np.inf)
    lower_b[-1] = 0.0
    return lsq_linear(a, b, bounds=(lower_b, upper_b), method="bvls").x


def fit_error(coordinates: np.ndarray, params: np.ndarray, n_stations: int = 201) -> float:
    """Largest |y_fit - y| over both surfaces at cosine-spaced stations, in chords."""
    coords = np.asarray(coordinates, dtype=float)
    le = int(np.argmin(coords[:, 0]))
    x = cosine_spacing(n_stations)
    yu, yl = cst_surfaces(torch.as_tensor(params), torch.as_tensor(x))
    err_u = np.abs(yu.numpy() - surface_y(coords[: le + 1], x))
    err_l = np.abs(yl.numpy() - surface_y(coords[le:], x))
    return float(max(err_u.max(), err_l.max()))
