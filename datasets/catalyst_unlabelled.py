"""Unlabelled catalyst structures for self-supervised pretraining (no simulation).

Protocol v2 (``protocol="v2"``): the initial adsorbate+slab structures the v2 release's plan would relax
(datasets.catalyst_v2: pymatgen surfaces of its 31 metals and 7 facets, its 10 adsorbates, lattice constants of the
release's potential), drawn with another seed than the release's 0 so that they are other slabs, and only slabs of
split "train": held-out metal pairs and the held-out facet stay unseen.

Protocol v1 reaches wider than the labelled protocol: facets (111), (100), (110) and (211);
surface cells 2x2 to 4x4 ((211): 3x2 or 3x3); 3 to 5 layers; the same
composition sampler (pure, random binaries, ternaries and HEAs, L1_2, L1_0);
0 to 3 adsorbates from H, O, N, C, OH, CO per slab, each either on a named site
or at a uniformly random lateral position (binding atom touching the surface,
at least 2 Å laterally from the adsorbates already placed). Structure i is drawn
from SeedSequence([seed, i, 0x5EED]), so a larger n extends a smaller one.
OC20 tags and FixAtoms on tag 0 as everywhere in phenograd.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from ase import Atoms

from phenograd.core.atomic import atomic_path
from phenograd.core.errors import InputError
from phenograd.simulators.adsorption import TAG_ADSORBATE, check_elements

from .catalyst import ADSORBATES, EMT_METALS, FACETS, adsorption_sites, build_slab, place_adsorbate
from .catalyst_generate import CatalystRequest, sample_slab_spec
from .catalyst_info import UNLABELLED_KIND

N_ADSORBATES_WEIGHTS = {0: 0.15, 1: 0.5, 2: 0.2, 3: 0.15}


@dataclass
class UnlabelledRequest:
    """n structures; elements, adsorbates and facets default to all phenograd knows (EMT's metals)."""

    n: int
    seed: int = 0
    elements: Sequence[str] | None = None
    adsorbates: Sequence[str] | None = None
    facets: Sequence[str] | None = None
    protocol: str = "v1"

    def resolved(self) -> "UnlabelledRequest":
        if self.protocol not in ("v1", "v2"):
            raise InputError(f"unknown protocol {self.protocol!r}; use v1 or v2", parameter="protocol")
        if self.n < 0:
            raise InputError(f"n must be >= 0, got {self.n}", parameter="n")
        if self.protocol == "v2":
            if self.elements or self.adsorbates or self.facets:
                raise InputError(
                    "protocol v2 draws from the release's own space: drop --elements, --adsorbates, --facets"
                )
            if self.seed == V2_RELEASE_SEED:
                raise InputError(
                    f"protocol v2 with seed {V2_RELEASE_SEED} would draw the release's own slabs: use another seed",
                    parameter="seed",
                )
            return self
        r = UnlabelledRequest(
            self.n,
            self.seed,
            tuple(self.elements or EMT_METALS),
            tuple(self.adsorbates or ADSORBATES),
            tuple(self.facets or FACETS),
        )
        if len(set(r.elements)) != len(r.elements):
            raise InputError("elements: an element is given twice", parameter="elements")
        try:
            check_elements(r.elements, None, "elements")
        except InputError as exc:
            raise InputError(str(exc), parameter="elements") from None
        bad = [a for a in r.adsorbates if a not in ADSORBATES] + [f for f in r.facets if f not in FACETS]
        if bad:
            raise InputError(
                f"unknown adsorbate or facet {bad[0]!r} (adsorbates {', '.join(ADSORBATES)}; "
                f"facets {', '.join(FACETS)})"
            )
        return r


#: The seed of the v2 release (Makefile: catalyst-v2-release); unlabelled v2 structures use any other.
V2_RELEASE_SEED = 0


def iter_unlabelled_v2(request: UnlabelledRequest) -> Iterator[Atoms]:
    """Yield request.n initial structures of the v2 plan drawn with request.seed, from train-split slabs only."""
    import warnings

    from phenograd.simulators.calculators import calculator_spec

    from .catalyst_v2 import V2Request, iter_plan_v2

    plan = V2Request(n=2**62, seed=request.seed)
    spec = calculator_spec(plan.calculator)
    made = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # slabs the plan skips are said in the release's log, not here
        for _, _, _, labels, placements in iter_plan_v2(plan, spec, plan.settings()):
            if labels["split"] != "train":
                continue
            for p in placements:
                if made == request.n:
                    return
                atoms = p.atoms.copy()
                atoms.info = {
                    "facet": labels["facet"],
                    "decoration": labels["decoration"],
                    "composition": labels["composition"],
                    "n_adsorbates": 1,
                    "adsorbate": p.adsorbate,
                    "index": made,
                    "seed": request.seed,
                    "protocol": "v2",
                    "split": labels["split"],
                }
                made += 1
                yield atoms


def iter_unlabelled(request: UnlabelledRequest) -> Iterator[Atoms]:
    """Yield request.n tagged structures (slab + 0-3 adsorbates), deterministic in the seed."""
    r = request.resolved()
    if r.protocol == "v2":
        yield from iter_unlabelled_v2(r)
        return
    base = CatalystRequest(n=0, elements=r.elements, adsorbates=r.adsorbates)
    counts, weights = zip(*N_ADSORBATES_WEIGHTS.items())
    for i in range(r.n):
        rng = np.random.default_rng(np.random.SeedSequence([r.seed, i, 0x5EED]))
        facet = str(rng.choice(list(r.facets)))
        k = int(rng.integers(2, 5))
        size = (3, int(rng.integers(2, 4))) if facet == "211" else (k, k)
        spec = sample_slab_spec(rng, replace(base, facets=(facet,), size=size, layers=int(rng.integers(3, 6))))
        atoms = build_slab(spec)
        sites = adsorption_sites(atoms)
        placed: list[np.ndarray] = []
        for _ in range(int(rng.choice(counts, p=weights))):
            for _attempt in range(10):
                if rng.random() < 0.5:
                    xy = np.asarray(sites[rng.integers(len(sites))].xy)
                else:
                    xy = rng.random(2) @ atoms.cell[:2, :2]
                if all(_lateral(atoms, xy, q) >= 2.0 for q in placed):
                    atoms = place_adsorbate(atoms, str(rng.choice(list(r.adsorbates))), xy)
                    placed.append(xy)
                    break
        atoms.info = {
            "facet": f"fcc{facet}",
            "decoration": spec.decoration,
            "composition": spec.composition.label(),
            "n_adsorbates": len(placed),
            "index": i,
            "seed": r.seed,
        }
        yield atoms


def _lateral(atoms: Atoms, a, b) -> float:
    from ase.geometry import find_mic

    _, d = find_mic(np.r_[np.asarray(a) - np.asarray(b), 0.0], atoms.cell, (True, True, False))
    return float(d)


def write_unlabelled(path: str | os.PathLike, request: UnlabelledRequest) -> tuple[Path, dict]:
    """Write the structures to path (.db: ase.db; else any ase.io format by suffix), atomically.

    Returns (path, counts per facet). An existing file is replaced only once the new one is complete.
    """
    p = Path(path)
    if not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist")
    if p.exists() and not p.is_file():
        raise InputError(f"{p}: exists and is not a file")
    structures = list(iter_unlabelled(request))
    counts: dict[str, int] = {}
    for a in structures:
        counts[a.info["facet"]] = counts.get(a.info["facet"], 0) + 1
    with atomic_path(p, suffix=p.suffix or ".extxyz") as tmp:
        if p.suffix == ".db":
            from ase.db import connect

            os.unlink(tmp)
            db = connect(str(tmp), type="db", use_lock_file=False)
            with db:
                for a in structures:
                    db.write(a, key_value_pairs={k: v for k, v in a.info.items()})
            r = request.resolved()
            db.metadata = {
                "kind": UNLABELLED_KIND,
                "request": {
                    "n": r.n,
                    "seed": r.seed,
                    "protocol": r.protocol,
                    "elements": list(r.elements or []),
                    "adsorbates": list(r.adsorbates or []),
                    "facets": list(r.facets or []),
                },
            }
        else:
            from ase.io import write

            try:
                write(str(tmp), structures, format=None if p.suffix else "extxyz")
            except Exception as exc:  # unknown or single-frame format
                raise InputError(f"{p}: cannot write structures in this format ({type(exc).__name__}: {exc})") from None
    return p, counts


def adsorbate_count(atoms: Atoms) -> int:
    """Number of adsorbate atoms (tag 2) in a structure."""
    return int((atoms.get_tags() == TAG_ADSORBATE).sum())
