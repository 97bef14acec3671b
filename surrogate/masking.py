"""Hiding part of a structure from the context encoder, and the symmetries used as augmentations.

Masks (boolean (N,) tensors, True = hidden):

* airfoils: one contiguous arc of the contour (nodes are in contour order:
  trailing edge -> upper surface -> leading edge -> lower surface -> trailing
  edge; an arc may wrap around the trailing edge).
* atoms: a patch around a site: an adsorbate atom (a surface atom when the
  slab is clean) and every atom within ``radius`` Å of it, periodic images
  included, so the adsorbate and the metal atoms it binds to are hidden together.

:func:`context_graph` returns the graph of the visible nodes only: hidden nodes
and every edge touching them are removed, so nothing of them reaches the
context encoder. For airfoils, one input of a visible node is derived from its
neighbours (the surface slope, by finite differences along the contour): it is
recomputed from visible nodes only, otherwise a hidden node's position would
leak through it; the airfoil graph's edges are a fixed topology
(graphs.airfoil_edges), independent of positions, so dropping those touching
hidden nodes is enough. For atoms the inputs are per node (element, tag) and a
radius edge depends only on its two ends, so dropping is enough too.

Augmentations are exact symmetries of the physics, never coordinate noise
(noise changes the physics: it is the denoising target, see pretrain.py):
rigid motions, node permutations and the choice of periodic image for atoms;
the airfoil contour's start point and resampling (applied to coordinates
before the graph is built, see :func:`resample_contour`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

ARC_FRACTION = (0.15, 0.30)  # share of the contour's nodes hidden per airfoil
PATCH_RADIUS = 3.2  # Å around the patch centre (first metal shell of an adsorbate's site)
MAX_HIDDEN_FRACTION = 0.5


def is_atoms(data: Data) -> bool:
    return getattr(data, "element_probs", None) is not None


# --------------------------------------------------------------------------- masks


def airfoil_arc_mask(n_nodes: int, rng: np.random.Generator, fraction=ARC_FRACTION) -> Tensor:
    """(n_nodes,) bool: a contiguous arc of round(f * n_nodes) contour nodes, f uniform in `fraction`."""
    length = max(1, int(round(rng.uniform(*fraction) * n_nodes)))
    start = int(rng.integers(n_nodes))
    idx = (start + np.arange(length)) % n_nodes
    mask = torch.zeros(n_nodes, dtype=torch.bool)
    mask[torch.as_tensor(idx)] = True
    return mask


def edge_lengths(data: Data) -> Tensor:
    """|pos[j] + shift - pos[i]| per edge (E,), in the structure's length unit."""
    vec = data.pos[data.edge_index[0]] - data.pos[data.edge_index[1]]
    if getattr(data, "shift", None) is not None:
        vec = vec + data.shift.to(vec.dtype)
    return torch.linalg.norm(vec.detach(), dim=-1)


def atom_patch_mask(data: Data, rng: np.random.Generator, radius: float = PATCH_RADIUS) -> Tensor:
    """(N,) bool: a patch centred on a random adsorbate atom (tag 2; else a surface atom, tag 1):
    the centre and every atom within `radius` Å of it (periodic images count). The radius shrinks
    until at most MAX_HIDDEN_FRACTION of the atoms are hidden. Needs the radius graph's edges
    (cutoff >= radius)."""
    n = data.num_nodes
    tags = data.tags
    for tag in (2, 1, 0):
        pool = torch.nonzero(tags == tag).flatten()
        if len(pool):
            break
    centre = int(pool[int(rng.integers(len(pool)))])
    d = edge_lengths(data)
    from_centre = data.edge_index[1] == centre
    r = radius
    while True:
        mask = torch.zeros(n, dtype=torch.bool)
        mask[centre] = True
        mask[data.edge_index[0][from_centre & (d < r)]] = True
        if mask.sum() <= max(1, int(MAX_HIDDEN_FRACTION * n)) or r < 0.5:
            return mask
        r *= 0.8


# --------------------------------------------------------------------------- context graphs


def contour_slope_visible(xs: Tensor, ys: Tensor, visible: Tensor) -> Tensor:
    """dy/dx (N,) along the contour from visible nodes only: central differences between the
    visible contour neighbours, one-sided where one of them is hidden (or past an end), 0 for a
    node with neither. With every node visible it equals graphs._slope."""
    n = len(xs)
    idx = torch.arange(n)
    prev_ok = torch.zeros(n, dtype=torch.bool)
    next_ok = torch.zeros(n, dtype=torch.bool)
    prev_ok[1:] = visible[:-1]
    next_ok[:-1] = visible[1:]
    lo = torch.where(prev_ok, (idx - 1).clamp_min(0), idx)
    hi = torch.where(next_ok, (idx + 1).clamp_max(n - 1), idx)
    dx, dy = xs[hi] - xs[lo], ys[hi] - ys[lo]
    slope = dy / torch.where(dx.abs() < 1e-9, torch.full_like(dx, 1e-9), dx)
    return torch.where(lo == hi, torch.zeros_like(slope), slope)


def _keep_edges(data: Data, visible: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(kept node indices, edge mask, edge_index relabelled to them) of the visible subgraph."""
    keep = torch.nonzero(visible).flatten()
    new_index = torch.full((data.num_nodes,), -1, dtype=torch.long)
    new_index[keep] = torch.arange(len(keep))
    e = data.edge_index
    ok = visible[e[0]] & visible[e[1]]
    return keep, ok, new_index[e[:, ok]]


def airfoil_context(data: Data, hidden: Tensor) -> Data:
    visible = ~hidden
    keep, _, edges = _keep_edges(data, visible)
    slope = contour_slope_visible(data.pos[:, 0], data.pos[:, 1], visible)
    x = data.x.clone()
    x[:, 2] = (torch.clamp(slope, -5.0, 5.0) / 5.0).to(x.dtype)
    return Data(x=x[keep], pos=data.pos[keep], edge_index=edges, num_nodes=len(keep))


def atoms_context(data: Data, hidden: Tensor) -> Data:
    keep, ok, edges = _keep_edges(data, ~hidden)
    out = Data(
        pos=data.pos[keep],
        element_probs=data.element_probs[keep],
        tags=data.tags[keep],
        edge_index=edges,
        num_nodes=len(keep),
    )
    if getattr(data, "shift", None) is not None:
        out.shift = data.shift[ok]
    for key in ("cell", "pbc"):
        if getattr(data, key, None) is not None:
            out[key] = data[key]
    return out


def context_graph(data: Data, hidden: Tensor) -> Data:
    """The graph of the visible nodes (hidden (N,) bool): hidden nodes and their edges removed,
    neighbour-derived inputs recomputed from visible nodes (see the module docstring)."""
    return atoms_context(data, hidden) if is_atoms(data) else airfoil_context(data, hidden)


# --------------------------------------------------------------------------- symmetries


def random_rotation(rng: np.random.Generator) -> Tensor:
    """A uniformly random proper rotation (3, 3) (QR of a Gaussian matrix, sign-fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return torch.as_tensor(q, dtype=torch.float32)


def augment_atoms(data: Data, rng: np.random.Generator) -> Data:
    """The same structure under a random rigid motion, node permutation and choice of periodic
    image per atom (each atom moved by -1, 0 or +1 lattice vector along every periodic axis, the
    edge shifts corrected so every edge vector is unchanged before the rotation)."""
    n = data.num_nodes
    pos, shift = data.pos.clone(), data.shift.clone()
    cell = data.cell[0]
    pbc = data.pbc[0]
    ints = torch.as_tensor(rng.integers(-1, 2, size=(n, 3)), dtype=pos.dtype) * pbc.to(pos.dtype)
    move = ints @ cell.to(pos.dtype)
    pos = pos + move
    j, i = data.edge_index  # vector i -> j's image: pos[j] + shift - pos[i]; keep it unchanged
    shift = shift - move[j] + move[i]
    rot = random_rotation(rng).to(pos.dtype)
    t = torch.as_tensor(rng.normal(0.0, 3.0, size=3), dtype=pos.dtype)
    pos, shift, cell = pos @ rot.T + t, shift @ rot.T, cell @ rot.T
    perm = torch.as_tensor(rng.permutation(n))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    out = Data(
        pos=pos[perm],
        element_probs=data.element_probs[perm],
        tags=data.tags[perm],
        edge_index=inv[data.edge_index],
        shift=shift,
        cell=cell[None],
        pbc=data.pbc,
        num_nodes=n,
    )
    if getattr(data, "sp_forces", None) is not None:  # a potential's single point moves with the structure
        out.sp_forces = (data.sp_forces.to(pos.dtype) @ rot.T)[perm]
        out.sp_energy = data.sp_energy
    return out


def resample_contour(coords: np.ndarray, rng: np.random.Generator, n_range=(120, 300)) -> np.ndarray:
    """The same closed airfoil contour (M, 2), started at a random point and resampled at a random
    number of points uniformly in arc length (plus every original point near the leading edge
    region kept by the linear interpolation). Graph construction canonicalises both away
    (graphs.canonical_contour, fixed stations), so this is a symmetry up to interpolation error."""
    c = np.asarray(coords, dtype=float)
    if np.allclose(c[0], c[-1]):
        c = c[:-1]
    closed = np.vstack([c, c[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    m = int(rng.integers(*n_range))
    start = rng.uniform(0, s[-1])
    t = (start + np.linspace(0, s[-1], m, endpoint=False)) % s[-1]
    t = np.unique(np.concatenate([t, s[:-1]]))  # keep original vertices: the leading edge stays sharp
    t = np.roll(t, -int(np.searchsorted(t, start)))
    return np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1)
