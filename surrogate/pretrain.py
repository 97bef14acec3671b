"""Self-supervised pretraining of the shared encoder on unlabelled structures.

Objectives (``objective``):

* ``jepa``, joint-embedding prediction (I-JEPA, Assran et al. 2023, on graphs):
  each structure loses one block (masking.py: an arc of an airfoil contour, a
  patch of atoms around a site, adsorbate included); the context encoder sees
  the visible rest only (hidden nodes and their edges are removed). A target
  encoder, an exponential moving average of the context encoder (momentum
  ``ema``; 0 = shared weights under stop-gradient), encodes the whole
  structure; a predictor produces, for every hidden node, the target encoder's
  embedding of it. The predictor is told *where* a hidden node is: for an
  airfoil its chord station and surface; for an atom its position (kernel
  weights over the visible atoms near it) and its OC20 tag. Atoms also come
  with their element and the kernel-averaged elements of the hidden patch
  around them, because a random alloy's hidden elements cannot be inferred
  from the context, and predicting them taught the encoder to forget
  composition (see ``atoms_query``); the blanks left to fill are the embeddings.
  Its inputs are the context's pooled embedding, a Gaussian-kernel average of
  visible node embeddings around the hidden node (the domain's ``kernel`` width, in contour
  nodes or Å; periodic images by minimum image) and that query descriptor.
  Loss: mean squared error of the predictions. Collapse is prevented by
  VICReg's variance and covariance terms (Bardes et al. 2022; vicreg.py) on the
  context encoder's node embeddings and pooled embeddings, never by negative pairs.
* ``denoise``, coordinate denoising (Zaidi et al. 2023): positions get
  Gaussian noise (``noise``: 0.1 Å for atoms; 0.002 chords in y for airfoils,
  whose stations are fixed) and an equivariant head (edge weights times unit
  edge vectors, summed per node) predicts the noise divided by its std. Noise
  is a target, never an invariance: it changes the physics.
* ``both``: the sum, jepa + denoise_weight x denoise.
* ``potential`` (catalysts): not self-supervised but supervised by the cheap end of the labelling potential. Every
  structure carries that potential's single point at its stored positions (energy and forces, no relaxation;
  `phenograd data single-points`, about 150 of them for the CPU time of one relaxed E_ads label). The encoder learns
  both: the energy per atom left after a per-element linear reference (fitted on the pretraining set), from a
  per-node readout averaged per structure, and the forces, from an equivariant head like denoising's. Both targets
  are divided by their spread over the set.

Augmentations are exact symmetries only (masking.py): for atoms a random rigid
motion, node permutation and periodic image per atom at every step; for
airfoils a random contour start point and resampling when the set is loaded.

Monitoring: every loss term per epoch, and on a fixed monitor batch the
per-dimension std and effective rank of node and pooled embeddings. A collapse
detector stops the run (:class:`PretrainingCollapsed`) when the node
embeddings' effective rank falls below ``min_rank`` or their mean
per-dimension std below ``min_std``.

Runs are resumable: after each epoch the state (weights of every part,
optimiser, schedule, history) is written atomically to ``<out>.partial``; all
randomness is drawn from generators keyed by (seed, epoch, step), so a resumed
run ends with the same encoder as an unbroken one. The result is an encoder
file (pretrained.py's format: "phenograd-encoder", version 1), written
atomically; `phenograd train --encoder` fine-tunes from it.

Multi-process (``torchrun --nproc_per_node N -m phenograd pretrain ...``; see
distributed.py and trainer.py): the model is wrapped in DistributedDataParallel,
each epoch's order is split between the processes like a DistributedSampler
splits it, batch_size stays per process (a step sees N x batch_size
structures), augmentations and masks are drawn from generators keyed by (seed,
epoch, step, rank), the per-epoch loss terms are averaged over the processes,
and only rank 0 writes files, the log and the progress bar.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch, Data
from torch_geometric.utils import scatter

from phenograd.core.atomic import remove_stale_temps
from phenograd.core.errors import InputError, PhenogradError
from phenograd.core.runs import load_partial

from . import distributed
from .domain import get_domain
from .elements import elements_of_graphs
from .encoder import GeometricEncoder, RadialBasis
from .graphs import N_TAGS, _slope, cosine_cutoff, edge_vectors
from .heads import mlp
from .model import default_encoder_config, save_torch_atomic
from .pretrain_data import UnlabelledSet
from .pretrained import ENCODER_FORMAT, ENCODER_FORMAT_VERSION
from .trainer import seed_everything
from .vicreg import covariance_loss, effective_rank, embedding_std, variance_loss

OBJECTIVES = ("jepa", "denoise", "both", "potential")
MONITOR_STRUCTURES = 128
VICREG_ROWS = 1024  # node rows per step that enter the variance/covariance terms


class PretrainingCollapsed(PhenogradError, RuntimeError):
    """The embeddings collapsed (effective rank or spread below the floor); parameter: the settings to change
    (InputError.parameter's convention)."""

    def __init__(self, message: str = "", parameter: tuple[str, ...] | None = None):
        super().__init__(message)
        self.parameter = parameter


# Per domain (its Domain.pretraining view, domain.PretrainView): the predictor's kernel width (airfoil 3 contour
# nodes, catalyst 2 Å), the denoising std (0.002 chords in y, 0.1 Å) and the measured best objective
# (BENCHMARKS "Pretraining label efficiency", 10 % of the labels: airfoil JEPA 0.80x scratch's error; catalyst
# denoising 0.95x, 0.91x on relaxed geometry; JEPA 1.35x: worse).


@dataclass
class PretrainConfig:
    """Pretraining settings (the module docstring explains the objectives and the collapse detector).

    Args:
        objective: "jepa", "denoise", "both" or "potential" (module docstring); None: the domain's measured best
            (its PretrainView.objective).
        epochs, batch_size, lr, weight_decay: the optimisation (batch_size structures per step and process).
        hidden, layers: the encoder's width and depth; they must match the surrogate that will be fine-tuned
            (hidden None: the domain's training default, airfoil 64, catalyst 32).
        ema: the JEPA target encoder's exponential-moving-average decay (0: shared weights under stop-gradient).
        pred_weight, var_weight, cov_weight: weights of JEPA's prediction loss and VICReg's variance and
            covariance terms.
        denoise_weight: weight of the denoising loss in "both".
        noise: the denoising noise std (None: the domain's, 0.1 Å for atoms, 0.002 chords for airfoils).
        min_rank, min_std: the collapse detector's thresholds on the node embeddings' effective rank and mean
            per-dimension std.
        seed: every random draw (a resumed run draws the same).
    """

    objective: str | None = None
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    hidden: int | None = None
    layers: int = 3
    ema: float = 0.99
    pred_weight: float = 1.0
    var_weight: float = 1.0
    cov_weight: float = 0.04  # VICReg's 25 : 25 : 1 ratio of invariance : variance : covariance
    denoise_weight: float = 1.0
    noise: float | None = None
    min_rank: float = 2.0
    min_std: float = 0.02
    seed: int = 0

    def validate(self) -> None:
        """InputError naming the first setting out of range."""
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise InputError(f"unknown objective {self.objective!r}; use {', '.join(OBJECTIVES)}")
        for name in ("epochs", "batch_size", "layers"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}", parameter=name)
        if self.hidden is not None and self.hidden < 2:
            raise InputError(f"hidden must be at least 2, got {self.hidden}", parameter="hidden")
        if not self.lr > 0:
            raise InputError(f"lr must be positive, got {self.lr}", parameter="lr")
        if not 0.0 <= self.ema < 1.0:
            raise InputError(f"ema must be in [0, 1), got {self.ema}", parameter="ema")
        if self.noise is not None and not self.noise > 0:
            raise InputError(f"noise must be positive, got {self.noise}", parameter="noise")


def default_hidden(domain: str) -> int:
    return get_domain(domain).default_hidden


# --------------------------------------------------------------------------- heads


class JepaPredictor(nn.Module):
    """Predicts target-encoder embeddings (H, F) of hidden nodes from (pooled context (H, F),
    kernel-averaged nearby context (H, F), query descriptor (H, Q))."""

    def __init__(self, hidden: int, query_features: int):
        super().__init__()
        self.net = mlp(2 * hidden + query_features, 2 * hidden, hidden, depth=2)

    def forward(self, pooled: Tensor, local: Tensor, query: Tensor) -> Tensor:
        return self.net(torch.cat([pooled, local, query], dim=-1))


class DenoiseHead(nn.Module):
    """Equivariant noise readout: eps_i = sum_j w(s_i, s_j, |r_ij|) r_ij/|r_ij| -> (N, 3), unitless
    (noise / its std). s: encoder node embeddings (N, F); geometry from the noisy graph."""

    def __init__(self, hidden: int, n_rbf: int, cutoff: float):
        super().__init__()
        self.cutoff = cutoff
        self.rbf = RadialBasis(n_rbf, cutoff)
        self.net = mlp(2 * hidden + n_rbf, hidden, 1, depth=2)

    def forward(self, s: Tensor, data) -> Tensor:
        vec = edge_vectors(data.pos, data.edge_index, getattr(data, "shift", None))
        dist = torch.sqrt(torch.sum(vec**2, dim=-1) + 1e-12)
        j, i = data.edge_index
        w = self.net(torch.cat([s[i], s[j], self.rbf(dist)], dim=-1)).squeeze(-1) * cosine_cutoff(dist, self.cutoff)
        return scatter(w[:, None] * vec / dist[:, None], i, dim=0, dim_size=s.shape[0], reduce="sum")


@dataclass(frozen=True)
class SinglePointScale:
    """What turns a pretraining set's single points into unitless targets: the per-element reference energies
    (len(ELEMENTS),) in eV, the spread of the energy per atom left after them (eV/atom) and the root mean square
    force component (eV/Å)."""

    element_energy: Tensor
    energy_per_atom: float
    force: float


def single_point_scale(graphs: list[Data]) -> SinglePointScale:
    """Fit the per-element reference (least squares of energies on element counts) and the spreads of a set whose
    graphs carry sp_energy and sp_forces; InputError when one lacks them."""
    missing = sum(getattr(g, "sp_energy", None) is None for g in graphs)
    if missing:
        raise InputError(
            f"objective potential needs single points on every structure ({missing} of {len(graphs)} have none): "
            "pretrain on a file from `phenograd data single-points`",
            parameter="objective",
        )
    counts = torch.stack([g.element_probs.sum(0) for g in graphs]).double()
    energy = torch.cat([g.sp_energy for g in graphs]).double()
    ref = torch.linalg.lstsq(counts, energy[:, None], driver="gelsd").solution[:, 0]
    per_atom = (energy - counts @ ref) / counts.sum(-1)
    forces = torch.cat([g.sp_forces for g in graphs]).double()
    return SinglePointScale(
        ref.float(), max(float(per_atom.std()), 1e-3), max(float(torch.sqrt(torch.mean(forces**2))), 1e-3)
    )


def query_features(domain: str) -> int:
    return get_domain(domain).pretraining.query_features()


# --------------------------------------------------------------------------- batches


def contour_where(data: Data) -> Tensor:
    """'Where' coordinates (N, 3) of airfoil nodes for the predictor's kernel: their contour index on a circle
    of circumference N, the graph's node count (node units). (Atoms are where they are: their positions in Å.)"""
    k = torch.arange(data.num_nodes, dtype=torch.float32)
    r = data.num_nodes / (2 * np.pi)
    phi = 2 * np.pi * k / data.num_nodes
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), torch.zeros_like(phi)], dim=1)


def atoms_query(data: Data, hidden: Tensor, kernel: float) -> Tensor:
    """What the predictor is told about each hidden atom (H, Q) (an airfoil node's query is its chord
    station and surface): tag, own element, and a Gaussian-kernel average (width `kernel`) of the
    hidden patch's elements around it. The elements are given because in a random alloy they are
    independent of the visible context: asking for them made the cheapest solution an encoder that
    forgets composition (measured: a linear probe of such an encoder predicted E_ads worse than one of
    a random-init encoder). What stays hidden is how the environment shapes each embedding."""
    elems = data.element_probs[hidden].float()
    where = data.pos[hidden]
    cell, pbc = data.cell[0], data.pbc[0]
    around = _kernel_average(elems, where, where, cell, pbc, kernel)
    return torch.cat([nn.functional.one_hot(data.tags[hidden], N_TAGS).float(), elems, around], dim=1)


def _kernel_average(
    ctx_s: Tensor, ctx_where: Tensor, q_where: Tensor, cell: Tensor | None, pbc: Tensor | None, width: float
) -> Tensor:
    """Gaussian-kernel average (H, F) of context node embeddings ctx_s (C, F) around each query."""
    diff = ctx_where[None, :, :] - q_where[:, None, :]
    if cell is not None and pbc is not None and bool(pbc.any()):
        frac = diff @ torch.linalg.inv(cell)
        frac = torch.where(pbc[None, None, :], frac - torch.round(frac), frac)
        diff = frac @ cell
    w = torch.softmax(-torch.sum(diff**2, dim=-1) / (2 * width**2), dim=1)
    return w @ ctx_s


@dataclass
class StepBatch:
    full: Batch  # augmented structures (target encoder)
    ctx: Batch  # visible parts (context encoder)
    hidden: Tensor  # (N_full,) bool
    queries: Tensor  # (H, Q)
    q_where: list  # per graph (h_b, 3)
    c_where: list  # per graph (c_b, 3)
    cells: list  # per graph (3, 3) or None
    pbcs: list


def make_batch(graphs: list[Data], rng: np.random.Generator, domain: str, masked: bool = True) -> StepBatch:
    """Augment, mask and split a list of structures into full and context batches (the domain's PretrainView)."""
    view = get_domain(domain).pretraining
    full, ctx, hidden, queries, q_where, c_where, cells, pbcs = [], [], [], [], [], [], [], []
    for g in graphs:
        g = view.augment(g, rng)
        full.append(g)
        if not masked:
            continue
        m = view.mask(g, rng)
        ctx.append(view.context(g, m))
        hidden.append(m)
        queries.append(view.query(g, m))
        w = view.where(g)
        q_where.append(w[m])
        c_where.append(w[~m])
        cell, pbc = view.periodic(g)
        cells.append(cell)
        pbcs.append(pbc)
    return StepBatch(
        full=Batch.from_data_list(full),
        ctx=Batch.from_data_list(ctx) if ctx else None,
        hidden=torch.cat(hidden) if hidden else None,
        queries=torch.cat(queries) if queries else None,
        q_where=q_where,
        c_where=c_where,
        cells=cells,
        pbcs=pbcs,
    )


def noisy_atoms(batch: Batch, sigma: float, gen: torch.Generator) -> tuple[Batch, Tensor, Tensor]:
    """(noisy batch, noise / sigma (N, 3), component mask (3,)) of atom graphs: every coordinate moves.
    Edges stay those of the clean structure (their messages use the noisy vectors)."""
    b = batch.clone()
    eps = torch.randn(b.pos.shape, generator=gen, dtype=b.pos.dtype)
    comps = torch.ones(3, dtype=torch.bool)
    b.pos = b.pos + sigma * eps
    return b, eps, comps


def noisy_contours(batch: Batch, sigma: float, gen: torch.Generator) -> tuple[Batch, Tensor, Tensor]:
    """As noisy_atoms for airfoil graphs: y only (stations are fixed), with the y and slope inputs recomputed
    from the noisy contour."""
    b = batch.clone()
    eps = torch.randn(b.pos.shape, generator=gen, dtype=b.pos.dtype)
    comps = torch.tensor([False, True, False])
    eps = eps * comps
    b.pos = b.pos + sigma * eps
    x = b.x.clone()
    for g in range(int(b.num_graphs)):
        sl = slice(int(b.ptr[g]), int(b.ptr[g + 1]))
        x[sl, 2] = torch.clamp(_slope(b.pos[sl, 0], b.pos[sl, 1]), -5.0, 5.0) / 5.0
    x[:, 3] = b.pos[:, 1]
    b.x = x
    return b, eps, comps


# --------------------------------------------------------------------------- model


class Pretrainer(nn.Module):
    """Context encoder, EMA target encoder, JEPA predictor and denoising head of one run; with objective
    "potential" also the energy and force heads and the set's SinglePointScale (per-element energies as a buffer)."""

    def __init__(self, domain: str, encoder_config: dict, cfg: PretrainConfig, scale: SinglePointScale | None = None):
        super().__init__()
        self.domain, self.cfg = domain, cfg
        self.view = get_domain(domain).pretraining
        self.encoder = GeometricEncoder(**encoder_config, node_inputs=get_domain(domain).node_inputs)
        f = encoder_config["hidden"]
        self.predictor = JepaPredictor(f, self.view.query_features())
        self.denoiser = DenoiseHead(f, encoder_config["n_rbf"], encoder_config["cutoff"])
        self.target = copy.deepcopy(self.encoder).requires_grad_(False) if cfg.ema > 0 else None
        if cfg.objective == "potential":  # made last, so the other objectives' initial weights stay as they were
            if scale is None:
                raise ValueError("objective potential needs the set's SinglePointScale")
            self.energy_head = mlp(f, f, 1, depth=2)
            self.force_head = DenoiseHead(f, encoder_config["n_rbf"], encoder_config["cutoff"])
            self.register_buffer("element_energy", scale.element_energy.clone())
            self.energy_per_atom, self.force_scale = scale.energy_per_atom, scale.force

    def target_encoder(self) -> GeometricEncoder:
        return self.target if self.target is not None else self.encoder

    @torch.no_grad()
    def update_target(self) -> None:
        if self.target is None:
            return
        m = self.cfg.ema
        for pt, p in zip(self.target.parameters(), self.encoder.parameters()):
            pt.mul_(m).add_(p.detach(), alpha=1 - m)
        for bt, b in zip(self.target.buffers(), self.encoder.buffers()):
            bt.copy_(b)

    def jepa_terms(self, sb: StepBatch, gen: torch.Generator) -> dict[str, Tensor]:
        ctx_s, ctx_pooled = self.encoder(sb.ctx)
        with torch.no_grad():
            tgt_s, _ = self.target_encoder()(sb.full)
        targets = tgt_s[sb.hidden]
        local, pooled = [], []
        ptr = sb.ctx.ptr
        for b in range(len(sb.q_where)):
            s_b = ctx_s[int(ptr[b]) : int(ptr[b + 1])]
            local.append(_kernel_average(s_b, sb.c_where[b], sb.q_where[b], sb.cells[b], sb.pbcs[b], self.view.kernel))
            pooled.append(ctx_pooled[b].expand(len(sb.q_where[b]), -1))
        pred = self.predictor(torch.cat(pooled), torch.cat(local), sb.queries)
        rows = ctx_s
        if rows.shape[0] > VICREG_ROWS:
            rows = rows[torch.randperm(rows.shape[0], generator=gen)[:VICREG_ROWS]]
        return {
            "pred": torch.mean((pred - targets) ** 2),
            "var": variance_loss(rows) + variance_loss(ctx_pooled),
            "cov": covariance_loss(rows) + covariance_loss(ctx_pooled),
        }

    def denoise_term(self, full: Batch, gen: torch.Generator) -> Tensor:
        sigma = self.cfg.noise or self.view.noise
        noisy, eps, comps = self.view.noisy(full, sigma, gen)
        s, _ = self.encoder(noisy)
        out = self.denoiser(s, noisy)
        return torch.mean((out[:, comps] - eps[:, comps]) ** 2)

    def potential_terms(self, full: Batch) -> dict[str, Tensor]:
        s, _ = self.encoder(full)
        counts = scatter(full.element_probs, full.batch, dim=0, reduce="sum")  # (B, elements)
        target = (full.sp_energy - counts @ self.element_energy) / counts.sum(-1) / self.energy_per_atom
        pred = scatter(self.energy_head(s).squeeze(-1), full.batch, dim=0, reduce="mean")
        forces = self.force_head(s, full)
        return {
            "energy": torch.mean((pred - target) ** 2),
            "forces": torch.mean((forces - full.sp_forces / self.force_scale) ** 2),
        }

    def forward(self, graphs: list[Data], rng: np.random.Generator, gen: torch.Generator) -> tuple[Tensor, dict]:
        """The loss (what DistributedDataParallel calls)."""
        return self.loss(graphs, rng, gen)

    def loss(self, graphs: list[Data], rng: np.random.Generator, gen: torch.Generator) -> tuple[Tensor, dict]:
        cfg = self.cfg
        jepa = cfg.objective in ("jepa", "both")
        sb = make_batch(graphs, rng, self.domain, masked=jepa)
        terms: dict[str, Tensor] = {}
        total = torch.zeros(())
        if jepa:
            terms.update(self.jepa_terms(sb, gen))
            total = (
                total + cfg.pred_weight * terms["pred"] + cfg.var_weight * terms["var"] + cfg.cov_weight * terms["cov"]
            )
        if cfg.objective in ("denoise", "both"):
            terms["denoise"] = self.denoise_term(sb.full, gen)
            total = total + cfg.denoise_weight * terms["denoise"]
        if cfg.objective == "potential":
            terms.update(self.potential_terms(sb.full))
            total = total + terms["energy"] + terms["forces"]
        terms["total"] = total
        return total, {k: float(v.detach()) for k, v in terms.items()}


@torch.no_grad()
def embedding_stats(encoder: GeometricEncoder, graphs: list[Data]) -> dict:
    """Spread of an encoder's embeddings of graphs: mean and min per-dimension std and effective
    rank, of node embeddings and of pooled (per-structure) embeddings."""
    was = encoder.training
    encoder.eval()
    s, pooled = encoder(Batch.from_data_list(graphs))
    encoder.train(was)
    node_std, pool_std = embedding_std(s), embedding_std(pooled)
    return {
        "node_std_mean": float(node_std.mean()),
        "node_std_min": float(node_std.min()),
        "node_rank": effective_rank(s),
        "pooled_std_mean": float(pool_std.mean()),
        "pooled_std_min": float(pool_std.min()),
        "pooled_rank": effective_rank(pooled),
    }


def check_collapse(stats: dict, cfg: PretrainConfig, epoch: int) -> None:
    """Raise PretrainingCollapsed when the embeddings have collapsed (see the module docstring)."""
    if (
        not np.isfinite(stats["node_std_mean"])
        or stats["node_rank"] < cfg.min_rank
        or stats["node_std_mean"] < cfg.min_std
    ):
        raise PretrainingCollapsed(
            f"pretraining collapsed at epoch {epoch}: effective rank {stats['node_rank']:.2f} (floor {cfg.min_rank}), "
            f"mean embedding std {stats['node_std_mean']:.4f} (floor {cfg.min_std}); raise var_weight or lower lr",
            parameter=("var_weight", "lr"),
        )


# --------------------------------------------------------------------------- files


def save_encoder(path, encoder: GeometricEncoder, domain: str, meta: dict | None = None) -> None:
    """Write an encoder file (pretrained.py's format, plus the graph construction version like
    surrogate checkpoints), atomically."""
    save_torch_atomic(
        Path(path),
        {
            "format": ENCODER_FORMAT,
            "format_version": ENCODER_FORMAT_VERSION,
            "domain": domain,
            "encoder": dict(encoder.config),
            "state": encoder.state_dict(),
            "meta": meta or {},
            "graph_version": get_domain(domain).graph_version,
        },
    )


# --------------------------------------------------------------------------- the run


def pretrain(
    data: UnlabelledSet,
    out,
    cfg: PretrainConfig | None = None,
    progress: bool = True,
    device: str | None = None,
    meta: dict | None = None,
    log=None,
) -> dict:
    """Pretrain (or resume) an encoder on `data` and write it to `out` (an encoder file).

    Returns {"history": [per-epoch losses and embedding stats], "final": stats, ...}. Raises
    PretrainingCollapsed when the collapse detector fires (no encoder file is written then;
    the partial state of the last healthy epoch is kept).

    Launched by torchrun with N processes: each trains on its 1/N share of every epoch with
    batch_size structures per step (effective batch N x batch_size); only rank 0 writes files,
    calls `log` and shows progress (see the module docstring).

    Args:
        data: the unlabelled structures (load_unlabelled).
        out: the encoder file to write; `<out>.partial` holds the state of the last finished epoch until then.
        cfg: the settings (default PretrainConfig(): the domain's defaults); a resumed run must use the same.
        progress: show a progress bar.
        device: "cpu" or "cuda" (default: cuda when present).
        meta: extra facts recorded in the encoder file's meta.
        log: called with each epoch's record (losses, embedding stats) after the epoch, on rank 0.
    """
    cfg = cfg or PretrainConfig()
    if cfg.objective is None:
        cfg = replace(cfg, objective=get_domain(data.domain).pretraining.objective)
    cfg.validate()
    out = Path(out)
    if not out.parent.exists():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if len(data.graphs) < 2:
        raise InputError("pretraining needs at least 2 unlabelled structures")
    dev = distributed.init(device)  # pick_device(device), joining torchrun's process group if launched by it
    world = distributed.world_size()
    enc_cfg = {
        **default_encoder_config(data.domain, cfg.hidden or default_hidden(data.domain), cfg.layers),
        **data.encoder_settings,
    }
    seed_everything(cfg.seed)
    scale = single_point_scale(data.graphs) if cfg.objective == "potential" else None
    model = Pretrainer(data.domain, enc_cfg, cfg, scale).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    partial = out.with_name(out.name + ".partial")
    state = load_partial(partial, asdict(cfg), data.data_hash)
    epoch, history = 0, []
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        epoch, history = state["epoch"], state["history"]
    monitor = [
        data.graphs[i]
        for i in np.random.default_rng([cfg.seed, 0x40]).permutation(len(data.graphs))[:MONITOR_STRUCTURES]
    ]
    if epoch == 0:
        history.append({"epoch": 0, **embedding_stats(model.encoder, monitor)})
    # DDP when distributed (the model itself otherwise); with one objective the other's head is unused.
    net = distributed.wrap(model, find_unused_parameters=cfg.objective != "both")
    bar = None
    if progress and distributed.is_main():
        from tqdm import tqdm

        bar = tqdm(total=cfg.epochs, initial=epoch, desc=f"pretrain {data.domain} {cfg.objective}", unit="epoch")
    model.train()
    while epoch < cfg.epochs:
        order = distributed.shard(np.random.default_rng([cfg.seed, epoch]).permutation(len(data.graphs)))
        sums: dict[str, float] = {}
        steps = 0
        for step, i in enumerate(range(0, len(order), cfg.batch_size)):
            items = order[i : i + cfg.batch_size]
            if len(items) < 2:
                continue
            key = [cfg.seed, epoch, step] if world == 1 else [cfg.seed, epoch, step, distributed.rank()]
            rng = np.random.default_rng(key)
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            loss, terms = net([data.graphs[k] for k in items], rng, gen)
            if not torch.isfinite(loss):
                raise PretrainingCollapsed(
                    f"pretraining diverged at epoch {epoch + 1}: loss {float(loss)}; lower lr", parameter=("lr",)
                )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            opt.step()
            model.update_target()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
        sched.step()
        epoch += 1
        if world > 1:  # every rank's terms (same keys and step counts on every rank)
            keys = sorted(sums)
            *totals, steps = distributed.all_reduce_sum([sums[k] for k in keys] + [steps])
            sums = dict(zip(keys, totals))
        stats = embedding_stats(model.encoder, monitor)
        record = {"epoch": epoch, **{k: v / max(steps, 1) for k, v in sums.items()}, **stats}
        history.append(record)
        if log is not None and distributed.is_main():
            log(record)
        check_collapse(stats, cfg, epoch)
        if distributed.is_main():
            save_torch_atomic(
                partial,
                dict(
                    config=asdict(cfg),
                    data_hash=data.data_hash,
                    epoch=epoch,
                    model=model.state_dict(),
                    opt=opt.state_dict(),
                    sched=sched.state_dict(),
                    history=history,
                ),
            )
        distributed.barrier()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record.get('total', 0):.4f}", rank=f"{stats['node_rank']:.1f}", refresh=False)
    if bar is not None:
        bar.close()
    report = {
        "history": history,
        "final": history[-1],
        "structures": len(data.graphs),
        "counts": data.counts,
        "data_hash": data.data_hash,
        "objective": cfg.objective,
    }
    if distributed.is_main():
        save_encoder(
            out,
            model.encoder.cpu(),
            data.domain,
            meta={
                "config": asdict(cfg),
                "objective": cfg.objective,
                **report,
                **({"elements": elements} if (elements := elements_of_graphs(data.graphs)) else {}),
                **(meta or {}),
            },
        )
        partial.unlink(missing_ok=True)
        remove_stale_temps(partial)
    distributed.barrier()
    return report
