"""Neighbour search in plain torch (PyG's radius_graph/knn_graph need pyg-lib or
torch-cluster, which cannot be installed on this project's machines).

Convention (PyG's source_to_target flow): ``edge_index[0]`` is the neighbour j,
``edge_index[1]`` the centre i, and the edge vector from i to j is
``pos[j] + shift - pos[i]`` where ``shift`` (E, 3) is the Cartesian offset of
j's periodic image in Å (zero without periodicity). The selection of edges is
not differentiable (it is a mask), but vectors built from ``pos`` are.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch


def image_shifts(
    cell: torch.Tensor, pbc: tuple[bool, bool, bool], cutoff: float, positions: torch.Tensor | None = None
) -> torch.Tensor:
    """Integer image offsets (S, 3) needed so that every neighbour within cutoff is found.

    Two atoms whose fractional coordinates along lattice vector d differ by t are at
    least |t| * h_d apart, h_d being the spacing of the lattice planes spanned by the two
    other vectors (cell volume over their area, = 1 / |b_d| for the reciprocal vector b_d).
    Atoms differ by at most `extent` (the spread of the atoms' fractional coordinates along d;
    positions (N, 3) Å, 0 when not given, i.e. all atoms in one cell), so image k can hold a
    neighbour only if
    |k| <= cutoff / h_d + extent. Without the extent, atoms stored outside the home cell
    (another periodic image, as relaxations and users leave them) lose neighbours.
    Computed in float64 numpy: on 3x3 matrices torch's per-call overhead dominated.
    """
    c = cell.detach().double().numpy()
    try:
        inv = np.linalg.inv(c)  # column d: reciprocal vector b_d (no 2 pi); h_d = 1 / |b_d|
    except np.linalg.LinAlgError:
        if any(pbc):
            raise ValueError("a periodic structure has a singular cell (zero volume)") from None
        inv = None
    frac = None
    if inv is not None and positions is not None and len(positions):
        frac = positions.detach().double().numpy() @ inv  # (N, 3)
    ranges = []
    for d in range(3):
        if not pbc[d] or inv is None:
            ranges.append([0])
            continue
        extent = float(frac[:, d].max() - frac[:, d].min()) if frac is not None else 0.0
        n = int(math.floor(cutoff * float(np.linalg.norm(inv[:, d])) + extent + 1e-9))
        ranges.append(range(-n, n + 1))
    return torch.tensor(list(itertools.product(*ranges)), dtype=cell.dtype)


def radius_edges(
    pos: torch.Tensor, cutoff: float, cell: torch.Tensor | None = None, pbc: tuple[bool, bool, bool] = (False,) * 3
) -> tuple[torch.Tensor, torch.Tensor]:
    """All pairs closer than cutoff (Å) in one structure, periodic images included.

    pos: (N, 3); cell: (3, 3) lattice vectors as rows, needed when any pbc.
    Returns edge_index (2, E) long and shift (E, 3), with no self-edges in the
    home cell but with edges to an atom's own periodic images.
    """
    n = pos.shape[0]
    p = pos.detach()
    if any(pbc):
        if cell is None:
            raise ValueError("a periodic structure needs its cell")
        ints = image_shifts(cell.detach().to(p.dtype), pbc, cutoff, p)  # (S, 3)
        offsets = ints @ cell.detach().to(p.dtype)
    else:
        offsets = torch.zeros((1, 3), dtype=p.dtype)
    # dist[i, j, s] = |pos[j] + offset[s] - pos[i]|; cdist without the matrix-product shortcut is exact.
    images = (p[None, :, :] + offsets[:, None, :]).reshape(-1, 3)  # (S * N, 3), image s of atom j at s * n + j
    dist = torch.cdist(p, images, compute_mode="donot_use_mm_for_euclid_dist").view(n, -1, n).transpose(1, 2)
    mask = dist < cutoff
    home = torch.nonzero(torch.all(offsets == 0, dim=-1)).flatten()
    if len(home):
        idx = torch.arange(n)
        mask[idx, idx, home[0]] = False
    i, j, s = torch.nonzero(mask, as_tuple=True)
    return torch.stack([j, i]), offsets[s]


def radius_edges_batch(
    pos: torch.Tensor,
    batch: torch.Tensor,
    cutoff: float,
    cell: torch.Tensor | None = None,
    pbc: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """radius_edges for a batch of structures: pos (N, 3), batch (N,) graph index,
    cell (B, 3, 3) and pbc (B, 3) bool (or None for none). Indices are global."""
    edges, shifts = [], []
    n_graphs = int(batch.max().item()) + 1 if batch.numel() else 0
    starts = torch.zeros(n_graphs + 1, dtype=torch.long)
    starts[1:] = torch.cumsum(torch.bincount(batch, minlength=n_graphs), 0)
    for g in range(n_graphs):
        a, b = starts[g].item(), starts[g + 1].item()
        periodic = tuple(bool(v) for v in pbc[g]) if pbc is not None else (False,) * 3
        e, s = radius_edges(pos[a:b], cutoff, None if cell is None else cell[g], periodic)
        edges.append(e + a)
        shifts.append(s)
    if not edges:
        return torch.zeros((2, 0), dtype=torch.long), torch.zeros((0, 3), dtype=pos.dtype)
    return torch.cat(edges, 1), torch.cat(shifts, 0)


def knn_edges(pos: torch.Tensor, k: int) -> torch.Tensor:
    """Each node's k nearest other nodes (no periodicity): edge_index (2, N*k), neighbour -> centre."""
    n = pos.shape[0]
    k = min(k, n - 1)
    dist = torch.cdist(pos.detach(), pos.detach())
    dist.fill_diagonal_(float("inf"))
    nbr = torch.topk(dist, k, dim=1, largest=False).indices
    centre = torch.arange(n).repeat_interleave(k)
    return torch.stack([nbr.flatten(), centre])
