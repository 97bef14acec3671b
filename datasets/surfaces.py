"""Surfaces of any metal and facet from pymatgen: bulk crystals, alloy decorations, slabs, sites.

The catalyst v2 protocol builds every slab this way:

* **Bulk.** Each metal is an fcc, bcc or hcp crystal (:data:`CRYSTAL_OF`; ASE's reference state, with
  documented substitutes where the ground state is not one of the three). Lattice constants are relaxed
  with the labelling calculator (:func:`lattice_parameters`: cell filter + BFGS, cached per process) and
  never taken from a table. Alloys: substitutional random alloys on the lattice of their first metal
  (Vegard's law over the metals' constants *in that lattice*), ordered prototypes L1_2 (A3B) and L1_0 (AB)
  on fcc and B2 (AB) on bcc, or any bulk file pymatgen reads (CIF, POSCAR) for intermetallics.
* **Slab.** ``pymatgen.core.surface.SlabGenerator`` cuts the conventional cell along a Miller index
  (hcp: three-index, (0, 0, 1) is the basal plane) with at least :data:`MIN_SLAB_SIZE` Å of metal and
  :data:`MIN_VACUUM` Å of vacuum, takes one termination (seeded) and repeats the in-plane cell until both
  surface vectors are at least :data:`MIN_LATERAL` Å (2x2 of a close-packed surface: 1/4 monolayer).
  Atoms are grouped into layers by height (:data:`LAYER_TOLERANCE`); the bottom half of the layers carry
  OC20 tag 0 and FixAtoms, the rest tag 1.
* **Sites.** ``pymatgen.analysis.adsorption.AdsorbateSiteFinder`` finds the symmetry-distinct ontop,
  bridge and hollow sites of the top surface; a three-fold hollow is named fcc or hcp by whether an atom
  of the layer below lies under it (:func:`phenograd.simulators.adsorption.site_kind`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms

from phenograd.core.errors import InputError, one_line
from phenograd.simulators.adsorption import TAG_FIXED, TAG_SURFACE, check_elements
from phenograd.simulators.calculators import calculator_spec, get_calculator

# Crystal of each metal. ASE's reference states, except where the ground state is none of fcc/bcc/hcp:
# Mn (alpha-Mn, 58 atoms) is taken as fcc (gamma-Mn), In (body-centred tetragonal, c/a 1.08) as fcc.
CRYSTAL_OF = {
    "Al": "fcc",
    "Ca": "fcc",
    "Ni": "fcc",
    "Cu": "fcc",
    "Rh": "fcc",
    "Pd": "fcc",
    "Ag": "fcc",
    "Ir": "fcc",
    "Pt": "fcc",
    "Au": "fcc",
    "Pb": "fcc",
    "Mn": "fcc",
    "In": "fcc",
    "V": "bcc",
    "Cr": "bcc",
    "Fe": "bcc",
    "Nb": "bcc",
    "Mo": "bcc",
    "Ta": "bcc",
    "W": "bcc",
    "Mg": "hcp",
    "Sc": "hcp",
    "Ti": "hcp",
    "Co": "hcp",
    "Zn": "hcp",
    "Y": "hcp",
    "Zr": "hcp",
    "Ru": "hcp",
    "Cd": "hcp",
    "Hf": "hcp",
    "Re": "hcp",
    "Os": "hcp",
    "Tc": "hcp",
}
#: The v2 chemistry: 3d, 4d and 5d transition metals with simple ground states, plus Al, Mg, Zn, Cd, In, Pb.
V2_METALS = (
    "Sc",
    "Ti",
    "V",
    "Cr",
    "Mn",
    "Fe",
    "Co",
    "Ni",
    "Cu",
    "Zn",
    "Y",
    "Zr",
    "Nb",
    "Mo",
    "Ru",
    "Rh",
    "Pd",
    "Ag",
    "Cd",
    "Hf",
    "Ta",
    "W",
    "Re",
    "Os",
    "Ir",
    "Pt",
    "Au",
    "Al",
    "Mg",
    "In",
    "Pb",
)
#: Metals whose 3d moments matter: label them spin-polarised where the calculator allows it (DFT).
MAGNETIC = ("Mn", "Fe", "Co", "Ni")
FACETS_OF = {
    "fcc": ((1, 1, 1), (1, 0, 0), (1, 1, 0), (2, 1, 1)),
    "bcc": ((1, 1, 0), (1, 0, 0)),
    "hcp": ((0, 0, 1),),
}
PROTOTYPE_CRYSTAL = {"L12": "fcc", "L10": "fcc", "B2": "bcc"}
DECORATIONS = ("pure", "random", "L12", "L10", "B2")
MIN_SLAB_SIZE = 7.0  # Å of metal (pymatgen's measure: layers x interlayer spacing)
MIN_VACUUM = 14.0  # Å between periodic images of the slab along z
MIN_LATERAL = 5.4  # Å: shortest in-plane cell vector after repetition
LAYER_TOLERANCE = 0.3  # Å: atoms within this height belong to one layer
MAX_ATOMS = 80  # larger cells are refused: a relaxation must stay within seconds


def facet_label(crystal: str, miller: tuple[int, ...]) -> str:
    """'fcc111', 'bcc110', 'hcp0001' (hcp in four-index Miller-Bravais notation)."""
    h, k, lz = miller
    if crystal == "hcp":
        return f"hcp{h}{k}{-(h + k)}{lz}".replace("-", "m")
    return f"{crystal}{h}{k}{lz}"


def parse_facet(label: str) -> tuple[str, tuple[int, int, int]]:
    """Inverse of :func:`facet_label` for the facets of FACETS_OF; InputError otherwise."""
    for crystal, millers in FACETS_OF.items():
        for m in millers:
            if facet_label(crystal, m) == label:
                return crystal, m
    known = [facet_label(c, m) for c, ms in FACETS_OF.items() for m in ms]
    raise InputError(f"facet {label!r}: use one of {', '.join(known)}")


# ----------------------------------------------------------------------------- bulk


def _crystal_of(metal: str) -> str:
    if metal not in CRYSTAL_OF:
        raise InputError(
            f"metal {metal!r}: no bulk crystal known (phenograd knows {', '.join(sorted(CRYSTAL_OF))}); "
            "give a bulk file instead"
        )
    return CRYSTAL_OF[metal]


def _guess(metal: str, crystal: str) -> tuple[float, float]:
    """Starting a, c (Å) from the atomic volume of ASE's reference state, converted to the crystal."""
    from ase.build import bulk

    try:
        ref = bulk(metal)
        volume = ref.get_volume() / len(ref)
    except Exception:  # no reference state: a hard-sphere guess
        from ase.data import atomic_numbers, covalent_radii

        volume = 4.0 / 3.0 * math.pi * (1.2 * covalent_radii[atomic_numbers[metal]]) ** 3 / 0.74
    if crystal == "fcc":
        return (4 * volume) ** (1 / 3), 0.0
    if crystal == "bcc":
        return (2 * volume) ** (1 / 3), 0.0
    a = (volume * 2 / (math.sqrt(3) / 2 * math.sqrt(8 / 3))) ** (1 / 3)
    return a, a * math.sqrt(8 / 3)


@lru_cache(maxsize=512)
def lattice_parameters(metal: str, crystal: str, calculator: str | None = None) -> tuple[float, float]:
    """Relaxed lattice constants (a, c) in Å of one metal in an fcc, bcc or hcp crystal (c = 0 for cubic).

    ASE's FrechetCellFilter + BFGS to 1e-3 eV/Å from the reference state's atomic volume; the cubic
    crystals relax hydrostatically. Rounded to 1e-4 Å so that slabs (and their content hashes) are stable.
    """
    from ase.build import bulk
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    if crystal not in FACETS_OF:
        raise InputError(f"crystal {crystal!r}: use fcc, bcc or hcp")
    check_elements([metal], calculator, "bulk")
    a0, c0 = _guess(metal, crystal)
    atoms = bulk(metal, crystal, a=a0, c=c0 or None) if crystal == "hcp" else bulk(metal, crystal, a=a0)
    atoms.calc = get_calculator(calculator)
    try:
        with np.errstate(all="ignore"):
            opt = BFGS(FrechetCellFilter(atoms, hydrostatic_strain=crystal != "hcp"), logfile=None, maxstep=0.1)
            opt.run(fmax=1e-3, steps=200)
    except Exception as exc:  # a calculator may fail on a strained cell
        raise InputError(
            f"calculator {calculator_spec(calculator)}: relaxing bulk {crystal} {metal} failed ({one_line(exc)})"
        ) from None
    cell = atoms.cell.cellpar()
    if crystal == "hcp":
        a, c = cell[0], cell[2]
    else:
        a, c = (cell[0] * (math.sqrt(2) if crystal == "fcc" else 2 / math.sqrt(3))), 0.0
    if not (0.7 * a0 < a < 1.4 * a0) or not np.isfinite(atoms.get_potential_energy()):
        raise InputError(
            f"calculator {calculator_spec(calculator)} finds no bulk {crystal} {metal} near a = {a0:.2f} Å "
            f"(relaxed to {a:.2f} Å)"
        )
    return round(float(a), 4), round(float(c), 4)


@dataclass(frozen=True)
class BulkSpec:
    """A bulk crystal to cut: decoration, crystal and metal fractions ((symbol, fraction), ...).

    pure: one metal in its own crystal (CRYSTAL_OF). random: substitutional alloy on the crystal of the
    first metal (the slab is decorated after cutting). L12 (A3B) and L10 (AB): ordered fcc; B2 (AB):
    ordered bcc; A is the first metal.
    """

    decoration: str
    fractions: tuple[tuple[str, float], ...]

    @property
    def metals(self) -> tuple[str, ...]:
        return tuple(m for m, _ in self.fractions)

    @property
    def crystal(self) -> str:
        return PROTOTYPE_CRYSTAL.get(self.decoration) or _crystal_of(self.metals[0])

    def validate(self) -> None:
        if self.decoration not in DECORATIONS:
            raise InputError(f"decoration {self.decoration!r}: use one of {', '.join(DECORATIONS)}")
        n = len(self.fractions)
        need = {"pure": 1, "L12": 2, "L10": 2, "B2": 2}.get(self.decoration)
        if need is not None and n != need or self.decoration == "random" and not 2 <= n <= 5:
            raise InputError(f"decoration {self.decoration} does not fit {n} metals")
        if abs(sum(x for _, x in self.fractions) - 1) > 1e-6 or any(x <= 0 for _, x in self.fractions):
            raise InputError("metal fractions must be positive and sum to 1")
        for m in self.metals:
            _crystal_of(m)


def lattice_of(spec: BulkSpec, calculator: str | None = None) -> tuple[float, float]:
    """(a, c) in Å of the bulk: Vegard's law over the metals' constants in the bulk's crystal."""
    crystal = spec.crystal
    params = [(x, lattice_parameters(m, crystal, calculator)) for m, x in spec.fractions]
    return (round(sum(x * p[0] for x, p in params), 4), round(sum(x * p[1] for x, p in params), 4))


def bulk_structure(spec: BulkSpec, calculator: str | None = None):
    """Conventional pymatgen Structure of spec (random alloys: the first metal's lattice, undecorated)."""
    from pymatgen.core import Lattice, Structure

    spec.validate()
    a, c = lattice_of(spec, calculator)
    A, B = spec.metals[0], spec.metals[-1]
    if spec.decoration == "L12":
        return Structure(Lattice.cubic(a), [A, A, A, B], [[0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0, 0, 0]])
    if spec.decoration == "L10":
        return Structure(Lattice.cubic(a), [A, A, B, B], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    if spec.decoration == "B2":
        return Structure(Lattice.cubic(a), [A, B], [[0, 0, 0], [0.5, 0.5, 0.5]])
    if spec.crystal == "fcc":
        return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [A], [[0, 0, 0]])
    if spec.crystal == "bcc":
        return Structure.from_spacegroup("Im-3m", Lattice.cubic(a), [A], [[0, 0, 0]])
    return Structure.from_spacegroup("P6_3/mmc", Lattice.hexagonal(a, c), [A], [[1 / 3, 2 / 3, 0.25]])


def read_bulk(path) -> "object":
    """A bulk crystal (pymatgen Structure) from a CIF or POSCAR file; InputError when it is not one."""
    from pathlib import Path

    from pymatgen.core import Structure

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such bulk file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_file(str(p))
    except Exception as exc:  # pymatgen raises many types for unreadable files
        raise InputError(f"{p}: not a bulk crystal file ({type(exc).__name__}: {one_line(exc)[:160]})") from None
    if len(s) == 0 or not (s.volume > 1e-3 * len(s)) or len(s) > 200:
        raise InputError(f"{p}: not a usable bulk crystal ({len(s)} sites, volume {s.volume:.3g} Å³)")
    if any(not el.is_metal for el in s.composition.elements):
        bad = next(el for el in s.composition.elements if not el.is_metal)
        raise InputError(f"{p}: bulk holds {bad}, not a metal; phenograd's slabs are metals and alloys")
    return s


# ----------------------------------------------------------------------------- slabs


@dataclass(frozen=True)
class SurfaceSpec:
    """Everything that defines one v2 slab: bulk, Miller index, termination seed and the random decoration.

    miller: three indices of the conventional cell (hcp: (0, 0, 1) is (0001)). seed picks the
    termination and, for random alloys, the placement of the metals over the slab's sites.
    """

    bulk: BulkSpec
    miller: tuple[int, int, int]
    seed: int = 0
    min_lateral: float = MIN_LATERAL
    min_slab_size: float = MIN_SLAB_SIZE
    vacuum: float = MIN_VACUUM

    @property
    def facet(self) -> str:
        return facet_label(self.bulk.crystal, self.miller)

    def as_dict(self) -> dict:
        return {
            "decoration": self.bulk.decoration,
            "composition": [list(p) for p in self.bulk.fractions],
            "crystal": self.bulk.crystal,
            "miller": list(self.miller),
            "facet": self.facet,
            "seed": self.seed,
            "min_lateral": self.min_lateral,
            "min_slab_size": self.min_slab_size,
            "vacuum": self.vacuum,
        }


def _layers(z: np.ndarray, tolerance: float = LAYER_TOLERANCE) -> np.ndarray:
    """Layer index per atom (0 = bottom) from heights z (N,) in Å."""
    order = np.argsort(z)
    layer = np.zeros(len(z), int)
    current, last = 0, z[order[0]]
    for i in order:
        if z[i] - last > tolerance:
            current += 1
        layer[i] = current
        last = z[i]
    return layer


def cut_slab(
    structure,
    miller,
    seed: int = 0,
    min_lateral: float = MIN_LATERAL,
    min_slab_size: float = MIN_SLAB_SIZE,
    vacuum: float = MIN_VACUUM,
) -> Atoms:
    """ASE Atoms of a tagged slab cut from a pymatgen bulk Structure along miller.

    Returns Atoms (N,) with pbc (True, True, False), the surface normal along +z, OC20 tags (bottom half of
    the layers 0, the rest 1) and FixAtoms on tag 0. InputError when the index yields no slab.
    """
    from pymatgen.core.surface import SlabGenerator
    from pymatgen.io.ase import AseAtomsAdaptor

    miller = tuple(int(i) for i in miller)
    if len(miller) != 3 or not any(miller) or max(abs(i) for i in miller) > 4:
        raise InputError(f"Miller index {miller}: give three integers, not all zero, each within -4..4")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gen = SlabGenerator(
                structure,
                miller,
                min_slab_size=min_slab_size,
                min_vacuum_size=vacuum,
                center_slab=True,
                lll_reduce=False,
                primitive=True,
                in_unit_planes=False,
            )
            slabs = gen.get_slabs(symmetrize=False)
    except Exception as exc:  # pymatgen raises ValueError and friends for impossible cuts
        raise InputError(f"Miller index {miller}: pymatgen cuts no slab ({one_line(exc)[:160]})") from None
    if not slabs:
        raise InputError(f"Miller index {miller}: pymatgen cuts no slab of {structure.composition.reduced_formula}")
    slab = slabs[seed % len(slabs)].get_orthogonal_c_slab()
    lat = slab.lattice
    reps = (max(1, math.ceil(min_lateral / lat.a - 1e-9)), max(1, math.ceil(min_lateral / lat.b - 1e-9)), 1)
    if len(slab) * reps[0] * reps[1] > MAX_ATOMS:
        raise InputError(
            f"Miller index {miller}: the slab would hold {len(slab) * reps[0] * reps[1]} atoms "
            f"(> {MAX_ATOMS}); use a lower index"
        )
    slab.make_supercell(reps)
    atoms = AseAtomsAdaptor.get_atoms(slab)
    atoms = Atoms(atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=(True, True, False))
    atoms.wrap(pbc=(True, True, False))
    layer = _layers(atoms.positions[:, 2])
    n_layers = layer.max() + 1
    if n_layers < 2:
        raise InputError(f"Miller index {miller}: the slab has a single layer")
    atoms.set_tags(np.where(layer < n_layers // 2, TAG_FIXED, TAG_SURFACE))
    atoms.set_constraint(FixAtoms(mask=atoms.get_tags() == TAG_FIXED))
    return atoms


def build_surface(spec: SurfaceSpec, calculator: str | None = None) -> Atoms:
    """The ideal (unrelaxed) tagged slab of spec; info['slab'] records the spec and the lattice used."""
    spec.bulk.validate()
    check_elements(spec.bulk.metals, calculator, "slab")
    if spec.miller not in FACETS_OF[spec.bulk.crystal]:
        known = ", ".join(facet_label(spec.bulk.crystal, m) for m in FACETS_OF[spec.bulk.crystal])
        raise InputError(f"{spec.bulk.crystal} crystal: facet {spec.miller} is not in the protocol ({known})")
    atoms = cut_slab(
        bulk_structure(spec.bulk, calculator), spec.miller, spec.seed, spec.min_lateral, spec.min_slab_size, spec.vacuum
    )
    if spec.bulk.decoration == "random":
        rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0x5AB2]))
        raw = np.array([x * len(atoms) for _, x in spec.bulk.fractions])
        counts = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - counts), kind="stable")[: len(atoms) - counts.sum()]:
            counts[i] += 1
        pool = [m for m, c in zip(spec.bulk.metals, counts) for _ in range(c)]
        atoms.set_chemical_symbols(list(np.array(pool, dtype=object)[rng.permutation(len(atoms))]))
    a, c = lattice_of(spec.bulk, calculator)
    atoms.info["slab"] = {**spec.as_dict(), "a": a, "c": c}
    return atoms


# ----------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class SurfaceSite:
    """A symmetry-distinct adsorption site: pymatgen's kind (ontop, bridge, hollow) and position (x, y) in Å."""

    kind: str
    xy: tuple[float, float]
    index: int = 0
    extra: dict = field(default_factory=dict, compare=False)


def surface_sites(slab: Atoms) -> list[SurfaceSite]:
    """Symmetry-distinct ontop, bridge and hollow sites of the slab's top surface (AdsorbateSiteFinder).

    InputError when none is found. The order is pymatgen's (ontop, bridge, hollow), stable for a slab.
    """
    from pymatgen.analysis.adsorption import AdsorbateSiteFinder
    from pymatgen.io.ase import AseAtomsAdaptor

    work = slab.copy()
    work.set_constraint()
    work.pbc = True
    structure = AseAtomsAdaptor.get_structure(work)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            finder = AdsorbateSiteFinder(structure)
            found = finder.find_adsorption_sites(
                distance=0.0,
                symm_reduce=1e-2,
                near_reduce=1e-2,
                positions=("ontop", "bridge", "hollow"),
                no_obtuse_hollow=False,
            )
    except Exception as exc:  # qhull and spglib failures surface as many types
        raise InputError(f"site search failed on {slab.get_chemical_formula()} ({one_line(exc)[:160]})") from None
    sites = []
    for kind in ("ontop", "bridge", "hollow"):
        for coords in found.get(kind, []):
            sites.append(SurfaceSite(kind, (float(coords[0]), float(coords[1])), len(sites)))
    if not sites:
        raise InputError(f"site search found no adsorption site on {slab.get_chemical_formula()}")
    return sites
