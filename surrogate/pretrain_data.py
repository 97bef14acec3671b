"""Unlabelled structures for pretraining the shared encoder; held-out structures never enter.

What `phenograd pretrain --data FILE` takes, per domain:

* airfoil: an airfoil polar dataset (.db): every shape that is not held out
  (split "test" shapes are skipped; polars are ignored), plus ``n_sampled``
  freshly sampled CST shapes (half scrambled Sobol, half mixes of real training
  airfoils: datasets.airfoil_sampling, fitted to training airfoils only, no
  XFOIL run). Or an .npz from `phenograd data unlabelled --domain airfoil`
  (same samplers). Every stored contour enters with a random start point and
  resampling (a symmetry; masking.resample_contour).
* catalyst: an ase.db from `phenograd data unlabelled --domain catalyst`
  (structures, no labels) or a labelled catalyst dataset whose labels are
  ignored: its adsorbate+slab initial structures of split "train" (rows of
  split "test" or "ood" are skipped). In both, slabs holding both metals of the
  out-of-distribution pair (datasets.catalyst.OOD_PAIR) are skipped, so the
  held-out chemistry stays unseen. ``geometry="relaxed"`` (labelled files only)
  takes each structure's relaxed positions instead of its initial ones:
  equilibrium structures are what coordinate denoising assumes (its target
  approximates the restoring force, which depends on the neighbours' elements),
  whereas generated initial structures sit on ideal lattices whatever their
  composition.

A catalyst file from `phenograd data single-points` is an unlabelled ase.db whose rows also carry a potential's
energy and forces; their graphs get them as ``sp_energy`` (1,) in eV and ``sp_forces`` (N, 3) in eV/Å (the
pretraining objective "potential").
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from phenograd.core.errors import InputError, one_line

from .domain import get_domain
from .graphs import AIRFOIL_STATIONS, airfoil_graph, airfoil_graph_from_cst, contour_graph_settings
from .masking import resample_contour


@dataclass
class UnlabelledSet:
    """graphs: one per structure; counts: where they came from; data_hash: content digest; encoder_settings: the
    encoder settings that record how the graphs were built where that is a choice (the airfoil contour's
    resolution, encoder.GeometricEncoder's graph_nodes), so that the pretrained encoder carries them."""

    domain: str
    graphs: list[Data]
    counts: dict = field(default_factory=dict)
    data_hash: str = ""
    encoder_settings: dict = field(default_factory=dict)


def _digest(parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
    return h.hexdigest()[:16]


def _airfoil_contours_from_db(path: Path) -> tuple[list[np.ndarray], list[str]]:
    from phenograd.datasets.polar_store import PolarStore

    with PolarStore.open_readonly(path) as store:
        ids = [
            sid for (sid,) in store.conn.execute("SELECT shape_id FROM shapes WHERE split != 'test' ORDER BY shape_id")
        ]
        contours = [store.shape(sid).coordinates for sid in ids]
    return contours, ids


def _airfoil_contours_from_npz(path: Path) -> tuple[list[np.ndarray], list[str]]:
    try:
        with np.load(path, allow_pickle=False) as z:  # numbers only: an object array would unpickle
            coords = np.asarray(z["coordinates"], dtype=float)
    except Exception as exc:  # zipfile/pickle/KeyError for damaged or foreign files
        raise InputError(
            f"{path}: not an airfoil contour file from `phenograd data unlabelled` ({type(exc).__name__})"
        ) from None
    if coords.ndim != 3 or coords.shape[-1] != 2:
        raise InputError(f"{path}: `coordinates` must be (n, points, 2), got {coords.shape}")
    return list(coords), [hashlib.sha256(c.tobytes()).hexdigest()[:16] for c in coords]


def load_airfoil_unlabelled(path, n_sampled: int = 0, seed: int = 0, stations: int = AIRFOIL_STATIONS) -> UnlabelledSet:
    """Airfoil graphs (stations per surface) for pretraining (see the module docstring); deterministic in seed."""
    settings = contour_graph_settings(stations)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such data file")
    contours, ids = _airfoil_contours_from_npz(p) if p.suffix == ".npz" else _airfoil_contours_from_db(p)
    rng = np.random.default_rng([seed, 0xC0])
    graphs = []
    for c in contours:
        try:
            graphs.append(airfoil_graph(resample_contour(c, rng), stations))
        except Exception as exc:  # a degenerate contour in a hand-made file
            raise InputError(f"{p}: a contour could not be made into a graph ({type(exc).__name__}: {exc})") from None
    sampled = []
    if n_sampled > 0:
        from phenograd.datasets.airfoil_sampling import mixed_shapes, sobol_shapes

        s = np.random.SeedSequence([seed, 0x5A]).generate_state(2)
        sampled = np.concatenate(
            [sobol_shapes(n_sampled - n_sampled // 2, int(s[0])), mixed_shapes(n_sampled // 2, int(s[1]))]
        )
        graphs += [airfoil_graph_from_cst(torch.as_tensor(q, dtype=torch.float64), stations) for q in sampled]
    if not graphs:
        raise InputError(f"{p}: no unlabelled airfoils to pretrain on (held-out shapes are never used)")
    resolution = [f"stations={stations}"] if settings else []  # the default keeps the hashes of earlier files
    return UnlabelledSet(
        "airfoil",
        graphs,
        {"stored": len(contours), "sampled": len(sampled)},
        _digest([p.name, *ids, n_sampled, seed, *resolution]),
        settings,
    )


def write_airfoil_contours(path, n: int, seed: int = 0) -> Path:
    """Unlabelled airfoils for pretraining: an .npz with `coordinates` (n, P, 2) in chords
    (Selig order) and the generating `cst` (n, 18); half scrambled-Sobol CST shapes,
    half mixes of real training airfoils (datasets.airfoil_sampling). Written atomically."""
    from phenograd.core.atomic import atomic_file
    from phenograd.datasets.airfoil_sampling import mixed_shapes, sobol_shapes
    from phenograd.datasets.cst import cst_coordinates

    p = Path(path)
    if p.suffix != ".npz":
        raise InputError(f"{p}: airfoil contours are written to an .npz file")
    if not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist")
    if n < 0:
        raise InputError(f"n must be >= 0, got {n}", parameter="n")
    seeds = np.random.SeedSequence([seed, 0xA1F]).generate_state(2)
    params = np.concatenate([sobol_shapes(n - n // 2, int(seeds[0])), mixed_shapes(n // 2, int(seeds[1]))])
    coords = (
        np.stack([cst_coordinates(torch.as_tensor(q, dtype=torch.float64)).numpy() for q in params])
        if n
        else np.zeros((0, 0, 2))
    )
    with atomic_file(p, suffix=".npz") as f:
        np.savez_compressed(f, coordinates=coords.astype(np.float32), cst=params)
    return p


def _db_kind(p: Path) -> str | None:
    from phenograd.datasets.catalyst_info import UNLABELLED_KIND
    from phenograd.datasets.output_file import check_integrity

    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            try:
                tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.DatabaseError:
                tables = set()
            if "systems" not in tables:
                check_integrity(conn, p, "SQLite file")  # damaged rather than foreign: say so
                return "foreign"
            row = (
                conn.execute("SELECT value FROM information WHERE name='metadata'").fetchone()
                if "information" in tables
                else None
            )
            kind = json.loads(row[0]).get("kind") if row else None
            if kind == UNLABELLED_KIND:  # (a labelled file is checked by CatalystStore.open_readonly)
                check_integrity(conn, p, "ase.db file")
            return kind
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:  # the header said SQLite (checked by the caller): damaged
        raise InputError(f"{p}: damaged SQLite file ({one_line(exc)}); restore it from a copy") from None


GEOMETRIES = ("initial", "relaxed")


def load_catalyst_unlabelled(path, limit: int | None = None, geometry: str = "initial") -> UnlabelledSet:
    """Atom graphs for pretraining from an unlabelled or labelled catalyst ase.db (see the module docstring)."""
    from phenograd.datasets.catalyst_info import UNLABELLED_KIND
    from phenograd.datasets.catalyst_single_points import pretraining_rows

    from .catalyst_data import structure_graphs

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such data file")
    with open(p, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise InputError(f"{p}: not an ase.db catalyst file (bad header; truncated or overwritten?)")
    kind = _db_kind(p)
    if kind == "foreign":
        raise InputError(f"{p}: an SQLite file but not an ase.db of structures")
    if geometry not in GEOMETRIES:
        raise InputError(f"unknown geometry {geometry!r}; use {' or '.join(GEOMETRIES)}")
    if kind == UNLABELLED_KIND and geometry == "relaxed":
        raise InputError(
            f"{p}: unlabelled structures were never relaxed; geometry relaxed needs a labelled dataset",
            parameter="geometry",
        )
    keep, skipped = pretraining_rows(p, relaxed_only=geometry == "relaxed")
    keep = keep[:limit] if limit else keep
    if not keep:
        raise InputError(f"{p}: no unlabelled structures to pretrain on (held-out structures are never used)")
    atoms = [r.toatoms() for r in keep]
    if geometry == "relaxed":
        for a, r in zip(atoms, keep):
            a.positions = np.asarray(r.data["relaxed_positions"], float)
    try:
        graphs = structure_graphs(atoms)
    except ValueError as exc:
        raise InputError(f"{p}: {exc}") from None
    single_points = attach_single_points(graphs, keep) if geometry == "initial" else 0
    return UnlabelledSet(
        "catalyst",
        graphs,
        {"structures": len(graphs), "held_out_skipped": skipped, "geometry": geometry}
        | ({"single_points": single_points} if single_points else {}),
        _digest([p.name, geometry if geometry != "initial" else "", *(r.unique_id for r in keep)]),
    )


def attach_single_points(graphs: list[Data], rows) -> int:
    """Give each graph its row's potential single point when every row has one (`phenograd data single-points`):
    sp_energy (1,) in eV and sp_forces (N, 3) in eV/Å, atoms in the graph's node order. Returns how many got one."""
    if not rows or any(r.get("energy") is None or r.get("forces") is None for r in rows):
        return 0
    for g, r in zip(graphs, rows):
        g.sp_energy = torch.tensor([float(r.energy)], dtype=torch.float32)
        g.sp_forces = torch.tensor(np.asarray(r.forces), dtype=torch.float32)
    return len(graphs)


def load_unlabelled(
    domain: str,
    path,
    n_sampled: int = 0,
    seed: int = 0,
    limit: int | None = None,
    geometry: str = "initial",
    stations: int | None = None,
) -> UnlabelledSet:
    """The pretraining set of a domain from FILE (its PretrainView.load_unlabelled; see the module docstring
    for the built-in ones); options the domain has no use for are ignored.

    Args:
        domain: a registered domain's name ("airfoil", "catalyst").
        path: the file of structures (module docstring: what each domain reads).
        n_sampled: airfoil: freshly sampled CST shapes added to the file's.
        seed: for those samples.
        limit: catalyst: at most this many structures (the first of those kept).
        geometry: catalyst, labelled files: "initial" or "relaxed" positions.
        stations: airfoil: chord stations per surface of the contour graphs (None: the default resolution).
    """
    view = get_domain(domain).pretraining
    if view is None:
        raise InputError(f"the {domain} domain has no pretraining")
    options = {} if stations is None else {"stations": stations}
    if options and "stations" not in inspect.signature(view.load_unlabelled).parameters:
        raise InputError(f"contour stations are not a setting of the {domain} domain's graphs")
    return view.load_unlabelled(path, n_sampled=n_sampled, seed=seed, limit=limit, geometry=geometry, **options)
