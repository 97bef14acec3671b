"""Airfoil geometry in NumPy: NACA sections, normalisation, checks, the real-airfoil database.

(The differentiable CST parameterisation lives in :mod:`phenograd.datasets.cst`.)

* Coordinates are float arrays (N, 2) of x/c, y/c in Selig order (trailing edge,
  upper surface, leading edge, lower surface, trailing edge), chord 1, leading
  edge at the origin.
* The held-out split of the real (UIUC) airfoils is fixed by name:
  ``split_of(name) == "test"`` for 20 % of names by a stable SHA-256 hash. No
  training set, sampler or shape-mixing parent may use a test airfoil.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from phenograd.core.errors import InputError
from phenograd.simulators.contour import check_not_self_crossing, drop_duplicate_neighbours, prepare_for_xfoil

from .cache import cached_arrays
from .datfile import read_dat

DEFAULT_POINTS_PER_SIDE = 121
TEST_FRACTION_PERCENT = 20


# --------------------------------------------------------------------------- stations


def cosine_spacing(n: int) -> np.ndarray:
    """n chordwise stations x in [0, 1], clustered at both edges, shape (n,)."""
    return 0.5 * (1.0 - np.cos(np.linspace(0.0, math.pi, n)))


def surface_y(surface: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of one surface (points (M, 2), any order along x) interpolated at stations x."""
    order = np.argsort(surface[:, 0], kind="stable")
    return np.interp(x, surface[order, 0], surface[order, 1])


# --------------------------------------------------------------------------- NACA


def naca(
    code: str, n_points_per_side: int = DEFAULT_POINTS_PER_SIDE, thickness_normal_to_camber: bool = False
) -> np.ndarray:
    """Selig contour (2n-1, 2) of a NACA 4-digit (MPTT) or 5-digit (LPQTT, non-reflexed) section.

    By default the section is built as XFOIL's own NACA command builds it: the
    open-trailing-edge thickness form (a4 = -0.1015) added vertically to the mean
    line, so polars match XFOIL's `NACA 2412` exactly (measured: CL 0.4496, CD
    0.00578 at Re 1e6, alpha 2). thickness_normal_to_camber=True gives the
    textbook construction (Abbott & von Doenhoff), whose CL differs by ~1 %.
    Raises InputError for codes that are not such a section.

    Args:
        code: the 4 or 5 digits, e.g. "2412" or "23012"; a leading "NACA" (any case) and spaces are ignored.
        n_points_per_side: cosine-spaced points per surface (the leading-edge point is shared).
        thickness_normal_to_camber: the textbook construction instead of XFOIL's.
    """
    text = str(code).strip().upper().removeprefix("NACA").strip()
    if not re.fullmatch(r"\d{4}|\d{5}", text):
        raise InputError(f"unknown NACA code {code!r}: use a 4-digit (e.g. 2412) or 5-digit (e.g. 23012) section")
    t = int(text[-2:]) / 100.0
    if not 0.01 <= t <= 0.40:
        raise InputError(f"NACA {text}: thickness {t:.2f} outside [0.01, 0.40]")
    x = cosine_spacing(n_points_per_side)
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
_NACA5_MEAN_LINES = {
    1: (0.0580, 361.4),
    2: (0.1260, 51.64),
    3: (0.2025, 15.957),
    4: (0.2900, 6.643),
    5: (0.3910, 3.230),
}


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
    return surface_y(c[: le + 1], x) - surface_y(c[le:], x)


def check_airfoil(
    coordinates: np.ndarray, name: str = "airfoil", min_thickness: float = 0.005, max_te_gap: float = 0.05
) -> np.ndarray:
    """Validate a contour and return it normalised (chord 1, leading edge at the origin).

    Raises InputError naming the problem: non-finite values, too few points, an
    open contour (ends not at the trailing edge or a gap wider than max_te_gap),
    a self-crossing contour, surfaces that cross (negative thickness) or a
    maximum thickness below min_thickness (chords).

    Args:
        coordinates: a closed contour (N, 2), Selig order (trailing edge, upper surface, leading edge,
            lower surface, trailing edge).
        name: what error messages call it.
        min_thickness: the smallest maximum thickness accepted, in chords.
        max_te_gap: the widest trailing-edge gap accepted, in chords.
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
    x = cosine_spacing(101)[1:-1]
    t = thickness_distribution(c, x)
    if np.min(t) < -1e-4:
        raise InputError(f"{name}: upper and lower surfaces cross (negative thickness near x/c={x[np.argmin(t)]:.3f})")
    if np.max(t) < min_thickness:
        raise InputError(f"{name}: maximum thickness {np.max(t):.4f} below {min_thickness} chords")
    return c


# --------------------------------------------------------------------------- real airfoils


def split_of(name: str) -> str:
    """'test' for the fixed 20 % held-out real airfoils, 'train' otherwise (by name).

    Args:
        name: the airfoil's name in the bundled database.
    """
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


def _read_database() -> dict:
    """Parse and check every database file (a few seconds); arrays for the cache."""
    names, coords, bad = [], [], []
    for path in sorted(database_dir().glob("*.dat")):
        try:
            dat = read_dat(path)
            c = prepare_for_xfoil(check_airfoil(dat.coordinates, path.stem), path.stem)
        except InputError as exc:
            bad.append([path.stem, str(exc).replace(str(path), path.name)])
            continue
        names.append(path.stem)
        coords.append(c)
    return {
        "names": np.array(names),
        "lengths": np.array([len(c) for c in coords]),
        "coords": np.concatenate(coords),
        "rejected": np.array(json.dumps(bad)),
    }


@lru_cache(maxsize=1)
def _load_database() -> tuple[tuple[RealAirfoil, ...], tuple[tuple[str, str], ...]]:
    folder = database_dir()
    listing = sorted((p.name, p.stat().st_size) for p in folder.glob("*.dat"))
    here = Path(__file__).parent
    sources = [here / "airfoil.py", here / "datfile.py", here.parent / "simulators" / "contour.py"]
    sources = [s for s in sources if s.exists()] or [Path(__file__)]
    data = cached_arrays("uiuc-database", listing, sources, _read_database)
    splits = np.cumsum(data["lengths"])[:-1]
    good = tuple(
        RealAirfoil(str(n), c, split_of(str(n))) for n, c in zip(data["names"], np.split(data["coords"], splits))
    )
    bad = tuple((n, r) for n, r in json.loads(str(data["rejected"])))
    return good, bad


def real_airfoils(split: str = "all") -> list[RealAirfoil]:
    """Real airfoils of the bundled database that pass :func:`check_airfoil`.

    Contours with more points than XFOIL accepts are repanelled, so the
    coordinates are exactly what a simulator sees. split: "train", "test" or
    "all". Files that fail the checks are left out;
    :func:`rejected_real_airfoils` lists them with their reason.

    Args:
        split: "train", "test" (the fixed held-out 20 %, split_of) or "all".
    """
    if split not in ("train", "test", "all"):
        raise InputError(f"unknown split {split!r}; use train, test or all")
    good, _ = _load_database()
    return [a for a in good if split == "all" or a.split == split]


def rejected_real_airfoils() -> list[tuple[str, str]]:
    """(name, reason) of database files that fail the geometry checks."""
    return list(_load_database()[1])
