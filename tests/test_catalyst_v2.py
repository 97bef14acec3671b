"""Catalyst v2: pymatgen surfaces of any metal and facet, relaxed end to end with the real universal
potential (CHGNet) on small cells, the AdsorbML minimum, the splits, resumption after SIGKILL, bad input."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from ase.db import connect

from phenograd.core.errors import InputError
from phenograd.datasets.catalyst_store import CatalystStore
from phenograd.datasets.catalyst_v2 import (
    ADSORBATES_V2,
    V2Request,
    held_out_pair,
    iter_plan_v2,
    place,
    split_v2,
    system_minima,
)
from phenograd.datasets.surfaces import (
    BulkSpec,
    SurfaceSpec,
    build_surface,
    bulk_structure,
    cut_slab,
    read_bulk,
    surface_sites,
)
from phenograd.simulators.adsorption import RelaxSettings, adsorption_energy, gas_references, relax_slab, site_kind
from phenograd.simulators.calculators import calculator_spec

ROOT = Path(__file__).resolve().parents[1]
FAST = RelaxSettings(fmax=0.1, steps=80)


def small(metal: str, miller, decoration="pure", fractions=None, lateral=2.5) -> SurfaceSpec:
    bulk = BulkSpec(decoration, fractions or ((metal, 1.0),))
    return SurfaceSpec(bulk, tuple(miller), min_lateral=lateral, min_slab_size=5.0)


@pytest.fixture(scope="module")
def chgnet_refs():
    return gas_references("chgnet", FAST)


@pytest.mark.slow
@pytest.mark.parametrize(
    "metal, miller, facet, sites",
    [
        ("Ru", (0, 0, 1), "hcp0001", {"ontop", "bridge", "fcc", "hcp"}),
        ("W", (1, 1, 0), "bcc110", {"ontop", "bridge"}),
        ("Pt", (2, 1, 1), "fcc211", {"ontop", "bridge"}),
    ],
)
def test_surfaces_end_to_end_with_the_real_potential(metal, miller, facet, sites, chgnet_refs):
    """Structure (pymatgen), sites (AdsorbateSiteFinder), relaxation and E_ads (CHGNet) on small cells."""
    slab = build_surface(small(metal, miller, lateral=5.0), "chgnet")
    assert slab.info["slab"]["facet"] == facet
    assert tuple(slab.pbc) == (True, True, False)
    tags = slab.get_tags()
    assert set(tags) == {0, 1} and slab.positions[tags == 0, 2].max() < slab.positions[tags == 1, 2].min()
    found = surface_sites(slab)
    kinds = {site_kind(place(slab, "O", s.xy)) for s in found}
    assert sites <= kinds, kinds
    clean = relax_slab(slab, "chgnet", FAST)
    assert clean.ok
    hollow = next(s for s in found if s.kind == ("hollow" if "hollow" in {x.kind for x in found} else "bridge"))
    r = adsorption_energy(place(slab, "O", hollow.xy), "chgnet", FAST, chgnet_refs, slab=clean)
    assert r.ok, r.status
    assert -4.0 < r.e_ads < 4.0  # O against H2O - H2 on a metal: a few eV either side of zero
    assert r.e_ads == pytest.approx(r.e_adslab - r.e_slab - r.e_reference)


@pytest.mark.slow
def test_fcc_and_hcp_hollows_are_told_apart_on_a_close_packed_surface():
    slab = build_surface(small("Pt", (1, 1, 1), lateral=5.4), None)  # EMT lattice: no potential needed
    kinds = Counter(site_kind(place(slab, "H", s.xy)) for s in surface_sites(slab))
    assert kinds == Counter({"ontop": 1, "bridge": 1, "fcc": 1, "hcp": 1})


@pytest.mark.slow
def test_alloys_prototypes_and_bulk_files(tmp_path):
    l12 = build_surface(SurfaceSpec(BulkSpec("L12", (("Pt", 0.75), ("Ni", 0.25))), (1, 1, 1)), None)
    assert Counter(l12.get_chemical_symbols())["Ni"] * 3 == Counter(l12.get_chemical_symbols())["Pt"]
    random = build_surface(SurfaceSpec(BulkSpec("random", (("Cu", 0.5), ("Au", 0.5))), (1, 0, 0), seed=3), None)
    count = Counter(random.get_chemical_symbols())
    assert count["Cu"] == count["Au"]
    again = build_surface(SurfaceSpec(BulkSpec("random", (("Cu", 0.5), ("Au", 0.5))), (1, 0, 0), seed=3), None)
    assert again.get_chemical_symbols() == random.get_chemical_symbols()  # seeded
    b2 = BulkSpec("B2", (("Ni", 0.5), ("Al", 0.5)))
    cif = tmp_path / "NiAl.cif"
    bulk_structure(b2, None).to(filename=str(cif))
    slab = cut_slab(read_bulk(cif), (1, 1, 0))
    assert set(slab.get_chemical_symbols()) == {"Ni", "Al"}


@pytest.mark.slow
def test_bad_bulk_files_and_miller_indices_are_one_line_errors(tmp_path):
    text = tmp_path / "notes.cif"
    text.write_text("this is not a crystal\n")
    with pytest.raises(InputError, match="not a bulk crystal file"):
        read_bulk(text)
    from pymatgen.core import Lattice, Structure

    salt = tmp_path / "NaCl.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(
        filename=str(salt)
    )
    with pytest.raises(InputError, match="not a metal"):
        read_bulk(salt)
    with pytest.raises(InputError, match="no such bulk file"):
        read_bulk(tmp_path / "missing.cif")
    structure = bulk_structure(BulkSpec("pure", (("Pt", 1.0),)), None)
    for miller in [(0, 0, 0), (1, 1), (9, 1, 1)]:
        with pytest.raises(InputError, match="Miller index"):
            cut_slab(structure, miller)
    with pytest.raises(InputError, match="not in the protocol"):
        build_surface(SurfaceSpec(BulkSpec("pure", (("Pt", 1.0),)), (3, 1, 0)), None)
    with pytest.raises(InputError, match="no bulk crystal"):
        build_surface(SurfaceSpec(BulkSpec("pure", (("U", 1.0),)), (1, 1, 1)), "chgnet")


def test_request_refuses_what_the_protocol_or_potential_cannot_do():
    for kwargs, message in [
        ({"metals": ("Pt", "Xe")}, "no bulk crystal"),
        ({"adsorbates": ("O2",)}, "adsorbate"),
        ({"facets": ("fcc999",)}, "facet"),
        ({"metals": ("Pt",), "facets": ("bcc110",)}, "none of them"),
        ({"metals": ("Pt", "Fe")}, "cannot handle Fe"),
    ]:
        calc = {"calculator": "emt"} if "Fe" in kwargs.get("metals", ()) else {}
        with pytest.raises(InputError, match=message):
            V2Request(n=3, **{**kwargs, **calc}).validate()


def test_every_adsorbate_places_with_its_binding_atom_down():
    slab = build_surface(small("Cu", (1, 1, 1), lateral=5.4), None)
    site = surface_sites(slab)[0]
    for name, molecule in ADSORBATES_V2.items():
        atoms = place(slab, name, site.xy, angle=1.0)
        ads = atoms[atoms.get_tags() == 2]
        assert ads.get_chemical_symbols() == molecule.get_chemical_symbols()
        assert np.argmin(ads.positions[:, 2]) == 0, name  # binding atom lowest
        if len(ads) > 1:  # rigid rotation: bond lengths kept
            assert np.allclose(ads.get_all_distances(), molecule.get_all_distances(), atol=1e-9)


def test_splits_hold_out_a_facet_pairs_and_hashed_slabs():
    assert split_v2(["Pt"], "fcc110", "s1") == "ood_facet"
    pairs = [(a, b) for a in ("Pt", "Ni", "Au", "Cu", "W", "Ru", "Fe", "Co") for b in ("Ag", "Pd", "Ir", "Rh", "Mo")]
    held = [p for p in pairs if held_out_pair(*p)]
    assert 0 < len(held) < len(pairs) // 3
    assert split_v2(list(held[0]), "fcc111", "s1") == "ood_composition"
    assert held_out_pair(*held[0]) == held_out_pair(*reversed(held[0]))
    splits = Counter(split_v2(["Pt"], "fcc111", f"s{i}") for i in range(2000))
    assert set(splits) == {"train", "test"} and 0.07 < splits["test"] / 2000 < 0.13


def test_system_minimum_follows_adsorbml():
    rows = [
        {"system": "a", "status": "ok", "e_ads": 0.5, "anomalies": "none"},
        {"system": "a", "status": "ok", "e_ads": 0.2, "anomalies": "site_changed"},  # kept: moved to a better site
        {"system": "a", "status": "ok", "e_ads": -1.0, "anomalies": "dissociated"},  # excluded
        {"system": "a", "status": "failed: x", "e_ads": None},
        {"system": "b", "status": "ok", "e_ads": 1.0, "anomalies": "desorbed"},
    ]
    m = system_minima(rows)
    assert m["a"]["row"]["e_ads"] == 0.2 and m["a"]["valid"] == 2 and m["a"]["placements"] == 4
    assert m["b"]["row"] is None


TINY = dict(
    metals=("Pt", "Cu"),
    adsorbates=("O", "H", "OH"),
    facets=("fcc111", "fcc100"),
    calculator="chgnet",
    adsorbates_per_slab=2,
    minimum_every=2,
    minimum_placements=2,
    min_lateral=2.5,
    min_slab_size=5.0,
    fmax=0.1,
    steps=80,
)
GENERATE = (
    "import sys; from phenograd.datasets.catalyst_v2 import V2Request, generate_v2; "
    "generate_v2(sys.argv[1], V2Request(n=int(sys.argv[2]), seed=3, **{tiny}), workers=1, progress=False)"
)


def _adslabs(path) -> list[dict]:
    return [r.key_value_pairs for r in connect(str(path)).select(kind="adslab")]


@pytest.mark.slow
def test_sigkill_then_restart_relaxes_every_placement_exactly_once(tmp_path):
    out = tmp_path / "v2.db"
    code = GENERATE.format(tiny=repr(TINY))
    cmd = [sys.executable, "-c", code, str(out), "6"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, n = time.time() + 400, 0
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with sqlite3.connect(f"file:{out}?mode=ro", uri=True, timeout=5) as conn:
                n = conn.execute("SELECT COUNT(*) FROM text_key_values WHERE key='kind' AND value='adslab'").fetchone()[
                    0
                ]
        except sqlite3.OperationalError:
            continue
        if n >= 1:
            break
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r["uid"]: r["wall_s"] for r in _adslabs(out)}
    assert first
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _adslabs(out)
    counts = Counter(r["uid"] for r in rows)
    request = V2Request(n=6, seed=3, **TINY)
    planned = [p.uid for *_, ps in iter_plan_v2(request, calculator_spec("chgnet"), request.settings()) for p in ps]
    assert sorted(counts) == sorted(planned) and set(counts.values()) == {1}
    assert {r["uid"]: r["wall_s"] for r in rows if r["uid"] in first} == first  # not relaxed again
    assert len({r["system"] for r in rows}) == 6
    # resuming skips complete slabs without building them, and a larger request plans exactly what is new
    complete = CatalystStore.open_readonly(out).complete_systems()
    spec, skipped = calculator_spec("chgnet"), Counter()
    assert list(iter_plan_v2(request, spec, request.settings(), complete, skipped)) == []
    assert skipped["placements"] == len(planned)
    bigger = V2Request(n=9, seed=3, **TINY)  # 2 systems a slab: the fifth slab is cut after its first
    fresh = [p.uid for *_, ps in iter_plan_v2(bigger, spec, bigger.settings()) for p in ps]
    resumed = [p.uid for *_, ps in iter_plan_v2(bigger, spec, bigger.settings(), complete) for p in ps]
    assert fresh[: len(planned)] == planned and resumed == fresh[len(planned) :]
    assert all(r["calculator_name"] == "chgnet" and r["protocol"] == "v2" for r in rows)
    assert Counter(r["n_placements"] for r in rows)[2] >= 2  # the minimum subset has several placements
    meta = connect(str(out)).metadata
    assert meta["calculators"][calculator_spec("chgnet")]["package"] == "chgnet"
    minima = system_minima(rows)
    assert sum(m["row"] is not None for m in minima.values()) >= 5
    info = subprocess.run(
        [sys.executable, "-m", "phenograd", "data", "info", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert info.returncode == 0 and "v2 systems (slab + adsorbate): 6 planned" in info.stdout
    assert "calculator chgnet: CHGNet 0.3.0" in info.stdout


def test_stored_placements_are_rechecked_with_the_current_anomaly_checks(tmp_path):
    """A placement stored before the displacement check (a top atom 1.2 Å from its clean-slab place, flagged
    'none' then) gains 'reconstructed'; its energy stays; a second pass changes nothing."""
    from ase.build import add_adsorbate, fcc111

    from phenograd.datasets.catalyst_store import recheck_anomalies

    clean = fcc111("Pt", (3, 3, 3), vacuum=8.0)
    clean.set_tags(np.where(clean.get_tags() > 2, 0, 1))
    initial = clean.copy()
    add_adsorbate(initial, "O", 2.0, "fcc")
    initial.set_tags(list(clean.get_tags()) + [2])
    store = CatalystStore.open(tmp_path / "v2.db")
    top = int(np.flatnonzero(clean.get_tags() == 1)[-1])
    with store.db:
        store.db.write(clean, kind="slab", uid="s", status="ok", data={"relaxed_positions": clean.positions})
        for uid, shift in (("moved", 1.2), ("kept", 0.2)):
            relaxed = initial.positions.copy()
            relaxed[top, 0] += shift
            store.db.write(
                initial,
                kind="adslab",
                uid=uid,
                slab_uid="s",
                status="ok",
                e_ads=-1.0,
                anomalies="none",
                data={"relaxed_positions": relaxed},
            )
    assert recheck_anomalies(store) == 1
    rows = {r.uid: r for r in store.db.select(kind="adslab")}
    assert rows["moved"].anomalies == "reconstructed" and rows["moved"].reconstructed
    assert rows["kept"].anomalies == "none"
    assert rows["moved"].e_ads == -1.0
    assert recheck_anomalies(store) == 0


@pytest.mark.slow
def test_unlabelled_v2_structures_are_train_split_plan_structures_of_another_seed(tmp_path):
    """`data unlabelled --protocol v2`: the v2 plan's initial structures (OC20 tags, one adsorbate), train-split
    slabs only, deterministic in the seed; the release's own seed is refused in one line."""
    from phenograd.cli import main
    from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, iter_unlabelled

    a = list(iter_unlabelled(UnlabelledRequest(n=6, seed=3, protocol="v2")))
    b = list(iter_unlabelled(UnlabelledRequest(n=6, seed=3, protocol="v2")))
    assert len(a) == 6
    assert all(
        np.array_equal(x.positions, y.positions) and x.get_chemical_symbols() == y.get_chemical_symbols()
        for x, y in zip(a, b)
    )
    assert {x.info["split"] for x in a} == {"train"}
    for x in a:
        tags = x.get_tags()
        assert (tags == 2).sum() >= 1 and (tags == 0).sum() > 0 and (tags == 1).sum() > 0
        assert x.info["adsorbate"] in ADSORBATES_V2
    release = {p.uid for _, _, _, _, ps in _first_slabs(V2Request(n=12, seed=0)) for p in ps}
    mine = {p.uid for _, _, _, _, ps in _first_slabs(V2Request(n=12, seed=3)) for p in ps}
    assert not release & mine  # another seed, other structures
    command = ["data", "unlabelled", "--domain", "catalyst", "--protocol", "v2", "--n", "4", "--out"]
    out = tmp_path / "unl.db"
    assert main([*command, str(out), "--seed", "3"]) == 0
    assert len(list(connect(str(out)).select())) == 4
    assert main([*command, str(tmp_path / "no.db"), "--seed", "0"]) == 2
    assert not (tmp_path / "no.db").exists()


def _first_slabs(request: V2Request):
    spec = calculator_spec(request.calculator)
    return list(iter_plan_v2(request, spec, request.settings()))
