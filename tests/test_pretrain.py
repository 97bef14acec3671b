"""Self-supervised pretraining: VICReg terms, masking without leaks, symmetries, a tiny run, CLI."""

import json
import math

import numpy as np
import pytest
import torch

from phenograd.cli import main
from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import naca
from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, iter_unlabelled, write_unlabelled
from phenograd.surrogate.domain import get_domain
from phenograd.surrogate.encoder import GeometricEncoder
from phenograd.surrogate.graphs import _slope, airfoil_graph, atoms_graph
from phenograd.surrogate.masking import (
    airfoil_arc_mask,
    atom_patch_mask,
    augment_atoms,
    context_graph,
    contour_slope_visible,
)
from phenograd.surrogate.model import default_encoder_config
from phenograd.surrogate.pretrain import (
    PretrainConfig,
    PretrainingCollapsed,
    check_collapse,
    embedding_stats,
    pretrain,
)
from phenograd.surrogate.pretrain_data import load_unlabelled
from phenograd.surrogate.pretrained import load_encoder_state
from phenograd.surrogate.vicreg import covariance_loss, effective_rank, variance_loss

TINY = dict(hidden=16, layers=2, batch_size=4)


def small(data, n):
    """The first n structures of at most 30 atoms (keeps the tests fast on a busy 2-core machine)."""
    data.graphs = [g for g in data.graphs if g.num_nodes <= 30][:n]
    assert len(data.graphs) == n
    return data


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def unlabelled_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("pretrain") / "pre.db"
    write_unlabelled(path, UnlabelledRequest(n=24, seed=1, facets=("111", "100")))
    return path


@pytest.fixture(scope="module")
def slab_graph():
    atoms = next(
        a for a in iter_unlabelled(UnlabelledRequest(n=10, seed=4, facets=("111",))) if a.info["n_adsorbates"] >= 1
    )
    return atoms_graph(atoms)


# --------------------------------------------------------------------------- VICReg terms


def test_collapsed_embeddings_get_the_known_variance_penalty():
    z = torch.full((50, 8), 3.0)
    assert variance_loss(z).item() == pytest.approx(1.0 - math.sqrt(1e-4), abs=1e-6)
    assert effective_rank(z) == 0.0
    spread = torch.randn(500, 8, generator=torch.Generator().manual_seed(0)) * 2.0
    assert variance_loss(spread).item() == 0.0  # std 2 > target 1: hinge inactive
    half = torch.cat([torch.randn(500, 4, generator=torch.Generator().manual_seed(1)) * 2.0, torch.zeros(500, 4)], 1)
    assert variance_loss(half).item() == pytest.approx(0.5 * (1.0 - math.sqrt(1e-4)), abs=1e-6)


def test_decorrelated_embeddings_have_zero_covariance_penalty():
    n, d = 40, 6
    a = torch.randn(n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    q, _ = torch.linalg.qr(a - a.mean(0))  # centred, orthonormal columns
    z = q * math.sqrt(n - 1)  # covariance (normalised by n - 1 rows) = identity
    assert covariance_loss(z).item() == pytest.approx(0.0, abs=1e-20)
    assert variance_loss(z).item() == 0.0
    assert effective_rank(z) == pytest.approx(d, rel=1e-9)
    # two identical columns of unit variance: off-diagonal entries 1 and 1 -> penalty 2 / d
    twin = torch.cat([z[:, :1], z[:, :1], z[:, 2:]], dim=1)
    assert covariance_loss(twin).item() == pytest.approx(2.0 / d, rel=1e-9)
    # normalised by the rows actually present: 20 of the rows give their own (n - 1 = 19) covariance
    part = z[:20]
    c = (part - part.mean(0)).T @ (part - part.mean(0)) / 19
    expected = (c - torch.diag(torch.diagonal(c))).pow(2).sum() / d
    assert covariance_loss(part).item() == pytest.approx(expected.item(), rel=1e-9)


# --------------------------------------------------------------------------- masking


def _encoder(domain, hidden=16):
    torch.manual_seed(0)
    config = default_encoder_config(domain, hidden, 2)
    return GeometricEncoder(**config, node_inputs=get_domain(domain).node_inputs).eval()


def test_airfoil_arc_hides_nodes_from_the_context_encoder():
    g = airfoil_graph(naca("2412"))
    hidden = airfoil_arc_mask(g.num_nodes, np.random.default_rng(3))
    n_hidden = int(hidden.sum())
    assert 0.15 * g.num_nodes - 1 <= n_hidden <= 0.30 * g.num_nodes + 1
    idx = torch.nonzero(hidden).flatten()
    assert torch.all((idx[1:] - idx[:-1] == 1) | (idx[1:] - idx[:-1] == g.num_nodes - len(idx) + 1))  # one arc
    ctx = context_graph(g, hidden)
    assert ctx.num_nodes == g.num_nodes - n_hidden and int(ctx.edge_index.max()) < ctx.num_nodes
    # Change everything about the hidden nodes: the context (inputs and encoding) must not change.
    other = g.clone()
    other.pos[hidden, 1] += torch.linspace(0.05, 0.2, n_hidden)
    other.x[hidden] = torch.randn(n_hidden, other.x.shape[1])
    other_ctx = context_graph(other, hidden)
    for key in ("x", "pos", "edge_index"):
        assert torch.equal(ctx[key], other_ctx[key]), key
    enc = _encoder("airfoil")
    with torch.no_grad():
        a, b = enc(ctx)[0], enc(other_ctx)[0]
        full_a, full_b = enc(g)[0][~hidden], enc(other)[0][~hidden]
    assert torch.equal(a, b)
    assert not torch.allclose(full_a, full_b)  # the same change does reach visible nodes of the full graph
    # With nothing hidden the recomputed slope is the graph's own.
    none = torch.zeros(g.num_nodes, dtype=torch.bool)
    assert torch.allclose(contour_slope_visible(g.pos[:, 0], g.pos[:, 1], ~none), _slope(g.pos[:, 0], g.pos[:, 1]))
    assert torch.allclose(context_graph(g, none).x, g.x, atol=1e-5)  # (float32 vs the float64 original)


def test_atom_patch_hides_the_adsorbate_and_its_site_without_leaks(slab_graph):
    g = slab_graph
    hidden = atom_patch_mask(g, np.random.default_rng(0))
    assert torch.all(g.tags[hidden] >= 0) and bool((g.tags[hidden] == 2).any()) and bool((g.tags[hidden] < 2).any())
    assert hidden.sum() <= g.num_nodes // 2
    ctx = context_graph(g, hidden)
    assert ctx.num_nodes == int((~hidden).sum()) and ctx.shift.shape[0] == ctx.edge_index.shape[1]
    other = g.clone()
    other.pos[hidden] += 0.7
    other.element_probs[hidden] = torch.roll(other.element_probs[hidden], 3, dims=1)
    enc = _encoder("catalyst")
    with torch.no_grad():
        a, b = enc(ctx)[0], enc(context_graph(other, hidden))[0]
        full_a, full_b = enc(g)[0][~hidden], enc(other)[0][~hidden]
    assert torch.equal(a, b)
    assert not torch.allclose(full_a, full_b)


def test_augmentations_are_exact_symmetries_of_the_encoder(slab_graph):
    enc = _encoder("catalyst")
    with torch.no_grad():
        s, pooled = enc(slab_graph)
        for seed in range(3):
            aug = augment_atoms(slab_graph, np.random.default_rng(seed))
            assert not torch.allclose(aug.pos, slab_graph.pos)
            s2, pooled2 = enc(aug)
            assert torch.allclose(pooled2, pooled, atol=1e-4)
            assert torch.allclose(torch.sort(s2, 0).values, torch.sort(s, 0).values, atol=1e-4)


# --------------------------------------------------------------------------- runs


def test_tiny_pretraining_lowers_its_loss_and_keeps_rank(unlabelled_db, tmp_path):
    data = small(load_unlabelled("catalyst", unlabelled_db), 6)
    out = tmp_path / "enc.pt"
    report = pretrain(
        data, out, PretrainConfig(objective="both", epochs=5, lr=2e-3, **TINY), progress=False, device="cpu"
    )
    h = report["history"]
    assert [r["epoch"] for r in h] == list(range(6))
    assert h[-1]["total"] < h[1]["total"] and h[-1]["pred"] < h[1]["pred"] and h[-1]["denoise"] < h[1]["denoise"]
    assert h[-1]["node_rank"] > 3.0 and h[-1]["node_std_mean"] > 0.1
    init = load_encoder_state(out, "catalyst")
    assert init["config"]["hidden"] == 16
    with pytest.raises(InputError, match="a catalyst encoder where the airfoil"):
        load_encoder_state(out, "airfoil")
    assert not out.with_name("enc.pt.partial").exists()


def test_a_killed_run_resumes_to_the_same_encoder(unlabelled_db, tmp_path):
    data = small(load_unlabelled("catalyst", unlabelled_db), 4)
    cfg = PretrainConfig(objective="both", epochs=2, **TINY)
    pretrain(data, tmp_path / "whole.pt", cfg, progress=False, device="cpu")

    def kill_after_1(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain(data, tmp_path / "resumed.pt", cfg, progress=False, device="cpu", log=kill_after_1)
    assert (tmp_path / "resumed.pt.partial").exists() and not (tmp_path / "resumed.pt").exists()
    pretrain(data, tmp_path / "resumed.pt", cfg, progress=False, device="cpu")
    a = load_encoder_state(tmp_path / "whole.pt", "catalyst")["state"]
    b = load_encoder_state(tmp_path / "resumed.pt", "catalyst")["state"]
    # equal up to float summation order (a run with other random draws differs by far more)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_collapse_detector_stops_a_collapsed_encoder(slab_graph):
    enc = _encoder("catalyst")
    with torch.no_grad():
        for p in enc.parameters():
            p.zero_()  # every node embedding identical: full collapse
    stats = embedding_stats(enc, [slab_graph, slab_graph])
    assert stats["node_rank"] == 0.0
    with pytest.raises(PretrainingCollapsed, match="collapsed at epoch 4: effective rank 0.00"):
        check_collapse(stats, PretrainConfig(), 4)
    healthy = embedding_stats(_encoder("catalyst"), [slab_graph])
    check_collapse(healthy, PretrainConfig(), 1)


def test_airfoil_pretraining_from_contours_and_sampled_shapes(tmp_path):
    from phenograd.surrogate.pretrain_data import write_airfoil_contours

    npz = write_airfoil_contours(tmp_path / "foils.npz", 4, seed=1)
    data = load_unlabelled("airfoil", npz, n_sampled=2, seed=0)
    assert data.counts == {"stored": 4, "sampled": 2} and all(g.num_nodes == 129 for g in data.graphs)
    report = pretrain(
        data, tmp_path / "foil.pt", PretrainConfig(objective="both", epochs=2, **TINY), progress=False, device="cpu"
    )
    assert np.isfinite(report["final"]["total"])
    assert load_encoder_state(tmp_path / "foil.pt", "airfoil")["config"]["in_features"] == 4


def test_cli_pretrain_and_its_bad_inputs(unlabelled_db, tmp_path, capsys):
    out = tmp_path / "cli.pt"
    log = tmp_path / "log.jsonl"
    args = [
        "pretrain",
        "--domain",
        "catalyst",
        "--data",
        str(unlabelled_db),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--layers",
        "2",
        "--limit",
        "4",
        "--no-progress",
        "--log",
        str(log),
    ]
    assert main(args) == 0
    assert "encoder pretrained on 4 structures" in capsys.readouterr().out
    assert json.loads(log.read_text().splitlines()[-1])["epoch"] == 1
    assert load_encoder_state(out, "catalyst")["config"]["hidden"] == 16

    def fails(argv, message):
        target = tmp_path / "bad.pt"
        assert main(argv + ["--out", str(target), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, err
        assert not target.exists()

    fails(["pretrain", "--domain", "catalyst", "--data", str(tmp_path / "missing.db")], "no such data file")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all")
    fails(["pretrain", "--domain", "catalyst", "--data", str(junk)], "bad header")
    fails(["pretrain", "--domain", "airfoil", "--data", str(unlabelled_db)], "not a phenograd airfoil dataset")
    empty = tmp_path / "empty.db"
    write_unlabelled(empty, UnlabelledRequest(n=0))
    fails(["pretrain", "--domain", "catalyst", "--data", str(empty)], "no unlabelled structures")
    fails(
        ["pretrain", "--domain", "catalyst", "--data", str(unlabelled_db), "--epochs", "0"],
        "--epochs must be at least 1",
    )
    fails(["pretrain", "--domain", "catalyst", "--data", str(unlabelled_db), "--geometry", "relaxed"], "never relaxed")


@pytest.mark.slow
def test_labelled_file_pretrains_without_held_out_rows_and_fine_tunes(small_labelled_catalyst_db, tmp_path):
    from ase.db import connect

    from phenograd.surrogate.model import load_checkpoint
    from phenograd.surrogate.train_catalyst import train_catalyst
    from phenograd.surrogate.trainer import TrainConfig

    db = small_labelled_catalyst_db
    rows = list(connect(str(db)).select(kind="adslab"))
    usable = [r for r in rows if r.split not in ("test", "ood") and not {"Au", "Ni"} <= set(r.symbols)]
    assert len(usable) < len(rows)  # the seed gives held-out rows, which must be skipped
    data = load_unlabelled("catalyst", db)
    assert len(data.graphs) == len(usable) and data.counts["held_out_skipped"] == len(rows) - len(usable)
    # Relaxed geometry: the same structures at their stored relaxed positions (a different data hash).
    relaxed = load_unlabelled("catalyst", db, geometry="relaxed")
    ok = [r for r in usable if r.status == "ok"]
    assert len(relaxed.graphs) == len(ok) and relaxed.data_hash != data.data_hash
    for g, r in zip(relaxed.graphs, ok):
        assert torch.allclose(g.pos, torch.as_tensor(r.data["relaxed_positions"], dtype=g.pos.dtype))
    assert any(not torch.allclose(g.pos, h.pos) for g, h in zip(relaxed.graphs, data.graphs))
    enc = tmp_path / "enc.pt"
    pretrain(data, enc, PretrainConfig(objective="jepa", epochs=1, **TINY), progress=False, device="cpu")
    init = load_encoder_state(enc, "catalyst")
    out = tmp_path / "model.pt"
    cfg = TrainConfig(members=1, epochs=2, patience=2, hidden=16, layers=2, batch_size=4)
    train_catalyst(db, out, cfg, progress=False, device="cpu", init_encoder=init, freeze_encoder=True)
    model, info = load_checkpoint(out, "catalyst")
    assert info["meta"]["pretrained_encoder"] and info["meta"]["frozen_encoder"]
    state = model.members[0].encoder.state_dict()
    assert all(torch.equal(state[k], init["state"][k]) for k in state)  # frozen: exactly the pretrained weights
    # `--encoder shipped`: the pretrained encoder inside the package starts (here: is) every member's encoder.
    shipped = tmp_path / "from_shipped.pt"
    assert (
        main(
            [
                "train",
                "--domain",
                "catalyst",
                "--data",
                str(db),
                "--out",
                str(shipped),
                "--encoder",
                "shipped",
                "--freeze-encoder",
                "--members",
                "1",
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    model, info = load_checkpoint(shipped, "catalyst")
    ref = load_encoder_state("shipped", "catalyst")
    state = model.members[0].encoder.state_dict()
    assert info["meta"]["pretrained_encoder"] and all(torch.equal(state[k], ref["state"][k]) for k in state)


@pytest.mark.parametrize("domain", ["airfoil", "catalyst"])
def test_shipped_encoders_fit_the_shipped_surrogates(domain):
    """The shipped encoders have the shipped surrogates' architectures, so `train --encoder shipped` starts either
    model's encoder; the catalyst one is also the default catalyst architecture (hidden 32, what the label-efficiency
    benchmark measured), and the shipped catalyst model (CHGNet labels) was trained from scratch."""
    from phenograd.surrogate.model import default_encoder_config, load_checkpoint, shipped_model_path
    from phenograd.surrogate.pretrain import default_hidden
    from phenograd.surrogate.pretrained import shipped_encoder_path

    init = load_encoder_state("shipped", domain)
    _, info = load_checkpoint(shipped_model_path(domain), domain)
    assert init["config"] == dict(info["encoder"])
    if domain == "catalyst":
        assert init["config"] == default_encoder_config(domain, default_hidden(domain))
        assert info["encoder"]["hidden"] == 32 and not info["meta"]["pretrained_encoder"]
    meta = torch.load(shipped_encoder_path(domain), weights_only=True)["meta"]
    assert meta["objective"] in ("jepa", "denoise", "both") and meta["final"]["node_rank"] > 2.0
    with pytest.raises(InputError, match="unknown domain"):
        shipped_encoder_path("wing")
