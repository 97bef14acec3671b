"""Checks and repanelling of 2-D airfoil contours before a solver sees them.

A contour is a float array of shape (N, 2): x/c and y/c in Selig order (from the
trailing edge over the upper surface to the leading edge and back along the lower
surface). These checks guard against the inputs XFOIL mishandles silently: too
many points (XFOIL keeps the previous airfoil), self-crossing contours (XFOIL
stops with exit code 0), non-finite values and duplicate neighbours.
"""

from __future__ import annotations

import numpy as np

from phenograd.core.errors import InputError

#: XFOIL 6.99 refuses to set more than this many points as the current airfoil.
XFOIL_MAX_POINTS = 365


def check_finite(contour: np.ndarray, name: str = "contour") -> np.ndarray:
    """Return the contour as float64 (N, 2); raise InputError on wrong shape or NaN/inf."""
    arr = np.asarray(contour, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(f"{name}: expected an (N, 2) array of x, y coordinates, got shape {arr.shape}")
    if arr.shape[0] < 10:
        raise InputError(f"{name}: only {arr.shape[0]} points; an airfoil contour needs at least 10")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or infinite coordinates")
    return arr


def drop_duplicate_neighbours(contour: np.ndarray, tol: float = 1e-9) -> np.ndarray:
    """Remove points that coincide with their predecessor (XFOIL rejects zero-length panels)."""
    step = np.linalg.norm(np.diff(contour, axis=0), axis=1)
    keep = np.concatenate([[True], step > tol])
    return contour[keep]


def self_intersections(contour: np.ndarray) -> list[tuple[int, int]]:
    """Index pairs (i, j) of contour segments [p_i, p_i+1] and [p_j, p_j+1] that cross properly.

    Segments that share an end point (neighbours, and first/last of a closed
    trailing edge) are not counted. O(N^2) vectorised; fine for N of a few hundred.
    """
    p = contour[:-1]
    q = contour[1:]
    n = len(p)

    def orient(a, b, c):
        return (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])

    pi, qi = p[:, None, :], q[:, None, :]
    pj, qj = p[None, :, :], q[None, :, :]
    d1 = orient(pi, qi, pj)
    d2 = orient(pi, qi, qj)
    d3 = orient(pj, qj, pi)
    d4 = orient(pj, qj, qi)
    crossing = (d1 * d2 < 0) & (d3 * d4 < 0)
    idx = np.arange(n)
    crossing &= idx[None, :] > idx[:, None] + 1
    if n > 2 and np.linalg.norm(contour[0] - contour[-1]) < 1e-6:
        crossing[0, n - 1] = False  # closed trailing edge: first and last segments meet there
    i, j = np.nonzero(crossing)
    return list(zip(i.tolist(), j.tolist()))


def check_not_self_crossing(contour: np.ndarray, name: str = "contour") -> None:
    """Raise InputError if the contour crosses itself."""
    hits = self_intersections(contour)
    if hits:
        i, j = hits[0]
        x, y = contour[i]
        raise InputError(
            f"{name}: contour crosses itself ({len(hits)} crossing(s), first between points {i} and {j} "
            f"near x={x:.4f}, y={y:.4f})"
        )


def repanel(contour: np.ndarray, n_points: int = 241) -> np.ndarray:
    """Resample a Selig-ordered contour to n_points (odd) clustered at both edges.

    The contour is interpolated by a cubic spline in arc length (as XFOIL does
    with its buffer airfoil); each surface is then sampled with cosine spacing
    in arc length, so points concentrate at the leading and trailing edges. The
    leading edge (minimum x) stays a node.
    """
    from scipy.interpolate import CubicSpline

    if n_points % 2 == 0:
        n_points += 1
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(contour, axis=0), axis=1))])
    spline = CubicSpline(s, contour, axis=0)
    s_le = s[int(np.argmin(contour[:, 0]))]
    half = (n_points + 1) // 2
    t = 0.5 * (1.0 - np.cos(np.linspace(0.0, np.pi, half)))
    targets = np.concatenate([t * s_le, s_le + t[1:] * (s[-1] - s_le)])
    return spline(targets)


def prepare_for_xfoil(contour: np.ndarray, name: str = "contour", max_points: int = XFOIL_MAX_POINTS) -> np.ndarray:
    """Validate a contour and return a version XFOIL will load as given.

    Raises InputError for non-finite, too short or self-crossing contours.
    Contours with more points than XFOIL accepts are repanelled (never passed on
    to be silently replaced by the previous airfoil).
    """
    arr = drop_duplicate_neighbours(check_finite(contour, name))
    if len(arr) > max_points:
        arr = repanel(arr, n_points=min(301, max_points - (1 - max_points % 2)))
    check_not_self_crossing(arr, name)
    return arr
