"""A potential's single points as pretraining targets: the file, its resumption, the forces under augmentation,
and the "potential" objective."""

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.emt import EMT
from ase.db import connect

from phenograd.cli import main
from phenograd.core.errors import InputError
from phenograd.datasets.catalyst_single_points import write_single_points
from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, write_unlabelled
from phenograd.surrogate.elements import ELEMENTS
from phenograd.surrogate.masking import augment_atoms
from phenograd.surrogate.pretrain import PretrainConfig, pretrain, single_point_scale
from phenograd.surrogate.pretrain_data import load_unlabelled

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def structures(tmp_path_factory):
    path = tmp_path_factory.mktemp("sp") / "unl.db"
    write_unlabelled(path, UnlabelledRequest(n=10, seed=3, facets=("111",), elements=("Cu", "Pt", "Au")))
    return path


@pytest.fixture(scope="module")
def emt_points(structures):
    out = structures.with_name("emt.db")
    summary = write_single_points(structures, out, calculator="emt")
    assert summary["written"] == summary["structures"] == 10
    return out


def test_rows_carry_the_potentials_energy_and_forces(structures, emt_points):
    src = {r.unique_id: r for r in connect(str(structures)).select()}
    rows = list(connect(str(emt_points)).select())
    assert len(rows) == 10
    for r in rows:
        atoms = src[r.source_uid].toatoms()
        atoms.calc = EMT()
        assert r.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-9)
        assert np.allclose(r.forces, atoms.get_forces(apply_constraint=False), atol=1e-9)
        assert np.allclose(r.positions, atoms.positions)  # the stored structure, not a relaxed one


def test_a_rerun_computes_nothing_twice_and_refuses_another_potential(structures, emt_points, tmp_path):
    again = write_single_points(structures, emt_points, calculator="emt")
    assert again["written"] == 0 and again["already_present"] == 10
    partial = tmp_path / "part.db"
    assert write_single_points(structures, partial, calculator="emt", limit=4)["written"] == 4
    rest = write_single_points(structures, partial, calculator="emt")
    assert (rest["already_present"], rest["written"]) == (4, 6)
    assert sorted(r.source_uid for r in connect(str(partial)).select()) == sorted(
        r.source_uid for r in connect(str(emt_points)).select()
    )
    with pytest.raises(InputError, match="holds single points of emt, not chgnet"):
        write_single_points(structures, partial, calculator="chgnet")
    with pytest.raises(InputError, match="must not be the source"):
        write_single_points(structures, structures, calculator="emt")


def test_labelled_source_gives_only_structures_pretraining_may_see(small_labelled_catalyst_db, tmp_path):
    db = small_labelled_catalyst_db
    out = tmp_path / "sp.db"
    write_single_points(db, out, calculator="emt")
    rows = list(connect(str(out)).select())
    assert 0 < len(rows) == len(load_unlabelled("catalyst", db).graphs)
    assert all(r.split not in ("test", "ood") and not {"Au", "Ni"} <= set(r.symbols) for r in rows)
    assert not any(k in r.key_value_pairs for r in rows for k in ("e_ads", "e_adslab", "status", "anomalies"))


def test_augmented_forces_are_the_potentials_forces_on_the_moved_structure(emt_points):
    data = load_unlabelled("catalyst", emt_points)
    assert data.counts["single_points"] == 10
    g = data.graphs[0]
    moved = augment_atoms(g, np.random.default_rng(7))
    symbols = [ELEMENTS[int(i)] for i in moved.element_probs.argmax(-1)]  # the nodes are permuted
    pbc = moved.pbc[0].tolist()
    atoms = Atoms(symbols, positions=moved.pos.double().numpy(), cell=moved.cell[0].double().numpy(), pbc=pbc)
    atoms.calc = EMT()
    assert np.allclose(moved.sp_forces.numpy(), atoms.get_forces(), atol=2e-4)
    assert float(moved.sp_energy) == pytest.approx(atoms.get_potential_energy(), abs=2e-4)


def test_potential_objective_learns_the_single_points(emt_points, tmp_path):
    data = load_unlabelled("catalyst", emt_points)
    scale = single_point_scale(data.graphs)
    assert scale.energy_per_atom > 0 and scale.force > 0
    # one step per epoch over all 10 structures, so the losses are not one batch's luck
    cfg = PretrainConfig(objective="potential", epochs=15, lr=1e-2, hidden=16, layers=2, batch_size=10)
    h = pretrain(data, tmp_path / "enc.pt", cfg, progress=False)["history"]
    assert h[-1]["forces"] < 0.8 * h[1]["forces"] and h[-1]["energy"] < 0.9 * h[1]["energy"]


def test_potential_objective_refuses_structures_without_single_points(structures, tmp_path, capsys):
    code = main(
        ["pretrain", "--domain", "catalyst", "--data", str(structures), "--objective", "potential",
         "--out", str(tmp_path / "e.pt"), "--epochs", "1"]
    )  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "needs single points" in err[0]
    assert not (tmp_path / "e.pt").exists()
