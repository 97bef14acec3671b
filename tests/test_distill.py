"""Distillation: teacher labels on the training split plus new inputs; the simulator's labels kept elsewhere."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil_generate import AirfoilRequest, generate
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.distill import distilled_points, mixed_cst
from phenograd.surrogate.model import load_checkpoint
from phenograd.surrogate.predict import load_surrogate
from phenograd.surrogate.train_airfoil import train_airfoil
from phenograd.surrogate.trainer import TrainConfig

TEACHER = TrainConfig(members=2, epochs=2, patience=2, hidden=16, layers=2, batch_size=6, lr=3e-3)


@pytest.fixture(scope="module")
def polars_and_teacher(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distill")
    path = folder / "tiny.db"
    generate(
        path, AirfoilRequest(shapes=10, alphas=(-2.0, 2.0, 6.0), seed=5, reynolds=[1e6]), workers=2, progress=False
    )
    teacher = folder / "teacher.pt"
    train_airfoil(path, teacher, TEACHER, progress=False, device="cpu")
    return path, teacher


def test_mixed_shapes_lie_between_two_distinct_parents_and_follow_the_seed():
    cst = np.stack([np.zeros(18), np.ones(18), np.full(18, 5.0)])
    new, first = mixed_cst(cst, np.array([0, 1]), 50, seed=3)
    assert new.shape == (50, 18) and set(first) <= {0, 1}
    w = new[:, 0]
    assert np.all((w > 0) & (w < 1)) and np.allclose(new, w[:, None])  # never shape 2, never a self-pair
    again, _ = mixed_cst(cst, np.array([0, 1]), 50, seed=3)
    assert np.array_equal(new, again) and not np.array_equal(new, mixed_cst(cst, np.array([0, 1]), 50, seed=4)[0])
    with pytest.raises(InputError, match="at least 2"):
        mixed_cst(cst, np.array([2]), 5, seed=0)


def test_training_points_carry_the_teachers_mean_and_the_rest_keep_xfoil(polars_and_teacher):
    path, teacher_path = polars_and_teacher
    data = load_airfoil_points(path)
    teacher = load_surrogate(teacher_path, domain="airfoil")
    out = distilled_points(data, teacher, extra=6, seed=0, teacher_id="a")
    train = data.shapes_in("train")
    n0 = len(data.graphs)
    assert len(out.graphs) == n0 + 6 and out.shapes_in("train").tolist() == train.tolist() + list(range(n0, n0 + 6))
    assert out.cst.shape == (n0 + 6, 18)
    # The teacher's ensemble mean through the graph path (members one after another), an independent route.
    ensemble, _ = load_checkpoint(teacher_path, domain="airfoil")
    own = torch.isin(out.point_shape, torch.as_tensor(train))
    new = out.point_shape >= n0
    with torch.no_grad():
        values, logits = ensemble(Batch.from_data_list(out.graphs), out.point_shape, out.cond)
    mean, prob = values.mean(0), torch.sigmoid(logits).mean(0)
    labelled = own | new
    assert torch.equal(out.converged[labelled], prob[labelled] > 0.5)
    ok = labelled & out.converged
    assert ok.any() and torch.allclose(out.targets[ok], mean[ok], atol=1e-4)
    assert torch.isnan(out.targets[labelled & ~out.converged]).all()
    # Each new shape asks at its first parent's operating points: the same count and the same conditions as some
    # training shape's polars.
    parent_conds = {tuple(map(tuple, data.cond[data.point_shape == s].tolist())) for s in train}
    for s in range(n0, n0 + 6):
        assert tuple(map(tuple, out.cond[out.point_shape == s].tolist())) in parent_conds
    # Validation and held-out points are untouched, XFOIL labels and all.
    kept = ~torch.isin(data.point_shape, torch.as_tensor(train))
    assert int((~labelled).sum()) == int(kept.sum())
    assert torch.equal(out.converged[~labelled], data.converged[kept])
    assert torch.allclose(out.targets[~labelled], data.targets[kept], equal_nan=True)
    # The digest names the teacher, so a resumed run cannot mix two teachers' labels.
    assert out.data_hash != data.data_hash
    assert distilled_points(data, teacher, 6, 0, teacher_id="b").data_hash != out.data_hash


@pytest.mark.slow
def test_cli_trains_a_student_and_refuses_extra_shapes_without_a_teacher(polars_and_teacher, tmp_path, cli_env):
    path, teacher = polars_and_teacher
    cmd = [sys.executable, "-m", "phenograd", "train", "--domain", "airfoil", "--data", str(path), "--members", "1"]
    cmd += ["--epochs", "1", "--hidden", "8", "--layers", "1", "--no-progress"]
    run = subprocess.run(
        cmd + ["--out", str(tmp_path / "s.pt"), "--teacher", str(teacher), "--extra-shapes", "4"],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert run.returncode == 0, run.stderr
    _, info = load_checkpoint(tmp_path / "s.pt", domain="airfoil")
    assert info["meta"]["teacher"] == str(teacher) and info["meta"]["extra_shapes"] == 4
    assert info["encoder"]["hidden"] == 8
    bad = subprocess.run(
        cmd + ["--out", str(tmp_path / "t.pt"), "--extra-shapes", "4"], capture_output=True, text=True, env=cli_env
    )
    assert bad.returncode != 0 and "needs --teacher" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "t.pt").exists()
    missing = subprocess.run(
        cmd + ["--out", str(tmp_path / "u.pt"), "--teacher", str(tmp_path / "none.pt")],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert missing.returncode != 0 and "none.pt" in missing.stderr and "Traceback" not in missing.stderr
    tuned = subprocess.run(
        cmd + ["--out", str(tmp_path / "v.pt"), "--fine-tune", str(teacher), "--teacher", str(teacher)],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert tuned.returncode != 0 and "--teacher" in tuned.stderr and "Traceback" not in tuned.stderr


def test_negative_extra_shapes_are_refused(polars_and_teacher):
    path, teacher = polars_and_teacher
    data = load_airfoil_points(path)
    with pytest.raises(InputError, match=">= 0"):
        distilled_points(data, load_surrogate(teacher, domain="airfoil"), extra=-1)


@pytest.fixture(scope="module")
def adsorption_and_teacher(tmp_path_factory):
    from phenograd.datasets.catalyst_generate import CatalystRequest
    from phenograd.datasets.catalyst_generate import generate as generate_catalyst
    from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, write_unlabelled
    from phenograd.surrogate.train_catalyst import catalyst_defaults, train_catalyst

    folder = tmp_path_factory.mktemp("distill_catalyst")
    path = folder / "tiny.db"
    request = CatalystRequest(n=24, seed=3, size=(2, 2), layers=3, per_slab=4, elements=("Pt", "Cu", "Au", "Ni"))
    generate_catalyst(path, request, workers=2, progress=False)
    teacher = folder / "teacher.pt"
    cfg = catalyst_defaults(members=2, epochs=3, patience=3, hidden=8, layers=1, batch_size=8)
    train_catalyst(path, teacher, cfg, progress=False, device="cpu")
    # More placements on the teacher's elements (a labelled file serves as structures: held-out rows are skipped),
    # the v2 plan's structures (elements the teacher never saw) and v1 slabs with 0-3 adsorbates.
    one = folder / "more.db"
    generate_catalyst(one, replace(request, n=6, seed=4), workers=2, progress=False)
    v2, _ = write_unlabelled(folder / "v2.db", UnlabelledRequest(n=4, seed=1, protocol="v2"))
    several, _ = write_unlabelled(folder / "several.db", UnlabelledRequest(n=12, seed=2))
    return path, teacher, one, several, v2


def test_catalyst_training_placements_and_extra_structures_carry_the_teachers_mean(adsorption_and_teacher):
    from ase.db import connect

    from phenograd.surrogate.catalyst_data import load_catalyst_samples
    from phenograd.surrogate.distill import distilled_samples

    path, teacher_path, one, several, v2 = adsorption_and_teacher
    data = load_catalyst_samples(path)
    teacher = load_surrogate(teacher_path, domain="catalyst")
    out = distilled_samples(data, teacher, one, teacher_id="a")
    n0, train = len(data.graphs), data.items_in("train")
    n = len(out.graphs) - n0
    assert n > 0 and out.items_in("train").tolist() == train.tolist() + list(range(n0, n0 + n))
    # Independently: the teacher's own prediction from the ase rows' atoms.
    rows = list(connect(str(path)).select(kind="adslab", status="ok", sort="id"))
    from phenograd.datasets.catalyst import OOD_PAIR
    from phenograd.surrogate.catalyst_data import HELD_OUT_SPLITS

    extra = [
        r.toatoms()
        for r in connect(str(one)).select(kind="adslab", sort="id")
        if r.get("split") not in HELD_OUT_SPLITS and not set(OOD_PAIR) <= set(r.symbols)
    ]
    expected = teacher.predict_adsorption([rows[int(i)].toatoms() for i in train] + extra)["E_ads"]
    got = torch.cat([out.e_ads[torch.as_tensor(train)], out.e_ads[n0:]])
    assert torch.allclose(got, expected, atol=1e-5)
    held = np.setdiff1d(np.arange(n0), train)
    assert len(held) and torch.equal(out.e_ads[torch.as_tensor(held)], data.e_ads[torch.as_tensor(held)])
    assert not out.anomalous[n0:].any() and out.data_hash != data.data_hash
    with pytest.raises(InputError, match="one adsorbate per structure"):
        distilled_samples(data, teacher, several)
    with pytest.raises(InputError, match="outside this model's training data"):
        distilled_samples(data, teacher, v2)


@pytest.mark.slow
def test_cli_distils_a_catalyst_student(adsorption_and_teacher, tmp_path, cli_env):
    path, teacher, one, _, _ = adsorption_and_teacher
    cmd = [sys.executable, "-m", "phenograd", "train", "--domain", "catalyst", "--data", str(path), "--members", "1"]
    cmd += ["--epochs", "1", "--hidden", "8", "--layers", "1", "--no-progress"]
    run = subprocess.run(
        cmd + ["--out", str(tmp_path / "s.pt"), "--teacher", str(teacher), "--extra-structures", str(one)],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert run.returncode == 0, run.stderr
    _, info = load_checkpoint(tmp_path / "s.pt", domain="catalyst")
    assert info["meta"]["teacher"] == str(teacher) and info["meta"]["extra_structures"] == str(one)
    bad = subprocess.run(
        cmd + ["--out", str(tmp_path / "t.pt"), "--extra-structures", str(one)],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert bad.returncode != 0 and "needs --teacher" in bad.stderr and "Traceback" not in bad.stderr
    wrong = subprocess.run(
        cmd + ["--out", str(tmp_path / "u.pt"), "--extra-shapes", "3", "--teacher", str(teacher)],
        capture_output=True,
        text=True,
        env=cli_env,
    )
    assert wrong.returncode != 0 and "--extra-shapes is for --domain airfoil" in wrong.stderr
    assert not (tmp_path / "t.pt").exists() and not (tmp_path / "u.pt").exists()
