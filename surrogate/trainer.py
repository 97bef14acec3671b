"""Resumable deep-ensemble training, shared by every domain.

Each member is trained from its own seed on the task's training items with
AdamW and a cosine learning-rate schedule, early-stopped on the validation
loss; its best weights are kept. After every epoch the run's state (member,
epoch, weights, optimiser, best weights, RNG) is written atomically next to the
output as ``<out>.partial``; the same command run again after a kill continues
from the last finished epoch. The finished ensemble is one checkpoint file
(see model.py) and the partial file is removed. The ensemble std is then
calibrated: per target, the factor k for which +-k*std holds 68.27 % of the validation
errors (evaluate.std_scale) is stored in the checkpoint's meta["std_scale"].

A domain supplies a :class:`TrainTask`: which items are train and validation,
the encoder and head configuration, the head's target normalisation and the
loss of a batch of items.

Multi-process (``torchrun --nproc_per_node N``; see distributed.py): every
process builds the same member from the same seed and wraps it in
DistributedDataParallel; each epoch's shuffled order is split between the
processes as a DistributedSampler splits it (rank r takes items r::N, padded by
repeating so all get the same number of batches). batch_size stays per process,
so one optimiser step sees N x batch_size items: the same items a single process
with batch size N x batch_size would see in that step, with the gradients of the
N shares averaged. The validation batches are shared out and their losses
all-reduced, so every process takes the same early-stopping decisions. Only rank
0 writes ``<out>.partial`` and ``<out>`` (the others wait for it) and shows
progress; on a relaunch every process resumes from the partial file. Checkpoints
hold the plain (unwrapped) weights, interchangeable with single-process ones.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from phenograd.core.atomic import remove_stale_temps
from phenograd.core.errors import InputError
from phenograd.core.runs import load_partial

from . import distributed
from .domain import domain_names, get_domain
from .elements import union_elements
from .evaluate import STD_SCALE_RULE, fit_std_scales
from .model import Ensemble, Surrogate, save_checkpoint, save_torch_atomic


@dataclass
class TrainConfig:
    """Training settings. batch_size counts shapes (airfoil: every point of a shape's
    polars comes along) or structures (catalyst). conv_weight weighs the airfoil
    convergence logit's cross-entropy against the regression loss. stations: the airfoil
    head's station-readout channels per node (0: mean pooling only; see heads.AirfoilHead);
    station_y: the airfoil head also takes the raw station y values. head_width: the airfoil head MLP's width.
    huber_delta: airfoil regression loss, 0 for the squared error, else the Huber loss of the normalised
    errors with this delta (heads.AirfoilHead.loss; 0.03 scored best of 0, 0.3, 0.1, 0.03:
    surrogate/models/README.md, "Measurements behind the defaults").
    target_weights: airfoil: the weight of each target's errors (CL, ln CD, CM, Top_Xtr, Bot_Xtr) in the regression
    loss; all 1 by default (what a CM-heavier choice measured: surrogate/models/README.md, "Measurements behind the
    defaults").
    readout: the catalyst head's pooling, "all" atoms or the "adsorbate" (heads.AdsorptionHead).
    reference: the catalyst head's baseline, "none" or "elements" (a least-squares energy per adsorbate atom of
    each element, fitted on the training labels and added to the network's output; heads.REFERENCES).
    refit_epochs: airfoil: after each member's end-to-end training, train its head alone on the frozen
    encoder's features with point batches across many shapes for up to this many epochs (0: no refit;
    see head_refit.py).
    refit_head_width: airfoil, with refit_epochs: 0 refines the head trained end to end; W > 0 replaces it by a new
    head of width W (same depth and inputs, same target normalisation, initialised from the refit's seed) trained
    from scratch on the frozen features (what it measured: surrogate/models/README.md, "Measurements behind the
    defaults").
    refit_station_y: airfoil, with refit_head_width: the new head also takes the raw station y values (as
    station_y does for the end-to-end head, which stays without them).
    refit_target_weights: airfoil, with refit_epochs: target_weights for the refit stage alone (empty: the same as
    target_weights), so that the heads can weigh CM more without the end-to-end stage doing so (what each
    measured: surrogate/models/README.md, "Measurements behind the defaults").
    vectors: airfoil: the encoder keeps PaiNN's vector channels (True) or is the invariant special case (False;
    encoder.GeometricEncoder).
    contour_stations: airfoil: chord stations per surface of the contour graph (2 x stations - 1 nodes); 0: the
    default (graphs.AIRFOIL_STATIONS, or the pretrained encoder's). The encoder's cost is proportional to it.
    train_fraction: train on this share of the training items (shapes or structures), the first of a permutation
    seeded by ``seed`` (so the subsets of one seed are nested); validation and held-out items are unchanged. For
    data-scaling curves.
    encoder_lr_scale: the encoder's learning rate is lr times this (the head's is lr): below 1 a pretrained encoder
    is fine-tuned more gently than the freshly initialised head, so that a few labels do not overwrite it."""

    members: int = 3
    epochs: int = 200
    patience: int = 20
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-5
    hidden: int = 64
    layers: int = 3
    conv_weight: float = 0.2
    huber_delta: float = 0.0
    target_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    stations: int = 0
    station_y: bool = False
    head_width: int = 128
    readout: str = "all"
    reference: str = "none"
    refit_epochs: int = 0
    refit_head_width: int = 0
    refit_station_y: bool = False
    refit_target_weights: tuple[float, ...] = ()
    vectors: bool = True
    contour_stations: int = 0
    train_fraction: float = 1.0
    encoder_lr_scale: float = 1.0
    seed: int = 0

    def __post_init__(self):
        # a command line gives lists; checkpoints keep tuples
        self.target_weights = tuple(self.target_weights)
        self.refit_target_weights = tuple(self.refit_target_weights)

    def validate(self, domain: str | None = None, from_model: bool = False) -> None:
        """InputError naming the first setting out of range. With a domain, also for a setting only another
        domain's training takes (Domain.train_options) set away from its default. from_model: training starts
        from a trained model, where epochs 0 with refit_epochs only refits its heads."""
        for name in ("members", "epochs", "patience", "batch_size", "hidden", "layers"):
            if getattr(self, name) < 1 and not (
                name == "epochs" and self.epochs == 0 and from_model and self.refit_epochs > 0
            ):
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}", parameter=name)
        if not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr}", parameter="lr")
        if not 0 < self.encoder_lr_scale <= 1:
            raise InputError(
                f"encoder_lr_scale must be in (0, 1], got {self.encoder_lr_scale}", parameter="encoder_lr_scale"
            )
        if not 0 < self.train_fraction <= 1:
            raise InputError(f"train_fraction must be in (0, 1], got {self.train_fraction}", parameter="train_fraction")
        for name in ("stations", "refit_epochs", "contour_stations"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be 0 or more, got {getattr(self, name)}", parameter=name)
        if self.refit_head_width < 0 or (self.refit_head_width and not self.refit_epochs):
            raise InputError(
                f"refit_head_width must be 0 or more and needs refit_epochs, got {self.refit_head_width}",
                parameter=("refit_head_width", "refit_epochs"),
            )
        if self.refit_station_y and not self.refit_head_width:
            raise InputError(
                "refit_station_y needs a new head: set refit_head_width",
                parameter=("refit_station_y", "refit_head_width"),
            )
        if self.head_width < 1:
            raise InputError(f"head_width must be at least 1, got {self.head_width}", parameter="head_width")
        if self.reference not in ("none", "elements"):
            raise InputError(f"reference must be none or elements, got {self.reference!r}", parameter="reference")
        if not (0 <= self.huber_delta < math.inf):
            raise InputError(f"huber_delta must be 0 or more, got {self.huber_delta}", parameter="huber_delta")
        for name in ("target_weights", "refit_target_weights"):
            weights = getattr(self, name)
            if name == "refit_target_weights" and not weights:
                continue
            if len(weights) != 5 or not all(0 <= w < math.inf for w in weights) or not sum(weights[:3]) > 0:
                raise InputError(
                    f"{name} must be 5 finite weights of 0 or more (CL, ln CD, CM, Top_Xtr, Bot_Xtr), some of the "
                    f"first three positive, got {' '.join(map(str, weights))}",
                    parameter=name,
                )
        if self.refit_target_weights and not self.refit_epochs:
            raise InputError(
                "refit_target_weights needs a refit stage: set refit_epochs",
                parameter=("refit_target_weights", "refit_epochs"),
            )
        if domain is not None:
            own = set(get_domain(domain).train_options)
            defaults = TrainConfig()
            for other in domain_names():
                foreign = [
                    n
                    for n in get_domain(other).train_options
                    if n not in own and getattr(self, n) != getattr(defaults, n)
                ]
                if foreign:
                    raise InputError(
                        f"{' and '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} for the "
                        f"{other} domain only, not {domain}",
                        parameter=tuple(foreign),
                    )


#: What train_ensemble(train_only=...) may restrict training to (None: everything not frozen).
TRAIN_ONLY = (None, "output-layer", "output-bias")


class TrainTask(Protocol):
    """A domain's training on one dataset (Domain.task builds it): what train_ensemble needs beside the
    settings. Items are whatever the domain batches (airfoil shapes with all their polar points, catalyst
    structures); train and val hold their indices."""

    domain: str  # the registered domain's name (domain.py)
    data_hash: str
    data: object  # the domain's dataset (AirfoilPoints, CatalystSamples); evaluation reads it (Domain.errors)
    train: np.ndarray  # item indices
    val: np.ndarray

    def encoder_config(self, cfg: TrainConfig) -> dict:
        """The encoder settings when no pretrained encoder or model is given (Domain.encoder_config)."""

    def head_config(self, cfg: TrainConfig) -> dict:
        """The head settings from cfg (the trainer sets "hidden" to the encoder's width)."""

    def init_member(self, model: Surrogate) -> None:
        """Set the head's target normalisation (from training items only)."""

    def loss(self, model: Surrogate, items: np.ndarray, cfg: TrainConfig, device: torch.device) -> torch.Tensor:
        """Mean loss of a batch. In training under torchrun `model` is a DDP view of the Surrogate:
        call it for outputs (so gradients synchronise); its attributes are the Surrogate's."""

    def refit_head(self, model: Surrogate, cfg: TrainConfig, device, seed: int) -> dict:
        """Second stage with cfg.refit_epochs: train the head alone on the frozen encoder's features; returns
        its report (InputError where the domain has none: TrainConfig.validate refuses refit_epochs for it)."""

    def refit_head_config(self, head: dict, cfg: TrainConfig) -> dict:
        """The settings of the new head that cfg.refit_head_width puts in place of `head` in the refit stage."""

    def report(self) -> dict:
        """Training facts for the checkpoint's meta (item counts, the training designs' range, ...)."""


def cpu_state(model: torch.nn.Module) -> dict:
    """A detached CPU copy of the model's state_dict (a checkpointable snapshot)."""
    return {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(device: str | None) -> torch.device:
    """The requested device, else CUDA when present, else CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def validation_loss(model: Surrogate, task: TrainTask, cfg: TrainConfig, device) -> float:
    """Mean batch loss over the validation items (no gradients). Distributed: the same batches,
    dealt out round-robin between the processes, their losses all-reduced (same value on every rank)."""
    starts = list(range(0, len(task.val), cfg.batch_size))[distributed.rank() :: distributed.world_size()]
    model.eval()
    with torch.no_grad():
        losses = [task.loss(model, task.val[i : i + cfg.batch_size], cfg, device).item() for i in starts]
    model.train()
    total, n = distributed.all_reduce_sum([np.sum(losses), len(losses)])
    return total / n if n else float("nan")


def _lineage(info: dict) -> dict:
    """What a model trained from another (--init) records of its start: the start's data hash, training settings
    and whether its encoders were pretrained (so a refit model's end-to-end recipe stays on record)."""
    meta = info["meta"]
    return {
        "data_hash": info.get("data_hash"),
        "config": meta.get("config"),
        "pretrained_encoder": bool(meta.get("pretrained_encoder")),
        **({"init_model": meta["init_model"]} if "init_model" in meta else {}),
    }


def train_ensemble(
    task: TrainTask,
    out,
    cfg: TrainConfig,
    progress: bool = True,
    device: str | None = None,
    init_encoder: dict | None = None,
    freeze_encoder: bool = False,
    meta: dict | None = None,
    epoch_callback=None,
    init_model: tuple | None = None,
    train_only: str | None = None,
) -> dict:
    """Train (or resume) cfg.members members on `task`, write the ensemble to `out`.

    init_encoder: optional pretrained encoder {"config": ..., "state": state_dict} every
    member starts from (its config replaces the task's); freeze_encoder keeps it fixed
    and trains the head only.
    init_model: optional (Ensemble, info) from load_checkpoint: member k starts from the whole of
    member k mod n (encoder, head and the head's target normalisation), as in fine-tuning a
    surrogate trained on cheap data with a few expensive samples (multi-fidelity).
    train_only: None (every parameter not frozen), "output-layer" (the head's last linear layer: a linear
    probe on fixed features) or "output-bias" (that layer's bias alone: one offset per normalised
    target, as in BitFit, Ben Zaken et al., ACL 2022). With init_model and a few samples of a new
    fidelity these keep the features the old data taught and learn the systematic shift (fully
    turbulent RANS: more drag, a little less lift than XFOIL); "Fine-tuning can distort pretrained
    features" (Kumar et al., ICLR 2022) is why the shift is best learnt before all layers move.
    epoch_callback: optional epoch_callback(epoch, val_loss), called after every finished
    epoch of every member (epoch counts from 1 within a member) once that epoch's state is
    saved. An exception it raises (optuna.TrialPruned, say) stops training and propagates;
    `out` is then not written and <out>.partial holds the last finished epoch.
    Returns a report: per-member best validation loss and epochs, plus task.report().

    Launched by torchrun with N processes (see the module docstring), each process trains on
    its 1/N share of every epoch with batch_size items per step: the effective batch is
    N x batch_size. Only rank 0 writes files and shows progress.
    """
    out = Path(out)
    cfg.validate(task.domain, from_model=init_model is not None)
    dev = distributed.init(device)  # pick_device(device), joining torchrun's process group if launched by it
    if cfg.train_fraction < 1 and len(task.train):
        keep = max(1, round(cfg.train_fraction * len(task.train)))
        task.train = np.sort(np.random.default_rng([cfg.seed, 271828]).permutation(task.train)[:keep])
    if len(task.train) == 0:
        raise InputError("no training items in the dataset (held-out test items are never trained on)")
    if train_only not in TRAIN_ONLY:
        raise InputError(f"unknown train_only {train_only!r}; choose from {', '.join(map(str, TRAIN_ONLY))}")
    if init_model is not None and init_encoder is not None:
        raise InputError("start from a whole model or from a pretrained encoder, not both")
    if init_model is not None:
        base, base_info = init_model
        if base.domain != task.domain:
            raise InputError(f"a {base.domain} model cannot start {task.domain} training")
        encoder, head = dict(base_info["encoder"]), dict(base_info["head"])
    else:
        encoder = dict(init_encoder["config"]) if init_encoder else task.encoder_config(cfg)
        if encoder.get("vectors", True) != cfg.vectors:
            raise InputError(
                "the pretrained encoder "
                + ("has" if encoder.get("vectors", True) else "has no")
                + " vector channels: drop --no-vectors or pretrain an encoder of the same kind",
                parameter="vectors",
            )
    match_graphs = getattr(task, "match_encoder", None)
    if match_graphs is not None:  # graphs at the resolution the encoder settings record (airfoil contours)
        match_graphs(encoder, cfg)
    if init_model is None:  # after match_encoder: a head with per-node inputs records the graph's node count
        head = {**task.head_config(cfg), "hidden": encoder["hidden"]}
    partial = out.with_name(out.name + ".partial")
    state = load_partial(partial, asdict(cfg), task.data_hash)
    done = state["done"] if state else []
    bar = None
    for k in range(len(done), cfg.members):
        seed_everything(cfg.seed * 1000 + k)
        model = Surrogate(task.domain, encoder, head).to(dev)
        if init_encoder is not None:
            model.encoder.load_state_dict(init_encoder["state"])
        if init_model is not None:
            model.load_state_dict(init_model[0].members[k % len(init_model[0].members)].state_dict())
        else:
            task.init_member(model)
        if freeze_encoder:
            model.encoder.requires_grad_(False)
        if train_only is not None:
            model.requires_grad_(False)
            output = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)][-1]
            (output.bias if train_only == "output-bias" else output).requires_grad_(True)
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": params}]
        if cfg.encoder_lr_scale != 1:
            in_encoder = {id(p) for p in model.encoder.parameters()}
            groups = [
                {"params": [p for p in params if id(p) not in in_encoder]},
                {"params": [p for p in params if id(p) in in_encoder], "lr": cfg.lr * cfg.encoder_lr_scale},
            ]
        opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        epoch, best, best_state, bad = 0, float("inf"), None, 0
        if state is not None and state.get("member") == k and "model" in state:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            epoch, best, best_state, bad = state["epoch"], state["best"], state["best_state"], state["bad"]
            torch.set_rng_state(state["rng"])
        elif init_model is not None:  # the model started from is a candidate too: training must beat it
            best = validation_loss(model, task, cfg, dev)
            best_state = cpu_state(model)
        net = distributed.wrap(model)  # DDP when distributed, `model` itself otherwise
        if progress and distributed.is_main():
            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs, initial=epoch, desc=f"member {k + 1}/{cfg.members}", unit="epoch")
        while epoch < cfg.epochs and bad < cfg.patience:
            # One generator per (seed, member, epoch): a resumed run shuffles exactly as an unbroken one.
            # Distributed: every rank draws the same order and takes its share of it.
            order = distributed.shard(np.random.default_rng([cfg.seed, k, epoch]).permutation(task.train))
            for i in range(0, len(order), cfg.batch_size):
                loss = task.loss(net, order[i : i + cfg.batch_size], cfg, dev)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
            sched.step()
            epoch += 1
            val_loss = validation_loss(model, task, cfg, dev)
            if val_loss < best:
                best, bad = val_loss, 0
                best_state = cpu_state(model)
            else:
                bad += 1
            if distributed.is_main():
                save_torch_atomic(
                    partial,
                    dict(
                        config=asdict(cfg),
                        data_hash=task.data_hash,
                        done=done,
                        member=k,
                        epoch=epoch,
                        model=model.state_dict(),
                        opt=opt.state_dict(),
                        sched=sched.state_dict(),
                        best=best,
                        best_state=best_state,
                        bad=bad,
                        rng=torch.get_rng_state(),
                    ),
                )
            distributed.barrier()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(val=f"{val_loss:.4f}", best=f"{best:.4f}", refresh=False)
            if epoch_callback is not None:
                try:
                    epoch_callback(epoch, val_loss)
                except BaseException:
                    if bar is not None:
                        bar.close()
                    raise
        if bar is not None:
            bar.close()
        if best_state is None:
            raise InputError(f"training member {k + 1} diverged: the validation loss was never finite")
        entry = {"state": best_state, "best_val": best, "epochs": epoch}
        if cfg.refit_epochs:  # not saved midway: a run killed during the refit repeats only the refit
            model.load_state_dict(best_state)
            entry["refit"] = task.refit_head(model, cfg, dev, seed=cfg.seed * 1000 + k)
            entry["state"] = cpu_state(model)
        done = done + [entry]
        state = None
        if distributed.is_main():
            save_torch_atomic(partial, dict(config=asdict(cfg), data_hash=task.data_hash, done=done, member=k + 1))
        distributed.barrier()

    if cfg.refit_epochs and cfg.refit_head_width:  # the refit stage gave every member a new head
        head = task.refit_head_config(head, cfg)
    members = []
    for m in done:
        s = Surrogate(task.domain, encoder, head)
        s.load_state_dict(m["state"])
        members.append(s)
    ensemble = Ensemble(members).eval()
    scales = fit_std_scales(ensemble, task.data, task.val) if len(members) > 1 else {}
    report = {
        "members": [
            {"best_val_loss": m["best_val"], "epochs": m["epochs"], **({"refit": m["refit"]} if "refit" in m else {})}
            for m in done
        ],
        "data_hash": task.data_hash,
        "std_scale": scales,
        **task.report(),
    }
    if init_model is not None and isinstance(report.get("labels"), dict):  # fine-tuned: the fidelity it started from
        started = (init_model[1].get("meta") or {}).get("labels")
        report["labels"] = {**report["labels"], "started_from": started or "unrecorded (EMT before 2026-12-05)"}
    if "elements" in report:  # atom models: what the labels covered, and what the starting weights had learnt
        start = init_encoder.get("elements") if init_encoder else None
        if init_model is not None:
            start = init_model[1]["meta"].get("elements")
        report["elements"] = union_elements(report["elements"], start)
    if scales:
        report["std_scale_fit"] = {"rule": STD_SCALE_RULE, "split": "val", "items": int(len(task.val))}
    if distributed.is_main():
        save_checkpoint(
            out,
            ensemble,
            data_hash=task.data_hash,
            meta={
                "config": asdict(cfg),
                **report,
                **(meta or {}),
                # a model started from another (--init) keeps that model's lineage: its encoders descend from it
                "pretrained_encoder": bool(
                    init_encoder or (init_model and init_model[1]["meta"].get("pretrained_encoder"))
                ),
                **({"init_model": _lineage(init_model[1])} if init_model else {}),
                "frozen_encoder": freeze_encoder,
                "train_only": train_only,
            },
        )
        partial.unlink(missing_ok=True)
        remove_stale_temps(partial)
    distributed.barrier()
    return report
