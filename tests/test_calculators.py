"""Named calculators: the spec door (no file paths, no code in the value), the universal potentials from
their wheels, and their magnetic 3d metals checked explicitly."""

from __future__ import annotations

import pytest
from ase.build import bulk

from phenograd.core.errors import InputError
from phenograd.simulators.calculators import (
    EMT_SPEC,
    calculator_info,
    calculator_name,
    calculator_spec,
    get_calculator,
)


@pytest.mark.parametrize(
    "value",
    [
        "/tmp/evil.py:factory",
        "../plugins/calc.py:make",
        "./calc:make",
        "C:\\calc:make",
        "os:system('touch x')",
        "__import__('os').system:x",
        "os:__builtins__",
        "a b:c",
        "mod:attr;rm -rf /",
        "mod:attr\nother",
        "mod::attr",
        "mod:attr:extra",
        "mod.:attr",
        "1mod:attr",
        "mod:attr()",
        "mod[0]:attr",
        "'quoted':attr",
        "x" * 300 + ":y",
        "",
    ],
)
def test_calculator_spec_refuses_paths_and_code(value):
    with pytest.raises(InputError, match="bad calculator"):
        calculator_spec(value)


def test_named_and_dotted_specs_are_canonical():
    assert calculator_spec(None) == calculator_spec("emt") == calculator_spec(" EMT ") == EMT_SPEC
    assert calculator_spec("chgnet") == "phenograd.simulators.calculators:chgnet"
    assert calculator_spec("ase.calculators.morse:MorsePotential") == "ase.calculators.morse:MorsePotential"
    assert calculator_name(EMT_SPEC) == "emt" and calculator_name("sevennet") == "sevennet"


@pytest.mark.slow
@pytest.mark.parametrize("name, package", [("chgnet", "chgnet"), ("sevennet", "sevenn")])
def test_universal_potentials_load_from_their_wheels_and_record_provenance(name, package):
    calc = get_calculator(name)
    assert {"Pt", "Ni", "Au", "W", "Ru", "O", "H", "C", "N"} <= calc.supported_elements
    info = calculator_info(name)
    assert info["package"] == package and info["version"][0].isdigit() and info["name"] == name
    atoms = bulk("Cu", "fcc", a=3.6)
    atoms.calc = calc
    assert -5.0 < atoms.get_potential_energy() < -2.0  # eV per Cu atom: a physical cohesive scale


@pytest.mark.slow
def test_magnetic_3d_metals_relax_to_their_lattices_and_chgnet_carries_their_moments():
    """Fe, Co, Ni explicitly: relaxed lattice constants within 2 % of experiment (Fe bcc 2.867 Å,
    Ni fcc 3.524 Å, Co hcp a 2.507 Å); CHGNet's predicted site moments give Fe and Co magnetic
    (experiment 2.2 and 1.7 Bohr magnetons). CHGNet quenches Ni's moment (0.07 against 0.6): stated
    in data/catalyst_v2.md, not hidden here."""
    from phenograd.datasets.surfaces import lattice_parameters

    experiment = {("Fe", "bcc"): 2.867, ("Ni", "fcc"): 3.524, ("Co", "hcp"): 2.507}
    calc = get_calculator("chgnet")
    moments = {}
    for (metal, crystal), a_exp in experiment.items():
        for potential in ("chgnet", "sevennet"):
            a, c = lattice_parameters(metal, crystal, potential)
            assert abs(a - a_exp) / a_exp < 0.02, (metal, potential, a)
        a, c = lattice_parameters(metal, crystal, "chgnet")
        atoms = bulk(metal, crystal, a=a, c=c) if crystal == "hcp" else bulk(metal, crystal, a=a)
        atoms.calc = calc
        moments[metal] = float(abs(atoms.get_magnetic_moments()).mean())
    assert moments["Fe"] > 1.8 and moments["Co"] > 1.2


def test_chgnet_skips_the_stress_pass_unless_asked_and_gives_the_same_energy_and_forces():
    """A fixed-cell relaxation asks for energy and forces only: they must equal CHGNet's full "efsm" task's
    to the bit, and a stress request (a cell filter) must still get CHGNet's stress."""
    import numpy as np
    from ase.build import add_adsorbate, fcc111

    from phenograd.simulators.calculators import chgnet

    slab = fcc111("Cu", (2, 2, 3), vacuum=6.0)
    add_adsorbate(slab, "O", 1.5, "fcc")
    lean, full = chgnet(), chgnet()
    lean.calculate(slab.copy(), ["energy", "forces"])
    full.calculate(slab.copy(), ["energy"], task="efsm")
    assert "stress" not in lean.results and "magmoms" not in lean.results and "stress" in full.results
    assert lean.results["energy"] == full.results["energy"]
    assert np.array_equal(lean.results["forces"], full.results["forces"])
    cell = slab.copy()
    cell.calc = lean
    assert np.allclose(cell.get_stress(voigt=False), full.results["stress"], atol=1e-7)  # ASE symmetrises it
    assert np.array_equal(cell.get_magnetic_moments(), full.results["magmoms"])
