"""Airfoil geometry: Kulfan CST in torch, NACA sections, normalisation, checks, real airfoils.

Conventions (NeuralFoil's, so results compare):

* A CST design is a vector of 18 numbers, shape (..., 18):
  ``[upper_weights(8), lower_weights(8), leading_edge_weight, te_thickness]``
  with class function exponents N1 = 0.5, N2 = 1.0 and Kulfan's leading-edge
  modification ``le_weight * x * (1 - x)**(n_weights + 0.5)`` on both surfaces.
* Coordinates are float arrays (N, 2) of x/c, y/c in Selig order (trailing edge,
  upper surface, leading edge, lower surface, trailing edge), chord 1, leading
  edge at the origin.
* The held-out split of the real (UIUC) airfoils is fixed by name:
  ``split_of(name) == "test"`` for 20 % of names by a stable SHA-256 hash. No
  training set, sampler or shape-mixing parent may use a test airfoil.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from pathlib import Path

import numpy as np
import torch

from phenograd.simulators.contour import check_not_self_crossing, drop_duplicate_neighbours, prepare_for_xfoil
from phenograd.simulators.errors import InputError

from .datfile import read_dat

N_WEIGHTS = 8
N_CST = 2 * N_WEIGHTS + 2
N1, N2 = 0.5, 1.0
DEFAULT_POINTS_PER_SIDE = 121
TEST_FRACTION_PERCENT = 20

CST_NAMES = tuple(
    [f"upper_{i}" for i in range(N_WEIGHTS)] + [f"lower_{i}" for i in range(N_WEIGHTS)] + ["le_weight", "te_thickness"]
)


# --------------------------------------------------------------------------- CST


def cosine_spacing(n: int, dtype=torch.float64) -> torch.Tensor:
    """n chordwise stations x in [0, 1], clustered at both edges, shape (n,)."""
    theta = torch.linspace(0.0, math.pi, n, dtype=dtype)
    return 0.5 * (1.0 - torch.cos(theta))


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
    """
    x = cosine_spacing(n_points_per_side, dtype=params.dtype)
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
    """
    from scipy.optimize import lsq_linear

    coords = np.asarray(coordinates, dtype=float)
    le = int(np.argmin(coords[:, 0]))
    upper = coords[: le + 1][::-1]
    lower = coords[le:]
    x = cosine_spacing(n_fit_points).numpy()
    yu = _interp_surface(upper, x)
    yl = _interp_surface(lower, x)
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


def _interp_surface(surface: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of one surface (points from leading to trailing edge) at stations x."""
    order = np.argsort(surface[:, 0], kind="stable")
    xs, ys = surface[order, 0], surface[order, 1]
    return np.interp(x, xs, ys)


def fit_error(coordinates: np.ndarray, params: np.ndarray, n_stations: int = 201) -> float:
    """Largest |y_fit - y| over both surfaces at cosine-spaced stations, in chords."""
    coords = np.asarray(coordinates, dtype=float)
    le = int(np.argmin(coords[:, 0]))
    x = cosine_spacing(n_stations).numpy()
    yu, yl = cst_surfaces(torch.as_tensor(params), torch.as_tensor(x))
    err_u = np.abs(yu.numpy() - _interp_surface(coords[: le + 1][::-1], x))
    err_l = np.abs(yl.numpy() - _interp_surface(coords[le:], x))
    return float(max(err_u.max(), err_l.max()))


# --------------------------------------------------------------------------- NACA


def naca(code: str, n_points_per_side: int = DEFAULT_POINTS_PER_SIDE, thickness_normal_to_camber: bool = False) -> np.ndarray:
    """Selig contour (2n-1, 2) of a NACA 4-digit (MPTT) or 5-digit (LPQTT, non-reflexed) section.

    By default the section is built as XFOIL's own NACA command builds it: the
    open-trailing-edge thickness form (a4 = -0.1015) added vertically to the mean
    line, so polars match XFOIL's `NACA 2412` exactly (measured: CL 0.4496, CD
    0.00578 at Re 1e6, alpha 2). thickness_normal_to_camber=True gives the
    textbook construction (Abbott & von Doenhoff), whose CL differs by ~1 %.
    Raises InputError for codes that are not such a section.
    """
    text = str(code).strip().upper().removeprefix("NACA").strip()
    if not re.fullmatch(r"\d{4}|\d{5}", text):
        raise InputError(f"unknown NACA code {code!r}: use a 4-digit (e.g. 2412) or 5-digit (e.g. 23012) section")
    t = int(text[-2:]) / 100.0
    if not 0.01 <= t <= 0.40:
        raise InputError(f"NACA {text}: thickness {t:.2f} outside [0.01, 0.40]")
    x = cosine_spacing(n_points_per_side).numpy()
    yt = 5 * t * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3 - 0.1015 * x**4)
    if len(text) == 4:
        m, p = int(text[0]) / 100.0, int(text[1]) / 10.0
        if m > 0 and p == 0:
            raise InputError(f"NACA {text}: camber without a camber position")
        yc, dyc = _naca4_camber(x, m, p)
    else:
        yc, dyc = _naca5_camber(x, text)
    if thickness_normal_to_camber:
        theta = np.arctan(dyc)
        xu, yu = x - yt * np.sin(theta), yc + yt * np.cos(theta)
        xl, yl = x + yt * np.sin(theta), yc - yt * np.cos(theta)
    else:
        xu, yu, xl, yl = x, yc + yt, x, yc - yt
    return np.vstack([np.column_stack([xu, yu])[::-1], np.column_stack([xl, yl])[1:]])


def _naca4_camber(x: np.ndarray, m: float, p: float) -> tuple[np.ndarray, np.ndarray]:
    if m == 0:
        return np.zeros_like(x), np.zeros_like(x)
    fore = x < p
    yc = np.where(fore, m / p**2 * (2 * p * x - x**2), m / (1 - p) ** 2 * ((1 - 2 * p) + 2 * p * x - x**2))
    dyc = np.where(fore, 2 * m / p**2 * (p - x), 2 * m / (1 - p) ** 2 * (p - x))
    return yc, dyc


# Standard (non-reflexed) 5-digit mean lines: design CL 0.3 x L/2 ... (r, k1) for P = 1..5.
_NACA5_MEAN_LINES = {1: (0.0580, 361.4), 2: (0.1260, 51.64), 3: (0.2025, 15.957), 4: (0.2900, 6.643), 5: (0.3910, 3.230)}


def _naca5_camber(x: np.ndarray, code: str) -> tuple[np.ndarray, np.ndarray]:
    design_cl = int(code[0]) * 0.15
    p_digit, reflex = int(code[1]), int(code[2])
    if reflex != 0 or p_digit not in _NACA5_MEAN_LINES or design_cl == 0:
        raise InputError(f"unknown NACA code {code!r}: only standard non-reflexed 5-digit sections (L P 0 TT, P 1-5)")
    r, k1 = _NACA5_MEAN_LINES[p_digit]
    k1 = k1 * design_cl / 0.3
    fore = x < r
    yc = np.where(fore, k1 / 6 * (x**3 - 3 * r * x**2 + r**2 * (3 - r) * x), k1 * r**3 / 6 * (1 - x))
    dyc = np.where(fore, k1 / 6 * (3 * x**2 - 6 * r * x + r**2 * (3 - r)), -k1 * r**3 / 6 * np.ones_like(x))
    return yc, dyc


# --------------------------------------------------------------------------- checks


def normalize(coordinates: np.ndarray) -> np.ndarray:
    """Translate, rotate and scale a Selig contour so the leading edge is at (0, 0) and the
    trailing-edge midpoint at (1, 0). The leading edge is the point farthest from the
    trailing-edge midpoint (XFOIL's definition)."""
    c = np.asarray(coordinates, dtype=float)
    te = 0.5 * (c[0] + c[-1])
    le = c[int(np.argmax(np.linalg.norm(c - te, axis=1)))]
    chord_vec = te - le
    chord = float(np.linalg.norm(chord_vec))
    if chord <= 0 or not np.isfinite(chord):
        raise InputError("contour has zero chord")
    cos, sin = chord_vec / chord
    rot = np.array([[cos, sin], [-sin, cos]])
    return (c - le) @ rot.T / chord


def thickness_distribution(coordinates: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Upper minus lower y of a normalised Selig contour at stations x (same shape as x)."""
    c = np.asarray(coordinates, dtype=float)
    le = int(np.argmin(c[:, 0]))
    return _interp_surface(c[: le + 1][::-1], x) - _interp_surface(c[le:], x)


def check_airfoil(
    coordinates: np.ndarray, name: str = "airfoil", min_thickness: float = 0.005, max_te_gap: float = 0.05
) -> np.ndarray:
    """Validate a contour and return it normalised (chord 1, leading edge at the origin).

    Raises InputError naming the problem: non-finite values, too few points, an
    open contour (ends not at the trailing edge or a gap wider than max_te_gap),
    a self-crossing contour, surfaces that cross (negative thickness) or a
    maximum thickness below min_thickness (chords).
    """
    c = np.asarray(coordinates, dtype=float)
    if c.ndim != 2 or c.shape[1] != 2 or len(c) < 10:
        raise InputError(f"{name}: expected at least 10 (x, y) points, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise InputError(f"{name}: contains NaN or infinite coordinates")
    c = drop_duplicate_neighbours(c)
    span = np.ptp(c[:, 0])
    if span <= 0:
        raise InputError(f"{name}: all points have the same x")
    gap = float(np.linalg.norm(c[0] - c[-1])) / span
    if gap > max_te_gap:
        raise InputError(f"{name}: contour is not closed (trailing-edge gap {gap:.3f} chords > {max_te_gap})")
    c = normalize(c)
    if np.min(c[:, 0]) < -0.02 or np.max(c[:, 0]) > 1.02:
        raise InputError(f"{name}: points lie outside the chord after normalisation; not a Selig-ordered airfoil")
    check_not_self_crossing(c, name)
    x = cosine_spacing(101).numpy()[1:-1]
    t = thickness_distribution(c, x)
    if np.min(t) < -1e-4:
        raise InputError(f"{name}: upper and lower surfaces cross (negative thickness near x/c={x[np.argmin(t)]:.3f})")
    if np.max(t) < min_thickness:
        raise InputError(f"{name}: maximum thickness {np.max(t):.4f} below {min_thickness} chords")
    return c


# --------------------------------------------------------------------------- real airfoils


def split_of(name: str) -> str:
    """'test' for the fixed 20 % held-out real airfoils, 'train' otherwise (by name)."""
    digest = hashlib.sha256(name.strip().lower().encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") % 100 < TEST_FRACTION_PERCENT else "train"


@dataclass
class RealAirfoil:
    """A real airfoil from the bundled UIUC database: normalised Selig coordinates (N, 2)."""

    name: str
    coordinates: np.ndarray
    split: str


def database_dir() -> Path:
    """Folder of the cleaned UIUC/TraCFoil .dat files shipped inside the aerosandbox wheel."""
    import importlib.util

    spec = importlib.util.find_spec("aerosandbox")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("aerosandbox is not installed; it carries the airfoil coordinate database")
    return Path(list(spec.submodule_search_locations)[0]) / "geometry" / "airfoil" / "airfoil_database"


@lru_cache(maxsize=1)
def _load_database() -> tuple[tuple[RealAirfoil, ...], tuple[tuple[str, str], ...]]:
    good, bad = [], []
    for path in sorted(database_dir().glob("*.dat")):
        try:
            dat = read_dat(path)
            coords = prepare_for_xfoil(check_airfoil(dat.coordinates, path.stem), path.stem)
        except InputError as exc:
            bad.append((path.stem, str(exc)))
            continue
        good.append(RealAirfoil(path.stem, coords, split_of(path.stem)))
    return tuple(good), tuple(bad)


def real_airfoils(split: str = "all") -> list[RealAirfoil]:
    """Real airfoils of the bundled database that pass :func:`check_airfoil`.

    Contours with more points than XFOIL accepts are repanelled, so the
    coordinates are exactly what a simulator sees. split: "train", "test" or
    "all". Files that fail the checks are left out;
    :func:`rejected_real_airfoils` lists them with their reason.
    """
    if split not in ("train", "test", "all"):
        raise InputError(f"unknown split {split!r}; use train, test or all")
    good, _ = _load_database()
    return [a for a in good if split == "all" or a.split == split]


def rejected_real_airfoils() -> list[tuple[str, str]]:
    """(name, reason) of database files that fail the geometry checks."""
    return list(_load_database()[1])
