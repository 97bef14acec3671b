"""A third domain in a few lines (surrogate/domain.py): rings of points and their radius.

It is trained, saved, loaded, evaluated, calibrated and used through the same trainer, checkpoint and
CLI code as airfoils and catalysts, touching no file of either; and no shared module compares a domain's
name (the registry is how shared code finds what differs).
"""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data

from phenograd.cli import main
from phenograd.core.errors import InputError
from phenograd.surrogate.domain import Domain, PretrainView, domain_names, get_domain, register, unregister
from phenograd.surrogate.encoder import graph_x
from phenograd.surrogate.evaluate import calibration
from phenograd.surrogate.model import load_checkpoint, save_checkpoint
from phenograd.surrogate.predict import load_surrogate
from phenograd.surrogate.trainer import TrainConfig, train_ensemble

N_POINTS = 12


# --------------------------------------------------------------------------- the toy domain


def ring_graph(radius: float, wobble: float = 0.0) -> Data:
    """N_POINTS points on a circle of `radius`, each joined to its two neighbours."""
    phi = torch.arange(N_POINTS) * 2 * np.pi / N_POINTS
    r = radius * (1 + wobble * torch.cos(3 * phi))
    pos = torch.stack([r * torch.cos(phi), r * torch.sin(phi), torch.zeros_like(phi)], 1).float()
    i = torch.arange(N_POINTS)
    edges = torch.cat([torch.stack([i, (i + 1) % N_POINTS]), torch.stack([(i + 1) % N_POINTS, i])], 1)
    return Data(x=torch.ones(N_POINTS, 1), pos=pos, edge_index=edges, num_nodes=N_POINTS)


class ScalarHead(nn.Module):
    """Pooled embedding -> one number, with the target normalisation in buffers (saved with the weights)."""

    def __init__(self, hidden: int, width: int = 16, depth: int = 2):
        super().__init__()
        self.config = dict(hidden=hidden, width=width, depth=depth)
        self.net = nn.Sequential(nn.Linear(hidden, width), nn.SiLU(), nn.Linear(width, 1))
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    def forward(self, pooled):
        return self.net(pooled).squeeze(-1) * self.std + self.mean


class Rings:
    """A dataset file (.npz): radii, wobbles, splits; the label is the radius."""

    def __init__(self, path):
        with np.load(path) as z:
            self.radius, self.wobble, self.split = z["radius"], z["wobble"], z["split"]
        self.graphs = [ring_graph(r, w) for r, w in zip(self.radius, self.wobble)]
        self.y = torch.as_tensor(self.radius, dtype=torch.float32)
        self.data_hash = str(hash(self.radius.tobytes()))

    def items_in(self, split):
        return np.nonzero(self.split == split)[0]


class RingTask:
    domain = "ring"

    def __init__(self, data: Rings):
        self.data, self.data_hash = data, data.data_hash
        self.train, self.val = data.items_in("train"), data.items_in("val")

    def encoder_config(self, cfg):
        return get_domain("ring").encoder_config(cfg.hidden, cfg.layers)

    def head_config(self, cfg):
        return {"width": 16, "depth": 2}

    def init_member(self, model):
        model.head.mean.fill_(float(self.data.y[self.train].mean()))
        model.head.std.fill_(float(self.data.y[self.train].std()))

    def loss(self, model, items, cfg, device):
        pred = model(Batch.from_data_list([self.data.graphs[i] for i in items]).to(device))
        return torch.mean(((pred - self.data.y[torch.as_tensor(items)].to(device)) / model.head.std) ** 2)

    def refit_head(self, model, cfg, device, seed):
        raise InputError("refit_epochs: rings have no refit stage")

    def report(self):
        return {"train_rings": len(self.train), "val_rings": len(self.val)}


class RingPredictor:
    def __init__(self, ensemble, info):
        self.ensemble, self.info = ensemble, info

    def predict(self, radii):
        with torch.no_grad():
            out = self.ensemble(Batch.from_data_list([get_domain("ring").graph(r) for r in radii]))
        return {"radius": out.mean(0), "std": out.std(0)}


def _members(ensemble, data, items):
    with torch.no_grad():
        return ensemble(Batch.from_data_list([data.graphs[i] for i in items]))


class RingDomain:
    name = "ring"
    graph_version = 1
    default_hidden = 8
    head_options = ()
    train_options = ()
    item_noun = "rings"
    pretraining = None
    fine_tune = None
    node_inputs = staticmethod(graph_x)

    def graph(self, radius, wobble=0.0):
        return ring_graph(radius, wobble)

    def encoder_config(self, hidden=8, n_layers=1):
        return dict(in_features=1, hidden=hidden, n_layers=n_layers, n_rbf=4, cutoff=2.5, neighbours=2.0)

    def head(self, config):
        return ScalarHead(**config)

    def forward(self, member, graphs):
        return member.head(member.encoder(graphs)[1])

    def train_defaults(self, **overrides):
        return TrainConfig(
            **{"members": 2, "epochs": 2, "patience": 2, "batch_size": 8, "hidden": 8, "layers": 1, **overrides}
        )

    def task(self, data_path, seed=0):
        return RingTask(Rings(data_path))

    def load_data(self, data_path, encoder):
        return Rings(data_path)

    def items(self, data, split):
        return data.items_in(split)

    def errors(self, ensemble, data, items):
        preds = _members(ensemble, data, items)
        return {"radius": ((preds.mean(0) - data.y[torch.as_tensor(items)]).numpy(), preds.std(0).numpy())}

    def evaluate(self, ensemble, data, split, scales):
        items = data.items_in(split)
        preds = _members(ensemble, data, items)
        true, mean = data.y[torch.as_tensor(items)].numpy(), preds.mean(0).numpy()
        std = preds.std(0).numpy() * scales.get("radius", 1.0)
        metrics = {
            "split": split,
            "n": len(items),
            "mae": float(np.mean(np.abs(mean - true))),
            **calibration(mean - true, std),
        }
        return metrics, {"radius": (true, mean)}, {}

    def format_metrics(self, m):
        return f"rings [{m['split']}]: MAE {m['mae']:.4f} over {m['n']}"

    def predictor(self, ensemble, info):
        return RingPredictor(ensemble, info)

    def add_cli_options(self, command, parser):
        pass


# --------------------------------------------------------------------------- tests


@pytest.fixture
def ring_domain():
    register(RingDomain())
    yield
    unregister("ring")


@pytest.fixture
def rings(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    path = tmp_path / "rings.npz"
    np.savez(
        path,
        radius=rng.uniform(0.5, 2.0, n),
        wobble=rng.uniform(0.0, 0.2, n),
        split=np.array(["train"] * 28 + ["val"] * 6 + ["test"] * 6),
    )
    return path


def test_a_toy_domain_trains_saves_loads_and_predicts_through_the_shared_paths(ring_domain, rings, tmp_path, capsys):
    assert "ring" in domain_names()
    model = tmp_path / "ring.pt"
    assert (
        main(
            ["train", "--domain", "ring", "--data", str(rings), "--out", str(model), "--members", "2", "--no-progress"]
        )
        == 0
    )
    assert "2 members trained on 28 items (6 for validation)" in capsys.readouterr().out

    ensemble, info = load_checkpoint(model, domain="ring")
    assert info["domain"] == "ring" and len(ensemble.members) == 2 and set(info["meta"]["std_scale"]) == {"radius"}
    predictor = load_surrogate(model)
    assert isinstance(predictor, RingPredictor)
    out = predictor.predict([0.7, 1.9])
    assert out["radius"].shape == (2,) and torch.all(torch.isfinite(out["radius"]))

    # The same weights, saved again and loaded, predict the same numbers.
    save_checkpoint(tmp_path / "again.pt", ensemble, data_hash=info["data_hash"], meta=info["meta"])
    assert torch.equal(
        load_surrogate(tmp_path / "again.pt", domain="ring").predict([0.7, 1.9])["radius"], out["radius"]
    )

    assert main(["evaluate", "--model", str(model), "--data", str(rings), "--split", "test"]) == 0
    assert "rings [test]: MAE" in capsys.readouterr().out
    assert main(["calibrate", "--model", str(model), "--data", str(rings), "--out", str(tmp_path / "cal.pt")]) == 0
    assert load_checkpoint(tmp_path / "cal.pt")[1]["meta"]["std_scale_fit"]["split"] == "val"

    # A checkpoint of another domain is refused by name, and a resumed run goes through the trainer's partial file.
    with pytest.raises(InputError, match="a ring model where the airfoil domain's is needed"):
        load_surrogate(model, domain="airfoil")
    cfg = RingDomain().train_defaults(members=1, epochs=1)
    report = train_ensemble(RingTask(Rings(rings)), tmp_path / "one.pt", cfg, progress=False)
    assert report["train_rings"] == 28 and len(report["members"]) == 1


def test_calibrate_keeps_the_first_members_as_training_fewer_would(ring_domain, rings, tmp_path, capsys):
    """`calibrate --keep-members K` writes the first K members, which are the ensemble `train --members K` with the
    same seed makes (member k's seed does not depend on the ensemble's size), with their own std scales."""
    train = ["train", "--domain", "ring", "--data", str(rings), "--no-progress", "--seed", "3"]
    three, two = tmp_path / "three.pt", tmp_path / "two.pt"
    assert main([*train, "--out", str(three), "--members", "3"]) == 0
    assert main([*train, "--out", str(two), "--members", "2"]) == 0
    kept = tmp_path / "kept.pt"
    capsys.readouterr()
    assert (
        main(["calibrate", "--model", str(three), "--data", str(rings), "--keep-members", "2", "--out", str(kept)]) == 0
    )
    assert f"{kept}: 2 members, std scales fitted on 6 val items" in capsys.readouterr().out
    (a, info_a), (b, info_b) = load_checkpoint(kept), load_checkpoint(two)
    assert len(a.members) == 2 and len(load_checkpoint(three)[0].members) == 3
    for m, n in zip(a.members, b.members):
        assert all(torch.equal(x, y) for x, y in zip(m.state_dict().values(), n.state_dict().values()))
    assert info_a["meta"]["std_scale"] == pytest.approx(info_b["meta"]["std_scale"], rel=1e-6)
    assert info_a["meta"]["config"]["members"] == 2 and len(info_a["meta"]["members"]) == 2
    assert info_a["meta"]["member_subset"] == {"kept": 2, "of": 3, "source_data_hash": info_a["data_hash"]}
    for args, message in [
        (["--keep-members", "1", "--out", str(tmp_path / "bad.pt")], "between 2 and the model's 3 members, got 1"),
        (["--keep-members", "4", "--out", str(tmp_path / "bad.pt")], "between 2 and the model's 3 members, got 4"),
        (["--keep-members", "2"], "--keep-members needs --out"),
        (["--keep-members", "2", "--out", str(three)], "--keep-members needs --out"),
    ]:
        assert main(["calibrate", "--model", str(three), "--data", str(rings), *args]) != 0
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "bad.pt").exists() and len(load_checkpoint(three)[0].members) == 3


def test_an_unregistered_domain_is_refused_by_name(rings, tmp_path, capsys):
    assert "ring" not in domain_names()
    with pytest.raises(InputError, match="unknown domain 'ring'; use airfoil or catalyst"):
        get_domain("ring")
    assert main(["train", "--domain", "ring", "--data", str(rings), "--out", str(tmp_path / "m.pt")]) == 2
    assert "invalid choice: 'ring'" in capsys.readouterr().err


def test_a_domain_checkpoint_needs_its_domain_registered(ring_domain, rings, tmp_path):
    model = tmp_path / "ring.pt"
    train_ensemble(RingTask(Rings(rings)), model, RingDomain().train_defaults(members=1, epochs=1), progress=False)
    unregister("ring")
    with pytest.raises(InputError, match="unknown model domain ring; this phenograd knows airfoil, catalyst"):
        load_checkpoint(model)
    register(RingDomain())


def _protocol_members(protocol) -> set[str]:
    return {n for n in vars(protocol) if not n.startswith("_")} | set(protocol.__annotations__)


def test_every_domain_fills_in_the_protocol(ring_domain):
    for name in domain_names():
        domain = get_domain(name)
        assert not [m for m in _protocol_members(Domain) if not hasattr(domain, m)], name
        if domain.pretraining is not None:
            assert not [m for m in _protocol_members(PretrainView) if not hasattr(domain.pretraining, m)], name


# Files that belong to one domain (its own code may name it) and names that are not domains.
DOMAIN_OWNED = re.compile(r"(airfoil|catalyst|openfoam|xfoil|screen|composition|frames|adsorption)[\w]*\.py$")
COMPARISON = re.compile(r"""(==|!=|\bin)\s*[(\[{]?\s*["'](airfoil|catalyst)["']|["'](airfoil|catalyst)["']\s*(==|!=)""")


def test_shared_code_never_compares_a_domain_name():
    root = Path(__file__).resolve().parents[1]
    found = []
    for layer in ("simulators", "datasets", "surrogate", "optimize", "phenograd", "core"):
        for path in sorted((root / layer).glob("**/*.py")):
            if DOMAIN_OWNED.search(path.name):
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if COMPARISON.search(line):
                    found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not found, "\n".join(found)


def test_configs_validate_themselves_and_name_parameters():
    with pytest.raises(InputError, match="head_width is for the airfoil domain only, not catalyst") as err:
        TrainConfig(head_width=64).validate("catalyst")
    assert err.value.parameter == ("head_width",)
    with pytest.raises(InputError, match="^batch_size must be at least 1, got 0$"):
        TrainConfig(batch_size=0).validate()
    TrainConfig(epochs=0, refit_epochs=5).validate("airfoil", from_model=True)  # refit the heads of a model only


def test_the_cli_writes_parameters_as_its_options(capsys):
    from phenograd.cli import build_parser
    from phenograd.cli_options import as_flags

    parser = build_parser()
    exc = InputError(
        "refit_head_width must be 0 or more and needs refit_epochs, got 3",
        parameter=("refit_head_width", "refit_epochs"),
    )
    assert as_flags(exc, parser) == "--refit-head-width must be 0 or more and needs --refit-epochs, got 3"
    assert (
        as_flags(InputError("out_dir runs/out_dir: exists", parameter="out_dir"), parser)
        == "--out runs/out_dir: exists"
    )  # a path is left as it is
    assert as_flags(InputError("top must be at least 1"), parser) == "top must be at least 1"  # names no parameter
