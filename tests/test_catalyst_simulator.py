"""Adsorption-energy simulator: real EMT relaxations on small slabs, references, anomalies, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import add_adsorbate, bulk, fcc111, molecule
from ase.calculators.emt import EMT
from ase.calculators.morse import MorsePotential
from ase.constraints import FixAtoms
from ase.optimize import BFGS
from scipy.optimize import minimize_scalar

from phenograd.core.errors import InputError
from phenograd.simulators.adsorption import (
    RelaxSettings,
    adsorption_energy,
    check_structure,
    detect_anomalies,
    gas_references,
    site_kind,
    slab_displacement,
    supported_elements,
)


# Plug-in calculators for the module:factory path (nothing to download): pytest puts
# tests/ on sys.path, so "test_catalyst_simulator:soft_morse" imports this module.
def soft_morse():
    """A Morse pair potential with its minimum near metal bond lengths."""
    return MorsePotential(epsilon=0.5, r0=2.7, rho0=6.0)


def exploding_morse():
    """A Morse potential whose repulsion throws the slab apart: a relaxation that blows up."""
    return MorsePotential(epsilon=1.0, r0=3.5, rho0=400.0)


def tagged_slab(metal="Pt", size=(2, 2, 3), fixed_layers=1, a=None, vacuum=8.0) -> Atoms:
    """ASE fcc111 slab with OC20 tags: bottom fixed_layers tag 0, the rest tag 1."""
    s = fcc111(metal, size, a=a, vacuum=vacuum)
    s.set_tags(np.where(s.get_tags() > size[2] - fixed_layers, 0, 1))
    return s


def with_adsorbate(slab: Atoms, adsorbate, height: float, position) -> Atoms:
    s = slab.copy()
    mol = Atoms(adsorbate) if isinstance(adsorbate, str) else adsorbate
    add_adsorbate(s, mol, height, position)
    tags = s.get_tags()
    tags[-len(mol) :] = 2
    s.set_tags(tags)
    return s


@pytest.fixture(scope="module")
def refs():
    return gas_references()


# ----------------------------------------------------------------------------- references


def _direct_relaxed_energy(name: str, fmax: float) -> float:
    m = molecule(name)
    m.center(vacuum=8.0)
    m.pbc = True
    m.calc = EMT()
    BFGS(m, logfile=None).run(fmax=fmax, steps=300)
    return m.get_potential_energy()


def test_gas_references_match_direct_ase_and_oc20_convention(refs):
    direct = {name: _direct_relaxed_energy(name, 0.01) for name in ("H2", "H2O", "N2", "CO")}
    for name, e in direct.items():
        assert refs.gas[name] == pytest.approx(e, abs=1e-6)
    assert refs.mu["H"] == pytest.approx(direct["H2"] / 2)
    assert refs.mu["O"] == pytest.approx(direct["H2O"] - direct["H2"])
    assert refs.mu["N"] == pytest.approx(direct["N2"] / 2)
    assert refs.mu["C"] == pytest.approx(direct["CO"] - (direct["H2O"] - direct["H2"]))
    # relaxed, not as built: lower than ASE's g2 geometry
    as_built = molecule("H2O")
    as_built.center(vacuum=8.0)
    as_built.calc = EMT()
    assert refs.gas["H2O"] < as_built.get_potential_energy() - 1e-3
    assert refs.adsorbate_reference(["O", "H"]) == pytest.approx(refs.mu["O"] + refs.mu["H"])
    with pytest.raises(InputError, match="no gas reference for adsorbate element S"):
        refs.adsorbate_reference(["S"])


def test_emt_supported_elements_are_stated_honestly():
    assert supported_elements() == frozenset({"Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O"})


# ----------------------------------------------------------------------------- the protocol vs direct ASE


def test_o_fcc_hollow_on_pt111_matches_direct_ase(refs):
    """Full protocol: 3x3 cell, 4 layers, 10 Å vacuum, bottom two fixed, BFGS fmax 0.05, 300 steps."""
    from phenograd.datasets.catalyst import Composition, SlabSpec, adsorption_sites, build_slab, place_adsorbate

    # direct ASE: lattice constant, slab, adsorbate, two relaxations, references
    a = minimize_scalar(
        lambda x: (lambda b: (setattr(b, "calc", EMT()), b.get_potential_energy())[1])(bulk("Pt", "fcc", a=x)),
        bounds=(3.6, 4.2),
        method="bounded",
        options={"xatol": 1e-6},
    ).x
    slab = fcc111("Pt", (3, 3, 4), a=a, vacuum=10.0)
    slab.set_constraint(FixAtoms(mask=slab.get_tags() >= 3))
    adslab = slab.copy()
    add_adsorbate(adslab, "O", 1.2, "fcc")
    adslab.set_constraint(FixAtoms(mask=adslab.get_tags() >= 3))
    energies = []
    for atoms in (slab, adslab):
        atoms.calc = EMT()
        assert BFGS(atoms, logfile=None).run(fmax=0.05, steps=300)
        energies.append(atoms.get_potential_energy())
    mu_o = _direct_relaxed_energy("H2O", 0.01) - _direct_relaxed_energy("H2", 0.01)
    direct = energies[1] - energies[0] - mu_o

    # phenograd: builder + named site + simulator
    pt = build_slab(SlabSpec("111", "pure", Composition.of({"Pt": 1.0})))
    assert pt.info["slab"]["a"] == pytest.approx(a, abs=1e-4)
    fcc = next(s for s in adsorption_sites(pt) if s.kind == "fcc")
    result = adsorption_energy(place_adsorbate(pt, "O", fcc.xy), references=refs)
    assert result.ok and result.converged and result.anomalies == []
    assert result.site_initial == result.site_final == "fcc"
    assert result.e_ads == pytest.approx(direct, abs=5e-3)
    assert -1.2 < result.e_ads < -0.6  # EMT's toy O on Pt(111): about -0.91 eV


# ----------------------------------------------------------------------------- sites and anomalies


@pytest.mark.parametrize("site", ["ontop", "bridge", "fcc", "hcp"])
def test_site_kind_agrees_with_ase_site_names(site):
    assert site_kind(with_adsorbate(tagged_slab(), "O", 1.5, site)) == site


def test_anomaly_desorbed(refs):
    r = adsorption_energy(with_adsorbate(tagged_slab(), "O", 6.0, "fcc"), references=refs)
    assert r.ok and r.anomalies == ["desorbed"]


def test_anomaly_dissociated(refs):
    h2 = Atoms("HH", positions=[(0, 0, 0), (0.8, 0, 0)])
    r = adsorption_energy(with_adsorbate(tagged_slab(), h2, 1.2, "ontop"), references=refs)
    assert r.ok and "dissociated" in r.anomalies


def test_anomaly_site_changed(refs):
    # O started off-centre near an ontop site slides into the fcc hollow
    r = adsorption_energy(with_adsorbate(tagged_slab(), "O", 1.2, (1.636, 0.3)), references=refs)
    assert r.ok and r.anomalies == ["site_changed"]
    assert (r.site_initial, r.site_final) == ("ontop", "fcc")


def test_anomaly_intercalated(refs):
    # only the top layer free: O pushed below it bonds to fixed atoms
    r = adsorption_energy(with_adsorbate(tagged_slab(fixed_layers=2), "O", -0.3, "fcc"), references=refs)
    assert r.ok and "intercalated" in r.anomalies


def test_anomaly_reconstructed(refs):
    # H forced under a bridge pries the surface atoms apart
    r = adsorption_energy(with_adsorbate(tagged_slab(fixed_layers=2), "H", -0.3, "bridge"), references=refs)
    assert r.ok and "reconstructed" in r.anomalies


def test_a_surface_atom_that_leaves_its_site_is_a_reconstruction_even_with_bonds_kept():
    """On metals the bond-count check is nearly blind (nearest neighbours sit beyond the covalent-radius sum);
    a top atom moved 1.2 Å from its place in the relaxed clean slab is flagged, one moved 0.5 Å is not."""
    clean = tagged_slab(size=(3, 3, 3))
    initial = with_adsorbate(clean, "O", 2.0, "ontop")
    top = int(np.flatnonzero(clean.get_tags() == 1)[-1])
    flags = {}
    for shift in (0.5, 1.2):
        final = initial.copy()
        final.positions[top, 0] += shift
        flags[shift] = detect_anomalies(initial, final, clean)
    assert "reconstructed" not in flags[0.5]
    assert "reconstructed" in flags[1.2]
    # an atom that crossed the periodic boundary has not moved
    wrapped = clean.copy()
    wrapped.positions[top] += wrapped.cell[0]
    assert slab_displacement(wrapped, clean) == pytest.approx(0.0, abs=1e-9)
    assert slab_displacement(final[final.get_tags() != 2], clean) == pytest.approx(1.2)


def test_a_normal_adsorption_has_no_anomaly(refs):
    r = adsorption_energy(with_adsorbate(tagged_slab(), "H", 1.0, "fcc"), references=refs)
    assert r.ok and r.anomalies == [] and r.converged


# ----------------------------------------------------------------------------- calculators


@pytest.mark.slow
def test_plugin_calculator_matches_direct_computation():
    spec = "test_catalyst_simulator:soft_morse"
    adslab = with_adsorbate(tagged_slab(), "O", 1.5, "fcc")
    r = adsorption_energy(adslab, spec, references=gas_references(spec))
    assert r.ok

    # the same numbers from plain ASE with the same calculator
    def relaxed(atoms):
        atoms = atoms.copy()
        atoms.set_constraint(FixAtoms(mask=atoms.get_tags() == 0))
        atoms.calc = soft_morse()
        BFGS(atoms, logfile=None).run(fmax=0.05, steps=300)
        return atoms.get_potential_energy()

    def gas(name):
        m = molecule(name)
        m.center(vacuum=8.0)
        m.pbc = True
        m.calc = soft_morse()
        BFGS(m, logfile=None).run(fmax=0.01, steps=300)
        return m.get_potential_energy()

    mu_o = gas("H2O") - gas("H2")
    direct = relaxed(adslab) - relaxed(adslab[adslab.get_tags() != 2]) - mu_o
    assert r.e_ads == pytest.approx(direct, abs=1e-6)
    emt = adsorption_energy(adslab)
    assert abs(emt.e_ads - r.e_ads) > 0.01  # really another calculator
    assert supported_elements(spec) is None  # Morse says nothing: every element is accepted


def test_relaxation_that_blows_up_is_a_failure_with_its_reason(borrowed_references):
    spec = "test_catalyst_simulator:exploding_morse"
    r = adsorption_energy(
        with_adsorbate(tagged_slab(), "O", 1.5, "fcc"),
        spec,
        RelaxSettings(steps=60),
        references=borrowed_references(spec),
    )
    assert r.status.startswith("failed: relaxation blew up")
    assert r.e_ads is None


def test_timeout_is_a_status(refs):
    r = adsorption_energy(
        with_adsorbate(tagged_slab(), "O", 1.5, "fcc"), settings=RelaxSettings(timeout_s=1e-6), references=refs
    )
    assert r.status == "timeout"


# ----------------------------------------------------------------------------- bad input


def test_structure_without_adsorbate_tag_is_rejected():
    with pytest.raises(InputError, match="no adsorbate"):
        check_structure(tagged_slab())


def test_overlapping_atoms_are_rejected():
    bad = with_adsorbate(tagged_slab(), "O", 0.3, "ontop")
    with pytest.raises(InputError, match="overlapping atoms"):
        check_structure(bad)


def test_unknown_and_unsupported_elements_are_rejected():
    fe = with_adsorbate(tagged_slab("Fe", a=3.6), "O", 1.5, "fcc")
    with pytest.raises(InputError, match="cannot handle Fe"):
        check_structure(fe)
    with pytest.raises(InputError, match="bad calculator"):
        adsorption_energy(with_adsorbate(tagged_slab(), "O", 1.5, "fcc"), "no-colon")
    with pytest.raises(InputError, match="cannot import"):
        adsorption_energy(with_adsorbate(tagged_slab(), "O", 1.5, "fcc"), "nonexistent_module_xyz:Calc")
