"""Catalyst designs: compositions, Vegard lattice constants, slabs, prototypes, sites, splits (no relaxations)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst import (
    EMT_METALS,
    OOD_PAIR,
    Composition,
    SlabSpec,
    adsorption_sites,
    build_slab,
    check_fcc_metals,
    contact_height,
    distinct_sites,
    fcc_lattice_constant,
    place_adsorbate,
    prototype_size,
    split_of,
    vegard,
)
from phenograd.simulators.adsorption import closest_pair, site_kind


def test_composition_validation():
    c = Composition.parse("Pt:0.75,Ni:0.25")
    assert c.elements == ("Pt", "Ni") and c.label() == "Ni0.25Pt0.75"
    assert Composition.parse("Pt=0.5, Cu=0.5").counts(36) == {"Pt": 18, "Cu": 18}
    assert sum(Composition.of({"Pt": 0.3, "Cu": 0.3, "Au": 0.4}).counts(36).values()) == 36
    for text, message in [
        ("Pt:0.5,Cu:0.6", "sum to 1.1"),
        ("Pt:1.2,Cu:-0.2", "must be >= 0"),
        ("Xx:1", "unknown element 'Xx'"),
        ("Pt:0.5,Pt:0.5", "given twice"),
        ("Pt", "write it as"),
        ("Pt:abc", "not a number"),
    ]:
        with pytest.raises(InputError, match=message):
            Composition.parse(text)
    with pytest.raises(InputError, match="not one of the slab metals"):
        Composition.parse("Fe:1", EMT_METALS)


def test_lattice_constants_are_emt_minima_and_vegard_mixes_them():
    a = fcc_lattice_constant("Cu")
    e = [
        (lambda b: (setattr(b, "calc", EMT()), b.get_potential_energy())[1])(bulk("Cu", "fcc", a=x))
        for x in (a - 0.01, a, a + 0.01)
    ]
    assert e[1] < e[0] and e[1] < e[2]
    assert 3.55 < a < 3.65
    mix = vegard(Composition.of({"Cu": 0.25, "Au": 0.75}))
    assert mix == pytest.approx(0.25 * a + 0.75 * fcc_lattice_constant("Au"), abs=1e-5)


def test_slab_protocol_tags_constraints_and_composition():
    spec = SlabSpec("111", "random", Composition.of({"Pt": 0.5, "Cu": 0.25, "Au": 0.25}), seed=7)
    slab = build_slab(spec)
    assert len(slab) == 36
    assert Counter(slab.get_chemical_symbols()) == {"Pt": 18, "Cu": 9, "Au": 9}
    tags = slab.get_tags()
    z = slab.positions[:, 2]
    assert (tags == 0).sum() == 18 and (tags == 1).sum() == 18
    assert z[tags == 1].min() > z[tags == 0].max()  # free atoms are the top two layers
    assert sorted(slab.constraints[0].index.tolist()) == np.flatnonzero(tags == 0).tolist()
    assert slab.cell[2, 2] - (z.max() - z.min()) == pytest.approx(20.0, abs=1e-6)  # 10 Å each side
    # seeded: same seed same decoration, another seed another one
    assert build_slab(spec).get_chemical_symbols() == slab.get_chemical_symbols()
    other = SlabSpec("111", "random", spec.composition, seed=8)
    assert build_slab(other).get_chemical_symbols() != slab.get_chemical_symbols()


@pytest.mark.parametrize("facet", ["111", "100"])
@pytest.mark.parametrize("decoration, fractions", [("L12", {"Pt": 0.75, "Ni": 0.25}), ("L10", {"Pt": 0.5, "Cu": 0.5})])
def test_ordered_prototypes_are_periodic_and_exact(facet, decoration, fractions):
    slab = build_slab(SlabSpec(facet, decoration, Composition.of(fractions), seed=1))
    counts = Counter(slab.get_chemical_symbols())
    assert {el: counts[el] / len(slab) for el in fractions} == fractions
    # every B atom's nearest neighbours across the periodic boundary follow the ordering:
    # in L12 no two B atoms are nearest neighbours; in L10 each atom has 4 like + 8 unlike in bulk layers
    b = list(fractions)[1]
    d = slab.get_all_distances(mic=True)
    nn = d.min(axis=1, where=d > 0.1, initial=np.inf).min()
    bb = [
        (i, j)
        for i in range(len(slab))
        for j in range(i)
        if slab[i].symbol == b == slab[j].symbol and d[i, j] < 1.1 * nn
    ]
    if decoration == "L12":
        assert bb == []
    else:
        assert bb  # L10 has like-neighbour rows/planes
    assert prototype_size(facet, (3, 3), decoration) == ((3, 3) if (facet, decoration) == ("100", "L10") else (4, 4))


def test_named_sites_cover_every_site_and_pure_slabs_have_four_distinct_ones():
    pt = build_slab(SlabSpec("111", "pure", Composition.of({"Pt": 1.0})))
    sites = adsorption_sites(pt)
    assert Counter(s.kind for s in sites) == {"ontop": 9, "bridge": 27, "fcc": 9, "hcp": 9}
    assert Counter(s.kind for s in distinct_sites(sites)) == {"ontop": 1, "bridge": 1, "fcc": 1, "hcp": 1}
    pt100 = build_slab(SlabSpec("100", "pure", Composition.of({"Pt": 1.0})))
    assert Counter(s.kind for s in adsorption_sites(pt100)) == {"ontop": 9, "bridge": 18, "hollow": 9}
    alloy = build_slab(SlabSpec("111", "random", Composition.of({"Pt": 0.5, "Cu": 0.5}), seed=3))
    assert len(distinct_sites(adsorption_sites(alloy))) > 4  # the decoration breaks the symmetry


@pytest.mark.parametrize("facet", ["111", "100"])
def test_placement_touches_the_surface_at_the_named_site(facet):
    slab = build_slab(SlabSpec(facet, "random", Composition.of({"Pd": 0.5, "Ag": 0.5}), seed=2))
    for site in adsorption_sites(slab):
        for ads in ("O", "OH", "CO"):
            atoms = place_adsorbate(slab, ads, site.xy)
            assert site_kind(atoms) == site.kind
            assert (atoms.get_tags() == 2).sum() == len(ads)
            i, j, dist = closest_pair(atoms)
            assert dist > 0.9  # no overlap
    assert contact_height(slab, adsorption_sites(slab)[0].xy, "H") > slab.positions[:, 2].max()


def test_splits_are_fixed_by_metals_and_slab_hash():
    assert split_of(["Au", "Cu", "Ni"], "s123") == "ood"
    assert OOD_PAIR == ("Au", "Ni")
    ids = [f"s{i:05d}" for i in range(4000)]
    splits = Counter(split_of(["Pt", "Cu"], u) for u in ids)
    assert splits["ood"] == 0 and 0.08 < splits["test"] / 4000 < 0.12
    assert [split_of(["Pt"], u) for u in ids[:50]] == [split_of(["Pt"], u) for u in ids[:50]]


def test_fcc_metals_only_for_the_fcc_builders():
    check_fcc_metals(["Pt", "Rh", "Ir", "Al", "Pb"])
    for metal, message in (("Fe", "Fe is not an fcc metal"), ("Ar", "Ar is not an fcc metal"), ("Xx", "unknown")):
        with pytest.raises(InputError, match=message):
            check_fcc_metals(["Pt", metal])


def test_bad_slab_specs():
    with pytest.raises(InputError, match="facet"):
        build_slab(SlabSpec("311", "pure", Composition.of({"Pt": 1.0})))
    with pytest.raises(InputError, match="cannot handle Fe"):
        build_slab(SlabSpec("111", "pure", Composition.of({"Fe": 1.0})))
    with pytest.raises(InputError, match="L12 needs A fraction"):
        build_slab(SlabSpec("111", "L12", Composition.of({"Pt": 0.5, "Ni": 0.5})))


@pytest.mark.parametrize("facet", ["110", "211"])
def test_wider_facets_for_pretraining_have_tags_and_sites(facet):
    slab = build_slab(SlabSpec(facet, "random", Composition.of({"Pt": 0.5, "Ag": 0.5}), seed=4))
    tags = slab.get_tags()
    assert set(tags) == {0, 1} and slab.positions[tags == 1, 2].mean() > slab.positions[tags == 0, 2].mean()
    sites = adsorption_sites(slab)
    assert sites and all(
        site_kind(place_adsorbate(slab, "O", s.xy)) in ("ontop", "bridge", "fcc", "hcp", "hollow") for s in sites[:6]
    )


def test_unlabelled_extxyz_round_trip_keeps_tags(tmp_path):
    from ase.io import read

    from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, iter_unlabelled, write_unlabelled

    path, counts = write_unlabelled(tmp_path / "pre.extxyz", UnlabelledRequest(n=8, seed=2))
    frames = read(path, ":")
    made = list(iter_unlabelled(UnlabelledRequest(n=8, seed=2)))
    assert len(frames) == 8 and sum(counts.values()) == 8
    for a, b in zip(frames, made):
        assert (a.get_tags() == b.get_tags()).all() and np.allclose(a.positions, b.positions)
    assert list(iter_unlabelled(UnlabelledRequest(n=5, seed=2)))[4].positions.tolist() == made[4].positions.tolist()
