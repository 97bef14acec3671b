"""Train a catalyst (IS2RE-direct adsorption energy) ensemble (resumable; see trainer.py).

Loss: mean squared error of the normalised E_ads over a batch of structures.
The normalisation (mean and std of the training E_ads) lives in the head, so
predictions are in eV.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
from torch_geometric.data import Batch

from phenograd.core.errors import InputError

from .catalyst_data import CatalystSamples, load_catalyst_samples
from .heads import ADSORBATE_TAG
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


def fit_element_reference(data: CatalystSamples, items) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares energy per adsorbate atom of each element, (len(ELEMENTS),) eV, over the samples `items`
    (E_ads ~ sum over the adsorbate's atoms; no intercept: an adsorbate's energy scales with what it is made of),
    and the std (eV) of the labels it leaves. Elements absent from the adsorbates get 0."""
    counts = torch.stack([adsorbate_counts(data.graphs[int(i)]) for i in items]).double()  # (S, len(ELEMENTS))
    target = data.e_ads[torch.as_tensor(items)].double()
    used = torch.nonzero(counts.sum(0)).flatten()
    reference = torch.zeros(counts.shape[1], dtype=torch.float64)
    if len(used):
        reference[used] = torch.linalg.lstsq(counts[:, used], target[:, None]).solution[:, 0]
    residual = target - counts @ reference
    std = residual.std() if len(items) > 1 else torch.tensor(1.0, dtype=torch.float64)
    return reference.float(), std.clamp_min(1e-3).float()


def adsorbate_counts(graph) -> torch.Tensor:
    """(len(ELEMENTS),) number of adsorbate atoms (tag 2) of each element of one structure's graph."""
    return (graph.element_probs * (graph.tags == ADSORBATE_TAG)[:, None]).sum(0)


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
        items = self.train if len(self.train) else np.arange(len(data.e_ads))
        e = data.e_ads[torch.as_tensor(items)]
        self.mean, self.std = e.mean(), e.std() if len(e) > 1 else torch.tensor(1.0)
        self._label_items = items

    @cached_property
    def element_reference(self) -> tuple[torch.Tensor, torch.Tensor]:
        """fit_element_reference over the training labels, fitted once and only for heads that use it."""
        return fit_element_reference(self.data, self._label_items)

    def encoder_config(self, cfg: TrainConfig) -> dict:
        return default_encoder_config(self.domain, cfg.hidden, cfg.layers)

    def head_config(self, cfg: TrainConfig) -> dict:
        return {
            "hidden": cfg.hidden,
            **({"readout": cfg.readout} if cfg.readout != "all" else {}),
            **({"reference": cfg.reference} if cfg.reference != "none" else {}),
        }

    def init_member(self, model: Surrogate) -> None:
        """Normalise the head to the training labels; with a reference, the network learns what the linear
        reference leaves (its mean is then 0 and its scale the residuals' std)."""
        dev = model.head.mean.device
        if model.head.element_reference is None:
            model.head.set_normalisation(self.mean.to(dev), self.std.to(dev))
        else:
            reference, residual_std = self.element_reference
            model.head.set_reference(reference.to(dev))
            model.head.set_normalisation(torch.zeros((), device=dev), residual_std.to(dev))

    def loss(self, model: Surrogate, items: np.ndarray, cfg: TrainConfig, device) -> torch.Tensor:
        graphs = Batch.from_data_list([self.data.graphs[i] for i in items]).to(device)
        pred = model(graphs)
        target = self.data.e_ads[torch.as_tensor(items)].to(device)
        return torch.mean(((pred - target) / model.head.std) ** 2)

    def refit_head(self, model: Surrogate, cfg: TrainConfig, device, seed: int) -> dict:
        raise InputError("refit_epochs: catalyst heads have no refit stage")

    def refit_head_config(self, head: dict, cfg: TrainConfig) -> dict:
        raise InputError("refit_head_width: catalyst heads have no refit stage")

    def report(self) -> dict:
        return {
            "elements": self.data.elements_in(np.concatenate([self.train, self.val])),
            "train_structures": int(len(self.train)),
            "val_structures": int(len(self.val)),
            "structures": int(len(self.data.uids)),
            **({"labels": self.data.labels} if self.data.labels else {}),
        }


def train_catalyst(data_path, out, cfg: TrainConfig | None = None, **kwargs) -> dict:
    """Train (or resume training) a catalyst ensemble; kwargs as train_ensemble's; returns its report."""
    cfg = cfg or catalyst_defaults()
    return train_ensemble(
        CatalystTask(load_catalyst_samples(data_path), cfg.seed), out, cfg, meta={"data_file": str(data_path)}, **kwargs
    )
