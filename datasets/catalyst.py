"""Catalyst designs: compositions, alloy slabs and adsorbate placements (no simulation).

Reference protocol (the documented default):

* fcc(111) and fcc(100) slabs, 3x3 surface cell, 4 layers, 10 Å vacuum on each
  side, built with ASE's ``fcc111``/``fcc100``; (110) and (211) as well for the
  unlabelled pretraining set.
* Lattice constant by Vegard's law, a = sum_i x_i a_i, from each metal's fcc
  lattice constant relaxed with the same calculator (EMT: Pt 3.922 Å, ...).
* Tags as in OC20: the bottom ``layers // 2`` layers are 0 (fixed), the rest of
  the slab 1 (free surface), adsorbate atoms 2. Tag-0 atoms carry FixAtoms.
* Decorations: ``pure``; ``random`` (exact element counts for the composition,
  placed on a seeded random permutation of the slab's sites; binaries,
  ternaries and high-entropy alloys of up to 5 metals); ordered prototypes
  ``L12`` (A3B) and ``L10`` (AB) cut from the ideal bulk ordering. These
  orderings are not periodic in a 3x3 surface cell (except L1_0 on (100)), so
  a prototype slab takes the smallest larger n x n cell that is (4x4).
* Sites: ASE's named sites of the primitive surface cell (ontop, bridge, fcc,
  hcp on (111); ontop, bridge, hollow on (100); ontop, longbridge, shortbridge,
  hollow on (110)), repeated over the cell and closed under the pure slab's
  symmetry (so all three bridge orientations of (111) appear), then grouped
  into orbits under the decorated slab's own symmetry (spglib): one
  representative per orbit is a symmetry-distinct site.
* The adsorbate's binding atom starts where it touches the surface: at the
  lowest height whose distance to every slab atom is at least the sum of
  covalent radii. OH binds through O and CO through C, the other atom straight
  above at the gas bond length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from ase import Atoms
from ase.build import fcc100, fcc110, fcc111, fcc211
from ase.constraints import FixAtoms
from ase.data import atomic_numbers, covalent_radii, reference_states
from ase.geometry import find_mic

from phenograd.core.errors import InputError, one_line
from phenograd.simulators.adsorption import TAG_ADSORBATE, TAG_FIXED, TAG_SURFACE, calculator_spec, check_elements

EMT_METALS = ("Al", "Ni", "Cu", "Pd", "Ag", "Pt", "Au")
LABELLED_FACETS = ("111", "100")
FACETS = ("111", "100", "110", "211")
DECORATIONS = ("pure", "random", "L12", "L10")
DEFAULT_ADSORBATES = ("H", "O", "N", "C", "OH")
MAX_METALS = 5

# Binding atom first; the rest sits straight above it (gas bond lengths, Å).
ADSORBATES = {
    "H": Atoms("H"),
    "O": Atoms("O"),
    "N": Atoms("N"),
    "C": Atoms("C"),
    "OH": Atoms("OH", positions=[(0, 0, 0), (0, 0, 0.97)]),
    "CO": Atoms("CO", positions=[(0, 0, 0), (0, 0, 1.14)]),
}

_BUILDERS = {"111": fcc111, "100": fcc100, "110": fcc110, "211": fcc211}
# Cubic directions of each ASE builder's x and z axes (checked by _cubic_indices).
_ORIENTATION = {
    "111": ((-1, 1, 0), (1, 1, 1)),
    "100": ((1, 1, 0), (0, 0, 1)),
    "110": ((0, 0, 1), (1, 1, 0)),
    "211": ((1, -1, -1), (2, 1, 1)),
}


# ----------------------------------------------------------------------------- compositions


@dataclass(frozen=True)
class Composition:
    """Element fractions of a slab's metal sites.

    Args:
        fractions: ((symbol, fraction), ...), fractions summing to 1 (Composition.of and .parse build it).
    """

    fractions: tuple[tuple[str, float], ...]

    @classmethod
    def of(cls, mapping: dict, metals=None) -> "Composition":
        """Validated composition; InputError for unknown elements, negative fractions or a sum != 1."""
        if not mapping:
            raise InputError("composition: no elements")
        if len(mapping) > MAX_METALS:
            raise InputError(f"composition: at most {MAX_METALS} metals, got {len(mapping)}")
        items = []
        for el, x in mapping.items():
            if el not in atomic_numbers or el == "X":
                raise InputError(f"composition: unknown element {el!r}")
            if metals is not None and el not in metals:
                raise InputError(f"composition: {el} is not one of the slab metals ({', '.join(metals)})")
            x = float(x)
            if not math.isfinite(x) or x < 0:
                raise InputError(f"composition: fraction of {el} is {x:g}; fractions must be >= 0")
            items.append((el, x))
        total = sum(x for _, x in items)
        if abs(total - 1.0) > 1e-6:
            raise InputError(f"composition: fractions sum to {total:g}, not 1")
        return cls(tuple((el, x) for el, x in items if x > 0))

    @classmethod
    def parse(cls, text: str, metals=None) -> "Composition":
        """'Pt:0.75,Ni:0.25' (or with '=') -> Composition."""
        mapping = {}
        for part in text.split(","):
            el, sep, x = part.strip().replace("=", ":").partition(":")
            if not sep:
                raise InputError(f"composition {text!r}: write it as Pt:0.75,Ni:0.25")
            try:
                value = float(x)
            except ValueError:
                raise InputError(f"composition {text!r}: {x!r} is not a number") from None
            if el.strip() in mapping:
                raise InputError(f"composition {text!r}: {el.strip()} given twice")
            mapping[el.strip()] = value
        return cls.of(mapping, metals)

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(el for el, _ in self.fractions)

    def counts(self, n_sites: int) -> dict[str, int]:
        """Whole numbers of atoms per element for n_sites (largest remainder), summing to n_sites."""
        raw = np.array([x * n_sites for _, x in self.fractions])
        counts = np.floor(raw).astype(int)
        for i in np.argsort(-(raw - counts), kind="stable")[: n_sites - counts.sum()]:
            counts[i] += 1
        return {el: int(c) for (el, _), c in zip(self.fractions, counts)}

    def label(self) -> str:
        """'Ni0.25Pt0.75' (elements in alphabetical order, fractions to 3 decimals)."""
        return "".join(f"{el}{x:.3g}" for el, x in sorted(self.fractions))


# ----------------------------------------------------------------------------- lattice constants


@lru_cache(maxsize=64)
def fcc_lattice_constant(metal: str, spec: str | None = None) -> float:
    """Relaxed fcc lattice constant (Å, rounded to 1e-5) of a metal with the calculator of spec."""
    from ase.build import bulk
    from scipy.optimize import minimize_scalar

    from phenograd.simulators.adsorption import get_calculator

    check_elements([metal], spec, "lattice constant")
    calc = get_calculator(spec)
    guess = reference_states[atomic_numbers[metal]].get("a") or 2 * math.sqrt(2) * covalent_radii[atomic_numbers[metal]]

    def energy(a: float) -> float:
        b = bulk(metal, "fcc", a=a)
        b.calc = calc
        return b.get_potential_energy()

    r = minimize_scalar(energy, bounds=(0.8 * guess, 1.2 * guess), method="bounded", options={"xatol": 1e-6})
    if not (r.success and 0.81 * guess < r.x < 1.19 * guess):
        raise InputError(f"calculator {calculator_spec(spec)} has no fcc energy minimum for {metal} near {guess:.2f} Å")
    return round(float(r.x), 5)


NOBLE_GASES = ("He", "Ne", "Ar", "Kr", "Xe", "Rn")


def check_fcc_metals(metals, what: str = "metals") -> None:
    """InputError naming the first unknown element or one that is not an fcc metal in its ground state (ASE's
    reference states): these builders make fcc slabs at the alloy's Vegard lattice constant, which is physics only
    for metals that are fcc themselves (Al, Ca, Ni, Cu, Sr, Rh, Pd, Ag, Ir, Pt, Au, Pb, ...). Whether the calculator
    and the model cover a metal is checked where they are known."""
    for m in dict.fromkeys(metals):
        if m not in atomic_numbers or m == "X":
            raise InputError(f"{what}: unknown element {m!r}")
        if m in NOBLE_GASES or (reference_states[atomic_numbers[m]] or {}).get("symmetry") != "fcc":
            raise InputError(f"{what}: {m} is not an fcc metal (ASE's reference states); the slabs here are fcc")


def vegard(composition: Composition, spec: str | None = None) -> float:
    """Alloy lattice constant (Å): fraction-weighted mean of the metals' relaxed fcc constants."""
    return round(sum(x * fcc_lattice_constant(el, spec) for el, x in composition.fractions), 5)


# ----------------------------------------------------------------------------- slabs


@dataclass(frozen=True)
class SlabSpec:
    """Everything that defines a slab.

    Args:
        facet: one of FACETS ("111", "100", ...).
        decoration: pure | random | L12 | L10. For the prototypes, composition's
            first element is A (the majority in L12) and the second B.
        composition: the metal sites' element fractions.
        size: surface cell (nx, ny).
        layers: atomic layers.
        vacuum: in Å.
        seed: picks the decoration (random) or the termination (prototypes).
    """

    facet: str
    decoration: str
    composition: Composition
    size: tuple[int, int] = (3, 3)
    layers: int = 4
    vacuum: float = 10.0
    seed: int = 0

    def validate(self) -> None:
        if self.facet not in FACETS:
            raise InputError(f"facet {self.facet!r}: use one of {', '.join(FACETS)}")
        if self.decoration not in DECORATIONS:
            raise InputError(f"decoration {self.decoration!r}: use one of {', '.join(DECORATIONS)}")
        nx, ny = self.size
        if not (1 <= nx <= 12 and 1 <= ny <= 12) or not (2 <= self.layers <= 12):
            raise InputError(f"slab size {nx}x{ny}x{self.layers} out of range (1-12 per side, 2-12 layers)")
        if self.facet == "211" and nx % 3:
            raise InputError("fcc(211) needs a surface cell size a multiple of 3 along x")
        if not self.vacuum >= 4.0:
            raise InputError(f"vacuum {self.vacuum} Å is too thin (>= 4 Å)")
        n = len(self.composition.fractions)
        if self.decoration == "pure" and n != 1 or self.decoration in ("L12", "L10") and n != 2:
            raise InputError(f"decoration {self.decoration} does not fit composition {self.composition.label()}")
        ideal = {"L12": 0.75, "L10": 0.5}.get(self.decoration)
        if ideal is not None and abs(self.composition.fractions[0][1] - ideal) > 1e-9:
            raise InputError(f"{self.decoration} needs A fraction {ideal}, got {self.composition.label()}")

    def as_dict(self) -> dict:
        return {
            "facet": self.facet,
            "decoration": self.decoration,
            "composition": [list(p) for p in self.composition.fractions],
            "size": list(self.size),
            "layers": self.layers,
            "vacuum": self.vacuum,
            "seed": self.seed,
        }


def _rotation(facet: str) -> np.ndarray:
    """Rows: the builder's x, y, z axes as unit vectors in cubic coordinates."""
    ex, ez = (np.asarray(v, float) / np.linalg.norm(v) for v in _ORIENTATION[facet])
    return np.array([ex, np.cross(ez, ex), ez])


def _cubic_indices(slab: Atoms, facet: str, a: float) -> np.ndarray:
    """Integer fcc lattice coordinates n = 2 r_cubic / a (N, 3) of the builder's ideal positions."""
    n = 2.0 * ((slab.positions - slab.positions[0]) @ _rotation(facet)) / a
    rounded = np.round(n)
    if not np.allclose(n, rounded, atol=1e-6) or np.any(rounded.sum(axis=1) % 2):
        raise AssertionError(f"fcc{facet}: builder orientation does not match the cubic lattice")
    return rounded.astype(int)


def _is_b_site(n: np.ndarray, decoration: str, sublattice: np.ndarray) -> np.ndarray:
    """B sites of L12 (one simple-cubic sublattice of four) or L10 (alternate (001) planes)."""
    if decoration == "L12":
        return np.all((n - sublattice) % 2 == 0, axis=-1)
    return (n[..., 2] - sublattice[2]) % 2 == 1


def _commensurate(facet: str, size: tuple[int, int], decoration: str) -> bool:
    """True when the surface cell's vectors are translations of the ordered lattice."""
    a = 4.0  # any: the test is on integer lattice coordinates
    cell = _BUILDERS[facet]("Cu", (*size, 2), a=a, vacuum=5.0).cell[:2]
    origin = np.zeros(3, int)
    for vec in cell:
        t = np.round(2.0 * (vec @ _rotation(facet)) / a).astype(int)
        if _is_b_site(origin, decoration, origin) != _is_b_site(t, decoration, origin):
            return False
    return True


def prototype_size(facet: str, size: tuple[int, int], decoration: str) -> tuple[int, int]:
    """Smallest n x n cell (n >= max(size)) in which an ordered prototype is periodic."""
    if decoration not in ("L12", "L10"):
        return size
    n = max(size)

    def cell(k: int) -> tuple[int, int]:
        return (3 * math.ceil(k / 3), k) if facet == "211" else (k, k)

    while not _commensurate(facet, cell(n), decoration):
        n += 1
    return cell(n)


def build_slab(spec: SlabSpec, calculator: str | None = None) -> Atoms:
    """The ideal (unrelaxed) slab of spec with OC20 tags and FixAtoms on tag 0.

    Returns Atoms (N,) with pbc (True, True, False)... as ASE's builders make them,
    info['slab'] = spec.as_dict() plus the surface cell actually used.

    Args:
        spec: the slab (SlabSpec; validated here).
        calculator: the calculator it will be relaxed with: its element set is checked and its fcc lattice
            constants give the slab's (Vegard's law); None: EMT.
    """
    spec.validate()
    check_elements(spec.composition.elements, calculator, "slab")
    a = vegard(spec.composition, calculator)
    size = prototype_size(spec.facet, spec.size, spec.decoration)
    first = spec.composition.elements[0]
    slab = _BUILDERS[spec.facet](first, (*size, spec.layers), a=a, vacuum=spec.vacuum)
    slab.info.pop("adsorbate_info", None)
    slab.set_tags(_oc20_tags(slab, spec))
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 0xC47A]))
    symbols = np.array(slab.get_chemical_symbols(), dtype=object)
    if spec.decoration == "random":
        pool = [el for el, c in spec.composition.counts(len(slab)).items() for _ in range(c)]
        symbols[:] = np.array(pool, dtype=object)[rng.permutation(len(slab))]
    elif spec.decoration in ("L12", "L10"):
        n = _cubic_indices(slab, spec.facet, a)
        sublattice = [(0, 0, 0), (1, 1, 0), (1, 0, 1), (0, 1, 1)][rng.integers(4)]
        b = _is_b_site(n, spec.decoration, np.array(sublattice))
        symbols[:] = first
        symbols[b] = spec.composition.elements[1]
    slab.set_chemical_symbols(list(symbols))
    slab.set_constraint(FixAtoms(mask=slab.get_tags() == TAG_FIXED))
    slab.info["slab"] = {**spec.as_dict(), "size": list(size), "a": a}
    return slab


def _oc20_tags(slab: Atoms, spec: SlabSpec) -> np.ndarray:
    """1 for the top layers, 0 for the bottom layers // 2 (by height for stepped facets)."""
    z = slab.positions[:, 2]
    if spec.facet == "211":
        return np.where(z >= z.min() + 0.5 * (z.max() - z.min()) - 1e-6, TAG_SURFACE, TAG_FIXED)
    layer = slab.get_tags()  # ASE: 1 = top layer
    return np.where(layer <= spec.layers - spec.layers // 2, TAG_SURFACE, TAG_FIXED)


# ----------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class Site:
    """An adsorption site: kind (ontop, bridge, fcc, hcp, hollow, ...), lateral position xy (Å), orbit id."""

    kind: str
    xy: tuple[float, float]
    orbit: int


def _symmetry_ops(slab: Atoms, symprec: float = 1e-3) -> list[tuple[np.ndarray, np.ndarray]]:
    """spglib operations (fractional rotation, translation) that keep the surface normal up."""
    import warnings

    import spglib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib 2.x nags about its error-handling switch
        sym = spglib.get_symmetry((slab.cell[:], slab.get_scaled_positions(), slab.numbers), symprec=symprec)
    if sym is None:  # spglib found nothing: treat every site as distinct
        return [(np.eye(3, dtype=int), np.zeros(3))]
    ops = []
    for rot, tr in zip(sym["rotations"], sym["translations"]):
        if np.array_equal(rot[2], (0, 0, 1)) and rot[0, 2] == 0 and rot[1, 2] == 0 and abs(tr[2] - round(tr[2])) < 1e-6:
            ops.append((rot, tr))
    return ops


def _orbits(frac_xy: np.ndarray, ops) -> np.ndarray:
    """Orbit label per point (K,) of fractional in-plane points under the operations."""
    k = len(frac_xy)
    labels = -np.ones(k, int)
    pts3 = np.c_[frac_xy, np.zeros(k)]
    for i in range(k):
        if labels[i] >= 0:
            continue
        images = np.array([(rot @ pts3[i] + tr) for rot, tr in ops])[:, :2]
        d = (frac_xy[None, :, :] - images[:, None, :] + 0.5) % 1.0 - 0.5
        hit = np.any(np.all(np.abs(d) < 1e-4, axis=2), axis=0)
        labels[hit & (labels < 0)] = i
    _, labels = np.unique(labels, return_inverse=True)
    return labels


@lru_cache(maxsize=256)
def _named_sites(facet: str, size: tuple[int, int], layers: int) -> tuple[tuple[str, ...], np.ndarray]:
    """Kinds (K,) and fractional in-plane positions (K, 2) of every named site of a pure slab.

    ASE names the sites of the primitive cell; repeating them over the cell and
    closing the set under the pure slab's symmetry adds the bridge orientations
    ASE does not name. Fractional positions do not depend on the lattice constant.
    """
    a = 4.0
    pure = _BUILDERS[facet]("Cu", (*size, layers), a=a, vacuum=10.0)
    info = pure.info["adsorbate_info"]
    cell2 = pure.cell[:2, :2]
    ops = _symmetry_ops(pure)
    kinds, frac = [], []
    for kind, spos in info["sites"].items():
        base = np.array([np.dot(np.add(spos, (i, j)), info["cell"]) for i in range(size[0]) for j in range(size[1])])
        f = np.linalg.solve(cell2.T, base.T).T
        images = np.array([(rot @ np.r_[p, 0.0] + tr)[:2] for p in f for rot, tr in ops])
        images = np.round(images % 1.0, 6) % 1.0
        images = images[np.sort(np.unique(np.round(images, 4) % 1.0, axis=0, return_index=True)[1])]
        kinds.extend([kind] * len(images))
        frac.extend(images)
    return tuple(kinds), np.array(frac)


def adsorption_sites(slab: Atoms) -> list[Site]:
    """Every named site of a slab from :func:`build_slab`, with its symmetry orbit.

    Sites related by a symmetry of the decorated slab share an orbit id; one
    per orbit are the symmetry-distinct sites. (211) has no named sites: its
    sites are the ontop positions of the atoms of the top half of the slab.

    Args:
        slab: a slab from build_slab (its info['slab'] names facet and cell).
    """
    info = slab.info["slab"]
    cell2 = slab.cell[:2, :2]
    if info["facet"] == "211":
        top = np.flatnonzero(slab.get_tags() == TAG_SURFACE)
        kinds = ("ontop",) * len(top)
        frac = np.linalg.solve(cell2.T, slab.positions[top, :2].T).T % 1.0
    else:
        kinds, frac = _named_sites(info["facet"], tuple(info["size"]), info["layers"])
    labels = _orbits(frac, _symmetry_ops(slab))
    return [Site(k, (float(p[0]), float(p[1])), int(o)) for k, p, o in zip(kinds, frac @ cell2, labels)]


def distinct_sites(sites: list[Site]) -> list[Site]:
    """One site per symmetry orbit, in order of first appearance."""
    seen, out = set(), []
    for s in sites:
        if s.orbit not in seen:
            seen.add(s.orbit)
            out.append(s)
    return out


def contact_height(slab: Atoms, xy, element: str) -> float:
    """Lowest z (Å) at lateral xy where an atom of element is no closer than the covalent-radius
    sum to any slab atom (minimum image in-plane)."""
    d = np.c_[slab.positions[:, :2] - np.asarray(xy, float), np.zeros(len(slab))]
    vec, _ = find_mic(d, slab.cell, (True, True, False))
    lateral = np.hypot(vec[:, 0], vec[:, 1])
    bond = covalent_radii[atomic_numbers[element]] + covalent_radii[slab.numbers]
    touching = lateral < bond
    z = slab.positions[touching, 2] + np.sqrt(bond[touching] ** 2 - lateral[touching] ** 2)
    return float(z.max()) if len(z) else float(slab.positions[:, 2].max() + bond.min())


def place_adsorbate(slab: Atoms, adsorbate: str, xy) -> Atoms:
    """A copy of slab with the adsorbate's binding atom touching the surface at xy (tag 2).

    Args:
        slab: the clean slab.
        adsorbate: one of ADSORBATES.
        xy: the lateral position (Å) of the binding atom.
    """
    if adsorbate not in ADSORBATES:
        raise InputError(f"unknown adsorbate {adsorbate!r}: use one of {', '.join(ADSORBATES)}")
    ads = ADSORBATES[adsorbate].copy()
    z = contact_height(slab, xy, ads[0].symbol)
    ads.translate(np.array([xy[0], xy[1], z]) - ads.positions[0])
    ads.set_tags(TAG_ADSORBATE)
    out = slab.copy()
    out.extend(ads)
    out.set_constraint(FixAtoms(mask=out.get_tags() == TAG_FIXED))
    return out


# ----------------------------------------------------------------------------- splits

# The out-of-distribution split: every structure whose slab holds both metals of this pair.
OOD_PAIR = ("Au", "Ni")
TEST_FRACTION = 0.1
#: Record splits that are never trained on: v1's "test" and "ood" (held-out metal pair), v2's "test",
#: "ood_composition" (held-out metal pairs) and "ood_facet" (fcc(110)).
HELD_OUT_SPLITS = ("test", "ood", "ood_composition", "ood_facet")


def split_of(metals, slab_uid: str) -> str:
    """'ood' when the slab contains both OOD_PAIR metals; else 'test' for a fixed
    10 % of slabs chosen by a hash of the slab's content key, else 'train'.

    Every placement on one slab shares its split, so no test slab is seen in training.
    """
    import hashlib

    if set(OOD_PAIR) <= set(metals):
        return "ood"
    h = int(hashlib.sha256(f"split:{slab_uid}".encode()).hexdigest()[:8], 16)
    return "test" if h < TEST_FRACTION * 16**8 else "train"


# ----------------------------------------------------------------------------- files


def _check_ase_db(p) -> None:
    """InputError unless an SQLite file holds ase.db tables: ase.db would add its tables to
    any other SQLite file it is asked to read (checked read-only)."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
        conn.text_factory = bytes  # a damaged file may hold names that are not UTF-8
        try:
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # sqlite's message may quote bytes that are not UTF-8
        raise InputError(f"{p}: not an ase.db file ({one_line(exc)})") from None
    if b"systems" not in tables:
        raise InputError(f"{p}: an SQLite file without ase.db tables, not a structure file")


def _check_xyz_counts(p) -> None:
    """InputError when an (ext)xyz frame promises more atom lines than the file has: ase.io
    would skip a count such as 100000000 line by line for minutes before failing."""
    lines = p.read_bytes().splitlines()
    i = 0
    while i < len(lines) and lines[i].strip():
        try:
            n = int(lines[i])
        except ValueError:
            return  # not a count line: ase.io names the problem
        if n < 0:
            return
        if n > len(lines) - i - 2:
            raise InputError(
                f"{p}: line {i + 1}: the frame promises {n} atoms but only {max(len(lines) - i - 2, 0)} "
                "lines follow (truncated?)"
            )
        i += n + 2
        while i < len(lines) and lines[i].lstrip().startswith(b"VEC"):
            i += 1


def read_frames(path, index: str = ":"):
    """The frame(s) at index (ase.io's syntax: "-1", "0:5", ":") of any file ase.io reads, tags kept
    where the format keeps them; InputError naming the file when it cannot be read. Never writes."""
    from pathlib import Path

    from ase.io import read
    from ase.io.formats import filetype

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such structure file")
    try:
        fmt = filetype(str(p))
    except Exception:  # unknown or empty: ase.io.read below names the problem
        fmt = None
    if fmt == "db":
        _check_ase_db(p)
    elif fmt in ("xyz", "extxyz"):
        _check_xyz_counts(p)
    try:
        return read(str(p), index=index)
    except Exception as exc:  # ase.io raises many types for unreadable files
        raise InputError(f"{p}: cannot read a structure ({type(exc).__name__}: {one_line(exc)[:200]})") from None


def read_structure(path, index: str = "-1") -> Atoms:
    """One structure from any file ase.io reads (tags kept where the format keeps them)."""
    atoms = read_frames(path, index)
    if isinstance(atoms, list):
        raise InputError(f"{path}: index {index!r} selects {len(atoms)} frames; give one frame", parameter="index")
    return atoms
