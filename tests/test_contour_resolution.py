"""Airfoil contour graphs at another resolution than the default 65 stations per surface: the resolution is an
encoder setting (graph_nodes) that travels from pretraining to training, evaluation and prediction."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil_generate import AirfoilRequest, generate
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.encoder import StackedEncoders
from phenograd.surrogate.graphs import (
    AIRFOIL_STATIONS,
    airfoil_graph_from_cst,
    airfoil_nodes_from_cst,
    contour_graph_settings,
    encoder_stations,
)
from phenograd.surrogate.model import build_ensemble, default_encoder_config, load_checkpoint
from phenograd.surrogate.predict import AirfoilSurrogate, airfoil_topology, load_surrogate

CST = torch.tensor(
    [
        [0.17, 0.22, 0.18, 0.25, 0.16, 0.21, 0.17, 0.19, -0.15, -0.1, -0.12, -0.06, -0.1, -0.02, -0.04, 0, 0, 0.0025],
        [0.13, 0.16, 0.17, 0.2, 0.16, 0.22, 0.2, 0.2, -0.13, -0.12, -0.2, -0.1, -0.25, -0.05, -0.03, 0.03, 0.05, 0.002],
    ],
    dtype=torch.float64,
)
COARSE = 17  # stations per surface: 33 nodes


def coarse_model() -> AirfoilSurrogate:
    torch.manual_seed(2)
    encoder = {**default_encoder_config("airfoil", hidden=16, n_layers=2), **contour_graph_settings(COARSE)}
    head = {"hidden": 16, "width": 32, "depth": 2, "station_y": True, "nodes": 2 * COARSE - 1}  # the coarse stations
    ens = build_ensemble("airfoil", n_members=2, encoder=encoder, head=head)
    return AirfoilSurrogate(ens.double().eval(), {"meta": {}})


def test_the_resolution_is_recorded_only_when_it_is_not_the_default():
    assert contour_graph_settings(AIRFOIL_STATIONS) == {}
    assert contour_graph_settings(33) == {"graph_nodes": 65}
    assert encoder_stations({}) == AIRFOIL_STATIONS and encoder_stations({"graph_nodes": 65}) == 33
    for nodes in (64, 15, "65", 65.0):  # even, under 9 stations, not a whole number
        with pytest.raises(InputError, match="graph_nodes"):
            encoder_stations({"graph_nodes": nodes})
    with pytest.raises(InputError, match="contour_stations must be at least 9"):
        contour_graph_settings(5)


def test_a_coarse_model_predicts_the_same_through_both_paths_with_the_same_gradients():
    model = coarse_model()
    assert model.stations == COARSE and airfoil_graph_from_cst(CST[0], COARSE).num_nodes == 2 * COARSE - 1
    slow = AirfoilSurrogate(model.ensemble, model.info, fast=False)
    x_fast, x_slow = CST.clone().requires_grad_(True), CST.clone().requires_grad_(True)
    fast_out = model.predict_airfoil(x_fast, alpha=[0.0, 4.0], reynolds=1e6)
    slow_out = slow.predict_airfoil(x_slow, alpha=[0.0, 4.0], reynolds=1e6)
    for key in ("CL", "CD", "CM", "confidence"):
        torch.testing.assert_close(fast_out[key], slow_out[key], rtol=1e-9, atol=1e-10)
    fast_out["CL"].sum().backward()
    slow_out["CL"].sum().backward()
    torch.testing.assert_close(x_fast.grad, x_slow.grad, rtol=1e-7, atol=1e-9)
    assert float(x_fast.grad.abs().max()) > 0


def test_stacked_encoders_refuse_graphs_of_another_resolution():
    model = coarse_model()
    encoders = StackedEncoders([m.encoder for m in model.ensemble.members])
    pos, x = airfoil_nodes_from_cst(CST)  # the default 129 nodes
    with pytest.raises(ValueError, match="graphs of 129 nodes on a topology of 33 nodes"):
        encoders(pos[..., :2].double(), x.double(), airfoil_topology(COARSE))


@pytest.fixture(scope="module")
def tiny_polars(tmp_path_factory):
    path = tmp_path_factory.mktemp("coarse") / "tiny.db"
    generate(path, AirfoilRequest(shapes=8, alphas=(0.0, 3.0, 6.0), seed=5, reynolds=[1e6]), workers=1, progress=False)
    return path


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "phenograd", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_pretrain_train_evaluate_and_predict_at_a_coarse_resolution(tiny_polars, tmp_path):
    encoder = tmp_path / "enc.pt"
    pre = run_cli(
        "pretrain", "--domain", "airfoil", "--data", tiny_polars, "--out", encoder, "--sampled", "4",
        "--epochs", "1", "--hidden", "16", "--layers", "2", "--contour-stations", COARSE, "--no-progress",
    )  # fmt: skip
    assert pre.returncode == 0, pre.stderr
    model_path = tmp_path / "coarse.pt"
    common = ["train", "--domain", "airfoil", "--data", tiny_polars, "--members", "1", "--epochs", "2", "--hidden",
              "16", "--layers", "2", "--batch-size", "4", "--no-progress"]  # fmt: skip
    trained = run_cli(*common, "--out", model_path, "--encoder", encoder)
    assert trained.returncode == 0, trained.stderr
    ensemble, info = load_checkpoint(model_path, "airfoil")
    assert info["encoder"]["graph_nodes"] == 2 * COARSE - 1  # from the pretrained encoder

    clash = run_cli(*common, "--out", tmp_path / "clash.pt", "--encoder", encoder, "--contour-stations", "21")
    assert clash.returncode != 0 and "trained on 17 contour stations per surface, not 21" in clash.stderr
    assert len(clash.stderr.strip().splitlines()) == 1 and not (tmp_path / "clash.pt").exists()

    scratch = tmp_path / "scratch.pt"
    assert run_cli(*common, "--out", scratch, "--contour-stations", "21").returncode == 0
    assert load_checkpoint(scratch, "airfoil")[1]["encoder"]["graph_nodes"] == 41

    evaluated = run_cli("evaluate", "--model", model_path, "--data", tiny_polars, "--split", "val", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    surrogate = load_surrogate(model_path, domain="airfoil")
    assert surrogate.stations == COARSE
    data = load_airfoil_points(tiny_polars, COARSE)
    assert {g.num_nodes for g in data.graphs} == {2 * COARSE - 1}
    assert data.at_stations(AIRFOIL_STATIONS).graphs[0].num_nodes == 2 * AIRFOIL_STATIONS - 1
    out = surrogate.predict_airfoil(CST, alpha=[2.0], reynolds=1e6)
    assert np.isfinite(out["CL"].numpy()).all()

    refit = tmp_path / "refit.pt"  # a new head on the coarse encoder that reads its 33 station y values
    new_head = ["--refit-epochs", "1", "--refit-head-width", "8", "--refit-station-y"]
    init = ["--init", model_path, "--epochs", "0", "--batch-size", "4", "--no-progress"]
    done = run_cli("train", "--domain", "airfoil", "--data", tiny_polars, "--out", refit, *init, *new_head)
    assert done.returncode == 0, done.stderr
    head = load_checkpoint(refit, "airfoil")[1]["head"]
    assert head["station_y"] is True and head["nodes"] == 2 * COARSE - 1 and head["width"] == 8
    assert np.isfinite(load_surrogate(refit, "airfoil").predict_airfoil(CST, [2.0], 1e6)["CM"].numpy()).all()


def test_the_shipped_fast_model_reads_coarse_graphs_and_agrees_with_the_default_model():
    """surrogate/models/airfoil_fast.pt (2 layers, 33 stations): its fast and graph paths agree, its encoder file
    records the same resolution, and on NACA 2412 it stays within its measured error of the default model."""
    from phenograd.datasets.airfoil import naca
    from phenograd.surrogate.model import shipped_model_path
    from phenograd.surrogate.pretrained import load_encoder_state

    path = shipped_model_path("airfoil").with_name("airfoil_fast.pt")
    fast = load_surrogate(path, domain="airfoil")
    assert fast.stations == 33 and fast.info["encoder"]["n_layers"] == 2
    encoder = load_encoder_state(path.with_name("airfoil_fast_encoder.pt"), "airfoil")
    assert encoder["config"] == dict(fast.info["encoder"])
    graph = AirfoilSurrogate(fast.ensemble, fast.info, fast=False)
    default = load_surrogate(domain="airfoil")
    contour = torch.as_tensor(naca("2412"))
    with torch.no_grad():
        a, b = fast.predict_airfoil(contour, [0.0, 4.0], 1e6), graph.predict_airfoil(contour, [0.0, 4.0], 1e6)
        ref = default.predict_airfoil(contour, [0.0, 4.0], 1e6)
    for key in ("CL", "CD", "CM"):
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
    # both models' held-out CL error is about 0.02-0.03 and CM about 0.004 (BENCHMARKS.md "Airfoil surrogate")
    assert float((a["CL"] - ref["CL"]).abs().max()) < 0.05 and float((a["CM"] - ref["CM"]).abs().max()) < 0.01
    assert 0.2 < float(a["CL"][0, 0]) < 0.35 and 0.6 < float(a["CL"][0, 1]) < 0.8  # XFOIL at 160 panels: 0.237, 0.715


def test_a_head_for_another_resolution_is_refused_at_load(tmp_path):
    """A head whose station inputs count other nodes than the encoder's graph: one line naming the mismatch."""
    from phenograd.surrogate.model import save_checkpoint

    path = tmp_path / "model.pt"
    save_checkpoint(path, coarse_model().ensemble.float(), data_hash="abc")
    payload = torch.load(path, weights_only=True)
    payload["head"]["nodes"] = 129
    torch.save(payload, path)
    with pytest.raises(InputError, match="head's 129 graph nodes are not the encoder's"):
        load_checkpoint(path, "airfoil")
