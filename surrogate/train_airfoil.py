"""Train an airfoil surrogate ensemble on a polar dataset, resumably.

Each member is trained from its own seed on the "train" shapes with AdamW,
early stopping on the "val" loss, and the best weights are kept. Loss per
point: mean squared error of the normalised [CL, ln CD, CM, Top_Xtr, Bot_Xtr]
where XFOIL converged, plus conv_weight x binary cross-entropy of the
convergence logit on every point. After every epoch the run's state (member,
epoch, weights, optimiser, best weights, RNG) is written next to the output as
``<out>.partial``; a killed run started again with the same command continues
from there. The finished ensemble is one checkpoint file (see model.py).
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch

from phenograd.simulators.errors import InputError

from .airfoil_data import AirfoilPoints, load_airfoil_points
from .model import Ensemble, Surrogate, default_encoder_config, save_checkpoint


@dataclass
class AirfoilTrainConfig:
    members: int = 3
    epochs: int = 200
    patience: int = 20
    batch_shapes: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-5
    hidden: int = 64
    layers: int = 3
    conv_weight: float = 0.2
    seed: int = 0


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _batch_loss(model: Surrogate, data: AirfoilPoints, shapes: np.ndarray, conv_weight: float,
                device: torch.device) -> torch.Tensor:
    graphs = Batch.from_data_list([data.graphs[i] for i in shapes]).to(device)
    local = {int(s): k for k, s in enumerate(shapes)}
    mask = torch.isin(data.point_shape, torch.as_tensor(shapes))
    point_graph = torch.tensor([local[int(s)] for s in data.point_shape[mask]], dtype=torch.long, device=device)
    values, logit = model(graphs, point_graph, data.cond[mask].to(device))
    targets = data.targets[mask].to(device)
    converged = data.converged[mask].to(device)
    ok = converged & torch.all(torch.isfinite(targets), dim=1)
    err = model.head.normalised(values[ok]) - model.head.normalised(targets[ok])
    regression = torch.mean(err**2) if ok.any() else values.sum() * 0.0
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, converged.float())
    return regression + conv_weight * bce


def _evaluate(model: Surrogate, data: AirfoilPoints, shapes: np.ndarray, cfg: AirfoilTrainConfig, device) -> float:
    model.eval()
    with torch.no_grad():
        losses = [
            _batch_loss(model, data, shapes[i : i + cfg.batch_shapes], cfg.conv_weight, device).item()
            for i in range(0, len(shapes), cfg.batch_shapes)
        ]
    model.train()
    return float(np.mean(losses)) if losses else float("nan")


def target_normalisation(data: AirfoilPoints, shapes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (5,) of converged targets over the given shapes."""
    mask = torch.isin(data.point_shape, torch.as_tensor(shapes)) & data.converged
    t = data.targets[mask]
    t = t[torch.all(torch.isfinite(t), dim=1)]
    if len(t) < 2:
        raise InputError("too few converged points in the training split to train on")
    return t.mean(0), t.std(0)


def train_airfoil(data_path, out, cfg: AirfoilTrainConfig | None = None, progress: bool = True,
                  device: str | None = None) -> dict:
    """Train (or resume training) an ensemble; returns a report with per-member val losses."""
    cfg = cfg or AirfoilTrainConfig()
    out = Path(out)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = load_airfoil_points(data_path)
    train, val = data.shapes_in("train"), data.shapes_in("val")
    if len(train) == 0:
        raise InputError(f"{data_path}: no training shapes (held-out test shapes are never trained on)")
    if len(val) == 0:  # tiny datasets: hold out a few training shapes for early stopping
        rng = np.random.default_rng(cfg.seed)
        perm = rng.permutation(train)
        n_val = max(1, len(train) // 8)
        val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    mean, std = target_normalisation(data, train)
    encoder = default_encoder_config("airfoil", cfg.hidden, cfg.layers)
    partial = out.with_name(out.name + ".partial")
    state = torch.load(partial, weights_only=False) if partial.exists() else None
    if state is not None and (state["config"] != asdict(cfg) or state["data_hash"] != data.data_hash):
        raise InputError(f"{partial}: an unfinished run with other settings or data; delete it to start over")

    done_members = state["done"] if state else []
    report = {"members": [], "train_shapes": int(len(train)), "val_shapes": int(len(val)),
              "points": int(len(data.point_shape)), "data_hash": data.data_hash}
    iterator = None
    for k in range(cfg.members):
        if k < len(done_members):
            continue
        _seed_everything(cfg.seed * 1000 + k)
        model = Surrogate("airfoil", encoder, {"hidden": cfg.hidden}).to(dev)
        model.head.set_normalisation(mean.to(dev), std.to(dev))
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        epoch, best, best_state, bad = 0, float("inf"), None, 0
        if state is not None and state.get("member") == k and "model" in state:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            epoch, best, best_state, bad = state["epoch"], state["best"], state["best_state"], state["bad"]
            torch.set_rng_state(state["rng"])
            np.random.set_state(state["np_rng"])
        if progress:
            from tqdm import tqdm

            iterator = tqdm(total=cfg.epochs, initial=epoch, desc=f"member {k + 1}/{cfg.members}", unit="epoch")
        rng = np.random.default_rng(cfg.seed * 1000 + k + epoch)
        while epoch < cfg.epochs and bad < cfg.patience:
            order = rng.permutation(train)
            for i in range(0, len(order), cfg.batch_shapes):
                loss = _batch_loss(model, data, order[i : i + cfg.batch_shapes], cfg.conv_weight, dev)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
            sched.step()
            epoch += 1
            val_loss = _evaluate(model, data, val, cfg, dev)
            if val_loss < best:
                best, bad = val_loss, 0
                best_state = {n: t.detach().clone() for n, t in model.state_dict().items()}
            else:
                bad += 1
            _save_partial(partial, dict(
                config=asdict(cfg), data_hash=data.data_hash, done=done_members, member=k, epoch=epoch,
                model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(), best=best,
                best_state=best_state, bad=bad, rng=torch.get_rng_state(), np_rng=np.random.get_state(),
            ))
            if iterator is not None:
                iterator.update(1)
                iterator.set_postfix(val=f"{val_loss:.4f}", best=f"{best:.4f}", refresh=False)
        if iterator is not None:
            iterator.close()
        if best_state is None:
            raise InputError(f"training member {k + 1} diverged: the validation loss was never finite")
        done_members = done_members + [{"state": best_state, "best_val": best, "epochs": epoch}]
        state = None
        _save_partial(partial, dict(config=asdict(cfg), data_hash=data.data_hash, done=done_members, member=k + 1))

    members = []
    for m in done_members:
        s = Surrogate("airfoil", encoder, {"hidden": cfg.hidden})
        s.load_state_dict(m["state"])
        members.append(s)
        report["members"].append({"best_val_loss": m["best_val"], "epochs": m["epochs"]})
    save_checkpoint(out, Ensemble(members), data_hash=data.data_hash, meta={"config": asdict(cfg), **report})
    partial.unlink(missing_ok=True)
    return report


def _save_partial(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
