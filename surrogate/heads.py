"""Domain heads on top of the shared encoder. Each head owns the normalisation of its
targets (buffers), so its outputs are in physical units and differentiable."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .graphs import AIRFOIL_NODE_FEATURES, AIRFOIL_NODES

STATION_Y = 3  # column of y/c in the airfoil graph's node features (graphs.py)

#: Airfoil outputs, in order: lift, log drag, pitching moment (c/4), transition x/c top and bottom.
AIRFOIL_TARGETS = ("CL", "lnCD", "CM", "Top_Xtr", "Bot_Xtr")
#: Operating-point inputs: alpha [deg], Reynolds number, Ncrit; scaled as documented in `conditions`.
N_CONDITIONS = 3


def conditions(alpha_deg: Tensor, reynolds: Tensor, ncrit: Tensor) -> Tensor:
    """Scaled operating point (P, 3): alpha/10, log10(Re) - 6, (Ncrit - 9)/3."""
    return torch.stack([alpha_deg / 10.0, torch.log10(reynolds) - 6.0, (ncrit - 9.0) / 3.0], dim=-1)


def mlp(n_in: int, width: int, n_out: int, depth: int = 2) -> nn.Sequential:
    layers, d = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.SiLU()]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


def regression_loss(err: Tensor, huber_delta: float = 0.0, weights: Tensor | None = None) -> Tensor:
    """Mean loss of normalised errors err (any shape): squared (huber_delta 0) or Huber / huber_delta
    (see AirfoilHead.loss). weights (err's shape): each error's weight in that mean (None: all 1)."""
    if huber_delta > 0:
        reduction = "mean" if weights is None else "none"  # the unweighted mean stays bitwise what it was
        loss = torch.nn.functional.huber_loss(err, torch.zeros_like(err), delta=huber_delta, reduction=reduction)
        loss = loss / huber_delta
    else:
        loss = (err**2).mean() if weights is None else err**2
    return loss if weights is None else (loss * weights).mean()


class AirfoilHead(nn.Module):
    """Polar head: (shape embedding, operating point) -> CL, ln CD, CM, Top_Xtr, Bot_Xtr and a
    convergence logit. One shape embedding serves every point of its polar.

    The shape embedding is the encoder's mean-pooled node scalars (F), and with
    ``stations`` = k > 0 also a station readout: every node's scalars and raw node
    inputs projected to k channels and concatenated in station order (the contour
    graph has fixed nodes at fixed chord stations, so the order is canonical, not
    arbitrary; see graphs.py), (nodes * k). Why it exists: mean pooling loses
    where along the chord a feature sits, and a plain MLP on the station y values beats
    the mean-pooled encoder; k = 4 did not help so far, so the default stays 0
    (surrogate/models/README.md, "Measurements behind the defaults").

    With ``station_y`` the graph's raw station y/c values (x 10, the station MLP's input,
    one per node) are concatenated to the shape embedding too: the head then
    sees the exact geometry beside what message passing made of it. Trained end to end it gained nothing
    measurable; as a new head trained on frozen encoders (train --refit-station-y) it took 7 % off the ensemble's
    CL error and 9 % off CM, and is the shipped airfoil model's head (surrogate/models/README.md).

    Args:
        hidden: encoder width F. width, depth: of the MLP. stations: station readout
            channels k (0: mean pooling only, the format of earlier checkpoints).
            station_y: pass the raw station y values to the head (False: earlier checkpoints).
            nodes: contour graph nodes per shape that the station inputs come from (the encoder's graph_nodes;
            recorded only where it is not the default AIRFOIL_NODES).
    forward(shape_embedding (P, D), cond (P, 3)) -> (values (P, 5) in physical units, logit (P,)),
    D = embedding_size.
    """

    def __init__(
        self,
        hidden: int,
        width: int = 128,
        depth: int = 3,
        stations: int = 0,
        station_y: bool = False,
        nodes: int = AIRFOIL_NODES,
    ):
        super().__init__()
        self.config = dict(hidden=hidden, width=width, depth=depth)
        if stations:
            self.config["stations"] = stations
            self.station_proj = nn.Linear(hidden + AIRFOIL_NODE_FEATURES, stations)
        if station_y:
            self.config["station_y"] = True
        if nodes != AIRFOIL_NODES:
            self.config["nodes"] = nodes
        self.stations = stations
        self.station_y = bool(station_y)
        self.nodes = nodes
        self.embedding_size = hidden + nodes * (stations + self.station_y)
        self.net = mlp(self.embedding_size + N_CONDITIONS, width, len(AIRFOIL_TARGETS) + 1, depth)
        self.register_buffer("mean", torch.zeros(len(AIRFOIL_TARGETS)))
        self.register_buffer("std", torch.ones(len(AIRFOIL_TARGETS)))

    def set_normalisation(self, mean: Tensor, std: Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-6))

    def shape_embedding(self, nodes: Tensor, pooled: Tensor, node_inputs: Tensor) -> Tensor:
        """(B, D) from node scalars (B * nodes, F) in graph then station order, their
        mean (B, F) and the graphs' raw node inputs (B * nodes, AIRFOIL_NODE_FEATURES)."""
        if not (self.stations or self.station_y):
            return pooled
        n_graphs = pooled.shape[0]
        if nodes.shape[0] != n_graphs * self.nodes:
            raise ValueError(
                f"station readout needs {self.nodes} nodes per airfoil graph, got {nodes.shape[0]} "
                f"for {n_graphs} graphs"
            )
        parts = [pooled]
        if self.stations:
            per_node = self.station_proj(torch.cat([nodes, node_inputs.to(nodes.dtype)], dim=-1))
            parts.append(per_node.reshape(n_graphs, -1))
        if self.station_y:
            parts.append(10.0 * node_inputs[:, STATION_Y].to(nodes.dtype).reshape(n_graphs, self.nodes))
        return torch.cat(parts, dim=-1)

    def forward(self, shape_embedding: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        out = self.net(torch.cat([shape_embedding, cond.to(shape_embedding.dtype)], dim=-1))
        return out[:, :-1] * self.std + self.mean, out[:, -1]

    def normalised(self, values: Tensor) -> Tensor:
        return (values - self.mean) / self.std

    def loss(
        self,
        values: Tensor,
        logit: Tensor,
        targets: Tensor,
        converged: Tensor,
        conv_weight: float,
        huber_delta: float = 0.0,
        target_weights: tuple[float, ...] | None = None,
    ) -> Tensor:
        """Training loss of P points: the regression loss of the normalised targets (P, 5) where the simulator
        converged and the target exists (RANS data has no transition points), plus conv_weight x the binary
        cross-entropy of the convergence logit (P,) against converged (P,) on every point.

        target_weights: one weight per target (AIRFOIL_TARGETS order) on its errors in the regression mean;
        None or all 1: every error alike.

        Regression: mean squared error (huber_delta 0), or the Huber loss of the normalised errors divided by
        huber_delta: e^2 / (2 delta) inside delta, |e| - delta / 2 beyond it, i.e. the absolute error that the
        benchmarks score, smoothed near zero. Why: a squared error chases the few XFOIL points far off their
        polar's trend (see huber_delta in trainer.TrainConfig for the measured effect)."""
        ok = converged[:, None] & torch.isfinite(targets)
        err = self.normalised(values) - self.normalised(torch.where(ok, targets, values.detach()))
        weights = None
        if target_weights is not None and any(w != 1 for w in target_weights):
            weights = torch.as_tensor(target_weights, dtype=err.dtype, device=err.device).expand_as(err)[ok]
        regression = regression_loss(err[ok], huber_delta, weights) if ok.any() else values.sum() * 0.0
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logit, converged.float())
        return regression + conv_weight * bce


#: How the adsorption head pools per-atom contributions (see AdsorptionHead).
READOUTS = ("all", "adsorbate")
#: The catalyst head's baseline: "elements" adds a fitted energy per adsorbate atom of each element (a linear
#: reference over the adsorbate's composition, as OC20's baselines do) to the network's output.
REFERENCES = ("elements",)
ADSORBATE_TAG = 2  # OC20 tag of adsorbate atoms


class AdsorptionHead(nn.Module):
    """IS2RE-direct head: per-atom contributions from node embeddings, pooled per structure.

    The adsorbate's identity and site are in the node embeddings (element, tag,
    geometry), so one head serves every adsorbate. readout "all" sums every atom's
    contribution over sqrt(atoms); "adsorbate" sums only the adsorbate atoms' (tag 2)
    over sqrt(adsorbate atoms). Why "adsorbate": E_ads is a difference in which the
    slab's own energy cancels, so it is local to the adsorbate, whose embeddings after
    message passing already hold its environment (3 layers x 4.5 Å); the slab atoms'
    contributions only add what the network has to learn to cancel (it about halves the test
    error: surrogate/models/README.md, "Measurements behind the defaults").

    Args:
        hidden: encoder width F. width, depth: of the per-atom MLP. readout: one of READOUTS.
    forward(node_embedding (N, F), batch (N,), n_graphs, tags (N,)) -> E_ads (B,) in eV.
    """

    def __init__(
        self, hidden: int, width: int = 128, depth: int = 2, readout: str = "all", reference: str | None = None
    ):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if reference is not None and reference not in REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
        self.config = dict(hidden=hidden, width=width, depth=depth)
        if readout != "all":  # checkpoints of the original readout keep their original settings
            self.config["readout"] = readout
        if reference is not None:
            self.config["reference"] = reference
        self.readout = readout
        self.net = mlp(hidden, width, 1, depth)
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))
        if reference is not None:
            from .elements import ELEMENTS

            self.register_buffer("element_reference", torch.zeros(len(ELEMENTS)))  # eV per adsorbate atom
        else:
            self.element_reference = None

    def set_reference(self, per_element: Tensor) -> None:
        """The linear reference (len(ELEMENTS),) in eV per adsorbate atom of each element."""
        self.element_reference.copy_(per_element)

    def baseline(self, element_probs: Tensor | None, tags: Tensor | None) -> Tensor | float:
        """Per-atom reference energies (..., N) of the adsorbate atoms (0 elsewhere), or 0 without a reference."""
        if self.element_reference is None:
            return 0.0
        if element_probs is None or tags is None:
            raise ValueError("the element reference needs the atoms' element probabilities and OC20 tags")
        return (element_probs @ self.element_reference.to(element_probs.dtype)) * (tags == ADSORBATE_TAG).to(
            element_probs.dtype
        )

    def set_normalisation(self, mean: Tensor, std: Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(1e-6))

    def weights(self, tags: Tensor | None, like: Tensor) -> Tensor:
        """Per-atom pooling weights (N,) or (..., N): 1 for the atoms the readout sums, else 0."""
        if self.readout == "all":
            return torch.ones_like(like)
        if tags is None:
            raise ValueError("the adsorbate readout needs the atoms' OC20 tags")
        return (tags == ADSORBATE_TAG).to(like.dtype).expand_as(like)

    def forward(
        self,
        node_embedding: Tensor,
        batch: Tensor,
        n_graphs: int | None = None,
        tags: Tensor | None = None,
        element_probs: Tensor | None = None,
    ) -> Tensor:
        """element_probs (N, len(ELEMENTS)): needed with a reference (config "reference")."""
        per_atom = self.net(node_embedding).squeeze(-1)
        w = self.weights(tags, per_atom)
        n = n_graphs if n_graphs is not None else int(batch.max()) + 1
        counts = scatter(w, batch, dim=0, dim_size=n, reduce="sum")
        total = scatter(per_atom * w, batch, dim=0, dim_size=n, reduce="sum") / counts.clamp_min(1.0).sqrt()
        out = total * self.std + self.mean
        if self.element_reference is not None:
            out = out + scatter(self.baseline(element_probs, tags), batch, dim=0, dim_size=n, reduce="sum")
        return out

    def dense(self, node_embedding: Tensor, tags: Tensor, element_probs: Tensor | None = None) -> Tensor:
        """forward for B structures of the same N atoms: node_embedding (B, N, F), tags (N,), element_probs
        (B, N, len(ELEMENTS)) (with a reference) -> E_ads (B,)."""
        per_atom = self.net(node_embedding).squeeze(-1)
        w = self.weights(tags, per_atom)
        out = (per_atom * w).sum(-1) / w.sum(-1).clamp_min(1.0).sqrt() * self.std + self.mean
        if self.element_reference is not None:
            out = out + self.baseline(element_probs, tags).sum(-1)
        return out


def gaussian_nll(mean: Tensor, var: Tensor, target: Tensor) -> Tensor:
    """Mean negative log-likelihood of target under N(mean, var) (used for calibration checks)."""
    var = var.clamp_min(1e-12)
    return 0.5 * torch.mean(torch.log(2 * math.pi * var) + (target - mean) ** 2 / var)
