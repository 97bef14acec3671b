"""Structured C-grid around an airfoil contour, written as an OpenFOAM polyMesh.

The domain is 2-D: one cell across a span of :data:`SPAN` chords (front and back
``empty``), lengths in chords, leading edge near x = 0, trailing edge at x = 1.
The far field is a half circle of radius R centred on the trailing edge, closed
by straight lines y = +-R to an outlet at x = 1 + R.

Grid lines (constant i) start at the wall, or at the wake cut behind the
trailing edge, along the local normal and bend towards a far-field point (a
quadratic Bezier curve): points on the upper surface map to the upper quarter
circle by arc-length fraction, wake stations to the straight top and bottom
boundaries. Along each line the first cell height comes from a target y+ and a
flat-plate skin-friction estimate, growing geometrically outward. A blunt
trailing edge gets its own cells across the base and along the wake between the
two wake cuts; a gap below :data:`SHARP_TE_GAP` is closed to a point.

The polyMesh is written directly (points, faces, owner, neighbour, boundary),
so no OpenFOAM mesher runs; a contour whose grid would fold (a cell of zero or
negative area) is refused with InputError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq

from phenograd.core.errors import InputError

from .contour import check_finite, check_not_self_crossing, drop_duplicate_neighbours

#: Span of the one-cell-deep 2-D mesh, in chords (the force reference area is SPAN x chord).
SPAN = 0.1

#: A trailing-edge gap below this (in chords) is closed to a sharp edge.
SHARP_TE_GAP = 2e-4


@dataclass(frozen=True)
class MeshLevel:
    """Cell counts and spacings of one resolution level.

    n_surface: cells along each of the upper and lower surface (leading to trailing edge).
    n_normal: cells from the wall to the far field.
    n_wake: cells from the trailing edge to the outlet.
    n_te: cells across a blunt trailing edge's base at least (more for a thick base: growth <= 1.25 per cell).
    le_spacing, te_spacing: surface cell lengths at the leading and trailing edge (chords).
    y_plus: target y+ of the first cell (its height from a flat-plate skin-friction estimate).
    radius: far-field distance R in chords (C radius and wake length).
    """

    n_surface: int
    n_normal: int
    n_wake: int
    n_te: int
    le_spacing: float
    te_spacing: float
    y_plus: float
    radius: float

    def n_cells(self, n_base: int = 0) -> int:
        """Cells of the mesh: the C-grid plus n_base cells across a blunt base (0 for a sharp trailing edge)."""
        return 2 * (self.n_surface + self.n_wake) * self.n_normal + self.n_wake * n_base


#: Resolution levels (cells with a sharp trailing edge: coarse 14,400; medium 38,400; fine 102,400).
MESH_LEVELS: dict[str, MeshLevel] = {
    "coarse": MeshLevel(
        n_surface=80, n_normal=60, n_wake=40, n_te=8, le_spacing=2e-3, te_spacing=4e-3, y_plus=1.0, radius=100.0
    ),
    "medium": MeshLevel(
        n_surface=140, n_normal=96, n_wake=60, n_te=12, le_spacing=1e-3, te_spacing=2e-3, y_plus=1.0, radius=100.0
    ),
    "fine": MeshLevel(
        n_surface=240, n_normal=128, n_wake=80, n_te=16, le_spacing=5e-4, te_spacing=1e-3, y_plus=0.5, radius=100.0
    ),
}


def first_cell_height(reynolds: float, y_plus: float) -> float:
    """Wall-normal height (chords) of a first cell with the given y+ on a flat plate of length 1.

    Uses the turbulent flat-plate skin friction Cf = 0.026 Re^(-1/7) (White), so
    u_tau/U = sqrt(Cf/2) and h = y+ / (Re u_tau/U).
    """
    cf = 0.026 * reynolds ** (-1.0 / 7.0)
    return y_plus / (reynolds * math.sqrt(cf / 2.0))


def geometric(n: int, first: float) -> np.ndarray:
    """n + 1 parameters 0 = t_0 < ... < t_n = 1 with t_1 = first and a constant growth ratio."""
    if first * n >= 1.0:
        return np.linspace(0.0, 1.0, n + 1)
    q_max = min(50.0, math.exp(700.0 / n))  # q**n stays below float overflow
    q = brentq(lambda q: first * (q**n - 1.0) / (q - 1.0) - 1.0, 1.0 + 1e-12, q_max)
    return np.concatenate([[0.0], np.cumsum(first * q ** np.arange(n))]) / (first * (q**n - 1.0) / (q - 1.0))


def two_sided(n: int, first: float, last: float) -> np.ndarray:
    """n + 1 parameters in [0, 1] with end cells near `first` and `last` and a smooth bulge between.

    Cell sizes h(t) = first (1 - t) + last t + A sin^2(pi t) at cell midpoints, A
    chosen so that they sum to 1 (the sin^2 term keeps growth gradual at the ends).
    """
    t = (np.arange(n) + 0.5) / n
    base = first * (1 - t) + last * t
    bump = np.sin(np.pi * t) ** 2
    a = (1.0 - base.sum()) / bump.sum()
    h = base + max(a, 0.0) * bump
    return np.concatenate([[0.0], np.cumsum(h / h.sum())])


@dataclass
class SurfaceSplit:
    """A contour as one cubic spline in arc length, split at the spline's leading edge.

    One spline runs through the whole contour (Selig order), so the surface and its
    normals stay smooth across the leading edge even when the input has few points
    there; the leading edge is the spline's minimum-x point, not the input's.

    spline: (x, y) in chords against arc length s along the input polyline.
    s_le, s_end: arc lengths of the leading edge and of the last point.
    sharp: whether the trailing edge was closed to one point.
    """

    spline: CubicSpline
    s_le: float
    s_end: float
    sharp: bool

    def length(self, which: str) -> float:
        """Arc length (chords) of the upper or lower surface, leading to trailing edge."""
        return self.s_le if which == "upper" else self.s_end - self.s_le

    def sample(self, which: str, params: np.ndarray) -> np.ndarray:
        """Points (len(params), 2) at arc-length fractions `params` (0 at the leading edge) of a surface."""
        s = self.s_le - params * self.s_le if which == "upper" else self.s_le + params * (self.s_end - self.s_le)
        return self.spline(s)


def split_surfaces(contour: np.ndarray, name: str = "contour") -> SurfaceSplit:
    """Check a Selig-ordered contour (N, 2) in chords, fit it with one spline and split it at its leading edge.

    A trailing-edge gap below SHARP_TE_GAP is closed at its midpoint. Raises
    InputError for contours that cannot be meshed (non-finite, self-crossing, not
    Selig-ordered, not spanning x from about 0 to 1).
    """
    arr = drop_duplicate_neighbours(check_finite(contour, name))
    check_not_self_crossing(arr, name)
    x = arr[:, 0]
    if not (-0.05 <= x.min() <= 0.05 and 0.95 <= x.max() <= 1.05):
        raise InputError(
            f"{name}: expected x/c from about 0 to 1 (got {x.min():.3f} to {x.max():.3f}); normalise the chord first"
        )
    ile = int(np.argmin(x))
    if ile < 3 or ile > len(arr) - 4:
        raise InputError(
            f"{name}: the leading edge (minimum x) is at an end of the contour; expected Selig order "
            "(trailing edge, upper surface, leading edge, lower surface, trailing edge)"
        )
    if arr[:ile, 1].mean() < arr[ile + 1 :, 1].mean():
        raise InputError(
            f"{name}: upper surface lies below the lower one; expected Selig order (clockwise from the "
            "upper trailing edge)"
        )
    arr = arr.copy()
    sharp = float(np.linalg.norm(arr[0] - arr[-1])) < SHARP_TE_GAP
    if sharp:
        arr[0] = arr[-1] = 0.5 * (arr[0] + arr[-1])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(arr, axis=0), axis=1))])
    spline = CubicSpline(s, arr, axis=0)
    # The spline's leading edge: minimum x between the input points either side of the input's minimum.
    x_roots = spline.derivative().roots(extrapolate=False)[0]  # where dx/ds = 0
    candidates = [s[ile], *(r for r in x_roots if s[ile - 1] <= r <= s[ile + 1])]
    s_le = float(min(candidates, key=lambda r: float(spline(r)[0])))
    return SurfaceSplit(spline, s_le, float(s[-1]), sharp)


#: Distance (chords) along the wall normal of each grid line's Bezier control point.
_NORMAL_REACH = 1.0


def _normals(line: np.ndarray) -> np.ndarray:
    """Unit normals (M, 2) to the left of a polyline's direction of travel."""
    d = np.gradient(line, axis=0)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.stack([-d[:, 1], d[:, 0]], axis=1)


def _fan(inner: np.ndarray, normals: np.ndarray, outer: np.ndarray, t: np.ndarray, first: float) -> np.ndarray:
    """Grid lines (M, len(t), 2): quadratic Bezier curves from inner points, leaving along `normals`, to outer points.

    The control point sits _NORMAL_REACH chords (at most half the inner-outer distance) along the normal; the
    parameter of the first interior node is scaled so that the first cell is `first` high.
    """
    reach = np.minimum(0.5 * np.linalg.norm(outer - inner, axis=1, keepdims=True), _NORMAL_REACH)
    ctrl = inner + normals * reach
    # |dB/ds| at s = 0 is 2 * reach: rescale the parameters so the first step is `first` long.
    out = []
    for k in range(len(inner)):
        s = geometric(len(t) - 1, first / (2.0 * reach[k, 0]))[:, None]
        out.append((1 - s) ** 2 * inner[k] + 2 * s * (1 - s) * ctrl[k] + s**2 * outer[k])
    return np.stack(out)


@dataclass
class CGrid:
    """Points and quadrilateral cells of a 2-D C-grid.

    points: (P, 2) in chords; cells: (C, 4) point indices, counter-clockwise;
    wall: boolean (P,) marking points on the airfoil surface (including a blunt base).
    n_base: cells across a blunt base (0 when sharp); base_points: indices of the base's wall points.
    """

    points: np.ndarray
    cells: np.ndarray
    wall: np.ndarray
    sharp: bool
    n_base: int = 0
    base_points: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


def c_grid(contour: np.ndarray, reynolds: float, level: MeshLevel, name: str = "contour") -> CGrid:
    """Build the C-grid around `contour` (Selig order, chords) for chord Reynolds number `reynolds`."""
    split = split_surfaces(contour, name)
    r, ns, nw, nn = level.radius, level.n_surface, level.n_wake, level.n_normal
    h1 = first_cell_height(reynolds, level.y_plus)
    t_norm = np.linspace(0.0, 1.0, nn + 1)  # count only; spacing set in _fan

    lines = []
    # Lower wake (outlet -> trailing edge), lower surface (TE -> LE), upper surface (LE -> TE),
    # upper wake (TE -> outlet).
    s_len = {w: split.length(w) for w in ("upper", "lower")}
    for which, sign in (("lower", -1.0), ("upper", 1.0)):
        frac = two_sided(ns, level.le_spacing / s_len[which], level.te_spacing / s_len[which])
        surf = split.sample(which, frac)
        nrm = _normals(surf) * sign  # travelling LE -> TE, outward is to the left on top, to the right below
        nrm[0] = (-1.0, 0.0)
        # Over the aft 20 % of arc length, turn the lines towards the vertical of the trailing-edge line and
        # the wake (surface normals there lean downstream and would cross them).
        w = np.clip((frac - 0.8) / 0.2, 0.0, 1.0)
        w = w * w * (3 - 2 * w)
        nrm = (1 - w)[:, None] * nrm + w[:, None] * np.array([0.0, sign])
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
        xf = np.clip((surf[:, 0] - surf[0, 0]) / (surf[-1, 0] - surf[0, 0]), 0.0, 1.0)
        # Far-field angle about the trailing edge, 180 -> 90 degrees, by chordwise position blended with arc
        # length (chordwise alone sends the leading-edge lines to one far-field point: sliver cells upstream).
        phi = np.pi - 0.5 * np.pi * (0.5 * xf + 0.5 * frac)
        outer = np.stack([1.0 + r * np.cos(phi), sign * r * np.sin(phi)], axis=1)
        surf_lines = _fan(surf, nrm, outer, t_norm, h1)
        te = surf[-1]
        wx = 1.0 + r * geometric(nw, level.te_spacing / r)[1:]
        cut = np.stack([wx, np.full(nw, te[1])], axis=1)
        wake_outer = np.stack([1.0 + r * np.arange(1, nw + 1) / nw, np.full(nw, sign * r)], axis=1)
        wake_lines = _fan(cut, np.tile([0.0, sign], (nw, 1)), wake_outer, t_norm, h1)
        body = np.concatenate([surf_lines, wake_lines])  # LE -> TE -> outlet
        lines.append(body[::-1] if which == "lower" else body[1:])  # LE shared: keep it once
    grid = np.concatenate(lines)  # (NI, NJ, 2)
    ni, nj = grid.shape[:2]

    pid = np.arange(ni * nj).reshape(ni, nj)
    pts = [grid.reshape(-1, 2)]
    wall = np.zeros(ni * nj, bool)
    wall[pid[nw : ni - nw, 0]] = True
    if split.sharp:
        for i in range(nw + 1):  # merge the wake cut: lower station i is upper station ni - 1 - i
            pid[i, 0] = pid[ni - 1 - i, 0]
    cells = [np.stack([pid[:-1, :-1], pid[1:, :-1], pid[1:, 1:], pid[:-1, 1:]], axis=-1).reshape(-1, 4)]
    if not split.sharp:
        # Base block: columns k = 0 (trailing-edge base) .. nw (outlet), rows lower cut -> upper cut.
        lo_idx, up_idx = pid[nw - np.arange(nw + 1), 0], pid[ni - 1 - nw + np.arange(nw + 1), 0]
        p_lo, p_up = grid.reshape(-1, 2)[lo_idx], grid.reshape(-1, 2)[up_idx]
        gap = float(np.linalg.norm(p_up[0] - p_lo[0]))
        half = geometric(base_cells_per_half(gap, h1, level.n_te // 2), min(h1 / (0.5 * gap), 0.5))
        m = np.concatenate([0.5 * half, 1.0 - 0.5 * half[::-1][1:]])  # symmetric clustering at both cuts
        inner = p_lo[:, None, :] + m[None, :, None] * (p_up - p_lo)[:, None, :]  # (nw+1, n_te+1, 2)
        nte = len(m) - 1
        bid = np.empty((nw + 1, nte + 1), int)
        bid[:, 0], bid[:, -1] = lo_idx, up_idx
        n_new = (nw + 1) * (nte - 1)
        bid[:, 1:-1] = (ni * nj + np.arange(n_new)).reshape(nw + 1, nte - 1)
        pts.append(inner[:, 1:-1].reshape(-1, 2))
        wall = np.concatenate([wall, np.zeros(n_new, bool)])
        wall[bid[0]] = True
        cells.append(np.stack([bid[:-1, :-1], bid[1:, :-1], bid[1:, 1:], bid[:-1, 1:]], axis=-1).reshape(-1, 4))
    points = np.concatenate(pts)
    cells = np.concatenate(cells)
    # Drop points no cell uses (merged wake-cut duplicates) and renumber.
    used = np.unique(cells)
    remap = -np.ones(len(points), int)
    remap[used] = np.arange(len(used))
    base_pts = remap[bid[0]] if not split.sharp else np.zeros(0, int)
    grid_out = CGrid(points[used], remap[cells], wall[used], split.sharp, 0 if split.sharp else nte, base_pts)
    area = _signed_areas(grid_out)
    if area.min() <= 0.0 and area.max() > 0.0:
        k = int(np.argmin(area))
        x, y = grid_out.points[grid_out.cells[k]].mean(axis=0)
        raise InputError(
            f"{name}: cannot mesh this contour: the C-grid folds near x={x:.4f}, y={y:.4f} "
            "(a strongly concave or kinked surface)"
        )
    if area.max() <= 0.0:  # built clockwise: flip every cell
        grid_out.cells = grid_out.cells[:, ::-1].copy()
    return grid_out


def base_cells_per_half(gap: float, first: float, minimum: int, growth: float = 1.25, most: int = 60) -> int:
    """Cells from a wake cut to the middle of a blunt base of height `gap`: enough that cells growing from
    `first` by at most `growth` per cell fill half the gap (bounded by `minimum` and `most`)."""
    need = math.log(1.0 + 0.5 * gap * (growth - 1.0) / first) / math.log(growth)
    return int(min(most, max(minimum, math.ceil(need))))


def _signed_areas(grid: CGrid) -> np.ndarray:
    p = grid.points[grid.cells]  # (C, 4, 2)
    x, y = p[..., 0], p[..., 1]
    return 0.5 * np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1)


def _header(cls: str, obj: str, location: str | None = None, note: str | None = None) -> str:
    loc = f'    location "{location}";\n' if location else ""
    nt = f'    note "{note}";\n' if note else ""
    return f"FoamFile\n{{\n    version 2.0;\n    format ascii;\n    class {cls};\n{nt}{loc}    object {obj};\n}}\n"


def write_poly_mesh(grid: CGrid, case_dir: Path) -> dict:
    """Write constant/polyMesh of the extruded grid; returns {"cells", "faces", "wall_faces"}.

    Patches: ``airfoil`` (the surface, wall), ``base`` (a blunt trailing edge's base, wall; empty when
    sharp), ``farfield`` (everything else on the outline), ``frontAndBack`` (empty). Internal faces are in
    upper-triangular order and point from owner to neighbour, as OpenFOAM requires.
    """
    n_pts, n_cells = len(grid.points), len(grid.cells)
    edges: dict[tuple[int, int], list] = {}
    for c, quad in enumerate(grid.cells.tolist()):
        for k in range(4):
            a, b = quad[k], quad[(k + 1) % 4]
            edges.setdefault((min(a, b), max(a, b)), []).append((c, a, b))
    internal, wall, base, far = [], [], [], []
    base_pts = set(grid.base_points.tolist())
    for cells_of_edge in edges.values():
        if len(cells_of_edge) == 2:
            (c0, a, b), (c1, _, _) = sorted(cells_of_edge)
            internal.append((c0, c1, a, b))  # owner c0's counter-clockwise edge a -> b: normal points out of c0
        else:
            c0, a, b = cells_of_edge[0]
            if grid.wall[a] and grid.wall[b]:
                (base if a in base_pts and b in base_pts else wall).append((c0, a, b))
            else:
                far.append((c0, a, b))
    internal.sort()
    wall.sort()
    base.sort()
    far.sort()
    top = n_pts  # the z = SPAN copy of point p is p + n_pts

    def side(a, b):
        return (a, b, b + top, a + top)

    boundary = wall + base + far
    faces = [side(a, b) for _, _, a, b in internal] + [side(a, b) for _, a, b in boundary]
    owner = [c for c, _, _, _ in internal] + [c for c, _, _ in boundary]
    neighbour = [n for _, n, _, _ in internal]
    for c, (p0, p1, p2, p3) in enumerate(grid.cells.tolist()):  # back (z = 0, normal -z) and front (+z)
        faces += [(p0, p3, p2, p1), (p0 + top, p1 + top, p2 + top, p3 + top)]
        owner += [c, c]
    n_int = len(internal)
    patches = [
        ("airfoil", "wall", len(wall)),
        ("base", "wall", len(base)),
        ("farfield", "patch", len(far)),
        ("frontAndBack", "empty", 2 * n_cells),
    ]

    mesh = Path(case_dir) / "constant" / "polyMesh"
    mesh.mkdir(parents=True, exist_ok=True)
    note = f"nPoints:{2 * n_pts} nCells:{n_cells} nFaces:{len(faces)} nInternalFaces:{n_int}"
    xyz = np.concatenate([np.c_[grid.points, np.zeros(n_pts)], np.c_[grid.points, np.full(n_pts, SPAN)]])
    (mesh / "points").write_text(
        _header("vectorField", "points", "constant/polyMesh")
        + f"\n{len(xyz)}\n(\n"
        + "\n".join(f"({x:.12g} {y:.12g} {z:.12g})" for x, y, z in xyz)
        + "\n)\n"
    )
    (mesh / "faces").write_text(
        _header("faceList", "faces", "constant/polyMesh")
        + f"\n{len(faces)}\n(\n"
        + "\n".join("4(%d %d %d %d)" % f for f in faces)
        + "\n)\n"
    )
    (mesh / "owner").write_text(
        _header("labelList", "owner", "constant/polyMesh", note)
        + f"\n{len(owner)}\n(\n"
        + "\n".join(map(str, owner))
        + "\n)\n"
    )
    (mesh / "neighbour").write_text(
        _header("labelList", "neighbour", "constant/polyMesh", note)
        + f"\n{len(neighbour)}\n(\n"
        + "\n".join(map(str, neighbour))
        + "\n)\n"
    )
    start, entries = n_int, []
    for pname, ptype, n in patches:
        group = f"\n        inGroups 1({ptype});" if ptype in ("wall", "empty") else ""
        entries.append(
            f"    {pname}\n    {{\n        type {ptype};{group}\n        nFaces {n};\n"
            f"        startFace {start};\n    }}"
        )
        start += n
    (mesh / "boundary").write_text(
        _header("polyBoundaryMesh", "boundary", "constant/polyMesh")
        + f"\n{len(patches)}\n(\n"
        + "\n".join(entries)
        + "\n)\n"
    )
    return {"cells": n_cells, "faces": len(faces), "wall_faces": len(wall)}
