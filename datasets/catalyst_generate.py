"""Generate a labelled catalyst dataset: plan slabs and placements, relax them in parallel, store them.

The plan is a deterministic function of the request: slab i is drawn from its
own seed stream SeedSequence([seed, i]), so a larger --n extends a smaller one.
Each slab carries up to ``per_slab`` adsorbate placements on distinct
(adsorbate, symmetry-distinct site) pairs; a placement whose content hash was
already planned (pure metals recur) is skipped, so the plan holds exactly n
distinct structures. A task is one slab with its missing placements: the
worker relaxes the clean slab once (or reuses the stored one) and every
adslab on it; this process is the single writer. uids already in the file are
skipped, which makes a killed run resumable.

Composition mix per slab (weights; those impossible with the given elements drop out):
pure 0.08, random binary 0.30, L12 A3B 0.10, L10 AB 0.10, random ternary 0.17,
high-entropy (4-5 metals) 0.25. Binary counts are uniform over 1..n_sites-1;
ternary and HEA counts are 1 each plus a multinomial draw on Dirichlet(2) weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from ase import Atoms

from phenograd.core.errors import InputError
from phenograd.simulators.adsorption import (
    AdsorptionResult,
    References,
    RelaxSettings,
    SlabResult,
    adsorption_energy,
    calculator_spec,
    check_elements,
    gas_references,
    get_calculator,
    relax_slab,
)
from phenograd.simulators.parallel import run_unordered

from .catalyst import (
    ADSORBATES,
    DEFAULT_ADSORBATES,
    EMT_METALS,
    LABELLED_FACETS,
    MAX_METALS,
    OOD_PAIR,
    TEST_FRACTION,
    Composition,
    SlabSpec,
    adsorption_sites,
    build_slab,
    distinct_sites,
    fcc_lattice_constant,
    place_adsorbate,
    split_of,
)
from .catalyst_store import CatalystStore, adslab_row, slab_row, structure_uid
from .generation import GenerationSummary

DECORATION_WEIGHTS = {"pure": 0.08, "binary": 0.30, "L12": 0.10, "L10": 0.10, "ternary": 0.17, "hea": 0.25}
_MIN_METALS = {"pure": 1, "binary": 2, "L12": 2, "L10": 2, "ternary": 3, "hea": 4}


@dataclass
class CatalystRequest:
    """What `phenograd data catalyst` asks for (the plan depends on nothing else).

    Args:
        n: distinct labelled structures.
        seed: every random draw of the plan.
        elements, adsorbates, facets: what the sampled slabs and placements are made of.
        composition: fix every slab to random decorations of this composition
            ("Pt:0.75,Ni:0.25"), else compositions are sampled.
        size: surface cell.
        layers: atomic layers.
        vacuum: in Å.
        per_slab: placements per slab.
        calculator: the labelling calculator (None: EMT).
        fmax, steps: its relaxation settings (RelaxSettings).
    """

    n: int
    seed: int = 0
    elements: Sequence[str] = EMT_METALS
    adsorbates: Sequence[str] = DEFAULT_ADSORBATES
    facets: Sequence[str] = LABELLED_FACETS
    composition: str | None = None
    size: tuple[int, int] = (3, 3)
    layers: int = 4
    vacuum: float = 10.0
    per_slab: int = 4
    calculator: str | None = None
    fmax: float = 0.05
    steps: int = 300

    def settings(self) -> RelaxSettings:
        s = RelaxSettings(fmax=self.fmax, steps=self.steps)
        s.validate()
        return s

    def _check_elements(self, name: str, symbols) -> None:
        """check_elements for the calculator, the error naming the parameter `name`."""
        try:
            check_elements(symbols, self.calculator, name)
        except InputError as exc:
            raise InputError(str(exc), parameter=name) from None

    def validate(self) -> None:
        if self.n < 0:
            raise InputError(f"n must be >= 0, got {self.n}", parameter="n")
        if not 1 <= self.per_slab <= 64:
            raise InputError(f"per_slab must be within [1, 64], got {self.per_slab}", parameter="per_slab")
        if not self.elements:
            raise InputError("elements: give at least one metal", parameter="elements")
        if len(set(self.elements)) != len(self.elements):
            raise InputError("elements: an element is given twice", parameter="elements")
        self._check_elements("elements", self.elements)
        for el in self.elements:
            fcc_lattice_constant(el, self.calculator)
        bad = [a for a in self.adsorbates if a not in ADSORBATES]
        if bad or not self.adsorbates:
            raise InputError(
                f"adsorbates: unknown adsorbate {bad[0] if bad else ''!r}; use {', '.join(ADSORBATES)}",
                parameter="adsorbates",
            )
        self._check_elements("adsorbates", [s for a in self.adsorbates for s in ADSORBATES[a].get_chemical_symbols()])
        bad = [f for f in self.facets if f not in LABELLED_FACETS]
        if bad or not self.facets:
            raise InputError(
                f"facets: {bad[0] if bad else 'none given'!r}; the labelled protocol covers "
                f"{', '.join(LABELLED_FACETS)} ((110) and (211) are in `data unlabelled`)",
                parameter="facets",
            )
        if self.composition:
            Composition.parse(self.composition, self.elements)
        pure = Composition(((self.elements[0], 1.0),))
        SlabSpec(self.facets[0], "pure", pure, tuple(self.size), self.layers, self.vacuum).validate()  # cell and layers
        self.settings()

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        for k in ("elements", "adsorbates", "facets", "size"):
            d[k] = list(d[k])
        d["calculator"] = calculator_spec(self.calculator)
        return d


@dataclass(frozen=True)
class Placement:
    """One planned labelled structure: initial adslab with its uid, adsorbate and named site."""

    uid: str
    adsorbate: str
    site: str
    atoms: Atoms


@dataclass
class SlabTask:
    """One worker task: a clean slab, the placements on it still to label, and the settings."""

    index: int
    slab_uid: str
    slab: Atoms
    labels: dict
    placements: list
    calculator: str
    settings: RelaxSettings
    references: References
    clean: SlabResult | None = None


@dataclass
class TaskResult:
    task: SlabTask
    clean: SlabResult
    results: list  # [(Placement, AdsorptionResult)]


def sample_slab_spec(rng: np.random.Generator, request: CatalystRequest) -> SlabSpec:
    """A seeded draw of facet, decoration and composition (see the module docstring)."""
    facet = str(rng.choice(list(request.facets)))
    n_sites = request.size[0] * request.size[1] * request.layers
    seed = int(rng.integers(2**31))
    base = dict(size=tuple(request.size), layers=request.layers, vacuum=request.vacuum, seed=seed)
    if request.composition:
        comp = Composition.parse(request.composition, request.elements)
        return SlabSpec(facet, "pure" if len(comp.fractions) == 1 else "random", comp, **base)
    elements = list(request.elements)
    kinds = [k for k in DECORATION_WEIGHTS if _MIN_METALS[k] <= len(elements)]
    w = np.array([DECORATION_WEIGHTS[k] for k in kinds])
    kind = kinds[rng.choice(len(kinds), p=w / w.sum())]
    if kind == "pure":
        return SlabSpec(facet, "pure", Composition(((str(rng.choice(elements)), 1.0),)), **base)
    if kind in ("L12", "L10"):
        a, b = (str(x) for x in rng.choice(elements, 2, replace=False))
        x = 0.75 if kind == "L12" else 0.5
        return SlabSpec(facet, kind, Composition(((a, x), (b, 1 - x))), **base)
    k = {"binary": 2, "ternary": 3}.get(kind) or int(rng.integers(4, min(MAX_METALS, len(elements)) + 1))
    metals = [str(x) for x in rng.choice(elements, k, replace=False)]
    if k == 2:
        first = int(rng.integers(1, n_sites))
        counts = np.array([first, n_sites - first])
    else:
        counts = 1 + rng.multinomial(n_sites - k, rng.dirichlet(2.0 * np.ones(k)))
    return SlabSpec(facet, "random", Composition(tuple((m, c / n_sites) for m, c in zip(metals, counts))), **base)


def plan_placements(rng: np.random.Generator, slab: Atoms, request: CatalystRequest) -> list[tuple[str, object]]:
    """Up to per_slab distinct (adsorbate, site) pairs: adsorbate uniform, then site kind
    uniform, then a symmetry-distinct site of that kind uniform."""
    by_kind: dict[str, list] = {}
    for site in distinct_sites(adsorption_sites(slab)):
        by_kind.setdefault(site.kind, []).append(site)
    kinds = sorted(by_kind)
    chosen, seen = [], set()
    limit = min(request.per_slab, len(request.adsorbates) * sum(len(v) for v in by_kind.values()))
    for _ in range(20 * request.per_slab):
        if len(chosen) == limit:
            break
        ads = str(rng.choice(list(request.adsorbates)))
        sites = by_kind[kinds[rng.integers(len(kinds))]]
        site = sites[rng.integers(len(sites))]
        if (ads, site.orbit) not in seen:
            seen.add((ads, site.orbit))
            chosen.append((ads, site))
    return chosen


def iter_plan(
    request: CatalystRequest, spec: str, settings: RelaxSettings
) -> Iterator[tuple[int, str, Atoms, dict, list[Placement]]]:
    """(slab index, slab uid, slab, labels, placements) in plan order until n distinct placements."""
    planned: set[str] = set()
    i = 0
    while len(planned) < request.n:
        rng = np.random.default_rng(np.random.SeedSequence([request.seed, i]))
        slab_spec = sample_slab_spec(rng, request)
        slab = build_slab(slab_spec, spec)
        slab_uid = structure_uid(slab, spec, settings, "s")
        metals = sorted(set(slab.get_chemical_symbols()))
        labels = {
            "facet": f"fcc{slab_spec.facet}",
            "decoration": slab_spec.decoration,
            "composition": slab_spec.composition.label(),
            "metals": "-".join(metals),
            "n_metals": len(metals),
            "split": split_of(metals, slab_uid),
            "slab_index": i,
        }
        placements = []
        for ads, site in plan_placements(rng, slab, request):
            atoms = place_adsorbate(slab, ads, site.xy)
            uid = structure_uid(atoms, spec, settings, "a")
            if uid in planned or len(planned) == request.n:
                continue
            planned.add(uid)
            placements.append(Placement(uid, ads, site.kind, atoms))
        yield i, slab_uid, slab, labels, placements
        i += 1


def run_slab_task(task: SlabTask) -> TaskResult:
    """Worker entry point: relax the clean slab (unless given) and every placement on it."""
    clean = task.clean or relax_slab(task.slab, task.calculator, task.settings)
    results = []
    for p in task.placements:
        try:
            r = adsorption_energy(p.atoms, task.calculator, task.settings, task.references, slab=clean)
        except InputError as exc:
            r = AdsorptionResult(f"failed: rejected before relaxation: {exc}", p.atoms)
        results.append((p, r))
    return TaskResult(task, clean, results)


def prepare(store: CatalystStore, request: CatalystRequest) -> tuple[str, RelaxSettings, References]:
    """Validate the request, compute (or reuse) the calculator's references and record the request."""
    request.validate()
    spec = calculator_spec(request.calculator)
    settings = request.settings()
    get_calculator(spec)
    refs = gas_references(spec, settings)
    lattice = {el: fcc_lattice_constant(el, spec) for el in request.elements}
    store.update_meta(
        references={spec: refs.as_dict()},
        lattice_constants={spec: lattice},
        protocol={
            "relax": settings.as_dict(),
            "tags": "0 fixed subsurface, 1 free surface, 2 adsorbate",
            "e_ads": "E(adslab) - E(clean slab) - sum mu_X; mu_H = E(H2)/2, mu_O = E(H2O) - E(H2), "
            "mu_N = E(N2)/2, mu_C = E(CO) - mu_O",
        },
        splits={
            "ood": f"slabs containing both {OOD_PAIR[0]} and {OOD_PAIR[1]}",
            "test": f"{TEST_FRACTION:.0%} of the other slabs by sha256('split:' + slab uid)",
            "train": "the rest",
        },
    )
    store.record_request(request.as_dict())
    return spec, settings, refs


def generate(
    path: str | Path,
    request: CatalystRequest,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Label every planned structure not yet in the dataset at `path` and store it.

    Args:
        path: the dataset file (ase.db; created if missing, resumed if not).
        request: what to label (CatalystRequest).
        workers: local processes (default: all CPUs; 1 runs in this process).
        scheduler: an existing Dask scheduler's address ("tcp://host:port") or its JSON file; tasks go there.
        progress: show a progress bar.
    """
    request.validate()  # before the file is created: a bad request leaves no file behind
    store = CatalystStore.open(path)
    spec, settings, refs = prepare(store, request)
    return label_plan(
        store,
        iter_plan(request, spec, settings),
        spec,
        settings,
        refs,
        GenerationSummary(planned=request.n),
        workers,
        scheduler,
        progress,
        total=request.n,
    )


def label_plan(
    store: CatalystStore,
    plan,
    spec: str,
    settings: RelaxSettings,
    refs: References,
    summary: GenerationSummary,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    total: int | None = None,
) -> GenerationSummary:
    """Relax the placements of plan ((slab index, slab uid, slab, labels, placements) tuples) that the store
    lacks, on workers, and write each slab with its placements in one transaction (the single writer).

    A placement's row gets the slab's labels, its own ``labels`` attribute when it has one, its adsorbate and site.
    """
    done = store.existing_uids()

    def tasks() -> Iterator[SlabTask]:
        for i, slab_uid, slab, labels, placements in plan:
            todo = [p for p in placements if p.uid not in done]
            summary.already_present += len(placements) - len(todo)
            if bar is not None and len(todo) < len(placements):
                bar.update(len(placements) - len(todo))
            if todo:
                clean = store.slab_result(slab_uid) if slab_uid in done else None
                yield SlabTask(i, slab_uid, slab, labels, todo, spec, settings, refs, clean)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="structure", dynamic_ncols=True)
    try:
        for _, out in run_unordered(run_slab_task, tasks(), workers=workers, scheduler=scheduler):
            t = out.task
            rows = [
                adslab_row(
                    p.uid,
                    t.slab_uid,
                    r,
                    {**t.labels, **getattr(p, "labels", {}), "adsorbate": p.adsorbate, "site": p.site},
                )
                for p, r in out.results
            ]
            summary.written += store.write_slab_task(slab_row(t.slab, t.slab_uid, out.clean, dict(t.labels)), rows)
            done.add(t.slab_uid)
            for _, r in out.results:
                summary.failed += r.status != "ok"
                summary.by_status[r.status] = summary.by_status.get(r.status, 0) + 1
            if bar is not None:
                bar.update(len(out.results))
                bar.set_postfix(failed=summary.failed, refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return summary
