"""The shared geometric encoder: a PaiNN-style equivariant message-passing network.

PaiNN (Schütt, Unke, Gastegger, ICML 2021) keeps a scalar s_i (F) and a vector
v_i (3, F) per node. Messages depend on distances (radial basis times a cosine
cutoff) and unit edge directions, so scalars are invariant and vectors rotate
with the structure: the encoder is invariant to rigid motions, node
permutations and the choice of periodic image. Symmetries a domain does not
have (an airfoil's chord defines the angle of attack) are broken by that
domain's node features, not by the encoder.

Inputs per domain are mapped to F scalars by a domain-specific linear layer
(``in_features`` -> F); for atoms the input is element probabilities and the
one-hot tag, so a soft composition enters as probabilities times an element
embedding table (the first linear layer) and gradients reach it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from .graphs import cosine_cutoff, edge_vectors


class RadialBasis(nn.Module):
    """sin(n pi d / rc) / (d / rc) for n = 1..n_rbf: PaiNN's basis made dimensionless, so
    it is bounded by n pi whatever the length unit (Å or chords). Shape (E, n_rbf)."""

    def __init__(self, n_rbf: int, cutoff: float):
        super().__init__()
        self.cutoff = cutoff
        self.register_buffer("freqs", torch.arange(1, n_rbf + 1) * math.pi / cutoff)

    def forward(self, d: Tensor) -> Tensor:
        d = d[:, None]
        return torch.sin(self.freqs * d) / (d / self.cutoff).clamp_min(1e-6) / math.pi


class PaiNNMessage(MessagePassing):
    """Equivariant message block: scalars and vectors aggregated over neighbours."""

    def __init__(self, hidden: int, n_rbf: int):
        super().__init__(aggr="add")
        self.hidden = hidden
        self.phi = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 3 * hidden))
        self.filter = nn.Linear(n_rbf, 3 * hidden)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, s: Tensor, v: Tensor, edge_index: Tensor, rbf: Tensor, envelope: Tensor, unit: Tensor):
        """s: (N, F); v: (N, 3, F); rbf: (E, n_rbf); envelope: (E,); unit: (E, 3). Returns ds, dv."""
        # phi acts on nodes, then is gathered per edge: N rows through the MLP instead of E.
        out = self.propagate(edge_index, x=self.phi(s), v=v.flatten(1), rbf=rbf, envelope=envelope, unit=unit)
        f = self.hidden
        return out[:, :f], out[:, f:].view(-1, 3, f)

    def message(self, x_j: Tensor, v_j: Tensor, rbf: Tensor, envelope: Tensor, unit: Tensor) -> Tensor:
        f = self.hidden
        x = x_j * self.filter(rbf) * envelope[:, None]
        a, b, c = x.split(f, dim=-1)
        dv = v_j.view(-1, 3, f) * b[:, None, :] + unit[:, :, None] * c[:, None, :]
        return torch.cat([a, dv.flatten(1)], dim=-1)


class PaiNNUpdate(nn.Module):
    """Per-node mixing of scalar and vector channels."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.U = nn.Linear(hidden, hidden, bias=False)
        self.V = nn.Linear(hidden, hidden, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 3 * hidden))

    def forward(self, s: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        uv, vv = self.U(v), self.V(v)
        norm = torch.sqrt(torch.sum(vv**2, dim=1) + 1e-8)
        a_vv, a_sv, a_ss = self.mlp(torch.cat([s, norm], dim=-1)).split(self.hidden, dim=-1)
        dv = a_vv[:, None, :] * uv
        ds = a_ss + a_sv * torch.sum(uv * vv, dim=1)
        return ds, dv


def graph_x(data) -> Tensor:
    """A graph's ``x``: the node inputs of a domain whose graphs store them ready."""
    return data.x


def vector_norm(v: Tensor, eps: float = 1e-6) -> Tensor:
    """Equivariant normalisation of vector channels (N, 3, F): divide each node's vectors by
    the root mean square of their lengths. PaiNN's update is quadratic in v; without this
    (and a LayerNorm on scalars) after every layer, activations of some airfoil graphs grew
    to 1e21 within three layers once the weights had trained for a few epochs."""
    rms = torch.sqrt(torch.mean(torch.sum(v**2, dim=1), dim=-1, keepdim=True) + eps)
    return v / rms[:, None, :].clamp_min(1.0)


class GeometricEncoder(nn.Module):
    """Shared encoder for every domain.

    Args:
        in_features: scalar input features per node (domain-specific).
        hidden: channels F of scalars and vectors.
        n_layers: message/update rounds.
        n_rbf: radial basis functions.
        cutoff: envelope radius in the structure's length unit (Å for atoms,
            chords for airfoils); edges longer than this carry no message.
        neighbours: typical neighbour count; summed messages are divided by its
            square root so activations stay O(1) whatever the graph density.
        node_inputs: function of a (batched) graph giving its scalar inputs (N, in_features): the
            domain's (Domain.node_inputs); default the graph's ``x``. Not a setting: not in ``config``.

    forward(data) takes a (batched) torch_geometric Data with ``pos`` (N, 3),
    ``edge_index`` (2, E), optional ``shift`` (E, 3), what ``node_inputs`` reads,
    and ``batch`` (N,); it returns node embeddings (N, F) and a mean-pooled graph
    embedding (B, F).
    """

    def __init__(self, in_features: int, hidden: int = 64, n_layers: int = 3, n_rbf: int = 20, cutoff: float = 6.0,
                 neighbours: float = 16.0, node_inputs: Callable[[object], Tensor] | None = None):
        super().__init__()
        self.config = dict(in_features=in_features, hidden=hidden, n_layers=n_layers, n_rbf=n_rbf, cutoff=cutoff,
                           neighbours=neighbours)
        self.node_inputs = node_inputs or graph_x
        self.cutoff = cutoff
        self.message_scale = 1.0 / math.sqrt(neighbours)
        self.embed = nn.Linear(in_features, hidden)
        self.rbf = RadialBasis(n_rbf, cutoff)
        self.messages = nn.ModuleList(PaiNNMessage(hidden, n_rbf) for _ in range(n_layers))
        self.updates = nn.ModuleList(PaiNNUpdate(hidden) for _ in range(n_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(n_layers))

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                m.reset_parameters()

    def forward(self, data) -> tuple[Tensor, Tensor]:
        pos = data.pos
        vec = edge_vectors(pos, data.edge_index, getattr(data, "shift", None))
        dist = torch.sqrt(torch.sum(vec**2, dim=-1) + 1e-12)
        unit = vec / dist[:, None]
        rbf = self.rbf(dist)
        envelope = cosine_cutoff(dist, self.cutoff)
        s = self.embed(self.node_inputs(data).to(pos.dtype))
        v = torch.zeros(s.shape[0], 3, s.shape[1], dtype=s.dtype, device=s.device)
        for message, update, norm in zip(self.messages, self.updates, self.norms):
            ds, dv = message(s, v, data.edge_index, rbf, envelope, unit)
            s, v = s + self.message_scale * ds, v + self.message_scale * dv
            ds, dv = update(s, v)
            s, v = norm(s + ds), vector_norm(v + dv)
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(s.shape[0], dtype=torch.long, device=s.device)
        pooled = scatter(s, batch, dim=0, reduce="mean")
        return s, pooled
