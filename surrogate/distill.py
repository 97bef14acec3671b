"""Ensemble distillation: a training split relabelled by a teacher model and widened with inputs it never labelled.

Airfoils (distilled_points): the release's training shapes plus new CST shapes.

A student (typically one narrow member) learns the teacher ensemble's mean prediction instead of XFOIL's labels,
on the release's training shapes and on `extra` shapes the release never labelled: convex combinations of two
training shapes' CST vectors, a weight per pair drawn uniformly, so they stay inside the design space the data
spans. Each new shape is asked at the operating points (Re, alpha, Ncrit) of its first parent's polars. The
teacher labels every training point with its ensemble mean [CL, ln CD, CM, Top_Xtr, Bot_Xtr] and marks the point
converged where its mean convergence probability exceeds 1/2 (regression targets only there, as with XFOIL).

Validation and held-out shapes keep their XFOIL labels, so early stopping, the head refit's selection and every
score are against the simulator, never against the teacher.

Catalysts (distilled_samples): the release's training placements relabelled with the teacher's mean E_ads (initial
structure in, as everywhere), plus the structures of an unlabelled file (one adsorbate each: `phenograd data
unlabelled --domain catalyst --protocol v2`, train-split slabs only, so held-out metal pairs and the held-out facet
stay unseen). Validation and held-out placements keep the potential's labels.

Why: the student predicts 5-10x faster than the 5-member teacher (the design loop's cost); distillation from an
ensemble on unlabelled inputs keeps much of the ensemble's accuracy in one model (Hinton et al. 2015,
arXiv:1503.02531; for regression with unlabelled inputs, the "born-again" and ensemble-distillation literature).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.cst import cst_to_coordinates

from .airfoil_data import AirfoilPoints
from .catalyst_data import CatalystSamples
from .elements import elements_of_graphs
from .graphs import ATOM_CUTOFF, airfoil_graph_from_cst

TEACHER_CHUNK = 128  # shapes per teacher pass (memory: 5 members x 128 shapes x 129 nodes x 4 x 64 floats)


def file_digest(path) -> str:
    """First 16 hex digits of a file's SHA-256 (names a teacher checkpoint)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def mixed_cst(cst: np.ndarray, parents: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n new CST vectors (n, 18), each w * a + (1 - w) * b of two distinct parents a, b (rows of cst, indices in
    `parents`) with w ~ U(0, 1); returns them and each one's first parent (n,) (whose operating points it gets)."""
    if len(parents) < 2:
        raise InputError("distillation needs at least 2 training shapes with a CST fit to mix")
    rng = np.random.default_rng([seed, 314159])
    a = rng.choice(parents, size=n)
    b = rng.choice(parents, size=n)
    same = a == b
    while same.any():  # redraw the few self-pairs, so every new shape is a real mixture
        b[same] = rng.choice(parents, size=int(same.sum()))
        same = a == b
    w = rng.uniform(0.0, 1.0, size=(n, 1))
    return w * cst[a] + (1.0 - w) * cst[b], a


@torch.no_grad()
def teacher_labels(teacher, graphs: list, cond: torch.Tensor, point_shape: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The teacher ensemble's mean targets (P, 5) and mean convergence probability (P,) at the points
    (cond (P, 3), point_shape (P,) into graphs), through its fixed-topology path, TEACHER_CHUNK shapes at a time."""
    values = torch.empty(len(point_shape), 5)
    prob = torch.empty(len(point_shape))
    order = torch.argsort(point_shape, stable=True)
    sorted_shape = point_shape[order]
    bounds = torch.searchsorted(sorted_shape, torch.arange(0, len(graphs) + TEACHER_CHUNK, TEACHER_CHUNK))
    dtype = next(teacher.ensemble.parameters()).dtype
    for c in range(0, len(graphs), TEACHER_CHUNK):
        lo, hi = int(bounds[c // TEACHER_CHUNK]), int(bounds[c // TEACHER_CHUNK + 1])
        if lo == hi:
            continue
        chunk = graphs[c : c + TEACHER_CHUNK]
        pos = torch.stack([g.pos for g in chunk]).to(dtype)
        x = torch.stack([g.x for g in chunk]).to(dtype)
        rows = order[lo:hi]
        v, logit = teacher.stacked_heads(
            teacher.embedding_of_nodes(pos, x), cond[rows].to(dtype), sorted_shape[lo:hi] - c
        )
        values[rows] = v.mean(0).float()
        prob[rows] = torch.sigmoid(logit).mean(0).float()
    return values, prob


def distilled_points(data: AirfoilPoints, teacher, extra: int, seed: int = 0, teacher_id: str = "") -> AirfoilPoints:
    """`data` with its training points relabelled by `teacher` (an AirfoilSurrogate) and `extra` mixed CST shapes
    added to the training split (module docstring). Validation and test points are kept as they are.
    teacher_id names the teacher in the returned data_hash, so a resumed run cannot mix two teachers' labels."""
    if extra < 0:
        raise InputError(f"extra shapes must be >= 0, got {extra}")
    train = data.shapes_in("train")
    if data.cst is None:
        raise InputError("the dataset stores no CST fits: distillation mixes CST vectors")
    parents = train[np.isfinite(data.cst[train]).all(axis=1)]
    new_cst, first_parent = mixed_cst(data.cst, parents, extra, seed) if extra else (np.zeros((0, 18)), [])

    def mixture_graphs(stations: int) -> list:
        graphs = [airfoil_graph_from_cst(torch.as_tensor(p, dtype=torch.float64), stations) for p in new_cst]
        for g in graphs:
            g.pos, g.x = g.pos.float(), g.x.float()
        return graphs

    new_graphs = mixture_graphs(data.stations)
    n0 = len(data.graphs)
    # Points: the kept ones (validation, test), then the training shapes' own, then each new shape's copy of its
    # first parent's operating points.
    is_train = torch.zeros(n0, dtype=torch.bool)
    is_train[torch.as_tensor(train)] = True
    keep = ~is_train[data.point_shape]
    own = torch.nonzero(~keep).squeeze(1)
    by_shape = {int(s): torch.nonzero(data.point_shape == int(s)).squeeze(1) for s in np.unique(first_parent)}
    copied = [by_shape[int(s)] for s in first_parent]
    copy_rows = torch.cat(copied) if copied else torch.zeros(0, dtype=torch.long)
    copy_shape = torch.repeat_interleave(
        torch.arange(n0, n0 + extra), torch.as_tensor([len(r) for r in copied], dtype=torch.long)
    )
    graphs = list(data.graphs) + new_graphs
    label_cond = torch.cat([data.cond[own], data.cond[copy_rows]])
    label_shape = torch.cat([data.point_shape[own], copy_shape])
    # the teacher reads graphs at its own resolution, which may not be the student's
    if teacher.stations == data.stations:
        seen = graphs
    else:
        seen = list(data.at_stations(teacher.stations).graphs) + mixture_graphs(teacher.stations)
    values, prob = teacher_labels(teacher, seen, label_cond, label_shape)
    converged = prob > 0.5
    targets = torch.where(converged[:, None], values, torch.full_like(values, float("nan")))
    digest = hashlib.sha256(f"{data.data_hash};{teacher_id};{extra};{seed}".encode()).hexdigest()[:16]
    return replace(
        data,
        graphs=graphs,
        shape_ids=list(data.shape_ids) + [f"distilled-{k}" for k in range(extra)],
        shape_split=list(data.shape_split) + ["train"] * extra,
        point_shape=torch.cat([data.point_shape[keep], label_shape]),
        cond=torch.cat([data.cond[keep], label_cond]),
        targets=torch.cat([data.targets[keep], targets]),
        converged=torch.cat([data.converged[keep], converged]),
        data_hash=digest,
        cst=np.concatenate([data.cst, new_cst]) if extra else data.cst,
        contours=None if data.contours is None else list(data.contours) + [cst_to_coordinates(p) for p in new_cst],
    )


@torch.no_grad()
def teacher_energies(teacher, graphs: list, batch_size: int = 256) -> torch.Tensor:
    """The teacher ensemble's mean E_ads (S,) eV of atom graphs built with its cutoff."""
    from torch_geometric.data import Batch

    batches = (Batch.from_data_list(graphs[i : i + batch_size]) for i in range(0, len(graphs), batch_size))
    out = [teacher.ensemble(b).mean(0) for b in batches]
    return torch.cat(out) if out else torch.zeros(0)


def one_adsorbate_graphs(path) -> list:
    """Atom graphs of an unlabelled catalyst file's structures (surrogate.pretrain_data: held-out splits and the
    held-out metal pair left out); InputError when one carries no adsorbate or several (an E_ads is of one)."""
    from ase.db import connect

    from .pretrain_data import load_catalyst_unlabelled

    unlabelled = load_catalyst_unlabelled(path)
    several = sum(1 for row in connect(str(path), type="db").select() if int(row.get("n_adsorbates", 1)) != 1)
    if several:
        raise InputError(
            f"{path}: {several} structures carry no adsorbate or several; distillation needs one adsorbate per "
            "structure (write them with `phenograd data unlabelled --domain catalyst --protocol v2`)"
        )
    return unlabelled.graphs


def distilled_samples(data: CatalystSamples, teacher, extra_path=None, teacher_id: str = "") -> CatalystSamples:
    """`data` with its training placements labelled by `teacher` (a CatalystSurrogate) and the structures of
    `extra_path` (None: none) added to the training split (module docstring). The teacher must build its graphs
    with the dataset's cutoff."""
    if abs(teacher.cutoff - ATOM_CUTOFF) > 1e-9:
        raise InputError(f"the teacher's graphs use a {teacher.cutoff:g} Å cutoff, the dataset's {ATOM_CUTOFF:g} Å")
    extra = one_adsorbate_graphs(extra_path) if extra_path is not None else []
    if extra:  # a teacher outside its elements extrapolates: its labels would teach the student noise
        teacher.check_elements(elements_of_graphs(extra), str(extra_path))
    train = data.items_in("train")
    labels = teacher_energies(teacher, [data.graphs[int(i)] for i in train] + extra)
    e_ads = data.e_ads.clone()
    e_ads[torch.as_tensor(train, dtype=torch.long)] = labels[: len(train)]
    n = len(extra)
    digest = hashlib.sha256(f"{data.data_hash};{teacher_id};{extra_path};{n}".encode()).hexdigest()[:16]
    flags = np.zeros(n, dtype=bool)
    return replace(
        data,
        graphs=list(data.graphs) + list(extra),
        e_ads=torch.cat([e_ads, labels[len(train) :]]),
        uids=list(data.uids) + [f"distilled-{k}" for k in range(n)],
        split=list(data.split) + ["train"] * n,
        adsorbate=list(data.adsorbate) + [""] * n,
        anomalous=np.concatenate([data.anomalous, flags]),
        data_hash=digest,
        disqualified=None if data.disqualified is None else np.concatenate([data.disqualified, flags]),
    )
