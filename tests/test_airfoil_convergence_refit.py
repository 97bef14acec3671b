"""Refit of an airfoil model's convergence output (surrogate/airfoil_convergence_refit.py) on real XFOIL labels."""

import numpy as np
import pytest
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil_fallback import run_fallback
from phenograd.datasets.airfoil_generate import AirfoilRequest, generate
from phenograd.surrogate.airfoil_convergence_refit import fit_row, refit_convergence
from phenograd.surrogate.model import build_ensemble, default_encoder_config, load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def low_re_dataset(tmp_path_factory):
    """32 sampled shapes at Re 1.5e5 over -4..12 deg, where XFOIL fails at some angles (8 validation shapes
    with seed 8); the same file after the retries at 200 and 240 panels."""
    folder = tmp_path_factory.mktemp("convrefit")
    before, after = folder / "before.db", folder / "after.db"
    alphas = (-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0)
    generate(before, AirfoilRequest(shapes=32, alphas=alphas, seed=8, reynolds=[1.5e5]), workers=2, progress=False)
    after.write_bytes(before.read_bytes())
    run_fallback(after, workers=2, progress=False)
    return before, after


@pytest.fixture
def model(tmp_path):
    """An untrained 2-member airfoil model whose convergence row says 'fails' everywhere (bias -4)."""
    torch.manual_seed(0)
    ensemble = build_ensemble("airfoil", 2, default_encoder_config("airfoil", hidden=8), {"hidden": 8, "width": 16})
    with torch.no_grad():
        for m in ensemble.members:
            m.head.net[-1].bias[-1] = -4.0
    path = tmp_path / "model.pt"
    save_checkpoint(path, ensemble.eval(), data_hash="x", meta={"note": "kept"})
    return path


def test_fit_row_recovers_a_logistic_model_and_the_pull_holds_it_back():
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(4000, 3))
    truth = np.array([1.5, -2.0, 0.5, 0.3])
    labels = (rng.random(4000) < 1 / (1 + np.exp(-(hidden @ truth[:3] + truth[3])))).astype(float)
    free = fit_row(hidden, labels, np.zeros(4), pull=1e-6)
    assert np.allclose(free, truth, atol=0.2)
    held = fit_row(hidden, labels, np.zeros(4), pull=10.0)
    assert np.linalg.norm(held) < 0.2 * np.linalg.norm(free)


@pytest.mark.slow
def test_refit_moves_only_the_convergence_row_toward_the_labels(low_re_dataset, model, tmp_path):
    _, after = low_re_dataset
    before_model, before_info = load_checkpoint(model)
    out = tmp_path / "refit.pt"
    report = refit_convergence(model, after, out)
    assert report["left_out"] == 0 and report["train_shapes"] + report["val_shapes"] == 32
    assert report["pull"] != "none" and report["val_bce"][report["pull"]] < report["val_bce"]["none"]
    refit, info = load_checkpoint(out)
    assert info["meta"]["note"] == "kept" and info["meta"]["convergence_refit"]["pull"] == report["pull"]
    last = f"head.net.{len(refit.members[0].head.net) - 1}"
    for old, new in zip(before_model.members, refit.members):
        for (name, a), (_, b) in zip(old.state_dict().items(), new.state_dict().items()):
            if name in (f"{last}.weight", f"{last}.bias"):  # the last layer: only its convergence row moved
                assert torch.equal(a[:-1], b[:-1]) and not torch.equal(a[-1], b[-1])
            else:
                assert torch.equal(a, b), name


@pytest.mark.slow
def test_while_retries_are_under_way_only_a_settled_prefix_is_used(low_re_dataset, model, tmp_path):
    """Settled: the shapes before the first one with a retry to run in run_order, including those that needed
    none; a shape that needed no retry but comes later is left out (taking it would favour converging shapes)."""
    before, _ = low_re_dataset
    from phenograd.datasets.airfoil_fallback import pending_shapes, run_order, settled_shapes
    from phenograd.datasets.polar_store import PolarStore

    with PolarStore.open_readonly(before) as store:
        pending, settled = pending_shapes(store), settled_shapes(store)
        every = [s for (s,) in store.conn.execute("SELECT shape_id FROM shapes")]
    assert len(pending) >= 10, "the low-Re data must have non-converged points to retry"
    first = min(pending, key=run_order)
    assert settled == {s for s in every if run_order(s) < run_order(first)}
    assert any(s not in pending and s not in settled for s in every)
    with pytest.raises(InputError, match="final labels"):  # too few settled shapes here
        refit_convergence(model, before, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_bad_input_names_the_problem(model, tmp_path):
    with pytest.raises(InputError, match="no polar dataset"):
        refit_convergence(model, tmp_path / "missing.db", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()
