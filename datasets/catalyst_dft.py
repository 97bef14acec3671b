"""The DFT label set: GPAW single points at geometries relaxed by the universal potential (AdsorbML).

For each planned *system* (a slab and an adsorbate, :func:`dft_plan`):

1. the potential relaxes the clean slab and the adsorbate on every symmetry-distinct site of each kind
   (up to ``placements`` placements), and keeps the lowest placement that did not desorb, dissociate,
   reconstruct or intercalate (AdsorbML's minimum; a ``potential`` row records it);
2. GPAW computes single points of that relaxed adslab and of the relaxed clean slab (``slab`` rows,
   shared by every system on the same slab) and of the gas molecules (``gas`` rows, once per setting);
3. E_ads(DFT) = E(adslab) - E(slab) - sum mu_X goes into the ``adslab`` row beside the potential's own
   E_ads for the same system.

Cells are small for DFT's sake: surface vectors >= 4.9 Å (2x2 of every close-packed facet, 1/4 monolayer)
and >= 5 Å of metal (three close-packed layers, the bottom one fixed), 14 Å between slab images.
Every row is one finished computation written in its own transaction, so a killed run loses at most the
single point in progress and repeats nothing. Held-out rows: every slab whose uid hashes into
:data:`TEST_FRACTION` is ``test`` (all its systems), the rest ``train``.

Plan order (the first rows are the validation core): O on eight pure close-packed metals spanning the
d-band trend, then H, OH, CO, C and N on the same; then O, H, OH and CO on four alloys; then seeded draws
over the v2 space (all metals, facets and adsorbates).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from ase import Atoms

from phenograd.core.errors import InputError
from phenograd.simulators.adsorption import (
    RECONSTRUCTION_DISPLACEMENT,
    TAG_ADSORBATE,
    RelaxSettings,
    adsorption_energy,
    gas_references,
    relax_slab,
    slab_displacement,
)
from phenograd.simulators.calculators import calculator_info, calculator_spec
from phenograd.simulators.dft import (
    INITIAL_MAGMOM,
    DFTSettings,
    SinglePoint,
    adsorbate_reference,
    chemical_potentials,
    gas_molecule,
    gpaw_version,
    single_point,
    single_point_uid,
)
from phenograd.simulators.gas_thermochemistry import implausible_adsorption
from phenograd.simulators.parallel import run_unordered

from .catalyst_store import CatalystStore
from .catalyst_v2 import MINIMUM_EXCLUDES, V2_ADSORBATES, V2_FACETS, V2_METALS, place, sample_bulk
from .surfaces import CRYSTAL_OF, FACETS_OF, BulkSpec, SurfaceSpec, build_surface, surface_sites

KIND = "phenograd-catalyst-dft"
TEST_FRACTION = 0.25
DFT_MIN_SLAB_SIZE = 5.0
# 2x2 of every close-packed facet (Ni's is 4.95 Å), so every pure metal is at the same 1/4 monolayer; the v2
# release's 5.4 Å would give the small-lattice metals (Ni, Cu, Co, Fe, ...) 3x3 cells of 27 atoms.
DFT_MIN_LATERAL = 4.9
# Spin-polarised Ni last: its single points cost several times a non-magnetic metal's (measured: 270 s per SCF
# iteration for the 2x2x3 Ni(111) slab against 40 s for Pt(111) on a busy core).
VALIDATION_METALS = ("Pt", "Au", "Cu", "Ag", "Pd", "Rh", "Ru", "Ni")
VALIDATION_ADSORBATES = ("O", "H", "OH", "CO", "C", "N")
ALLOYS = (
    BulkSpec("L10", (("Cu", 0.5), ("Pt", 0.5))),
    BulkSpec("L12", (("Cu", 0.75), ("Au", 0.25))),
    BulkSpec("L12", (("Pt", 0.75), ("Ni", 0.25))),
    BulkSpec("B2", (("Ni", 0.5), ("Al", 0.5))),
)
ALLOY_ADSORBATES = ("O", "H", "OH", "CO")
GAS_FOR = {"H": ("H2",), "O": ("H2", "H2O"), "N": ("N2",), "C": ("H2", "H2O", "CO")}


@dataclass(frozen=True)
class DFTSystem:
    """One planned DFT adsorption energy: a surface, an adsorbate and the plan stage it belongs to."""

    surface: SurfaceSpec
    adsorbate: str
    stage: str


def _close_packed(metal: str) -> tuple[int, int, int]:
    return FACETS_OF[CRYSTAL_OF[metal]][0]


def _small(bulk: BulkSpec, miller, seed: int = 0) -> SurfaceSpec:
    return SurfaceSpec(bulk, tuple(miller), seed=seed, min_lateral=DFT_MIN_LATERAL, min_slab_size=DFT_MIN_SLAB_SIZE)


def dft_plan(n: int, seed: int = 0) -> Iterator[DFTSystem]:
    """The first n systems of the plan (see the module docstring); deterministic in seed."""
    count = 0
    for ads in VALIDATION_ADSORBATES:
        for metal in VALIDATION_METALS:
            if count == n:
                return
            count += 1
            yield DFTSystem(_small(BulkSpec("pure", ((metal, 1.0),)), _close_packed(metal)), ads, "validation")
    for ads in ALLOY_ADSORBATES:
        for bulk in ALLOYS:
            if count == n:
                return
            count += 1
            yield DFTSystem(_small(bulk, FACETS_OF[bulk.crystal][0]), ads, "alloy")
    i = 0
    while count < n:
        rng = np.random.default_rng(np.random.SeedSequence([seed, i, 0xDF7]))
        bulk, miller = sample_bulk(rng, list(V2_METALS), list(V2_FACETS))
        if len(bulk.metals) > 2:  # DFT cells of 12-16 atoms: keep to pure metals and binaries
            i += 1
            continue
        surface = _small(bulk, miller, int(rng.integers(2**31)))
        for ads in rng.choice(list(V2_ADSORBATES), 2, replace=False):
            if count < n:
                count += 1
                yield DFTSystem(surface, str(ads), "spread")
        i += 1


def slab_key_of(surface: SurfaceSpec) -> str:
    """Content key of a planned DFT slab (its SurfaceSpec), shared by every system on it."""
    return hashlib.sha256(json.dumps(surface.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def find_system(slab_key: str, adsorbate: str, n: int = 1000, seed: int = 0) -> DFTSystem:
    """The planned system with this slab key and adsorbate (among the first n); InputError when absent."""
    for system in dft_plan(n, seed):
        if system.adsorbate == adsorbate and slab_key_of(system.surface) == slab_key:
            return system
    raise InputError(f"no planned DFT system {adsorbate} on slab {slab_key} among the first {n}")


def split_dft(slab_key: str) -> str:
    h = int(hashlib.sha256(f"dft-split:{slab_key}".encode()).hexdigest()[:8], 16)
    return "test" if h < TEST_FRACTION * 16**8 else "train"


class DFTStore(CatalystStore):
    """The DFT label set's ase.db file: rows of kind gas, slab, potential and adslab, keyed by uid."""

    kind = KIND

    def row(self, uid: str):
        rows = list(self.db.select(uid=uid))
        return rows[0] if rows else None

    def write_row(self, atoms: Atoms, key_value_pairs: dict, data: dict | None = None) -> None:
        from .output_file import sqlite_writes

        if self.existing_uids(among=[key_value_pairs["uid"]]):
            return
        with sqlite_writes(self.path), self.db:
            self.db.write(atoms, key_value_pairs=key_value_pairs, data=data or {})


def _sp_labels(sp: SinglePoint) -> dict:
    out = {"status": sp.status, "wall_s": round(sp.wall_s, 2)}
    if sp.ok:
        out.update(
            e_dft=float(sp.energy),
            magmom_dft=float(sp.magmom or 0.0),
            gpaw=str(sp.gpaw),
            scf_iterations=int(sp.iterations or 0),
        )
    if sp.mixer:
        out["scf_mixer"] = sp.mixer
    return out


@dataclass
class DFTRequest:
    """n systems; potential: the calculator that relaxes geometries; settings: GPAW's;
    placements: sites tried per system by the potential."""

    n: int
    seed: int = 0
    potential: str = "chgnet"
    settings: DFTSettings = DFTSettings()
    placements: int = 4
    fmax: float = 0.05
    steps: int = 300

    def validate(self) -> None:
        if self.n < 0:
            raise InputError(f"n must be >= 0, got {self.n}")
        if not 1 <= self.placements <= 16:
            raise InputError(f"placements must be within [1, 16], got {self.placements}")
        self.settings.validate()
        RelaxSettings(fmax=self.fmax, steps=self.steps).validate()
        calculator_spec(self.potential)


def relax_system(
    system: DFTSystem, spec: str, relax: RelaxSettings, refs, placements: int
) -> tuple[dict, Atoms, Atoms]:
    """The potential's AdsorbML minimum of one system: (labels, relaxed adslab, relaxed clean slab)."""
    slab = build_surface(system.surface, spec)
    clean = relax_slab(slab, spec, relax)
    if not clean.ok:
        return {"status": f"potential: clean slab {clean.status}"}, slab, slab
    sites = placement_sites(slab)
    best, tried, energies = None, 0, []
    for site in sites[:placements]:
        tried += 1
        r = adsorption_energy(place(slab, system.adsorbate, site.xy), spec, relax, refs, slab=clean)
        energies.append(None if r.e_ads is None else round(float(r.e_ads), 4))
        if r.ok and not set(r.anomalies) & set(MINIMUM_EXCLUDES) and (best is None or r.e_ads < best.e_ads):
            best = r
    clean_atoms = slab.copy()
    clean_atoms.positions = clean.positions
    if best is None:
        return {"status": "potential: no valid placement", "placement_e_ads": json.dumps(energies)}, slab, clean_atoms
    labels = {
        "status": "ok",
        "e_ads_potential": float(best.e_ads),
        "site_final": best.site_final,
        "anomalies": ",".join(best.anomalies) or "none",
        "placements_tried": tried,
        "placement_e_ads": json.dumps(energies),
    }
    return labels, best.relaxed, clean_atoms


def placement_sites(slab: Atoms) -> list:
    """The slab's adsorption sites in the order the placements try them: one of each kind first, then the rest."""
    every = surface_sites(slab)
    sites, seen = [], set()
    for site in every:
        if site.kind not in seen:
            seen.add(site.kind)
            sites.append(site)
    return sites + [s for s in every if s not in sites]


def initial_adslab(db, row, spec: str | None = None) -> Atoms:
    """The unrelaxed structure whose relaxation by the potential gave an adslab row's geometry: the system rebuilt
    from the plan, its winning placement identified by its relaxed E_ads among those the potential row lists.
    What an IS2RE surrogate reads for that system (tags set; the row's own atoms are the relaxed geometry).
    db: the label set's ase.db connection; row: one of its adslab rows."""
    potential = list(db.select(kind="potential", system=row.system))
    if not potential:
        raise InputError(f"adslab row {row.uid}: no potential row of system {row.system}")
    energies = json.loads(potential[0].placement_e_ads)
    matches = [i for i, e in enumerate(energies) if e is not None and abs(e - row.e_ads_potential) < 1e-3]
    if not matches:
        raise InputError(f"adslab row {row.uid}: its E_ads {row.e_ads_potential:+.4f} eV is none of its placements'")
    system = find_system(row.slab_key, row.adsorbate)
    slab = build_surface(system.surface, spec or calculator_spec(row.potential))
    return place(slab, row.adsorbate, placement_sites(slab)[matches[0]].xy)


def planned_gases(request: DFTRequest) -> list[str]:
    """The gas molecules whose single points the planned adsorbates' references need (sorted names)."""
    from ase.symbols import string2symbols

    return sorted(
        {
            g
            for system in dft_plan(request.n, request.seed)
            for s in string2symbols(system.adsorbate)
            for g in GAS_FOR[s]
        }
    )


def _gas_energies(store: DFTStore, settings: DFTSettings, names) -> dict[str, float]:
    """DFT energies (eV) of the named gas molecules, computed once per setting and stored as ``gas`` rows."""
    gas = {}
    for name in names:
        molecule = gas_molecule(name, settings.gas_box)
        uid = single_point_uid(molecule, settings)
        row = store.row(uid)
        if row is None:
            sp = single_point(molecule, settings)
            store.write_row(molecule, {"kind": "gas", "uid": uid, "name": name, **_sp_labels(sp)})
            row = store.row(uid)
        if row.status != "ok":
            raise InputError(f"DFT gas reference {name} failed ({row.status}); check the settings")
        gas[name] = float(row.e_dft)
    return gas


@functools.lru_cache(maxsize=4)
def _potential_references(spec: str, relax: RelaxSettings):
    """The potential's gas references, once per process (a worker runs many systems)."""
    return gas_references(spec, relax)


def generate_dft(path: str | Path, request: DFTRequest, progress: bool = True, workers: int = 1) -> dict:
    """Compute every planned DFT adsorption energy not yet in the file at path (resumable).

    Slabs are taken in plan order, the spin-polarised ones after the rest, one slab's systems at a time.
    workers: local processes; each writes every finished computation in its own SQLite transaction (SQLite
    serialises the writers). The gas references are computed first, in this process, so no two workers compute
    the same single point.
    Returns counts {"planned", "present", "written", "failed"}. SimulatorUnavailable when GPAW is missing.
    """
    request.validate()
    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", parameter="workers")
    version = gpaw_version()  # before the file exists: no GPAW, no file
    spec = calculator_spec(request.potential)
    relax = RelaxSettings(fmax=request.fmax, steps=request.steps)
    store = DFTStore.open(path)
    settings = request.settings
    made_with = store.meta().get("dft", {}).get("settings")
    if made_with is not None and made_with != settings.key():
        changed = sorted(k for k in set(made_with) | set(settings.key()) if made_with.get(k) != settings.key().get(k))
        raise InputError(
            f"{path} holds DFT single points of other settings ({', '.join(changed)} differ); "
            "a label set keeps one setting: write to a new --out",
            parameter="out",
        )
    store.update_meta(
        dft={"settings": settings.key(), "describe": settings.describe(), "gpaw": version},
        potential=calculator_info(spec),
        relax=relax.as_dict(),
        protocol={
            "e_ads": "E(adslab) - E(clean slab) - sum mu_X at the potential's relaxed geometries "
            "(AdsorbML single points); gas molecules at ASE g2 geometries",
            "split": f"test: {TEST_FRACTION:.0%} of slabs by sha256('dft-split:' + slab key)",
        },
    )
    gas = _gas_energies(store, settings, planned_gases(request))
    for line in audit_plausibility(store) + audit_reconstruction(store):
        if progress:
            print(line, flush=True)
    counts = {"planned": request.n, "present": 0, "written": 0, "failed": 0}
    groups: dict[str, list[tuple[int, DFTSystem]]] = {}
    for index, system in enumerate(dft_plan(request.n, request.seed)):
        groups.setdefault(slab_key_of(system.surface), []).append((index, system))
    # spin-polarised slabs last: they cost several times a non-magnetic one, so a run stopped by its time budget
    # has computed the most rows (the rows are the same in any order)
    ordered = sorted(groups.values(), key=lambda g: any(m in INITIAL_MAGMOM for m in g[0][1].surface.bulk.metals))
    tasks = [(str(path), request, spec, group, gas, progress) for group in ordered]
    for _, done in run_unordered(_run_group, tasks, workers=workers, max_in_flight=workers):
        for k in ("present", "written", "failed"):
            counts[k] += done[k]
    return counts


def audit_plausibility(store: DFTStore) -> list[str]:
    """Re-derive every computed adslab row's status from the plausibility ceiling (gas_thermochemistry).

    A row whose E_ads lies too far above its free species fails. So does every other row on the same clean slab:
    they all subtract that slab's one single point, and an implausible row most likely means an SCF state that is
    not the ground state, of the slab or of the adslab, which nothing here can tell apart. A row within the ceiling
    on an unsuspected slab is ok. Idempotent; rows whose single point failed (no E_ads) are left alone.
    Returns one line per changed row."""
    rows = [row for row in store.db.select(kind="adslab") if row.get("e_ads") is not None]
    reasons = {}
    for row in rows:
        atoms = row.toatoms()
        adsorbate = [s for s, t in zip(atoms.get_chemical_symbols(), atoms.get_tags()) if t == TAG_ADSORBATE]
        reasons[row.id] = implausible_adsorption(adsorbate, row.e_ads)
    suspect = {row.get("slab_uid"): row.adsorbate for row in rows if reasons[row.id] is not None}
    changed = []
    for row in rows:
        if reasons[row.id] is not None:
            status = f"failed: {reasons[row.id]}"
        elif row.get("slab_uid") in suspect:
            status = (
                f"failed: suspect single points: {suspect[row.get('slab_uid')]} on the same clean slab is implausible"
            )
        else:
            status = "ok"
        if status != row.status:
            with store.db:
                store.db.update(row.id, status=status)
            changed.append(f"{row.adsorbate} on {row.metals} {row.facet}: {row.status} -> {status}")
    return changed


def audit_reconstruction(store: DFTStore) -> list[str]:
    """Add ``reconstructed`` to the anomalies of systems whose chosen placement moved a slab atom more than
    RECONSTRUCTION_DISPLACEMENT from the relaxed clean slab (a check sharpened after early rows were chosen; new
    systems exclude such placements from their minimum). Those rows stay ``ok``: DFT and the potential were
    evaluated at the same geometries, so they still compare the fidelities; consumers can leave them out by their
    anomalies. Idempotent; returns one line per changed system."""
    changed = []
    for pot in store.db.select(kind="potential", status="ok"):
        flags = set(str(pot.get("anomalies") or "none").split(",")) - {"none"}
        if "reconstructed" in flags:
            continue
        adslab = pot.toatoms()
        slab = adslab[adslab.get_tags() != TAG_ADSORBATE]
        clean = slab.copy()
        clean.positions = np.asarray(pot.data["clean_positions"], float)
        moved = slab_displacement(slab, clean)
        if moved <= RECONSTRUCTION_DISPLACEMENT:
            continue
        anomalies = ",".join(sorted(flags | {"reconstructed"}))
        with store.db:
            store.db.update(pot.id, anomalies=anomalies)
            for row in store.db.select(kind="adslab", system=pot.system):
                store.db.update(row.id, anomalies=anomalies)
        changed.append(f"{pot.adsorbate} on {pot.metals} {pot.facet}: a slab atom moved {moved:.2f} Å: reconstructed")
    return changed


def _run_group(task) -> dict:
    """Every system of one slab group, in plan order (a worker's unit of work); returns its counts."""
    path, request, spec, group, gas, progress = task
    store = DFTStore.open(path)
    relax = RelaxSettings(fmax=request.fmax, steps=request.steps)
    counts = {"present": 0, "written": 0, "failed": 0}
    for index, system in group:
        counts[_run_system(store, request, spec, relax, gas, index, system, progress)] += 1
    return counts


def _run_system(store: DFTStore, request: DFTRequest, spec: str, relax: RelaxSettings, gas, index, system, progress):
    """One system: the potential's minimum, then the single points it still lacks; returns the count it adds to."""
    settings = request.settings
    t0 = time.perf_counter()
    slab_key = slab_key_of(system.surface)
    system_key = f"{slab_key}:{system.adsorbate}:{spec}"
    pot_uid = (
        "p"
        + hashlib.sha256(
            f"{system_key}:{json.dumps(relax.as_dict(), sort_keys=True)}:{request.placements}".encode()
        ).hexdigest()[:23]
    )
    pot_row = store.row(pot_uid)
    if pot_row is None:
        refs = _potential_references(spec, relax)
        labels, adslab, clean = relax_system(system, spec, relax, refs, request.placements)
        base = {
            "slab_key": slab_key,
            "system": system_key,
            "adsorbate": system.adsorbate,
            "stage": system.stage,
            "facet": system.surface.facet,
            "decoration": system.surface.bulk.decoration,
            "metals": "-".join(sorted(set(system.surface.bulk.metals))),
            "split": split_dft(slab_key),
            "potential": calculator_info(spec)["name"],
            "plan_index": index,
        }
        store.write_row(
            adslab,
            {"kind": "potential", "uid": pot_uid, **base, **labels},
            {"clean_positions": clean.positions, "clean_numbers": clean.numbers},
        )
        pot_row = store.row(pot_uid)
    if pot_row.status != "ok":
        return "failed"
    adslab = pot_row.toatoms()
    adslab.set_tags(pot_row.toatoms().get_tags())
    clean = adslab[adslab.get_tags() != TAG_ADSORBATE]
    clean.set_constraint()
    clean.positions = np.asarray(pot_row.data["clean_positions"], float)
    adsorbate = adslab[adslab.get_tags() == TAG_ADSORBATE].get_chemical_symbols()
    slab_uid = single_point_uid(clean, settings)
    slab_row = store.row(slab_uid)
    if slab_row is None:
        sp = single_point(clean, settings)
        store.write_row(
            clean,
            {
                "kind": "slab",
                "uid": slab_uid,
                "slab_key": slab_key,
                "facet": pot_row.facet,
                "metals": pot_row.metals,
                **_sp_labels(sp),
            },
        )
        slab_row = store.row(slab_uid)
    ads_uid = single_point_uid(adslab, settings)
    if store.row(ads_uid) is not None:
        return "present"
    if slab_row.status != "ok":
        sp = SinglePoint(f"failed: clean slab {slab_row.status}")
    else:
        sp = single_point(adslab, settings)
    labels = {
        k: pot_row.get(k)
        for k in (
            "slab_key",
            "system",
            "adsorbate",
            "stage",
            "facet",
            "decoration",
            "metals",
            "split",
            "potential",
            "plan_index",
            "e_ads_potential",
            "site_final",
            "anomalies",
        )
    }
    labels.update({"kind": "adslab", "uid": ads_uid, "slab_uid": slab_uid, **_sp_labels(sp)})
    if sp.ok:
        mu = chemical_potentials({**{k: float("nan") for k in ("H2", "H2O", "N2", "CO")}, **gas})
        e_ref = adsorbate_reference(adsorbate, mu)
        labels.update(
            e_ads=float(sp.energy) - float(slab_row.e_dft) - e_ref, e_reference=e_ref, e_slab=float(slab_row.e_dft)
        )
        reason = implausible_adsorption(adsorbate, labels["e_ads"])
        if reason is not None:
            labels["status"] = f"failed: {reason}"
    store.write_row(adslab, labels)
    if sp.ok:
        audit_plausibility(store)  # a new implausible row also fails its slab's earlier rows
        labels["status"] = store.row(ads_uid).status
    if progress:
        e = f"{labels['e_ads']:+.3f}" if sp.ok else sp.status
        if sp.ok and labels["status"] != "ok":
            e += f" ({labels['status']})"
        print(
            f"[{index + 1}/{request.n}] {system.adsorbate} on {pot_row.metals} {pot_row.facet}: DFT {e} eV, "
            f"{labels['potential']} {pot_row.e_ads_potential:+.3f} eV ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    return "written" if labels["status"] == "ok" else "failed"
