"""The plausibility ceiling on adsorption energies (simulators/gas_thermochemistry.py)."""

import pytest
from ase.data import g2_1

from phenograd.simulators.gas_thermochemistry import (
    KCAL_PER_MOL_IN_EV,
    free_species_energy,
    implausible_adsorption,
)


def _dfh(name):
    return g2_1.data[name]["enthalpy"] * KCAL_PER_MOL_IN_EV


def test_free_species_against_the_oc20_references():
    mu_o = _dfh("H2O")
    assert free_species_energy(["C", "O"]) == pytest.approx(0.0, abs=1e-12)  # CO is its own reference
    assert free_species_energy(["O", "H"]) == pytest.approx(_dfh("OH") - mu_o)
    assert free_species_energy(["H", "O"]) == free_species_energy(["O", "H"])  # order does not matter
    assert free_species_energy(["N"]) == pytest.approx(_dfh("N"))
    assert free_species_energy(["C", "H", "H", "H"]) == pytest.approx(_dfh("CH3") - (_dfh("CO") - mu_o))
    # the radicals lie above their references by the textbook amounts (eV): O atom ~5, OH ~2.9, NH ~3.7
    assert free_species_energy(["O"]) == pytest.approx(5.06, abs=0.02)
    assert free_species_energy(["O", "O", "H"]) == pytest.approx(5.14, abs=0.02)
    assert free_species_energy(["S"]) is None
    assert free_species_energy(["C", "C", "H"]) is None


def test_implausible_rows_are_named_and_plausible_ones_pass():
    # the two Cr-Os rows this rule was written for (data/catalyst_dft_v1.md)
    reason = implausible_adsorption(["N", "H"], 9.98)
    assert reason.startswith("implausible E_ads +9.98 eV") and "NH" in reason and "\n" not in reason
    assert implausible_adsorption(["C", "H", "H", "H"], 3.63) is not None
    # weak CO on Au sits just above gas CO: within the margin
    assert implausible_adsorption(["C", "O"], 0.17) is None
    assert implausible_adsorption(["O"], -1.5) is None
    assert implausible_adsorption(["C", "O"], 0.17, margin=0.1) is not None
    assert implausible_adsorption(["S"], 50.0) is None  # nothing to check against
