"""The catalyst v2 protocol: 31 metals, 7 facets, 10 adsorbates, a universal potential as ground truth.

Plan (a deterministic function of the request; slab i is drawn from SeedSequence([seed, i, 0xC2]), so a
larger ``n`` extends a smaller one):

* **Slab.** Decoration drawn from pure 0.25, random binary 0.35, ordered L1_2 / L1_0 / B2 0.20 (among the
  prototypes the drawn metals allow), random ternary 0.10, high-entropy (4-5 metals) 0.10; metals uniform
  over the request's; facet uniform over the crystal's facets (fcc (111), (100), (110), (211); bcc (110),
  (100); hcp (0001)); termination and decoration seeded. Built by :mod:`phenograd.datasets.surfaces`.
* **Systems.** ``adsorbates_per_slab`` distinct adsorbates per slab, uniform; a *system* is one
  (slab, adsorbate) pair. Its placements: one (a site drawn by kind, then uniformly) or, on every
  ``minimum_every``-th slab, up to ``minimum_placements`` placements on distinct sites, kinds first; a
  polyatomic adsorbate is turned about the surface normal by a seeded angle. Every placement is a relaxation
  and a row; a system's adsorption energy is the AdsorbML minimum over its placements that did not
  desorb, dissociate, reconstruct the surface or intercalate (:func:`system_minima`).
* **Splits** (by slab, so no surface is on both sides): ``ood_facet`` = every fcc(110) slab;
  ``ood_composition`` = slabs holding both metals of a held-out pair (:func:`held_out_pair`: 6 % of all
  pairs of the v2 metals by a hash; pure slabs never); ``test`` = 10 % of the rest by a hash of the slab's
  uid; ``train`` the rest.

Relaxations, storage, resumption and parallel workers are the v1 machinery
(:mod:`phenograd.datasets.catalyst_generate`, :mod:`phenograd.datasets.catalyst_store`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from ase import Atoms

from phenograd.core.errors import InputError
from phenograd.simulators.adsorption import RelaxSettings, check_elements, gas_references, site_kind
from phenograd.simulators.calculators import calculator_info, calculator_spec, get_calculator

from .catalyst import contact_height
from .catalyst_generate import Placement, label_plan
from .catalyst_store import CatalystStore, recheck_anomalies, structure_uid
from .generation import GenerationSummary
from .surfaces import (
    CRYSTAL_OF,
    FACETS_OF,
    MIN_LATERAL,
    MIN_SLAB_SIZE,
    PROTOTYPE_CRYSTAL,
    V2_METALS,
    BulkSpec,
    SurfaceSpec,
    build_surface,
    facet_label,
    lattice_parameters,
    parse_facet,
    surface_sites,
)

# Binding atom first, at the origin; the rest above it (Å; gas-phase bond lengths and angles).
_CH = 1.09
_NH = 1.02
ADSORBATES_V2 = {
    "H": Atoms("H"),
    "O": Atoms("O"),
    "C": Atoms("C"),
    "N": Atoms("N"),
    "OH": Atoms("OH", positions=[(0, 0, 0), (0, 0, 0.97)]),
    "CO": Atoms("CO", positions=[(0, 0, 0), (0, 0, 1.14)]),
    "NH": Atoms("NH", positions=[(0, 0, 0), (0, 0, _NH)]),
    "NH2": Atoms("NH2", positions=[(0, 0, 0), (0.815, 0, 0.61), (-0.815, 0, 0.61)]),
    # H atoms at the tetrahedral angle from the surface bond: 70.5 degrees from the normal.
    "CH3": Atoms(
        "CH3",
        positions=[(0, 0, 0)]
        + [
            (
                _CH * math.sin(math.radians(70.5)) * math.cos(t),
                _CH * math.sin(math.radians(70.5)) * math.sin(t),
                _CH * math.cos(math.radians(70.5)),
            )
            for t in (0, 2 * math.pi / 3, 4 * math.pi / 3)
        ],
    ),
    # O-O 1.45 Å tilted 38 degrees from the normal, O-O-H about 107 degrees.
    "OOH": Atoms("OOH", positions=[(0, 0, 0), (0.9, 0, 1.14), (0.35, 0, 1.95)]),
}
V2_ADSORBATES = ("H", "O", "OH", "OOH", "C", "CO", "CH3", "N", "NH", "NH2")
V2_FACETS = tuple(facet_label(c, m) for c, ms in FACETS_OF.items() for m in ms)
OOD_FACET = "fcc110"
HELD_OUT_PAIR_FRACTION = 0.06
TEST_FRACTION = 0.1
#: Anomalies that disqualify a placement from its system's minimum (AdsorbML, Lan et al. 2023).
MINIMUM_EXCLUDES = ("desorbed", "dissociated", "reconstructed", "intercalated")


def is_disqualified(anomalies: str | None) -> bool:
    """Whether a stored placement's anomalies ("none" or comma-joined flags) leave it out of its system's minimum
    (:data:`MINIMUM_EXCLUDES`): its E_ads is not the binding energy of an adsorbate at a site."""
    return bool(set(str(anomalies or "none").split(",")) & set(MINIMUM_EXCLUDES))


DECORATION_WEIGHTS = {"pure": 0.25, "binary": 0.35, "ordered": 0.20, "ternary": 0.10, "hea": 0.10}


def held_out_pair(a: str, b: str) -> bool:
    """True for the metal pairs of the out-of-distribution-composition split (a hash of the sorted pair)."""
    key = "-".join(sorted((a, b)))
    return int(hashlib.sha256(f"v2pair:{key}".encode()).hexdigest()[:8], 16) < HELD_OUT_PAIR_FRACTION * 16**8


def split_v2(metals: Sequence[str], facet: str, slab_uid: str) -> str:
    """ood_facet, ood_composition, test or train (see the module docstring)."""
    if facet == OOD_FACET:
        return "ood_facet"
    if any(held_out_pair(a, b) for a, b in itertools.combinations(sorted(set(metals)), 2)):
        return "ood_composition"
    h = int(hashlib.sha256(f"split:{slab_uid}".encode()).hexdigest()[:8], 16)
    return "test" if h < TEST_FRACTION * 16**8 else "train"


def place(slab: Atoms, adsorbate: str, xy, angle: float = 0.0) -> Atoms:
    """A copy of slab with the adsorbate's binding atom touching the surface at xy (Å), the molecule
    turned by angle (radians) about the normal; tag 2 and FixAtoms on tag 0 as everywhere."""
    from ase.constraints import FixAtoms

    if adsorbate not in ADSORBATES_V2:
        raise InputError(f"unknown adsorbate {adsorbate!r}: use one of {', '.join(ADSORBATES_V2)}")
    ads = ADSORBATES_V2[adsorbate].copy()
    if angle and len(ads) > 1:
        ads.rotate(math.degrees(angle), "z", center=(0, 0, 0))
    z = contact_height(slab, xy, ads[0].symbol)
    ads.translate(np.array([xy[0], xy[1], z]) - ads.positions[0])
    ads.set_tags(2)
    out = slab.copy()
    out.set_constraint()
    out.extend(ads)
    out.set_constraint(FixAtoms(mask=out.get_tags() == 0))
    return out


@dataclass
class V2Request:
    """What `phenograd data catalyst --protocol v2` asks for.

    n: distinct systems (slab, adsorbate). calculator: the ground truth (chgnet by default).
    adsorbates_per_slab: systems per slab. minimum_every: every k-th slab's systems get up to
    minimum_placements placements (the AdsorbML minimum); 0 = never. min_lateral: shortest surface
    cell vector, Å; min_slab_size: metal thickness, Å (see :mod:`phenograd.datasets.surfaces`).
    """

    n: int
    seed: int = 0
    metals: Sequence[str] = V2_METALS
    adsorbates: Sequence[str] = V2_ADSORBATES
    facets: Sequence[str] = V2_FACETS
    calculator: str = "chgnet"
    adsorbates_per_slab: int = 3
    minimum_every: int = 5
    minimum_placements: int = 4
    fmax: float = 0.05
    steps: int = 300
    min_lateral: float = MIN_LATERAL
    min_slab_size: float = MIN_SLAB_SIZE

    def settings(self) -> RelaxSettings:
        s = RelaxSettings(fmax=self.fmax, steps=self.steps)
        s.validate()
        return s

    def validate(self) -> None:
        if self.n < 0:
            raise InputError(f"n must be >= 0, got {self.n}")
        if not self.metals or len(set(self.metals)) != len(self.metals):
            raise InputError("metals: give each metal once, at least one")
        unknown = [m for m in self.metals if m not in CRYSTAL_OF]
        if unknown:
            raise InputError(
                f"metal {unknown[0]!r} has no bulk crystal in the v2 protocol "
                f"(it knows {', '.join(sorted(CRYSTAL_OF))})"
            )
        check_elements(self.metals, self.calculator, "metals")
        bad = [a for a in self.adsorbates if a not in ADSORBATES_V2]
        if bad or not self.adsorbates:
            raise InputError(f"adsorbate {bad[0] if bad else ''!r}: use {', '.join(ADSORBATES_V2)}")
        for f in self.facets:
            parse_facet(f)
        if not any(
            facet_label(CRYSTAL_OF[m], mi) in self.facets for m in self.metals for mi in FACETS_OF[CRYSTAL_OF[m]]
        ):
            raise InputError("facets: none of them belongs to the crystal of any requested metal")
        if not 1 <= self.adsorbates_per_slab <= len(self.adsorbates):
            raise InputError(f"adsorbates_per_slab must be within [1, {len(self.adsorbates)}]")
        if not (2.0 <= self.min_lateral <= 20.0 and 3.0 <= self.min_slab_size <= 20.0):
            raise InputError("min_lateral must be within [2, 20] Å and min_slab_size within [3, 20] Å")
        if self.minimum_every < 0 or not 1 <= self.minimum_placements <= 16:
            raise InputError("minimum_every must be >= 0 and minimum_placements within [1, 16]")
        self.settings()

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        for k in ("metals", "adsorbates", "facets"):
            d[k] = list(d[k])
        d["protocol"] = "v2"
        d["calculator"] = calculator_spec(self.calculator)
        return d


def sample_bulk(rng: np.random.Generator, metals: Sequence[str], facets: Sequence[str]) -> tuple[BulkSpec, tuple]:
    """A seeded bulk decoration and Miller index whose facet is among facets (see the module docstring)."""
    for _ in range(100):
        kinds = [
            k
            for k in DECORATION_WEIGHTS
            if {"pure": 1, "binary": 2, "ordered": 2, "ternary": 3, "hea": 4}[k] <= len(metals)
        ]
        w = np.array([DECORATION_WEIGHTS[k] for k in kinds])
        kind = kinds[rng.choice(len(kinds), p=w / w.sum())]
        if kind == "pure":
            bulk = BulkSpec("pure", ((str(rng.choice(metals)), 1.0),))
        elif kind == "ordered":
            a, b = (str(x) for x in rng.choice(metals, 2, replace=False))
            proto = str(rng.choice(list(PROTOTYPE_CRYSTAL)))
            x = 0.75 if proto == "L12" else 0.5
            bulk = BulkSpec(proto, ((a, x), (b, 1 - x)))
        else:
            k = {"binary": 2, "ternary": 3}.get(kind) or int(rng.integers(4, min(5, len(metals)) + 1))
            chosen = [str(x) for x in rng.choice(metals, k, replace=False)]
            w = rng.dirichlet(2.0 * np.ones(k)) * 0.8 + 0.2 / k  # no metal below 4 %
            bulk = BulkSpec("random", tuple((m, float(x)) for m, x in zip(chosen, np.round(w / w.sum(), 3))))
            total = sum(x for _, x in bulk.fractions)
            bulk = BulkSpec(
                "random", bulk.fractions[:-1] + ((bulk.fractions[-1][0], round(bulk.fractions[-1][1] + 1 - total, 3)),)
            )
        allowed = [m for m in FACETS_OF[bulk.crystal] if facet_label(bulk.crystal, m) in facets]
        if allowed:
            return bulk, allowed[int(rng.integers(len(allowed)))]
    raise InputError("facets: cannot draw a slab whose facet is among the requested ones")


@dataclass(frozen=True)
class SystemPlacement(Placement):
    """A planned placement with its system's labels (system id, placement index, initial site kind)."""

    labels: dict = field(default_factory=dict, compare=False)


def plan_systems(
    rng: np.random.Generator, slab: Atoms, request: V2Request, minimum: bool, sites: list | None = None
) -> list[tuple[str, list]]:
    """[(adsorbate, [(site, angle), ...]), ...]: the slab's systems and their placements (sites: the slab's
    surface_sites when already found)."""
    sites = surface_sites(slab) if sites is None else sites
    by_kind: dict[str, list] = {}
    for s in sites:
        by_kind.setdefault(s.kind, []).append(s)
    kinds = sorted(by_kind)
    adsorbates = [str(a) for a in rng.choice(list(request.adsorbates), request.adsorbates_per_slab, replace=False)]
    systems = []
    for ads in adsorbates:
        k = min(request.minimum_placements, len(sites)) if minimum else 1
        order = [kinds[i] for i in rng.permutation(len(kinds))]
        chosen = []
        while len(chosen) < k:
            for kind in order:
                free = [s for s in by_kind[kind] if s not in chosen]
                if free and len(chosen) < k:
                    chosen.append(free[int(rng.integers(len(free)))])
        systems.append((ads, [(s, float(rng.uniform(0, 2 * math.pi))) for s in chosen]))
    return systems


def iter_plan_v2(
    request: V2Request,
    spec: str,
    settings: RelaxSettings,
    complete: dict[tuple[int, str], int] | None = None,
    skipped: Counter | None = None,
) -> Iterator[tuple[int, str, Atoms, dict, list]]:
    """(slab index, slab uid, slab, slab labels, placements) in plan order until request.n systems.

    complete: {(slab index, adsorbate): stored rows} of systems already labelled in full
    (CatalystStore.complete_systems). A slab whose planned systems are all among them is counted and
    not built (building and site-finding cost about a second a slab, which made resuming a release of
    thousands of slabs take most of an hour); its rows are added to skipped["placements"].
    """
    systems = 0
    i = 0
    while systems < request.n:
        rng = np.random.default_rng(np.random.SeedSequence([request.seed, i, 0xC2]))
        bulk, miller = sample_bulk(rng, list(request.metals), list(request.facets))
        surface = SurfaceSpec(
            bulk,
            miller,
            seed=int(rng.integers(2**31)),
            min_lateral=request.min_lateral,
            min_slab_size=request.min_slab_size,
        )
        if complete:
            # plan_systems draws the adsorbates first, and building the slab draws nothing from rng
            wanted = min(request.adsorbates_per_slab, request.n - systems)
            planned = copy.deepcopy(rng).choice(list(request.adsorbates), request.adsorbates_per_slab, replace=False)
            keys = [(i, str(a)) for a in planned[:wanted]]
            if all(k in complete for k in keys):
                systems += wanted
                if skipped is not None:
                    skipped["placements"] += sum(complete[k] for k in keys)
                i += 1
                continue
        try:
            slab = build_surface(surface, spec)
            sites = surface_sites(slab)
        except InputError as exc:  # a cut pymatgen cannot make or a surface without sites: skip it, said aloud
            warnings.warn(f"v2 plan: slab {i} ({surface.facet} {bulk.fractions}) skipped: {exc}", stacklevel=2)
            i += 1
            continue
        slab_uid = structure_uid(slab, spec, settings, "s")
        metals = sorted(set(slab.get_chemical_symbols()))
        minimum = request.minimum_every > 0 and i % request.minimum_every == 0
        labels = {
            "protocol": "v2",
            "facet": surface.facet,
            "crystal": bulk.crystal,
            "decoration": bulk.decoration,
            "composition": "".join(f"{m}{x:.3g}" for m, x in sorted(bulk.fractions)),
            "metals": "-".join(metals),
            "n_metals": len(metals),
            "split": split_v2(metals, surface.facet, slab_uid),
            "slab_index": i,
            "minimum_set": minimum,
            "calculator_name": calculator_info(spec)["name"],
        }
        placements = []
        for ads, chosen in plan_systems(rng, slab, request, minimum, sites):
            if systems == request.n:
                break
            systems += 1
            system = f"{slab_uid}:{ads}"
            for j, (site, angle) in enumerate(chosen):
                atoms = place(slab, ads, site.xy, angle)
                uid = structure_uid(atoms, spec, settings, "a")
                placements.append(
                    SystemPlacement(
                        uid,
                        ads,
                        site_kind(atoms),
                        atoms,
                        labels={"system": system, "placement": j, "n_placements": len(chosen)},
                    )
                )
        yield i, slab_uid, slab, labels, placements
        i += 1


def prepare_v2(store: CatalystStore, request: V2Request):
    """Validate, compute (or reuse) the references and lattice constants, record the protocol."""
    request.validate()
    spec = calculator_spec(request.calculator)
    settings = request.settings()
    get_calculator(spec)
    refs = gas_references(spec, settings)
    lattice = {
        f"{m}:{c}": list(lattice_parameters(m, c, spec))
        for m in request.metals
        for c in {CRYSTAL_OF[m]} | ({"fcc", "bcc"} if len(request.metals) > 1 else set())
    }
    store.update_meta(
        references={spec: refs.as_dict()},
        lattice_constants={spec: lattice},
        calculators={spec: calculator_info(spec)},
        protocol={
            "name": "v2",
            "relax": settings.as_dict(),
            "tags": "0 fixed (bottom half of the layers), 1 free surface, 2 adsorbate",
            "e_ads": "E(adslab) - E(clean slab) - sum mu_X; mu_H = E(H2)/2, mu_O = E(H2O) - E(H2), "
            "mu_N = E(N2)/2, mu_C = E(CO) - mu_O",
            "system": "slab + adsorbate; E_ads(system) = min over its placements that did not desorb, dissociate, "
            "reconstruct or intercalate (AdsorbML)",
        },
        splits={
            "ood_facet": f"every {OOD_FACET} slab",
            "ood_composition": f"slabs holding both metals of a held-out pair ({HELD_OUT_PAIR_FRACTION:.0%} of pairs "
            "by sha256('v2pair:A-B'))",
            "test": f"{TEST_FRACTION:.0%} of the other slabs by sha256('split:' + slab uid)",
            "train": "the rest",
        },
    )
    store.record_request(request.as_dict())
    return spec, settings, refs


def generate_v2(
    path: str | Path,
    request: V2Request,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Relax every planned placement not yet in the dataset at path and store it (resumable)."""
    request.validate()  # before the file exists: a bad request leaves no file behind
    store = CatalystStore.open(path)
    spec, settings, refs = prepare_v2(store, request)
    rechecked = recheck_anomalies(store)
    if rechecked and progress:
        print(f"{path}: anomaly flags of {rechecked} stored placements updated to the current checks", flush=True)
    skipped: Counter = Counter()
    summary = label_plan(
        store,
        iter_plan_v2(request, spec, settings, store.complete_systems(), skipped),
        spec,
        settings,
        refs,
        GenerationSummary(planned=request.n),
        workers,
        scheduler,
        progress,
    )
    summary.already_present += skipped["placements"]
    return summary


def system_minima(rows: Sequence[dict]) -> dict[str, dict]:
    """AdsorbML's rule over labelled rows (key-value dicts with system, e_ads, status, anomalies):
    per system, the row of lowest E_ads among placements that relaxed ok without a disqualifying anomaly
    (:data:`MINIMUM_EXCLUDES`). A placement that moved to another site is kept, as in AdsorbML: its label
    belongs to the site it relaxed to, which is what the minimum searches for.

    Returns {system: {"row": that row, "valid": valid placements, "placements": all placements}};
    a system with no valid placement maps to row None.
    """
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["system"], {"row": None, "valid": 0, "placements": 0})
        entry["placements"] += 1
        if r.get("status") == "ok" and not is_disqualified(r.get("anomalies")) and r.get("e_ads") is not None:
            entry["valid"] += 1
            if entry["row"] is None or r["e_ads"] < entry["row"]["e_ads"]:
                entry["row"] = r
    return out
