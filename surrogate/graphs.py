"""Designs -> torch_geometric graphs, differentiable in positions and compositions.

Airfoils: any contour (a .dat file's points, or a CST vector) becomes the same
kind of graph: 2 x stations - 1 nodes at fixed cosine-spaced chord stations on the
upper and lower surfaces (stations per surface: AIRFOIL_STATIONS unless a model records another
resolution, see contour_stations) (trailing edge -> upper -> leading edge -> lower ->
trailing edge), edges between contour neighbours up to 3 apart and across the
section between the surfaces' stations at the same chord position (a fixed
topology: see airfoil_edges). Node positions are
(x/c, y/c, 0); the scalar node features are the station x, a surface flag and
the local surface slope, because an airfoil has no rotation symmetry: the chord
line is the reference for the angle of attack. The contour's start point and
point count do not matter: the contour is canonicalised and resampled.

Atoms: slabs with adsorbates (OC20 tags 0/1/2) become radius graphs with
periodic images. Node features are element probabilities (N, len(ELEMENTS)) over atomic numbers (elements.py) -
a one-hot row for a concrete atom, any distribution for a soft composition -
and the one-hot tag.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch_geometric.data import Data

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import cosine_spacing
from phenograd.datasets.cst import cst_surfaces

from .elements import ELEMENT_INDEX, ELEMENTS
from .neighbors import radius_edges

AIRFOIL_STATIONS = 65  # per surface, leading and trailing edges included: the default resolution
AIRFOIL_NODES = 2 * AIRFOIL_STATIONS - 1
#: Fewest stations per surface a model may use: with the contour edges up to 3 apart and the 0.25-chord cutoff,
#: 9 stations still join every node to its contour neighbours (mid-chord spacing about 0.2 chords).
MIN_AIRFOIL_STATIONS = 9
AIRFOIL_CHAIN_REACH = (1, 2, 3)  # contour neighbours joined by edges
#: Version of the airfoil graph construction; checkpoints record it (1 had k-nearest-neighbour edges).
AIRFOIL_GRAPH_VERSION = 2
AIRFOIL_NODE_FEATURES = 4  # x, is_upper, dy/dx (clipped), y

# Å: the first two fcc neighbour shells of every EMT metal (a = 3.49-4.06 Å). 5.0 Å (EMT's own range,
# up to the 3rd shell) gave 32 edges per atom against 17 here and made a training epoch 2.2x slower.
ATOM_CUTOFF = 4.5
N_TAGS = 3


# --------------------------------------------------------------------------- airfoils


def _interp(x_new: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation (torch, differentiable in xp and fp); xp ascending."""
    idx = torch.searchsorted(xp.detach().contiguous(), x_new.detach().contiguous()).clamp(1, len(xp) - 1)
    x0, x1 = xp[idx - 1], xp[idx]
    w = (x_new - x0) / (x1 - x0).clamp_min(1e-12)
    return fp[idx - 1] + w * (fp[idx] - fp[idx - 1])


def canonical_contour(coords: torch.Tensor) -> torch.Tensor:
    """Selig-ordered open contour (M, 2) from any closed or open loop of points.

    Drops a repeated closing point, orients the loop counter-clockwise and rolls
    it to start at the trailing edge (largest x, the upper one of a blunt edge).
    """
    c = coords
    if torch.allclose(c[0], c[-1]):
        c = c[:-1]
    x, y = c[:, 0], c[:, 1]
    area2 = torch.sum(x * torch.roll(y, -1) - torch.roll(x, -1) * y)
    if area2 < 0:
        c = torch.flip(c, [0])
    xmax = c[:, 0].max()
    near_te = torch.nonzero(c[:, 0] > xmax - 1e-9).flatten()
    start = near_te[torch.argmax(c[near_te, 1])].item()
    return torch.roll(c, -start, 0)


def contour_stations(n_nodes: int) -> int:
    """Stations per surface of an airfoil graph of n_nodes nodes (2 x stations - 1)."""
    return (n_nodes + 1) // 2


def contour_graph_settings(stations: int) -> dict:
    """The encoder settings (encoder.GeometricEncoder's graph_nodes) that record a contour resolution of
    `stations` per surface: none for the default one, so that earlier files keep their settings."""
    if stations < MIN_AIRFOIL_STATIONS:
        raise InputError(
            f"contour_stations must be at least {MIN_AIRFOIL_STATIONS}, got {stations}", parameter="contour_stations"
        )
    return {} if stations == AIRFOIL_STATIONS else {"graph_nodes": 2 * stations - 1}


def encoder_stations(encoder: dict) -> int:
    """Chord stations per surface of the airfoil graphs an encoder's settings record (AIRFOIL_STATIONS when
    they record none). InputError for a node count no contour graph has."""
    nodes = encoder.get("graph_nodes")
    if nodes is None:
        return AIRFOIL_STATIONS
    if not isinstance(nodes, int) or nodes % 2 == 0 or contour_stations(nodes) < MIN_AIRFOIL_STATIONS:
        raise InputError(
            f"encoder setting graph_nodes = {nodes!r}: an airfoil contour graph has 2 x stations - 1 nodes "
            f"with at least {MIN_AIRFOIL_STATIONS} stations per surface (damaged file?)"
        )
    return contour_stations(nodes)


def airfoil_surfaces(coords: torch.Tensor, stations: int = AIRFOIL_STATIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """Upper and lower y at the cosine stations (stations,) of a contour (M, 2)."""
    c = canonical_contour(coords)
    le = int(torch.argmin(c[:, 0].detach()))
    upper = torch.flip(c[: le + 1], [0])
    lower = c[le:]
    x = torch.as_tensor(cosine_spacing(stations), dtype=c.dtype)

    def sample(surface):
        s = surface[torch.argsort(surface[:, 0].detach(), stable=True)]
        xs = torch.clamp(x, min=float(s[0, 0]), max=float(s[-1, 0]))  # stations inside the surface's x range
        return _interp(xs, s[:, 0], s[:, 1])

    return sample(upper), sample(lower)


def airfoil_nodes(y_up: torch.Tensor, y_lo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Node positions (..., 2S - 1, 3) and features (..., 2S - 1, AIRFOIL_NODE_FEATURES) of the airfoil graphs
    of surfaces y_up, y_lo (..., S) at S cosine stations, in float32 as the graphs store them; vectorised over
    the leading dimensions (a batch of shapes in one call) and differentiable in y."""
    stations = y_up.shape[-1]
    x = torch.as_tensor(cosine_spacing(stations), dtype=y_up.dtype)
    xs = torch.cat([x.flip(0), x[1:]]).expand(*y_up.shape[:-1], 2 * stations - 1)
    ys = torch.cat([y_up.flip(-1), y_lo[..., 1:]], dim=-1)
    is_upper = torch.cat([torch.ones(stations, dtype=xs.dtype), torch.zeros(stations - 1, dtype=xs.dtype)])
    slope = _slope(xs, ys)
    pos = torch.stack([xs, ys, torch.zeros_like(xs)], dim=-1)
    feats = torch.stack([xs, is_upper.expand_as(xs), torch.clamp(slope, -5.0, 5.0) / 5.0, ys], dim=-1)
    return pos.float(), feats.float()


def airfoil_nodes_from_cst(params: torch.Tensor, stations: int = AIRFOIL_STATIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """airfoil_nodes of CST designs (..., 18), evaluated exactly at the stations: a whole batch in one call."""
    x = torch.as_tensor(cosine_spacing(stations), dtype=params.dtype)
    return airfoil_nodes(*cst_surfaces(params, x))


def _airfoil_data(y_up: torch.Tensor, y_lo: torch.Tensor) -> Data:
    pos, feats = airfoil_nodes(y_up, y_lo)
    stations = y_up.shape[-1]
    return Data(x=feats, pos=pos, edge_index=airfoil_edges(stations), num_nodes=2 * stations - 1)


@lru_cache(maxsize=4)
def _airfoil_edges(stations: int) -> torch.Tensor:
    n, last = 2 * stations - 1, stations - 1
    pairs = [(i, i + d) for d in AIRFOIL_CHAIN_REACH for i in range(n - d)]
    upper = lambda s: last - s  # noqa: E731  (node of the upper surface at station s; s = 0 is the leading edge)
    lower = lambda s: last + s  # noqa: E731
    pairs += [(upper(s), lower(t)) for s in range(1, last + 1) for t in (s - 1, s, s + 1) if 1 <= t <= last]
    e = torch.tensor(pairs, dtype=torch.long).T
    return torch.unique(torch.cat([e, e.flip(0)], dim=1), dim=1)


def airfoil_edges(stations: int = AIRFOIL_STATIONS) -> torch.Tensor:
    """The airfoil graph's edges (2, E), the same for every shape of a resolution: contour neighbours up to
    AIRFOIL_CHAIN_REACH apart, and each upper-surface station to the lower-surface stations
    at the same and the adjacent chord positions. A fixed topology keeps predictions
    smooth in the shape (k-nearest-neighbour edges switch discontinuously when two
    distances tie, e.g. on every symmetric airfoil), which gradient-based design needs."""
    return _airfoil_edges(stations).clone()


def _slope(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """dy/dx along the contour (the last dimension) by central differences (one-sided at the ends)."""
    dx = torch.cat([xs[..., 1:2] - xs[..., 0:1], xs[..., 2:] - xs[..., :-2], xs[..., -1:] - xs[..., -2:-1]], dim=-1)
    dy = torch.cat([ys[..., 1:2] - ys[..., 0:1], ys[..., 2:] - ys[..., :-2], ys[..., -1:] - ys[..., -2:-1]], dim=-1)
    return dy / torch.where(dx.abs() < 1e-9, torch.full_like(dx, 1e-9), dx)


def airfoil_graph(coords, stations: int = AIRFOIL_STATIONS) -> Data:
    """Graph of a contour (M, 2) (array or tensor; gradients flow from node positions to it)."""
    c = torch.as_tensor(coords, dtype=torch.float64)
    y_up, y_lo = airfoil_surfaces(c, stations)
    return _airfoil_data(y_up, y_lo)


def airfoil_graph_from_cst(params: torch.Tensor, stations: int = AIRFOIL_STATIONS) -> Data:
    """Graph of a CST design (18,), evaluated exactly at the graph's stations (differentiable)."""
    x = torch.as_tensor(cosine_spacing(stations), dtype=params.dtype)
    y_up, y_lo = cst_surfaces(params, x)
    return _airfoil_data(y_up, y_lo)


# --------------------------------------------------------------------------- atoms


def element_one_hot(symbols) -> torch.Tensor:
    """(N, len(ELEMENTS)) one-hot rows; ValueError names an element outside the vocabulary."""
    index = ELEMENT_INDEX
    try:
        rows = [index[s] for s in symbols]
    except KeyError as exc:
        raise ValueError(f"element {exc.args[0]!r} is not in the surrogate's vocabulary (H to Bi)") from None
    out = torch.zeros((len(rows), len(ELEMENTS)))
    out[torch.arange(len(rows)), torch.tensor(rows, dtype=torch.long)] = 1.0
    return out


def atoms_graph(
    atoms, element_probs: torch.Tensor | None = None, cutoff: float = ATOM_CUTOFF, positions: torch.Tensor | None = None
) -> Data:
    """Radius graph of an ase.Atoms with OC20 tags, periodic images included.

    element_probs: optional (N, len(ELEMENTS)) probabilities replacing the atoms'
    own elements (a soft composition; gradients flow to it). positions: optional
    (N, 3) tensor in Å replacing atoms.positions (gradients flow to it).
    """
    pos = torch.as_tensor(atoms.positions, dtype=torch.float32) if positions is None else positions
    cell = torch.as_tensor(np.asarray(atoms.cell), dtype=pos.dtype)
    pbc = tuple(bool(v) for v in atoms.pbc)
    edge_index, shift = radius_edges(pos, cutoff, cell, pbc)
    probs = element_one_hot(atoms.get_chemical_symbols()) if element_probs is None else element_probs
    tags = torch.as_tensor(atoms.get_tags(), dtype=torch.long)
    if tags.numel() and (tags.min() < 0 or tags.max() >= N_TAGS):
        raise ValueError("tags must be OC20's 0 (fixed subsurface), 1 (surface) or 2 (adsorbate)")
    return Data(
        pos=pos,
        element_probs=probs,
        tags=tags,
        edge_index=edge_index,
        shift=shift,
        cell=cell[None],
        pbc=torch.tensor([pbc]),
        num_nodes=len(atoms),
    )


def atom_node_inputs(data) -> torch.Tensor:
    """Scalar encoder inputs (N, len(ELEMENTS) + N_TAGS) of a (batched) atom graph: element probabilities
    and the one-hot tag (the catalyst domain's node inputs)."""
    tags = torch.nn.functional.one_hot(data.tags, N_TAGS).to(data.element_probs.dtype)
    return torch.cat([data.element_probs, tags], dim=-1)


def edge_vectors(pos: torch.Tensor, edge_index: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
    """Vectors (E, 3) from each centre i to its neighbour j's image: pos[j] + shift - pos[i]."""
    vec = pos[edge_index[0]] - pos[edge_index[1]]
    return vec if shift is None else vec + shift.to(vec.dtype)


def cosine_cutoff(d: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Smooth envelope 0.5 (cos(pi d / rc) + 1) for d < rc, else 0."""
    return torch.where(d < cutoff, 0.5 * (torch.cos(math.pi * d / cutoff) + 1.0), torch.zeros_like(d))
