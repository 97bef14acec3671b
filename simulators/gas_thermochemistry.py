"""A physical ceiling on adsorption energies: an adsorbate cannot bind less stably than its free radical.

E_ads here is measured against OC20's gas references (mu_H = E(H2)/2, mu_O = E(H2O) - E(H2), mu_N = E(N2)/2,
mu_C = E(CO) - mu_O). Moving the adsorbate from the surface to vacuum, unchanged, gives the free species X
(the O atom, the OH radical, CH3, ...), whose energy against the same references is

    E_free(X) = dfH(X) - sum_i n_i dfH(reference of element i),

with experimental standard enthalpies of formation dfH. A chemisorbed species sits below its free radical, so an
adsorption energy well above E_free(X) is not an adsorption energy: the calculation landed in a wrong electronic
state or a repulsive geometry. `implausible_adsorption` names such a row so that a label set can exclude it.

Enthalpies: ASE's copy of the G2 test set's experimental heats of formation (Curtiss et al., J. Chem. Phys. 106,
1063 (1997); atoms at 0 K, molecules at 298 K, kcal/mol) and, for HO2 (absent from G2), the Active
Thermochemical Tables' 12.3 kJ/mol (Ruscic et al., ATcT; NIST-JANAF agrees within 2 kJ/mol). Mixing 0 K and
298 K and leaving out zero-point energies moves E_free by about 0.1 eV, far inside the default 1 eV margin, which
also covers a density functional's error on these small molecules (PBE's on N2's and CO's atomisation energies is
0.2-0.6 eV) and a single point taken at another method's relaxed geometry.
"""

from __future__ import annotations

from collections import Counter

from ase.data import g2_1
from ase.formula import Formula

KCAL_PER_MOL_IN_EV = 0.0433641
KJ_PER_MOL_IN_EV = 0.0103643

#: the default allowance (eV) above the free species before a row is called implausible
DEFAULT_MARGIN_EV = 1.0

#: free gas species by composition: name in ASE's G2-1 set, or a formation enthalpy (eV) from elsewhere
_FREE_SPECIES: dict[tuple[tuple[str, int], ...], str | float] = {
    (("H", 1),): "H",
    (("O", 1),): "O",
    (("N", 1),): "N",
    (("C", 1),): "C",
    (("H", 1), ("O", 1)): "OH",
    (("H", 1), ("N", 1)): "NH",
    (("H", 2), ("N", 1)): "NH2",
    (("H", 3), ("N", 1)): "NH3",
    (("C", 1), ("H", 3)): "CH3",
    (("C", 1), ("H", 4)): "CH4",
    (("C", 1), ("O", 1)): "CO",
    (("H", 2), ("O", 1)): "H2O",
    (("H", 1), ("O", 2)): 12.3 * KJ_PER_MOL_IN_EV,  # HO2, ATcT
}


def _formation_enthalpy(name: str) -> float:
    """Experimental dfH (eV) of a G2-1 species."""
    return g2_1.data[name]["enthalpy"] * KCAL_PER_MOL_IN_EV


def _reference_enthalpies() -> dict[str, float]:
    """dfH (eV) of OC20's per-element references: H2/2, H2O - H2, N2/2, CO - (H2O - H2)."""
    mu_o = _formation_enthalpy("H2O")
    return {"H": 0.0, "O": mu_o, "N": 0.0, "C": _formation_enthalpy("CO") - mu_o}


def _composition(symbols) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(symbols).items()))


def free_species_energy(symbols) -> float | None:
    """E_free (eV): the adsorbate's free gas species against OC20's references; None when not tabulated.

    Args:
        symbols: the adsorbate's chemical symbols in any order, e.g. ["O", "H"] or "OOH" split into letters.
    """
    species = _FREE_SPECIES.get(_composition(symbols))
    if species is None:
        return None
    enthalpy = species if isinstance(species, float) else _formation_enthalpy(species)
    references = _reference_enthalpies()
    return float(enthalpy - sum(references[s] for s in symbols))


def implausible_adsorption(symbols, e_ads: float, margin: float = DEFAULT_MARGIN_EV) -> str | None:
    """A one-line reason when e_ads (eV) lies more than margin (eV) above the free species' energy, else None.

    None also for adsorbates without a tabulated free species (nothing to check against)."""
    ceiling = free_species_energy(symbols)
    if ceiling is None or e_ads <= ceiling + margin:
        return None
    name = Formula.from_list(list(symbols)).format("reduce")
    return (
        f"implausible E_ads {e_ads:+.2f} eV: above the free {name} species ({ceiling:+.2f} eV against the same "
        f"references) by more than {margin:.1f} eV"
    )
