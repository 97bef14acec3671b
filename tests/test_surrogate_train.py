"""Airfoil surrogate end to end on a tiny real XFOIL dataset; checkpoints and their failure modes."""

import math

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil_generate import AirfoilRequest, generate
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.model import build_ensemble, default_encoder_config, load_checkpoint, save_checkpoint
from phenograd.surrogate.train_airfoil import train_airfoil
from phenograd.surrogate.trainer import TrainConfig

TINY = TrainConfig(members=2, epochs=30, patience=30, hidden=16, layers=2, batch_size=6, lr=3e-3)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("surrogate") / "tiny.db"
    request = AirfoilRequest(shapes=14, alphas=(-2.0, 0.0, 2.0, 4.0, 6.0), seed=11, reynolds=[1e6])
    generate(path, request, workers=2, progress=False)
    return path


@pytest.mark.slow
def test_tiny_training_beats_the_mean_predictor(tiny_dataset, tmp_path):
    out = tmp_path / "tiny.pt"
    report = train_airfoil(tiny_dataset, out, TINY, progress=False, device="cpu")
    assert len(report["members"]) == 2 and not (tmp_path / "tiny.pt.partial").exists()
    ensemble, meta = load_checkpoint(out, domain="airfoil")
    assert meta["data_hash"] == report["data_hash"]
    data = load_airfoil_points(tiny_dataset)
    with torch.no_grad():
        values, logits = ensemble(Batch.from_data_list(data.graphs), data.point_shape, data.cond)
    assert values.shape == (2, len(data.point_shape), 5) and logits.shape == (2, len(data.point_shape))
    ok = data.converged
    model_mae = (values.mean(0)[ok, 0] - data.targets[ok, 0]).abs().mean()
    mean_mae = (data.targets[ok, 0] - data.targets[ok, 0].mean()).abs().mean()
    assert model_mae < 0.7 * mean_mae, (model_mae, mean_mae)  # CL: learns at least the lift curve
    assert torch.all(values.std(0)[:, 0] > 0)  # members differ: the ensemble has a spread


@pytest.mark.slow
def test_a_run_killed_mid_save_leaves_no_temporary_file_once_rerun(tiny_dataset, tmp_path):
    """A kill between save_torch_atomic's write and its rename leaves .NAME.XXXX.tmp; the rerun removes those
    of its own files (partial and output), and nothing else."""
    import dataclasses

    out = tmp_path / "run.pt"
    for name in (".run.pt.partial.k1ll3d.tmp", ".run.pt.d34d.tmp", ".other.pt.x.tmp", "run.pt.notes"):
        (tmp_path / name).write_bytes(b"half")
    train_airfoil(tiny_dataset, out, dataclasses.replace(TINY, epochs=1, patience=1), progress=False, device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.x.tmp", "run.pt", "run.pt.notes"]


@pytest.mark.slow
def test_checkpoint_records_the_training_shapes_design_range_and_it_can_be_recorded_again(tiny_dataset, tmp_path):
    import dataclasses
    import subprocess
    import sys

    from phenograd.surrogate.design_range import design_range

    out = tmp_path / "ranged.pt"
    train_airfoil(tiny_dataset, out, dataclasses.replace(TINY, epochs=1, patience=1), progress=False, device="cpu")
    data = load_airfoil_points(tiny_dataset)
    train = data.shapes_in("train")
    expected = design_range(data.cst[train])
    assert expected["shapes"] == len(train)  # every generated shape is stored with its CST
    meta = load_checkpoint(out, domain="airfoil")[1]["meta"]
    assert meta["design_range"] == expected
    # An older checkpoint without it gets it recorded in place; the weights stay as they were.
    payload = torch.load(out, weights_only=False)
    del payload["meta"]["design_range"]
    torch.save(payload, out)
    cmd = [sys.executable, "-m", "phenograd.surrogate.design_range", str(out), str(tiny_dataset)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    again = torch.load(out, weights_only=False)
    assert again["meta"]["design_range"] == expected
    assert all(torch.equal(a[k], b[k]) for a, b in zip(payload["members"], again["members"]) for k in a)
    # Data the model was not trained on is refused in one line, the file untouched.
    other = tmp_path / "other.db"
    generate(other, AirfoilRequest(shapes=3, alphas=(0.0, 2.0), seed=5, reynolds=[1e6]), workers=1, progress=False)
    before = out.read_bytes()
    r = subprocess.run(cmd[:-1] + [str(other)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not the model's training data" in r.stderr, r.stderr
    assert out.read_bytes() == before


@pytest.mark.slow
def test_training_resumes_from_its_partial_state(tiny_dataset, tmp_path):
    out = tmp_path / "resumed.pt"
    cfg = TrainConfig(**{**TINY.__dict__, "members": 1, "epochs": 4, "patience": 10})
    # A run stopped after member 1 of 2 leaves a partial file; the same call finishes it.
    first = train_airfoil(tiny_dataset, out, cfg, progress=False, device="cpu")
    assert len(first["members"]) == 1
    cfg2 = TrainConfig(**{**cfg.__dict__, "members": 2})
    partial = out.with_name(out.name + ".partial")
    torch.save(
        {
            "config": cfg2.__dict__,
            "data_hash": first["data_hash"],
            "done": [{"state": load_checkpoint(out)[0].members[0].state_dict(), "best_val": 1.0, "epochs": 4}],
            "member": 1,
        },
        partial,
    )
    second = train_airfoil(tiny_dataset, out, cfg2, progress=False, device="cpu")
    assert [m["epochs"] for m in second["members"]][0] == 4 and len(second["members"]) == 2
    assert not partial.exists()


@pytest.mark.slow
def test_head_refit_moves_only_the_head_and_never_raises_the_validation_loss(tiny_dataset, tmp_path):
    from phenograd.surrogate.head_refit import cached_features, refit_airfoil_head
    from phenograd.surrogate.train_airfoil import AirfoilTask

    out = tmp_path / "refit.pt"
    cfg = TrainConfig(**{**TINY.__dict__, "members": 1, "epochs": 3, "stations": 2, "refit_epochs": 4})
    report = train_airfoil(tiny_dataset, out, cfg, progress=False, device="cpu")
    refit = report["members"][0]["refit"]
    assert refit["best_val"] <= refit["start_val"] and 0 <= refit["best_epoch"] <= 4
    assert load_checkpoint(out)[1]["meta"]["config"]["refit_epochs"] == 4
    # On an under-trained member, a refit of a few epochs lowers the validation loss; the encoder stays put.
    data = load_airfoil_points(tiny_dataset)
    task = AirfoilTask(data)
    member = load_checkpoint(out)[0].members[0]
    encoder_before = {n: t.clone() for n, t in member.encoder.state_dict().items()}
    head_before = {n: t.clone() for n, t in member.head.state_dict().items()}
    torch.nn.init.zeros_(member.head.net[-1].weight)  # a head that predicts the training mean
    result = refit_airfoil_head(
        member, data, task.train, task.val, 10, cfg.conv_weight, torch.device("cpu"), seed=0, batch_points=8
    )
    assert result["best_val"] < result["start_val"] and result["best_epoch"] > 0
    assert all(torch.equal(t, encoder_before[n]) for n, t in member.encoder.state_dict().items())
    assert any(not torch.equal(t, head_before[n]) for n, t in member.head.state_dict().items())
    nodes, pooled, inputs = cached_features(member, data.graphs[:3], torch.device("cpu"))
    assert nodes.shape[:2] == inputs.shape[:2] == (3, 129) and pooled.shape[0] == 3
    assert torch.allclose(nodes.mean(1), pooled, atol=1e-5)  # mean pooling of the cached node scalars


@pytest.mark.slow
def test_refit_with_a_new_head_equals_refitting_the_trained_model_afterwards(tiny_dataset, tmp_path):
    """--refit-head-width W (here with --refit-station-y and --refit-target-weights): the refit stage trains a new
    head of width W, which also takes the raw station y values, on the frozen encoder with its own target weights.
    One run with it gives the same weights as training
    without a refit and then refitting that model's heads alone (--init MODEL --epochs 0), which is how a shipped
    model's heads can be replaced without training its encoders again. The end-to-end head stays without them."""
    base = {**TINY.__dict__, "members": 2, "epochs": 3}
    new_head = {
        "refit_epochs": 3,
        "refit_head_width": 24,
        "refit_station_y": True,
        "refit_target_weights": (1, 1, 2, 1, 1),
    }
    whole = tmp_path / "whole.pt"
    train_airfoil(tiny_dataset, whole, TrainConfig(**{**base, **new_head}), progress=False, device="cpu")
    plain = tmp_path / "plain.pt"
    train_airfoil(tiny_dataset, plain, TrainConfig(**base), progress=False, device="cpu")
    after = tmp_path / "after.pt"
    cfg = TrainConfig(**{**base, "epochs": 0, **new_head})
    train_airfoil(tiny_dataset, after, cfg, progress=False, device="cpu", init_model=load_checkpoint(plain))
    (a, info), (b, after_info), (p, plain_info) = load_checkpoint(whole), load_checkpoint(after), load_checkpoint(plain)
    start = after_info["meta"]["init_model"]  # the end-to-end recipe stays on record
    assert start["config"]["epochs"] == 3 and start["data_hash"] == plain_info["data_hash"]
    assert info["head"]["width"] == 24 and a.members[0].head.net[0].out_features == 24
    assert info["head"]["station_y"] is True and a.members[0].head.station_y
    assert "station_y" not in plain_info["head"]
    for ma, mb, mp in zip(a.members, b.members, p.members):
        assert all(torch.allclose(x, y) for x, y in zip(ma.state_dict().values(), mb.state_dict().values()))
        assert all(
            torch.equal(x, y) for x, y in zip(ma.encoder.state_dict().values(), mp.encoder.state_dict().values())
        )
        assert torch.equal(ma.head.mean, mp.head.mean) and torch.equal(ma.head.std, mp.head.std)
    unweighted = tmp_path / "unweighted.pt"
    cfg = TrainConfig(**{**base, "epochs": 0, **new_head, "refit_target_weights": ()})
    train_airfoil(tiny_dataset, unweighted, cfg, progress=False, device="cpu", init_model=load_checkpoint(plain))
    u, _ = load_checkpoint(unweighted)
    assert not torch.equal(u.members[0].head.net[0].weight, b.members[0].head.net[0].weight)  # the weights reach it


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    model = build_ensemble("catalyst", n_members=3)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, data_hash="abc")
    loaded, meta = load_checkpoint(path, domain="catalyst")
    for a, b in zip(model.parameters(), loaded.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(InputError, match="a catalyst model where the airfoil domain.s is needed"):
        load_checkpoint(path, domain="airfoil")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(InputError, match="truncated or corrupted"):
        load_checkpoint(truncated)
    payload = torch.load(path, weights_only=False)
    payload["format_version"] = 99
    future = tmp_path / "future.pt"
    torch.save(payload, future)
    with pytest.raises(InputError, match="format version 99"):
        load_checkpoint(future)
    other = tmp_path / "other.pt"
    torch.save({"weights": np.zeros(3).tolist()}, other)
    with pytest.raises(InputError, match="not a phenograd surrogate"):
        load_checkpoint(other)
    with pytest.raises(InputError, match="no such model"):
        load_checkpoint(tmp_path / "missing.pt")


@pytest.mark.slow
def test_train_fraction_trains_on_a_nested_seeded_subset(tiny_dataset, tmp_path):
    import dataclasses

    from phenograd.surrogate.train_airfoil import AirfoilTask

    full = AirfoilTask(load_airfoil_points(tiny_dataset), seed=0).train
    seen = {}
    for fraction in (0.5, 0.25):
        cfg = dataclasses.replace(TINY, members=1, epochs=1, patience=1, train_fraction=fraction)
        out = tmp_path / f"f{fraction}.pt"
        report = train_airfoil(tiny_dataset, out, cfg, progress=False, device="cpu")
        _, info = load_checkpoint(out, domain="airfoil")
        assert info["meta"]["config"]["train_fraction"] == fraction
        seen[fraction] = report["train_shapes"]
    assert seen[0.5] == round(0.5 * len(full)) and seen[0.25] == round(0.25 * len(full))


@pytest.mark.slow
def test_invariant_encoder_trains_round_trips_and_bad_settings_are_refused(tiny_dataset, tmp_path):
    """vectors=False: the invariant encoder (no vector channels) trains, is saved with "vectors": False in its
    settings, loads to the same weights; a file whose vectors setting is anything but false is refused."""
    import dataclasses

    out = tmp_path / "invariant.pt"
    cfg = dataclasses.replace(TINY, members=1, epochs=2, patience=2, vectors=False)
    train_airfoil(tiny_dataset, out, cfg, progress=False, device="cpu")
    ensemble, meta = load_checkpoint(out, domain="airfoil")
    encoder = ensemble.members[0].encoder
    assert encoder.config["vectors"] is False and not hasattr(encoder.updates[0], "U")
    painn = build_ensemble("airfoil", 1, encoder=default_encoder_config("airfoil", hidden=16, n_layers=2))
    assert sum(p.numel() for p in encoder.parameters()) < 0.6 * sum(p.numel() for p in painn.parameters())
    payload = torch.load(out, weights_only=False)
    payload["encoder"]["vectors"] = True
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(InputError, match="vectors = True is not false"):
        load_checkpoint(bad)
    with pytest.raises(InputError, match="vector channels"):  # a PaiNN encoder cannot start an invariant model
        state = {"config": default_encoder_config("airfoil", 16, 2), "state": painn.members[0].encoder.state_dict()}
        train_airfoil(tiny_dataset, tmp_path / "x.pt", cfg, progress=False, device="cpu", init_encoder=state)


def test_station_readout_round_trip_and_bad_head_settings(tmp_path):
    from phenograd.datasets.airfoil import naca
    from phenograd.surrogate.graphs import AIRFOIL_NODES, airfoil_graph

    model = build_ensemble(
        "airfoil", n_members=2, encoder={**default_encoder_config("airfoil", 16, 2)}, head={"hidden": 16, "stations": 3}
    )
    assert model.members[0].head.embedding_size == 16 + 3 * AIRFOIL_NODES
    path = tmp_path / "stations.pt"
    save_checkpoint(path, model, data_hash="abc")
    loaded, info = load_checkpoint(path, domain="airfoil")
    assert info["head"]["stations"] == 3
    graphs = Batch.from_data_list([airfoil_graph(naca("2412")), airfoil_graph(naca("0012"))])
    cond = torch.tensor([[0.2, 0.0, 0.0], [0.2, 0.0, 0.0], [0.4, 0.0, 0.0]])
    point_graph = torch.tensor([0, 1, 1])
    with torch.no_grad():
        torch.testing.assert_close(loaded(graphs, point_graph, cond), model(graphs, point_graph, cond))
    # the readout knows where along the chord a feature sits: the two shapes get different encodings
    z = loaded.members[0].airfoil_shape_embedding(graphs)
    assert z.shape == (2, 16 + 3 * AIRFOIL_NODES) and not torch.allclose(z[0], z[1])
    payload = torch.load(path, weights_only=False)
    payload["head"]["pooling"] = "max"
    bad = tmp_path / "bad_head.pt"
    torch.save(payload, bad)
    with pytest.raises(InputError, match="head settings must be depth, hidden, width .and optionally stations"):
        load_checkpoint(bad)
    cat = build_ensemble("catalyst", n_members=1)
    save_checkpoint(path, cat)
    payload = torch.load(path, weights_only=False)
    payload["head"]["stations"] = 3
    torch.save(payload, bad)
    with pytest.raises(
        InputError, match=r"head settings must be depth, hidden, width \(and optionally readout, reference\)"
    ):
        load_checkpoint(bad)


def test_station_y_head_sees_the_raw_geometry_and_round_trips(tmp_path):
    from phenograd.datasets.airfoil import naca
    from phenograd.surrogate.graphs import AIRFOIL_NODES, airfoil_graph

    model = build_ensemble(
        "airfoil",
        n_members=1,
        encoder={**default_encoder_config("airfoil", 16, 2)},
        head={"hidden": 16, "width": 32, "station_y": True},
    )
    graphs = Batch.from_data_list([airfoil_graph(naca("2412")), airfoil_graph(naca("0012"))])
    z = model.members[0].airfoil_shape_embedding(graphs)
    assert z.shape == (2, 16 + AIRFOIL_NODES)
    torch.testing.assert_close(z[:, 16:], 10 * graphs.pos[:, 1].reshape(2, AIRFOIL_NODES))  # y/c at the stations
    path = tmp_path / "station_y.pt"
    save_checkpoint(path, model, data_hash="abc")
    loaded, info = load_checkpoint(path, domain="airfoil")
    assert info["head"]["station_y"] is True and info["head"]["width"] == 32
    cond = torch.tensor([[0.2, 0.0, 0.0], [0.4, 0.0, 0.0]])
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(graphs, torch.tensor([0, 1]), cond), model(graphs, torch.tensor([0, 1]), cond)
        )
    payload = torch.load(path, weights_only=False)
    payload["head"]["station_y"] = 1
    bad = tmp_path / "bad_station_y.pt"
    torch.save(payload, bad)
    with pytest.raises(InputError, match="station_y = 1 is not true"):
        load_checkpoint(bad)


@pytest.mark.slow
@pytest.mark.parametrize("head", [{}, {"stations": 3}, {"station_y": True}])
def test_python_prediction_api_is_batched_and_differentiable(tiny_dataset, tmp_path, head):
    from phenograd.datasets.airfoil import naca
    from phenograd.surrogate.predict import load_surrogate

    out = tmp_path / "api.pt"
    cfg = TrainConfig(**{**TINY.__dict__, "epochs": 3, **head})
    train_airfoil(tiny_dataset, out, cfg, progress=False, device="cpu")
    model = load_surrogate(out)
    cst = torch.tensor(
        [[0.13, 0.16, 0.17, 0.2, 0.16, 0.22, 0.2, 0.2, -0.13, -0.12, -0.2, -0.1, -0.25, -0.05, -0.03, 0.03, 0.0, 0.002]]
        * 2,
        requires_grad=True,
    )
    pred = model.predict_airfoil(cst, alpha=[0.0, 2.0, 4.0], reynolds=1e6)
    assert pred["CL"].shape == (2, 3) and pred["CD"].shape == (2, 3) and torch.all(pred["CD"] > 0)
    assert torch.all((pred["confidence"] >= 0) & (pred["confidence"] <= 1)) and torch.all(pred["CL_std"] >= 0)
    pred["CL"][:, 1].sum().backward()
    assert cst.grad is not None and cst.grad.abs().sum() > 0
    from_coords = model.predict_airfoil([naca("2412"), naca("0012")], alpha=[2.0], reynolds=1e6)
    assert from_coords["CM"].shape == (2, 1)


@pytest.mark.slow
def test_shipped_airfoil_model_is_the_default_and_knows_naca_2412():
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "phenograd",
            "predict",
            "airfoil",
            "--naca",
            "2412",
            "--re",
            "1e6",
            "--alpha",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    # XFOIL (160 panels, Ncrit 9): CL 0.4496, CD 0.00578, CM -0.0481; an untrained ensemble is nowhere near
    assert abs(row["CL"] - 0.4496) < 0.08 and abs(row["CD"] / 0.00578 - 1) < 0.3 and abs(row["CM"] + 0.0481) < 0.015
    assert row["CL_std"] > 0 and 0.5 < row["confidence"] <= 1


def test_airfoil_loss_squared_and_huber_on_hand_made_errors():
    from phenograd.surrogate.heads import AirfoilHead

    head = AirfoilHead(hidden=4)
    head.set_normalisation(torch.zeros(5), torch.full((5,), 2.0))  # normalised error = error / 2
    targets = torch.zeros(4, 5)
    targets[3] = float("nan")  # not converged: no regression term
    values = torch.full((4, 5), 6.0)  # normalised error 3 on every target
    values[0, 0] = 0.1  # one small error: 0.05 normalised
    converged = torch.tensor([True, True, True, False])
    logit = torch.zeros(4)
    bce = math.log(2.0)  # cross-entropy at logit 0
    n = 15  # converged points x targets
    mse = (14 * 9 + 0.05**2) / n
    torch.testing.assert_close(head.loss(values, logit, targets, converged, 0.5), torch.tensor(mse + 0.5 * bce))
    delta = 0.1
    huber = (14 * (3 - delta / 2) + 0.05**2 / (2 * delta)) / n  # absolute error beyond delta, quadratic inside
    torch.testing.assert_close(
        head.loss(values, logit, targets, converged, 0.5, huber_delta=delta), torch.tensor(huber + 0.5 * bce)
    )
    # target weights: CM's errors count 3x, the transition points' not at all; the mean still divides by n
    weights = (1.0, 1.0, 3.0, 0.0, 0.0)
    weighted = (2 * 9 + 0.05**2 + 3 * 9 + 3 * 3 * 9) / n  # CL, ln CD, CM
    torch.testing.assert_close(
        head.loss(values, logit, targets, converged, 0.5, target_weights=weights), torch.tensor(weighted + 0.5 * bce)
    )
    ones = head.loss(values, logit, targets, converged, 0.5, huber_delta=delta, target_weights=(1.0,) * 5)
    assert torch.equal(ones, head.loss(values, logit, targets, converged, 0.5, huber_delta=delta))
