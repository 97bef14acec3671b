"""Train a catalyst (IS2RE-direct adsorption energy) ensemble (resumable; see trainer.py).

Loss: mean squared error of the normalised E_ads over a batch of structures.
The normalisation (mean and std of the training E_ads) lives in the head, so
predictions are in eV.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Batch

from phenograd.core.errors import InputError

from .catalyst_data import CatalystSamples, load_catalyst_samples
from .model import Surrogate, default_encoder_config
from .trainer import TrainConfig, train_ensemble


def catalyst_defaults(**overrides) -> TrainConfig:
    """Default catalyst settings (batch_size counts structures)."""
    return TrainConfig(
        **{
            "batch_size": 32,
            "epochs": 100,
            "patience": 15,
            "lr": 1e-3,
            "hidden": 32,
            "readout": "adsorbate",
            **overrides,
        }
    )


class CatalystTask:
    domain = "catalyst"

    def __init__(self, data: CatalystSamples, seed: int = 0):
        self.data = data
        self.data_hash = data.data_hash
        self.train, self.val = data.items_in("train"), data.items_in("val")
        if len(self.val) == 0 and len(self.train) > 1:  # tiny datasets: hold out an eighth for early stopping
            perm = np.random.default_rng(seed).permutation(self.train)
            n_val = max(1, len(self.train) // 8)
            self.val, self.train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        e = data.e_ads[torch.as_tensor(self.train)] if len(self.train) else data.e_ads
        self.mean, self.std = e.mean(), e.std() if len(e) > 1 else torch.tensor(1.0)

    def encoder_config(self, cfg: TrainConfig) -> dict:
        return default_encoder_config(self.domain, cfg.hidden, cfg.layers)

    def head_config(self, cfg: TrainConfig) -> dict:
        return {"hidden": cfg.hidden, **({"readout": cfg.readout} if cfg.readout != "all" else {})}

    def init_member(self, model: Surrogate) -> None:
        dev = model.head.mean.device
        model.head.set_normalisation(self.mean.to(dev), self.std.to(dev))

    def loss(self, model: Surrogate, items: np.ndarray, cfg: TrainConfig, device) -> torch.Tensor:
        graphs = Batch.from_data_list([self.data.graphs[i] for i in items]).to(device)
        pred = model(graphs)
        target = self.data.e_ads[torch.as_tensor(items)].to(device)
        return torch.mean(((pred - target) / model.head.std) ** 2)

    def refit_head(self, model: Surrogate, cfg: TrainConfig, device, seed: int) -> dict:
        raise InputError("refit_epochs: catalyst heads have no refit stage")

    def report(self) -> dict:
        return {
            "elements": self.data.elements_in(np.concatenate([self.train, self.val])),
            "train_structures": int(len(self.train)),
            "val_structures": int(len(self.val)),
            "structures": int(len(self.data.uids)),
        }


def train_catalyst(data_path, out, cfg: TrainConfig | None = None, **kwargs) -> dict:
    """Train (or resume training) a catalyst ensemble; kwargs as train_ensemble's; returns its report."""
    cfg = cfg or catalyst_defaults()
    return train_ensemble(
        CatalystTask(load_catalyst_samples(data_path), cfg.seed), out, cfg, meta={"data_file": str(data_path)}, **kwargs
    )
