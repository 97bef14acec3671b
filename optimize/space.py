"""Candidate spaces for catalyst screening: a TOML file -> concrete slab + adsorbate candidates.

    # space.toml
    metals = ["Pt", "Pd", "Cu", "Ni", "Ag", "Au"]   # fcc metals the verifying calculator covers (CHGNet: also Rh, Ir)
    facets = ["111"]                  # 111 and/or 100 (the labelled protocol's facets)
    adsorbates = ["O"]                # H O N C OH CO
    sites = ["fcc", "hcp"]            # site kinds (default: every kind of the facet)
    size = [3, 3]                     # surface cell (default 3x3)
    layers = 4                        # (default 4, the bottom half fixed)
    decorations = 2                   # random decorations (seeds 0..n-1) per alloy composition (default 1)

    [compositions]
    n_metals = [1, 2]                 # every alloy of this many metals from `metals` ...
    step = 0.25                       # ... with fractions on this grid (default 0.25)
    include = ["Pt:0.75,Ni:0.25"]     # extra compositions (random decorations)
    prototypes = ["L12", "L10"]       # ordered A3B / AB of every pair of metals (both A3B orders)

    [objective]
    target = -0.5                     # rank by |E_ads - target| (eV); a table {O = -0.5, H = -0.2} per adsorbate
    # or a Sabatier volcano (rank by activity, highest first):
    # volcano = {optimum = -0.3, kT = 0.1, weak_slope = 1.0, strong_slope = 1.0}

Every slab is ``datasets.catalyst.build_slab`` of its spec (Vegard lattice constant,
OC20 tags); every candidate is ``place_adsorbate`` at one symmetry-distinct site of
the requested kinds, exactly the structures the simulator relaxes when verifying.
Decorations of one composition on one facet share a :class:`~phenograd.optimize.frames.Frame`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst import (
    ADSORBATES,
    LABELLED_FACETS,
    MAX_METALS,
    Composition,
    SlabSpec,
    adsorption_sites,
    build_slab,
    check_fcc_metals,
    contact_height,
    distinct_sites,
)

from .frames import Frame, metal_indices
from .objectives import Objective, parse_objective

_KEYS = {
    "metals",
    "facets",
    "adsorbates",
    "sites",
    "size",
    "layers",
    "decorations",
    "compositions",
    "objective",
    "vacuum",
}
_COMP_KEYS = {"n_metals", "step", "include", "prototypes"}
MAX_STEPS = 1000  # finest composition grid: step = 1/1000
MAX_SLABS = 100_000  # larger spaces are rejected when read, before anything is built


@dataclass
class Space:
    """A parsed candidate space (see the module docstring for the TOML keys)."""

    metals: tuple[str, ...]
    facets: tuple[str, ...]
    adsorbates: tuple[str, ...]
    sites: tuple[str, ...] | None
    size: tuple[int, int]
    layers: int
    decorations: int
    n_metals: tuple[int, ...]
    step: float
    include: tuple[str, ...]
    prototypes: tuple[str, ...]
    objective: Objective
    vacuum: float = 10.0
    source: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Hash of everything that defines the candidates and their ranking."""
        return hashlib.sha256(json.dumps(self.source, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def slab_specs(self) -> list[SlabSpec]:
        """Every slab of the space, in a fixed order (facet, then composition, then seed)."""
        comps: list[tuple[str, Composition]] = []
        seen = set()
        steps = round(1.0 / self.step)
        for k in self.n_metals:
            for metals in itertools.combinations(self.metals, k):
                for counts in _compositions(k, steps):
                    comp = Composition(tuple((m, c / steps) for m, c in zip(metals, counts)))
                    if comp.label() not in seen:
                        seen.add(comp.label())
                        comps.append(("pure" if k == 1 else "random", comp))
        for text in self.include:
            comp = Composition.parse(text, self.metals)
            if comp.label() not in seen:
                seen.add(comp.label())
                comps.append(("pure" if len(comp.fractions) == 1 else "random", comp))
        for proto in self.prototypes:
            x = 0.75 if proto == "L12" else 0.5
            pairs = itertools.permutations(self.metals, 2) if proto == "L12" else itertools.combinations(self.metals, 2)
            for a, b in pairs:
                comps.append((proto, Composition(((a, x), (b, 1 - x)))))
        specs = []
        for facet in self.facets:
            for decoration, comp in comps:
                seeds = range(self.decorations) if decoration == "random" else [0]
                for seed in seeds:
                    specs.append(SlabSpec(facet, decoration, comp, self.size, self.layers, self.vacuum, seed))
        return specs


def _compositions(k: int, steps: int):
    """Integer count vectors of k positive parts summing to steps."""
    if k == 1:
        yield (steps,)
        return
    for first in range(1, steps - k + 2):
        for rest in _compositions(k - 1, steps - first):
            yield (first, *rest)


def _list(value, name: str, kind=str, where: str = "space") -> tuple:
    if isinstance(value, (str, int, float)):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise InputError(f"{where}: {name} must be a list of {kind.__name__}s")
    return tuple(value)


def _slab_count(metals, n_metals, steps: int, n_include: int, prototypes, n_facets: int, decorations: int) -> int:
    """Number of slabs :meth:`Space.slab_specs` gives, counted without enumerating (an upper
    bound: compositions given twice are counted twice)."""
    pure = len(metals) if 1 in n_metals else 0
    alloys = sum(math.comb(len(metals), k) * math.comb(steps - 1, k - 1) for k in n_metals if k > 1) + n_include
    pairs = len(metals) * (len(metals) - 1)
    ordered = sum(pairs if proto == "L12" else pairs // 2 for proto in prototypes)
    return n_facets * (pure + alloys * decorations + ordered)


def _vacuum(value, where: str) -> float:
    """The vacuum (Å) on each side of the slab: a number within 4-100."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 4 <= value <= 100:
        raise InputError(f"{where}: vacuum must be a number of Å within 4-100, got {value!r}")
    return float(value)


def load_space(path) -> Space:
    """Parse and validate a space TOML file; InputError (one line) for anything wrong in it.

    Args:
        path: the space's TOML file (metals, facets, adsorbates, sites, slab size, compositions, objective;
            README, "Catalyst design (screening and composition search)").
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such space file")
    try:
        raw = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a valid TOML file ({' '.join(str(exc).split())})") from None
    return parse_space(raw, str(p))


def parse_space(raw: dict, where: str = "space") -> Space:
    """A Space from a TOML-like dict (see the module docstring)."""
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(_KEYS))})")
    if "metals" not in raw:
        raise InputError(f"{where}: no metals given")
    metals = _list(raw["metals"], "metals", where=where)
    if not metals or len(set(metals)) != len(metals):
        raise InputError(f"{where}: metals must be a non-empty list without repeats")
    check_fcc_metals(metals, f"{where}: metals")  # the calculator's and the model's coverage: screen()
    metal_indices(metals)
    facets = _list(raw.get("facets", list(LABELLED_FACETS)), "facets", where=where)
    bad = [f for f in facets if f not in LABELLED_FACETS]
    if bad:
        raise InputError(f"{where}: facet {bad[0]!r}; use {' or '.join(LABELLED_FACETS)}")
    adsorbates = _list(raw.get("adsorbates", ["O"]), "adsorbates", where=where)
    bad = [a for a in adsorbates if a not in ADSORBATES]
    if bad or not adsorbates:
        raise InputError(f"{where}: unknown adsorbate {bad[0] if bad else ''!r}; use {', '.join(ADSORBATES)}")
    sites = _list(raw["sites"], "sites", where=where) if "sites" in raw else None
    known_sites = {"111": {"ontop", "bridge", "fcc", "hcp"}, "100": {"ontop", "bridge", "hollow"}}
    if sites is not None:
        allowed = set().union(*(known_sites[f] for f in facets))
        bad = [s for s in sites if s not in allowed]
        if bad:
            raise InputError(
                f"{where}: site kind {bad[0]!r} does not exist on fcc{'/'.join(facets)} ({', '.join(sorted(allowed))})"
            )
    size = raw.get("size", [3, 3])
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and 1 <= v <= 8 for v in size)):
        raise InputError(f"{where}: size must be two integers within 1-8, e.g. [3, 3]")
    layers = raw.get("layers", 4)
    decorations = raw.get("decorations", 1)
    for name, v, lo, hi in (("layers", layers, 2, 8), ("decorations", decorations, 1, 1000)):
        if not isinstance(v, int) or not lo <= v <= hi:
            raise InputError(f"{where}: {name} must be an integer within {lo}-{hi}, got {v!r}")
    comp = raw.get("compositions", {"n_metals": [1]})
    if not isinstance(comp, dict):
        raise InputError(f"{where}: [compositions] must be a table")
    unknown = sorted(set(comp) - _COMP_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key compositions.{unknown[0]} (keys: {', '.join(sorted(_COMP_KEYS))})")
    n_metals = _list(comp.get("n_metals", []), "compositions.n_metals", int, where)
    if any(not 1 <= k <= min(MAX_METALS, len(metals)) for k in n_metals):
        raise InputError(
            f"{where}: compositions.n_metals must be within 1-{min(MAX_METALS, len(metals))} for {len(metals)} metals"
        )
    step = comp.get("step", 0.25)
    if not isinstance(step, (int, float)) or not 1 / MAX_STEPS <= step <= 1 or abs(1 / step - round(1 / step)) > 1e-9:
        raise InputError(
            f"{where}: compositions.step must be 1/n (0.5, 0.25, 0.125, ... down to 1/{MAX_STEPS}), got {step!r}"
        )
    include = _list(comp.get("include", []), "compositions.include", where=where)
    for text in include:
        try:
            Composition.parse(text, metals)
        except InputError as exc:
            raise InputError(f"{where}: compositions.include: {exc}") from None
    prototypes = _list(comp.get("prototypes", []), "compositions.prototypes", where=where)
    if any(p not in ("L12", "L10") for p in prototypes):
        raise InputError(f"{where}: compositions.prototypes may hold L12 and L10")
    if prototypes and len(metals) < 2:
        raise InputError(f"{where}: prototypes need at least two metals")
    n_slabs = _slab_count(metals, n_metals, round(1 / step), len(include), prototypes, len(facets), decorations)
    if n_slabs > MAX_SLABS:
        raise InputError(
            f"{where}: the space holds up to {n_slabs:,} slabs, more than {MAX_SLABS:,}; use a coarser "
            "compositions.step, fewer metals or fewer decorations"
        )
    objective = parse_objective(raw.get("objective"), adsorbates, where)
    space = Space(
        metals,
        facets,
        adsorbates,
        sites,
        tuple(size),
        layers,
        decorations,
        n_metals,
        float(step),
        include,
        prototypes,
        objective,
        _vacuum(raw.get("vacuum", 10.0), where),
        source=raw,
    )
    return space


@dataclass
class Candidate:
    """One screening candidate: slab ``slab_index`` of the enumeration with ``adsorbate`` at a site.

    ads_positions: (Q, 3) Å, the adsorbate atoms as ``place_adsorbate`` puts them.
    """

    index: int
    slab_index: int
    adsorbate: str
    site: str
    site_xy: tuple[float, float]
    ads_positions: np.ndarray


@dataclass
class Enumeration:
    """All candidates of a space: slabs (Atoms), their frames (by slab), and candidates."""

    slabs: list[Atoms]
    specs: list[SlabSpec]
    frame_of_slab: list[int]
    frames: list[Frame]
    candidates: list[Candidate]

    def atoms(self, c: Candidate) -> Atoms:
        """The concrete initial structure of a candidate (slab + adsorbate, OC20 tags)."""
        from phenograd.datasets.catalyst import place_adsorbate

        return place_adsorbate(self.slabs[c.slab_index], c.adsorbate, c.site_xy)


def adsorbate_positions(slab: Atoms, adsorbate: str, xy) -> np.ndarray:
    """(Q, 3) Å positions ``place_adsorbate`` gives the adsorbate's atoms at lateral xy."""
    ads = ADSORBATES[adsorbate]
    z = contact_height(slab, xy, ads[0].symbol)
    return ads.positions - ads.positions[0] + np.array([xy[0], xy[1], z])


def enumerate_space(space: Space, calculator: str | None = None) -> Enumeration:
    """Build every slab and candidate of a space; InputError when it has none.

    Args:
        space: a validated Space (load_space).
        calculator: the simulator that will verify (its element set limits the slabs; default EMT).
    """
    specs = space.slab_specs()
    slabs, frame_of_slab, frames, frame_index, candidates = [], [], [], {}, []
    for spec in specs:
        slab = build_slab(spec, calculator)
        frame = Frame.of(slab)
        if frame.key not in frame_index:
            frame_index[frame.key] = len(frames)
            frames.append(frame)
        slab_index = len(slabs)
        slabs.append(slab)
        frame_of_slab.append(frame_index[frame.key])
        for site in distinct_sites(adsorption_sites(slab)):
            if space.sites is not None and site.kind not in space.sites:
                continue
            for ads in space.adsorbates:
                candidates.append(
                    Candidate(
                        len(candidates), slab_index, ads, site.kind, site.xy, adsorbate_positions(slab, ads, site.xy)
                    )
                )
    if not candidates:
        raise InputError("space: no valid candidate (no composition or no site of the requested kinds)")
    return Enumeration(slabs, specs, frame_of_slab, frames, candidates)


def count_hint(space: Space) -> int:
    """Number of slabs the space enumerates (cheap; no structures built)."""
    return len(space.slab_specs())
