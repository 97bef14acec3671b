"""Adsorption energies of adsorbates on slabs with any ASE calculator (EMT by default).

A structure is an ASE ``Atoms`` slab + adsorbate carrying OC20 tags: 0 fixed
subsurface, 1 free surface, 2 adsorbate. Tag-0 atoms are held fixed (FixAtoms);
the clean slab is the same structure without its tag-2 atoms. Both are relaxed
with BFGS to ``fmax`` (eV/Å) within ``steps`` steps, and

    E_ads = E(relaxed adslab) - E(relaxed clean slab) - sum over adsorbate atoms of mu_X

with gas references from the same calculator (the OC20 convention, eV):
mu_H = E(H2)/2, mu_O = E(H2O) - E(H2), mu_N = E(N2)/2, mu_C = E(CO) - mu_O.

Calculators are named ``emt`` (the default), ``chgnet``, ``sevennet`` or by a spec
``"module:factory"`` (see :mod:`phenograd.simulators.calculators`). ASE's EMT
has real parameters for Al, Cu, Ag, Au, Ni, Pd and Pt only; its H, C, N and O
parameters are marked "just for fun" in ASE's source, so EMT adsorption energies
are a cheap, deterministic toy ground truth, not chemistry; the universal potentials
CHGNet and SevenNet-0 are the next rung of the fidelity ladder, GPAW DFT the top.

Each relaxation is bounded (steps and an optional wall-clock limit) and returns
its failures as values: ``status`` is "ok", "failed: reason" or "timeout".
After relaxation, AdsorbML's anomaly checks flag the result (connectivity from
ASE's covalent-radius ``natural_cutoffs``): ``desorbed``, ``dissociated``,
``reconstructed`` (slab bonds differ from the relaxed clean slab's beyond a 1.5x
cushion, or a slab atom moved more than 1 Å from its place in it),
``intercalated`` (bonded to a fixed atom); plus ``site_changed`` when the binding
atom's site kind (ontop, bridge, fcc, hcp, hollow) differs from the initial one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.build import molecule
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, chemical_symbols, covalent_radii
from ase.geometry import find_mic
from ase.neighborlist import NeighborList, natural_cutoffs
from ase.optimize import BFGS
from threadpoolctl import threadpool_limits

from phenograd.core.errors import InputError

from .calculators import EMT_SPEC, calculator_name, calculator_spec, get_calculator

TAG_FIXED, TAG_SURFACE, TAG_ADSORBATE = 0, 1, 2
GAS_MOLECULES = ("H2", "H2O", "N2", "CO")
REFERENCE_ELEMENTS = ("H", "C", "N", "O")
ANOMALIES = ("desorbed", "dissociated", "site_changed", "reconstructed", "intercalated")
DEFAULT_CALCULATOR = EMT_SPEC
# Pairs closer than this fraction of their covalent-radius sum are "overlapping".
OVERLAP_FRACTION = 0.6
MIN_PLANE_SPACING = 1.0  # Å: thinnest periodic cell a structure may have
MAX_LENGTH = 1e5  # Å: largest coordinate or cell vector component a structure may have
#: eV per atom: a finite energy beyond this is a blow-up, not physics. All-electron total energies, the
#: largest any calculator reports, stay under 1e6 eV per atom even for uranium (about -2.8e4 Hartree).
MAX_ABS_ENERGY_PER_ATOM = 1e7

# AdsorbML's cushions on covalent radii (fairchem DetectTrajAnomaly defaults).
SURFACE_CHANGE_MULT = 1.5
DESORPTION_MULT = 1.5
#: Å: a slab atom of the relaxed adslab this far from its place in the relaxed clean slab has left its lattice
#: site (over a third of a metal-metal bond). The 1.5x bond cushion alone misses such moves on soft alloy
#: surfaces; on data/catalyst_v2 they doubled the surrogate's error, and E_ads then carries the slab's own
#: rearrangement energy, not the adsorbate's binding.
RECONSTRUCTION_DISPLACEMENT = 1.0
#: bumped whenever detect_anomalies changes, so that stored rows can be re-checked once (datasets.catalyst_store)
ANOMALY_CHECKS_VERSION = 2


@dataclass(frozen=True)
class RelaxSettings:
    """BFGS relaxation settings (the reference protocol).

    Args:
        fmax: force convergence threshold, eV/Å.
        steps: BFGS step limit.
        maxstep: largest BFGS step per atom, Å (ASE's default 0.2).
        max_slab_displacement: a slab atom moving further than this (Å) means the
            relaxation blew up (EMT's soft Al surfaces really do move atoms 3.6 Å in an
            adsorbate-induced reconstruction, which AdsorbML's check flags instead).
        timeout_s: wall-clock limit per relaxation (None = none).
        gas_fmax: force threshold for the gas reference molecules, eV/Å.
    """

    fmax: float = 0.05
    steps: int = 300
    maxstep: float = 0.2
    max_slab_displacement: float = 6.0
    timeout_s: float | None = None
    gas_fmax: float = 0.01

    def validate(self) -> None:
        if not (math.isfinite(self.fmax) and self.fmax > 0):
            raise InputError(f"fmax must be a positive number of eV/Å, got {self.fmax!r}")
        if not (1 <= int(self.steps) <= 100000):
            raise InputError(f"steps must be within [1, 100000], got {self.steps!r}")
        if not (self.maxstep > 0 and self.max_slab_displacement > 0 and self.gas_fmax > 0):
            raise InputError("maxstep, max_slab_displacement and gas_fmax must be positive")
        if self.timeout_s is not None and not self.timeout_s > 0:
            raise InputError(f"timeout_s must be positive, got {self.timeout_s!r}")

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# ----------------------------------------------------------------------------- calculators


def supported_elements(spec: str | None = None) -> frozenset[str] | None:
    """Elements the calculator has parameters for, or None when it does not say.

    EMT: its parameter table. Other calculators may expose ``supported_elements``.
    """
    calc = get_calculator(spec)
    from ase.calculators.emt import EMT, parameters

    if isinstance(calc, EMT):
        return frozenset(parameters)
    listed = getattr(calc, "supported_elements", None)
    return frozenset(listed) if listed else None


def check_elements(symbols, spec: str | None = None, what: str = "structure") -> None:
    """InputError naming the first unknown element or one the calculator cannot handle."""
    allowed = supported_elements(spec)
    for s in dict.fromkeys(symbols):
        if s not in atomic_numbers or s == "X":
            raise InputError(f"{what}: unknown element {s!r}")
        if allowed is not None and s not in allowed:
            name = calculator_name(spec)
            raise InputError(
                f"{what}: calculator {name} cannot handle {s} "
                f"(it covers {', '.join(sorted(allowed, key=atomic_numbers.get))})"
            )


# ----------------------------------------------------------------------------- relaxation


class _Stop(Exception):
    def __init__(self, status: str):
        super().__init__(status)
        self.status = status


@dataclass
class Relaxation:
    """Outcome of one relaxation. energy in eV, positions (N, 3) in Å (None when failed)."""

    status: str
    energy: float | None = None
    positions: np.ndarray | None = None
    converged: bool = False
    steps: int = 0
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def relax(
    atoms: Atoms,
    spec: str | None = None,
    settings: RelaxSettings = RelaxSettings(),
    fmax: float | None = None,
    watch: np.ndarray | None = None,
) -> Relaxation:
    """Relax a copy of atoms (constraints kept) with BFGS and the calculator of spec.

    watch: boolean mask (N,) of atoms whose displacement beyond
    settings.max_slab_displacement counts as a blow-up (default: all atoms).
    Never raises for calculator trouble: that becomes a "failed: ..." status.
    """
    t0 = time.perf_counter()
    work = atoms.copy()
    work.calc = get_calculator(spec)
    start = work.get_positions()
    mask = np.ones(len(work), bool) if watch is None else np.asarray(watch, bool)
    opt = BFGS(work, logfile=None, maxstep=settings.maxstep)

    def guard(final: bool = False):
        # Runs before each step: stop on values that would poison the BFGS update. A huge but finite
        # energy is allowed on the way (a bad start relaxes away from it), not at the end.
        e = work.get_potential_energy()
        f = work.get_forces()
        if not (np.isfinite(e) and np.all(np.isfinite(f)) and np.all(np.isfinite(work.positions))):
            raise _Stop(f"failed: relaxation blew up: non-finite energy, forces or positions at step {opt.nsteps}")
        if final and abs(e) > MAX_ABS_ENERGY_PER_ATOM * max(len(work), 1):
            raise _Stop(f"failed: relaxation blew up: energy {e:.3g} eV after {opt.nsteps} steps")
        moved = np.linalg.norm(work.positions[mask] - start[mask], axis=1) if mask.any() else np.zeros(1)
        if moved.max() > settings.max_slab_displacement:
            raise _Stop(
                f"failed: relaxation blew up: an atom moved {moved.max():.1f} Å "
                f"(limit {settings.max_slab_displacement:g} Å)"
            )
        if settings.timeout_s is not None and time.perf_counter() - t0 > settings.timeout_s:
            raise _Stop("timeout")

    opt.attach(guard, interval=1)
    try:
        # BFGS diagonalises a 3N x 3N Hessian every step; threaded BLAS on a shared
        # machine made that 8x slower (measured), and workers are parallel already.
        # Overflows are caught by guard() as non-finite values; numpy's warnings would only add noise.
        with (
            threadpool_limits(limits=1, user_api="blas"),
            np.errstate(over="ignore", invalid="ignore", divide="ignore"),
        ):
            converged = bool(opt.run(fmax=settings.fmax if fmax is None else fmax, steps=int(settings.steps)))
            guard(final=True)  # the last step's outcome has not been checked yet
            energy = float(work.get_potential_energy())
    except _Stop as stop:
        return Relaxation(stop.status, steps=opt.nsteps, wall_s=time.perf_counter() - t0)
    except Exception as exc:  # calculators raise anything; keep the worker alive
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return Relaxation(f"failed: calculator error: {msg}", steps=opt.nsteps, wall_s=time.perf_counter() - t0)
    return Relaxation("ok", energy, work.get_positions(), converged, opt.nsteps, time.perf_counter() - t0)


# ----------------------------------------------------------------------------- references


def gas_molecule(name: str) -> Atoms:
    """An ASE g2 molecule centred in a periodic box with 8 Å of vacuum on each side."""
    m = molecule(name)
    m.center(vacuum=8.0)
    m.pbc = True
    return m


@dataclass(frozen=True)
class References:
    """Relaxed gas energies E(H2), E(H2O), E(N2), E(CO) and chemical potentials mu_X (eV)."""

    calculator: str
    gas: dict
    mu: dict

    def adsorbate_reference(self, symbols) -> float:
        """Sum of mu_X over the adsorbate's atoms (eV); InputError for an element with no reference."""
        total = 0.0
        for s in symbols:
            if s not in self.mu:
                raise InputError(
                    f"no gas reference for adsorbate element {s} (references exist for {', '.join(REFERENCE_ELEMENTS)})"
                )
            total += self.mu[s]
        return total

    def as_dict(self) -> dict:
        return {"calculator": self.calculator, "gas": dict(self.gas), "mu": dict(self.mu)}


def gas_references(spec: str | None = None, settings: RelaxSettings = RelaxSettings()) -> References:
    """Relax H2, H2O, N2 and CO with the calculator and derive mu_H, mu_O, mu_N, mu_C (eV).

    Args:
        spec: the calculator (as in adsorption_energy); None: EMT.
        settings: the relaxation protocol; the molecules relax to settings.gas_fmax.
    """
    spec = calculator_spec(spec)
    gas = {}
    for name in GAS_MOLECULES:
        r = relax(gas_molecule(name), spec, settings, fmax=settings.gas_fmax)
        if not r.ok:
            raise InputError(f"calculator {spec}: relaxing the gas reference {name} failed ({r.status})")
        gas[name] = r.energy
    mu_o = gas["H2O"] - gas["H2"]
    mu = {"H": gas["H2"] / 2, "O": mu_o, "N": gas["N2"] / 2, "C": gas["CO"] - mu_o}
    return References(spec, gas, mu)


# ----------------------------------------------------------------------------- structures


def check_structure(atoms: Atoms, spec: str | None = None, what: str = "structure") -> None:
    """InputError for a structure phenograd cannot label: no adsorbate tag, no slab,
    unknown or unsupported elements, or atoms :func:`check_atoms` rejects."""
    if len(atoms) == 0:
        raise InputError(f"{what}: no atoms")
    tags = atoms.get_tags()
    if not np.isin(tags, (TAG_FIXED, TAG_SURFACE, TAG_ADSORBATE)).all():
        raise InputError(
            f"{what}: tags must be 0 (fixed subsurface), 1 (free surface) or 2 (adsorbate), "
            f"found {sorted(set(tags.tolist()))}"
        )
    if not (tags == TAG_ADSORBATE).any():
        raise InputError(
            f"{what}: no adsorbate (no atom has tag 2; OC20 tags: 0 fixed subsurface, 1 free surface, 2 adsorbate)"
        )
    if (tags == TAG_ADSORBATE).all():
        raise InputError(f"{what}: no slab (every atom has the adsorbate tag 2)")
    check_atoms(atoms, what)
    check_elements(atoms.get_chemical_symbols(), spec, what)


def check_atoms(atoms: Atoms, what: str = "structure") -> None:
    """InputError for atoms no calculator or graph can use: atomic numbers that name no element,
    non-finite positions or cell or lengths beyond MAX_LENGTH, a periodic cell without volume
    or thinner than MIN_PLANE_SPACING (atoms would sit on their own images; neighbour searches
    would need millions of images), overlapping atoms."""
    if len(atoms) == 0:
        raise InputError(f"{what}: no atoms")
    bad = atoms.numbers[(atoms.numbers < 1) | (atoms.numbers >= len(chemical_symbols))]
    if len(bad):
        raise InputError(f"{what}: atomic number {bad[0]} names no element")
    cell = atoms.cell[:]
    for name, values in (("atomic positions", atoms.positions), ("cell", cell)):
        if not np.all(np.isfinite(values)):
            raise InputError(f"{what}: non-finite {name}")
        if np.abs(values).max(initial=0.0) > MAX_LENGTH:
            raise InputError(f"{what}: {name} beyond {MAX_LENGTH:g} Å")
    volume = abs(np.linalg.det(cell))
    if atoms.pbc.any() and volume < 1e-6:
        raise InputError(f"{what}: periodic but the cell has no volume")
    for k in np.flatnonzero(atoms.pbc):
        spacing = volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
        if spacing < MIN_PLANE_SPACING:
            raise InputError(
                f"{what}: the periodic cell is {spacing:.3g} Å thin along lattice vector {k + 1} "
                f"(< {MIN_PLANE_SPACING} Å; atoms would overlap their own images)"
            )
    i, j, d = closest_pair(atoms)
    limit = OVERLAP_FRACTION * (covalent_radii[atoms.numbers[i]] + covalent_radii[atoms.numbers[j]])
    if d < limit:
        raise InputError(
            f"{what}: overlapping atoms {i} ({atoms[i].symbol}) and {j} ({atoms[j].symbol}) "
            f"are {d:.2f} Å apart (< {limit:.2f} Å)"
        )


def closest_pair(atoms: Atoms) -> tuple[int, int, float]:
    """Indices and distance (Å, minimum image) of the closest pair of atoms."""
    if len(atoms) < 2:
        return 0, 0, math.inf
    d = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    np.fill_diagonal(d, np.inf)
    i, j = np.unravel_index(np.argmin(d), d.shape)
    return int(i), int(j), float(d[i, j])


def with_protocol_constraints(atoms: Atoms) -> Atoms:
    """A copy whose only constraint is FixAtoms on the tag-0 atoms (the protocol)."""
    out = atoms.copy()
    out.set_constraint(FixAtoms(mask=out.get_tags() == TAG_FIXED))
    return out


def clean_slab_of(adslab: Atoms) -> Atoms:
    """The adslab without its adsorbate (tag-2 atoms), with the protocol constraint."""
    return with_protocol_constraints(adslab[adslab.get_tags() != TAG_ADSORBATE])


# ----------------------------------------------------------------------------- sites and anomalies


def _connectivity(atoms: Atoms, mult: float = 1.0) -> np.ndarray:
    nl = NeighborList(natural_cutoffs(atoms, mult=mult), self_interaction=False, bothways=True)
    nl.update(atoms)
    return nl.get_connectivity_matrix(sparse=False).astype(bool)


def binding_atom(atoms: Atoms) -> int:
    """Index of the adsorbate atom closest to any slab atom (the binding atom)."""
    tags = atoms.get_tags()
    ads = np.flatnonzero(tags == TAG_ADSORBATE)
    slab = np.flatnonzero(tags != TAG_ADSORBATE)
    d = np.array([atoms.get_distances(i, slab, mic=True).min() for i in ads])
    return int(ads[np.argmin(d)])


def site_kind(atoms: Atoms, index: int | None = None, tolerance: float = 1.2) -> str:
    """Site kind of an adsorbate atom from its coordination to slab atoms.

    Slab atoms within ``tolerance`` x the shortest adsorbate-slab distance count
    as bonded: 1 -> ontop, 2 -> bridge, 3 -> fcc or hcp (hcp when an atom of
    the layer right below the three lies under the site), 4 or more -> hollow.
    """
    index = binding_atom(atoms) if index is None else index
    slab = np.flatnonzero(atoms.get_tags() != TAG_ADSORBATE)
    vec, dist = find_mic(atoms.positions[slab] - atoms.positions[index], atoms.cell, atoms.pbc)
    bonded = dist <= tolerance * dist.min()
    n = int(bonded.sum())
    if n == 1:
        return "ontop"
    if n == 2:
        return "bridge"
    if n >= 4:
        return "hollow"
    # Three-fold: fcc or hcp depends on whether the next layer down has an atom under the hollow.
    tri = vec[bonded]  # (3, 3) vectors from the adsorbate atom to the three bonded atoms
    nn = np.mean([np.linalg.norm(tri[a] - tri[b]) for a, b in ((0, 1), (1, 2), (0, 2))])
    spacing = nn * math.sqrt(2.0 / 3.0)  # fcc(111) interlayer spacing for this bond length
    z_hollow = tri[:, 2].mean()
    lateral = np.hypot(*(vec[:, :2] - tri[:, :2].mean(axis=0)).T)
    under = ~bonded & (vec[:, 2] < z_hollow - 0.3) & (lateral < 0.35 * nn)
    if under.any() and z_hollow - vec[under, 2].max() < 1.5 * spacing:
        return "hcp"
    return "fcc"


def slab_displacement(slab: Atoms, reference: Atoms) -> float:
    """Largest distance (Å, minimum image) of an atom of slab from the same atom in reference (same order)."""
    moved, _ = find_mic(slab.positions - reference.positions, slab.cell, slab.pbc)
    return float(np.linalg.norm(moved, axis=1).max()) if len(moved) else 0.0


def detect_anomalies(initial: Atoms, final: Atoms, final_slab: Atoms | None) -> list[str]:
    """AdsorbML's anomaly flags for a relaxed adslab, plus site_changed.

    initial, final: the adslab before and after relaxation (same atom order, tags).
    final_slab: the relaxed clean slab (atoms in the adslab's slab order), or None
    to compare with the initial slab.
    """
    tags = initial.get_tags()
    ads = np.flatnonzero(tags == TAG_ADSORBATE)
    slab = np.flatnonzero(tags != TAG_ADSORBATE)
    fixed = np.flatnonzero(tags == TAG_FIXED)
    flags = []
    conn = _connectivity(final, DESORPTION_MULT)
    if not conn[np.ix_(ads, slab)].any():
        flags.append("desorbed")
    if len(ads) > 1 and not np.array_equal(_connectivity(initial[ads]), _connectivity(final[ads])):
        flags.append("dissociated")
    if "desorbed" not in flags and site_kind(initial) != site_kind(final):
        flags.append("site_changed")
    ref = initial[slab] if final_slab is None else final_slab
    relaxed_slab = final[slab]
    a1, a15 = _connectivity(relaxed_slab), _connectivity(relaxed_slab, SURFACE_CHANGE_MULT)
    s1, s15 = _connectivity(ref), _connectivity(ref, SURFACE_CHANGE_MULT)
    if (a1 & ~s15).any() or (s1 & ~a15).any() or slab_displacement(relaxed_slab, ref) > RECONSTRUCTION_DISPLACEMENT:
        flags.append("reconstructed")
    if len(fixed) and _connectivity(final)[np.ix_(ads, fixed)].any():
        flags.append("intercalated")
    return flags


# ----------------------------------------------------------------------------- adsorption energy


# A relaxed clean slab is a plain relaxation result (energy eV, positions (N, 3) Å).
SlabResult = Relaxation


@dataclass
class AdsorptionResult:
    """One labelled structure.

    Args:
        status: "ok", "timeout" or "failed: <reason>".
        initial, relaxed: the adslab before and after relaxation (relaxed is None when it failed).
        e_ads: e_adslab - e_slab - e_reference (all eV).
        e_adslab, e_slab, e_reference: the relaxed adslab's and clean slab's energies and the adsorbate's gas
            reference.
        converged, steps: of the adslab relaxation.
        anomalies: a subset of ANOMALIES.
        site_initial, site_final: the adsorbate's site kind before and after relaxation.
        wall_s: seconds it took.
    """

    status: str
    initial: Atoms
    relaxed: Atoms | None = None
    e_ads: float | None = None
    e_adslab: float | None = None
    e_slab: float | None = None
    e_reference: float | None = None
    converged: bool = False
    steps: int = 0
    anomalies: list[str] = field(default_factory=list)
    site_initial: str | None = None
    site_final: str | None = None
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary(self) -> dict:
        """JSON-ready labels (no structures)."""
        keys = (
            "status",
            "e_ads",
            "e_adslab",
            "e_slab",
            "e_reference",
            "converged",
            "steps",
            "anomalies",
            "site_initial",
            "site_final",
            "wall_s",
        )
        return {k: getattr(self, k) for k in keys}


def relax_slab(slab: Atoms, spec: str | None = None, settings: RelaxSettings = RelaxSettings()) -> SlabResult:
    """Relax a clean slab (its tag-0 atoms fixed)."""
    return relax(with_protocol_constraints(slab), spec, settings)


def adsorption_energy(
    adslab: Atoms,
    spec: str | None = None,
    settings: RelaxSettings = RelaxSettings(),
    references: References | None = None,
    slab: SlabResult | None = None,
) -> AdsorptionResult:
    """Relax adslab (and its clean slab unless `slab` gives it) and return E_ads with anomalies.

    Bad structures raise InputError (call check_structure first to reject them
    early); calculator trouble becomes a result with a failed or timeout status.

    Args:
        adslab: slab plus adsorbate, ase.Atoms with OC20 tags (0 fixed subsurface, 1 free surface, 2 adsorbate).
        spec: the calculator: a name ("emt", "chgnet", "sevennet") or a module:factory path; None: EMT.
        settings: the relaxation protocol (RelaxSettings).
        references: the calculator's gas references (gas_references); None: computed here.
        slab: the clean slab's result, when it is already relaxed (shared by the placements on one slab).
    """
    check_structure(adslab, spec)
    t0 = time.perf_counter()
    initial = with_protocol_constraints(adslab)
    refs = references or gas_references(spec, settings)
    tags = initial.get_tags()
    e_ref = refs.adsorbate_reference(initial[tags == TAG_ADSORBATE].get_chemical_symbols())
    clean = slab if slab is not None else relax_slab(clean_slab_of(initial), spec, settings)
    result = AdsorptionResult("ok", initial, e_slab=clean.energy, e_reference=e_ref, site_initial=site_kind(initial))
    if not clean.ok:
        result.status = f"{clean.status} (clean slab)" if clean.status != "timeout" else "timeout"
        result.wall_s = time.perf_counter() - t0
        return result
    r = relax(initial, spec, settings, watch=tags != TAG_ADSORBATE)
    result.steps, result.converged = r.steps, r.converged
    if r.ok:
        relaxed = initial.copy()
        relaxed.positions = r.positions
        final_slab = initial[tags != TAG_ADSORBATE]
        final_slab.positions = clean.positions
        result.relaxed = relaxed
        result.e_adslab = r.energy
        result.e_ads = r.energy - clean.energy - e_ref
        result.anomalies = detect_anomalies(initial, relaxed, final_slab)
        result.site_final = site_kind(relaxed)
    else:
        result.status = r.status
    result.wall_s = time.perf_counter() - t0
    return result
