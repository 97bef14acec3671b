"""Train an airfoil surrogate ensemble on a polar dataset (resumable; see trainer.py).

Loss per point: mean squared error (or Huber loss, cfg.huber_delta) of the normalised [CL, ln CD, CM, Top_Xtr,
Bot_Xtr] where the simulator converged (over the targets a point has; each target's errors weighted by
cfg.target_weights), plus conv_weight x binary cross-entropy of the convergence logit on every point. Items are
shapes: a batch carries every point of its shapes' polars, and one shape embedding serves them all.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Batch

from phenograd.core.errors import InputError

from .airfoil_data import AirfoilPoints, load_airfoil_points
from .design_range import design_range
from .graphs import AIRFOIL_NODES, contour_graph_settings, encoder_stations
from .head_refit import refit_airfoil_head
from .heads import AirfoilHead
from .model import Surrogate, default_encoder_config
from .trainer import TrainConfig, train_ensemble


def airfoil_defaults(**overrides) -> TrainConfig:
    """Default airfoil settings (batch_size counts shapes)."""
    return TrainConfig(**{"batch_size": 32, **overrides})


def target_normalisation(data: AirfoilPoints, shapes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (5,) of converged targets over the given shapes, per target.

    A target no point has (RANS datasets carry no transition locations) gets mean 0, std 1.
    """
    mask = torch.isin(data.point_shape, torch.as_tensor(shapes)) & data.converged
    t = data.targets[mask]
    if int(torch.isfinite(t[:, 0]).sum()) < 2:
        raise InputError("too few converged points in the training split to train on")
    finite = torch.isfinite(t)
    n = finite.sum(0)
    filled = torch.where(finite, t, torch.zeros_like(t))
    mean = filled.sum(0) / n.clamp(min=1)
    var = (torch.where(finite, t - mean, torch.zeros_like(t)) ** 2).sum(0) / (n - 1).clamp(min=1)
    absent = n < 2
    return torch.where(absent, torch.zeros_like(mean), mean), torch.where(absent, torch.ones_like(var), var.sqrt())


class AirfoilTask:
    domain = "airfoil"

    def __init__(self, data: AirfoilPoints, seed: int = 0):
        self.data = data
        self.data_hash = data.data_hash
        self.train, self.val = data.shapes_in("train"), data.shapes_in("val")
        if len(self.train) == 0:
            raise InputError("no training shapes in the dataset (held-out test shapes are never trained on)")
        if len(self.val) == 0:  # tiny datasets: hold out a few training shapes for early stopping
            perm = np.random.default_rng(seed).permutation(self.train)
            n_val = max(1, len(self.train) // 8)
            self.val, self.train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        # Target normalisation: computed when the first member starts from scratch (a fine-tuned model keeps
        # its own, so a handful of points is enough to fine-tune on); callers may set it beforehand.
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None
        self.nodes = AIRFOIL_NODES  # contour graph nodes per shape: match_encoder sets the encoder's

    def encoder_config(self, cfg: TrainConfig) -> dict:
        return {
            **default_encoder_config(self.domain, cfg.hidden, cfg.layers),
            **({} if cfg.vectors else {"vectors": False}),
            **(contour_graph_settings(cfg.contour_stations) if cfg.contour_stations else {}),
        }

    def match_encoder(self, encoder: dict, cfg: TrainConfig) -> None:
        """Rebuild the graphs at the contour resolution the encoder settings record (a pretrained encoder's or
        a model's); InputError where cfg asks for another one."""
        stations = encoder_stations(encoder)
        if cfg.contour_stations and cfg.contour_stations != stations:
            raise InputError(
                f"the encoder was trained on {stations} contour stations per surface, not {cfg.contour_stations}: "
                "drop --contour-stations or pretrain an encoder at that resolution",
                parameter="contour_stations",
            )
        self.data = self.data.at_stations(stations)
        self.nodes = 2 * stations - 1

    def head_config(self, cfg: TrainConfig) -> dict:
        return {
            "hidden": cfg.hidden,
            "width": cfg.head_width,
            **({"stations": cfg.stations} if cfg.stations else {}),
            **({"station_y": True} if cfg.station_y else {}),
            **(self._node_setting() if cfg.stations or cfg.station_y else {}),
        }

    def _node_setting(self) -> dict:
        """The head setting that records a contour resolution other than the default, for a head that takes
        per-node inputs (heads.AirfoilHead)."""
        return {} if self.nodes == AIRFOIL_NODES else {"nodes": self.nodes}

    def init_member(self, model: Surrogate) -> None:
        if self.mean is None:
            self.mean, self.std = target_normalisation(self.data, self.train)
        model.head.set_normalisation(self.mean.to(model.head.mean.device), self.std.to(model.head.mean.device))

    def loss(self, model: Surrogate, shapes: np.ndarray, cfg: TrainConfig, device) -> torch.Tensor:
        data = self.data
        graphs = Batch.from_data_list([data.graphs[i] for i in shapes]).to(device)
        local = torch.full((len(data.graphs),), -1, dtype=torch.long)
        local[torch.as_tensor(shapes)] = torch.arange(len(shapes))
        mask = local[data.point_shape] >= 0
        point_graph = local[data.point_shape[mask]].to(device)
        values, logit = model(graphs, point_graph, data.cond[mask].to(device))
        return model.head.loss(
            values,
            logit,
            data.targets[mask].to(device),
            data.converged[mask].to(device),
            cfg.conv_weight,
            cfg.huber_delta,
            cfg.target_weights,
        )

    def refit_head_config(self, head: dict, cfg: TrainConfig) -> dict:
        """The settings of the new head that cfg.refit_head_width puts in place of the end-to-end one (head)."""
        new = {**head, "width": cfg.refit_head_width}
        return {**new, "station_y": True, **self._node_setting()} if cfg.refit_station_y else new

    def refit_head(self, model: Surrogate, cfg: TrainConfig, device, seed: int) -> dict:
        """Second stage (head_refit.py): the head alone on the frozen encoder's features; returns its report.

        With cfg.refit_head_width the end-to-end head is first replaced by a new one (refit_head_config: that
        width, with cfg.refit_station_y the raw station y values too; the target normalisation kept; weights drawn
        from `seed`). What each measured: surrogate/models/README.md, "Measurements behind the defaults"."""
        if cfg.refit_head_width:
            old = model.head
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                head = AirfoilHead(**self.refit_head_config(old.config, cfg))  # a head's config is its arguments
            head.set_normalisation(old.mean.detach().cpu(), old.std.detach().cpu())
            model.head = head.to(old.mean.device)
        return refit_airfoil_head(
            model,
            self.data,
            self.train,
            self.val,
            cfg.refit_epochs,
            cfg.conv_weight,
            device,
            seed,
            huber_delta=cfg.huber_delta,
            target_weights=cfg.refit_target_weights or cfg.target_weights,
        )

    def report(self) -> dict:
        """Training facts for the checkpoint's meta, with the training shapes' CST range (design_range.py)."""
        out = {
            "train_shapes": int(len(self.train)),
            "val_shapes": int(len(self.val)),
            "points": int(len(self.data.point_shape)),
        }
        rng = design_range(self.data.cst[self.train]) if self.data.cst is not None else None
        return {**out, "design_range": rng} if rng is not None else out


def train_airfoil(data_path, out, cfg: TrainConfig | None = None, **kwargs) -> dict:
    """Train (or resume training) an airfoil ensemble; kwargs as train_ensemble's; returns its report."""
    cfg = cfg or airfoil_defaults()
    return train_ensemble(
        AirfoilTask(load_airfoil_points(data_path), cfg.seed), out, cfg, meta={"data_file": str(data_path)}, **kwargs
    )
