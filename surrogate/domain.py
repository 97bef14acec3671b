"""Domains: what one kind of design (an airfoil, a catalyst surface, ...) supplies to the shared machinery.

The encoder, the ensemble, the checkpoint format, the trainer, evaluation, pretraining and the
model commands of the CLI are shared; everything that differs between kinds of design comes from
one object per domain that fills in :class:`Domain`. Shared code looks a domain up by the name a
checkpoint, dataset or command line gives (:func:`get_domain`) and never branches on the name.

The registry is a plain dict filled by plain imports: ``phenograd.surrogate``'s package file
imports ``airfoil_domain`` and ``catalyst_domain``, each of which calls :func:`register` with its
object. A third domain is one module that defines such an object and registers it (see
tests/test_domain_registry.py for one in a few lines); nothing shared needs editing.

This module is imported by the CLI to build its parser, so it stays light: no torch at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from phenograd.core.errors import InputError

if TYPE_CHECKING:
    import argparse

    import numpy as np
    from torch import Tensor, nn

    from .model import Ensemble, Surrogate
    from .trainer import TrainConfig, TrainTask


class PretrainView(Protocol):
    """What self-supervised pretraining (pretrain.py) needs to know about a domain's graphs."""

    objective: str  # the measured best objective: "jepa", "denoise" or "both"
    kernel: float  # width of the JEPA predictor's kernel, in the units of `where`
    noise: float  # denoising std, in the graph's length unit

    def query_features(self) -> int:
        """Width Q of the JEPA predictor's query descriptor (see query)."""

    def where(self, data) -> Tensor:
        """'Where' coordinates (N, 3) of a graph's nodes for the predictor's kernel."""

    def query(self, data, hidden: Tensor) -> Tensor:
        """What the predictor is told about each hidden node (H, Q)."""

    def periodic(self, data) -> tuple[Tensor | None, Tensor | None]:
        """(cell (3, 3), pbc (3,)) of a periodic graph, else (None, None): the kernel's minimum image."""

    def augment(self, data, rng: np.random.Generator):
        """The same structure under a random exact symmetry, drawn from rng (or the graph itself)."""

    def mask(self, data, rng: np.random.Generator) -> Tensor:
        """(N,) bool: the block of nodes hidden from the context encoder."""

    def context(self, data, hidden: Tensor):
        """The graph of the visible nodes."""

    def noisy(self, batch, sigma: float, gen) -> tuple[Any, Tensor, Tensor]:
        """(noisy batch, noise / sigma (N, 3), component mask (3,)) for coordinate denoising."""

    def load_unlabelled(
        self, path, n_sampled: int = 0, seed: int = 0, limit: int | None = None, geometry: str = "initial"
    ):
        """The pretraining set (pretrain_data.UnlabelledSet) from a file; options a domain has no use for are
        ignored."""

    unlabelled_noun: str  # what write_unlabelled writes ("airfoil contours", "structures"), for messages

    def write_unlabelled(
        self, path, n: int, seed: int = 0, elements=None, adsorbates=None, facets=None, protocol: str = "v1"
    ) -> tuple[Any, dict]:
        """Write n unlabelled structures to a file (`phenograd data unlabelled`); returns (the file, counts by
        kind, possibly empty). Options a domain has no use for are ignored."""


class Domain(Protocol):
    """One kind of design, as the shared surrogate code sees it.

    Attributes:
        name: the domain's name in checkpoints, datasets and on the command line.
        graph_version: version of the domain's graph construction; checkpoints record it and a model is only
            used on the graphs it was trained on.
        default_hidden: the encoder width its surrogates and pretrained encoders get by default.
        head_options: head settings a checkpoint may state beside depth, hidden and width.
        train_options: TrainConfig fields that only this domain's training uses (TrainConfig.validate refuses
            them, set away from their defaults, for another domain).
        item_noun: what a training item is ("shapes", "structures"), for messages.
        pretraining: the domain's PretrainView, or None when it cannot be pretrained.
    """

    name: str
    graph_version: int
    default_hidden: int
    head_options: tuple[str, ...]
    train_options: tuple[str, ...]
    item_noun: str
    pretraining: PretrainView | None

    # -- graphs and encoder
    def graph(self, design, **options):
        """The torch_geometric graph of one design, differentiable in the design's tensors (airfoil: a contour
        (M, 2) or a CST vector (18,); catalyst: an ase.Atoms with OC20 tags)."""

    def encoder_config(self, hidden: int = 64, n_layers: int = 3) -> dict:
        """The GeometricEncoder settings of the domain's graphs (length unit, cutoff, input width)."""

    def node_inputs(self, data) -> Tensor:
        """Scalar encoder inputs (N, in_features) of a (batched) graph of this domain."""

    # -- head and forward pass
    def head(self, config: dict) -> nn.Module:
        """The domain's head built from its settings (a checkpoint's "head" entry); it has a `config` dict."""

    def forward(self, member: Surrogate, graphs, *args):
        """One ensemble member's outputs for a batch of graphs (and the domain's extra inputs)."""

    # -- training
    def train_defaults(self, **overrides) -> TrainConfig:
        """The domain's default training settings with overrides."""

    def task(self, data_path, seed: int = 0, **options) -> TrainTask:
        """The training task (trainer.TrainTask) on a dataset file; options: the domain's data options
        (catalyst: disqualified="keep"|"drop", extra_structures=FILE; both: teacher=MODEL.pt, which distils that
        model, surrogate/distill.py; airfoil: extra_shapes=N); InputError for one the domain does not have."""

    #: fine_tune(base_path, data_path, out, cfg, progress=True) -> report with the final training report under
    #: "all": fine-tune a model on a few samples of a new fidelity; None where the domain has no such protocol.
    fine_tune: Callable[..., dict] | None

    # -- evaluation
    def load_data(self, data_path, encoder: dict):
        """A labelled dataset to evaluate a model with these encoder settings on."""

    def items(self, data, split: str) -> np.ndarray:
        """Indices of the items of a split ("train", "val", "test", "ood")."""

    def errors(self, ensemble: Ensemble, data, items: np.ndarray) -> dict:
        """{target: (err, std)}: the ensemble mean's errors against the labels and the unscaled ensemble std."""

    def evaluate(self, ensemble: Ensemble, data, split: str, scales: dict) -> tuple[dict, dict, dict]:
        """(metrics, parity {target: (true, pred)}, units {target: text}) on a split."""

    def format_metrics(self, metrics: dict) -> str:
        """evaluate()'s metrics as a few lines of text (the CLI's `evaluate` output)."""

    # -- use
    def predictor(self, ensemble: Ensemble, info: dict):
        """The object load_surrogate returns for a loaded ensemble of this domain."""

    # -- command line
    def add_cli_options(self, command: str, parser: argparse.ArgumentParser) -> None:
        """Add the domain's own options to a shared model command ("train", "pretrain", ...); the shared
        command passes every option it parsed on to the domain, whose hooks read what is theirs."""


_REGISTRY: dict[str, Domain] = {}


def register(domain: Domain) -> Domain:
    """Add a domain under its name (a second registration of the same name replaces the first); returns it."""
    if not isinstance(getattr(domain, "name", None), str) or not domain.name.isidentifier():
        raise ValueError(f"a domain's name must be a plain identifier, got {getattr(domain, 'name', None)!r}")
    _REGISTRY[domain.name] = domain
    return domain


def unregister(name: str) -> None:
    """Remove a domain (tests that register a toy one)."""
    _REGISTRY.pop(name, None)


def domain_names() -> list[str]:
    """The registered domains' names, in registration order."""
    return list(_REGISTRY)


def unknown_domain(name) -> InputError:
    """The one-line error for a name no domain has."""
    return InputError(f"unknown domain {name!r}; use {' or '.join(_REGISTRY)}")


def get_domain(name) -> Domain:
    """The domain registered under `name`; InputError naming the known ones otherwise."""
    domain = _REGISTRY.get(name) if isinstance(name, str) else None
    if domain is None:
        raise unknown_domain(name)
    return domain
