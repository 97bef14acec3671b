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
import warnings
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
    """Equivariant message block: scalars and vectors aggregated over neighbours. With vectors=False, the
    invariant special case: only the scalar message (filtered neighbour scalars, as SchNet's)."""

    def __init__(self, hidden: int, n_rbf: int, vectors: bool = True):
        super().__init__(aggr="add")
        self.hidden = hidden
        self.vectors = vectors
        width = 3 * hidden if vectors else hidden
        self.phi = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, width))
        self.filter = nn.Linear(n_rbf, width)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def forward(self, s: Tensor, v: Tensor | None, edge_index: Tensor, rbf: Tensor, envelope: Tensor, unit: Tensor):
        """s: (N, F); v: (N, 3, F) (None without vectors); rbf: (E, n_rbf); envelope: (E,); unit: (E, 3).
        Returns ds (N, F), dv (N, 3, F) or None."""
        # phi acts on nodes, then is gathered per edge: N rows through the MLP instead of E.
        if not self.vectors:  # scalars only: one gather and one scatter, PyG's propagate is not needed
            j, i = edge_index
            x = self.phi(s).index_select(0, j) * self.filter(rbf) * envelope[:, None]
            return scatter(x, i, dim=0, dim_size=s.shape[0], reduce="sum"), None
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
    """Per-node mixing of scalar and vector channels; with vectors=False a residual MLP of the scalars."""

    def __init__(self, hidden: int, vectors: bool = True):
        super().__init__()
        self.hidden = hidden
        self.vectors = vectors
        if vectors:
            self.U = nn.Linear(hidden, hidden, bias=False)
            self.V = nn.Linear(hidden, hidden, bias=False)
            self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 3 * hidden))
        else:
            self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, s: Tensor, v: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if not self.vectors:
            return self.mlp(s), None
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
        vectors: PaiNN's equivariant vector channels (default). False gives the invariant special case
            (scalar messages of filtered neighbour scalars and a residual scalar MLP, no directions): about a
            third of the arithmetic, for domains whose node features already break rotation symmetry (the
            airfoil's). Stored in ``config`` only when False, so older checkpoints keep their settings.
        node_inputs: function of a (batched) graph giving its scalar inputs (N, in_features): the
            domain's (Domain.node_inputs); default the graph's ``x``. Not a setting: not in ``config``.
        graph_nodes: nodes per graph, for a domain whose graphs all share one topology and whose resolution is a
            choice (the airfoil contour graph: 2 x stations - 1). The encoder works on any graph and does not
            read it; it is recorded in ``config`` (only when given) so that every file trained on such graphs
            (pretrained encoder, model) rebuilds them at the same resolution. None: the domain's default.

    forward(data) takes a (batched) torch_geometric Data with ``pos`` (N, 3),
    ``edge_index`` (2, E), optional ``shift`` (E, 3), what ``node_inputs`` reads,
    and ``batch`` (N,); it returns node embeddings (N, F) and a mean-pooled graph
    embedding (B, F).
    """

    def __init__(
        self,
        in_features: int,
        hidden: int = 64,
        n_layers: int = 3,
        n_rbf: int = 20,
        cutoff: float = 6.0,
        neighbours: float = 16.0,
        node_inputs: Callable[[object], Tensor] | None = None,
        vectors: bool = True,
        graph_nodes: int | None = None,
    ):
        super().__init__()
        self.config = dict(
            in_features=in_features, hidden=hidden, n_layers=n_layers, n_rbf=n_rbf, cutoff=cutoff, neighbours=neighbours
        )
        if not vectors:
            self.config["vectors"] = False
        if graph_nodes is not None:
            self.config["graph_nodes"] = graph_nodes
        self.vectors = vectors
        self.node_inputs = node_inputs or graph_x
        self.cutoff = cutoff
        self.message_scale = 1.0 / math.sqrt(neighbours)
        self.embed = nn.Linear(in_features, hidden)
        self.rbf = RadialBasis(n_rbf, cutoff)
        self.messages = nn.ModuleList(PaiNNMessage(hidden, n_rbf, vectors) for _ in range(n_layers))
        self.updates = nn.ModuleList(PaiNNUpdate(hidden, vectors) for _ in range(n_layers))
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
        v = torch.zeros(s.shape[0], 3, s.shape[1], dtype=s.dtype, device=s.device) if self.vectors else None
        for message, update, norm in zip(self.messages, self.updates, self.norms):
            ds, dv = message(s, v, data.edge_index, rbf, envelope, unit)
            s = s + self.message_scale * ds
            if self.vectors:
                v = v + self.message_scale * dv
            ds, dv = update(s, v)
            s = norm(s + ds)
            if self.vectors:
                v = vector_norm(v + dv)
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(s.shape[0], dtype=torch.long, device=s.device)
        pooled = scatter(s, batch, dim=0, reduce="mean")
        return s, pooled


# --------------------------------------------------------------------------- fixed-topology fast path
#
# The airfoil contour graph has one topology for every shape (graphs.airfoil_edges). There the edge list
# becomes a dense neighbour table (N, K): the k-th neighbour of every node is gathered as one (..., N, C) block and
# the K blocks are accumulated in place (no scatter over an edge list), the filters are computed once per
# undirected pair (a filter depends on the distance only, the same both ways), and several encoders of the same
# settings (ensemble members) run as one: their weights stacked along a leading member axis M, every linear layer
# one batched matmul. Same weights, same function: it agrees with GeometricEncoder.forward to float rounding
# (tests/test_fast_airfoil.py). Why slot by slot rather than one (M, B, N, K, 3F) gather: on this project's
# machine fresh large buffers and cache misses, not arithmetic, set the cost; slot blocks of a graph or two stay in
# L2 (measured 1 shape x 1 angle 36 ms against 75 ms, 16 shapes x 16 angles 0.43 s against 0.68 s).


class FixedTopology:
    """A graph topology shared by every graph of a batch, as a dense neighbour table.

    Args:
        edge_index: (2, E) edges, neighbour j -> centre i (PyG's flow), every pair in both directions,
            no self-loops.
        n_nodes: N, nodes per graph.

    Attributes:
        neighbours: (N, K) long: the k-th neighbour j of node i (K the largest degree); a padding slot points
            at i itself and carries no message (its pair is the dummy one, whose filter is zero).
        pair: (N, K) long: the undirected pair of each slot, in 0..P-1, or P for a padding slot.
        pair_slot: (P,) long: one flat slot i * K + k of each pair (where its distance is read).
        columns, pair_columns: (K, N) long: neighbours and pair transposed (slot k of every node: one row).
        ends: (2, P) long: the pair's two nodes, the first the one whose slot pair_slot is.
    """

    def __init__(self, edge_index: Tensor, n_nodes: int):
        src, dst = edge_index[0].long(), edge_index[1].long()
        key = torch.minimum(src, dst) * n_nodes + torch.maximum(src, dst)
        pairs, pair_of_edge = torch.unique(key, return_inverse=True)
        n_pairs = len(pairs)
        if bool((src == dst).any()) or 2 * n_pairs != len(src) or len(torch.unique(dst * n_nodes + src)) != len(src):
            raise ValueError("a fixed topology needs every edge once in each direction and no self-loops")
        degree = torch.bincount(dst, minlength=n_nodes)
        k = int(degree.max()) if len(src) else 0
        order = torch.argsort(dst * n_nodes + src)  # grouped by centre, neighbours ascending
        centre, neighbour, pair = dst[order], src[order], pair_of_edge[order]
        slot = torch.arange(len(order)) - (torch.cumsum(degree, 0) - degree)[centre]
        self.n_nodes, self.k, self.n_pairs = n_nodes, k, n_pairs
        self.neighbours = torch.arange(n_nodes)[:, None].repeat(1, k)
        self.neighbours[centre, slot] = neighbour
        self.pair = torch.full((n_nodes, k), n_pairs, dtype=torch.long)
        self.pair[centre, slot] = pair
        self.pair_slot = torch.empty(n_pairs, dtype=torch.long)
        self.pair_slot[pair] = centre * k + slot
        self.columns, self.pair_columns = self.neighbours.T.contiguous(), self.pair.T.contiguous()
        self.ends = torch.stack([self.pair_slot // max(k, 1), self.neighbours.flatten()[self.pair_slot]])


class FixedTopologyMessages(torch.autograd.Function):
    """PaiNN's message sum on a FixedTopology, with a backward of gathers only.

    apply(filt, phi, v, unit, columns, pair_columns, ends, pair_slot) -> (ds, dv):
        filt (M, B, P + 1, 3F): the filters per undirected pair, the last row (the padding slots' pair) zero;
        phi (M, B, N, 3F); v (M, B, N, D, F) or None (zero vectors); unit (B, N, K, D): the direction from
        node i to its k-th neighbour; the rest the FixedTopology's tables (tensors, which torch.compile traces).
        ds (M, B, N, F) = sum_k a_ik and dv (M, B, N, D, F) = sum_k unit_ik c_ik + v_j b_ik, where
        (a, b, c)_ik = filt[pair(i, k)] * phi[j] and j is the k-th neighbour of i (the 1 / sqrt(neighbours)
        scale is the caller's). M members, B graphs, N nodes, K slots, P pairs, D dimensions, F channels.

    Why a Function: autograd's own backward of the slot loop scatters into the gathered blocks (index_add) and
    saves every slot's products. The topology holds every edge both ways and one filter per undirected pair, so
    each gradient is again a sum over a node's own slots (what reached i from neighbour j is gathered at j, with
    unit_ji = -unit_ij) or over a pair's two ends. Measured with `airfoil_fast.pt` (64 shapes, the gradient of
    CL and CD with respect to the CST weights, one thread), together with the filter layout of
    StackedEncoders._chunk: 2.2x faster compiled, 1.2x eager.
    """

    @staticmethod
    def forward(ctx, filt, phi, v, unit, columns, pair_columns, ends, pair_slot):
        f = phi.shape[-1] // 3
        ds = phi.new_zeros(*phi.shape[:-1], f)
        dv = phi.new_zeros(*phi.shape[:-1], unit.shape[-1], f)
        for j in range(columns.shape[0]):  # the j-th neighbour of every node at once: (M, B, N, 3F) blocks
            x = filt.index_select(2, pair_columns[j]) * phi.index_select(2, columns[j])
            a, b, c = x.split(f, dim=-1)
            ds.add_(a)  # accumulated in place: few fresh buffers (their page faults cost as much as the sums)
            dv.addcmul_(unit[:, :, j, :, None], c[..., None, :])
            if v is not None:
                dv.addcmul_(v.index_select(2, columns[j]), b[..., None, :])
        ctx.save_for_backward(filt, phi, v, unit, columns, pair_columns, ends, pair_slot)
        return ds, dv

    @staticmethod
    def backward(ctx, g_s: Tensor, g_v: Tensor):
        filt, phi, v, unit, columns, pair_columns, ends, pair_slot = ctx.saved_tensors
        need_filt, need_phi, need_v, need_unit = ctx.needs_input_grad[:4]
        f = phi.shape[-1] // 3
        fa, fb, fc = filt.split(f, dim=-1)
        pa, pb, pc = phi.split(f, dim=-1)
        g_phi_a, g_phi_c = torch.zeros_like(pa), torch.zeros_like(pc)
        # S_j = sum over j's slots of filt_b * g_v[neighbour]: both d ds/d phi_b and d dv/d v read it
        s_b = torch.zeros_like(g_v) if v is not None else None
        g_unit = torch.zeros_like(unit) if need_unit else None
        for k in range(columns.shape[0]):
            neighbour, pair = columns[k], pair_columns[k]
            g_v_k = g_v.index_select(2, neighbour)  # (M, B, N, D, F)
            fc_k = fc.index_select(2, pair)
            g_phi_a.addcmul_(fa.index_select(2, pair), g_s.index_select(2, neighbour))
            g_phi_c.sub_(fc_k * torch.sum(g_v_k * unit[:, :, k, :, None], dim=-2))  # unit_ji = -unit_ij
            if s_b is not None:
                s_b.addcmul_(fb.index_select(2, pair)[..., None, :], g_v_k)
            if g_unit is not None:
                c_k = fc_k * pc.index_select(2, neighbour)
                g_unit[:, :, k] = torch.sum(g_v * c_k[..., None, :], dim=-1).sum(0)
        g_phi_b = torch.sum(v * s_b, dim=-2) if s_b is not None else torch.zeros_like(pb)
        g_v_in = pb[..., None, :] * s_b if (s_b is not None and need_v) else None
        g_phi = torch.cat([g_phi_a, g_phi_b, g_phi_c], dim=-1) if need_phi else None
        g_filt = None
        if need_filt:  # pair (u, w): the messages u <- w and w <- u
            u, w = ends[0], ends[1]
            e = unit.flatten(1, 2).index_select(1, pair_slot)[..., None]  # (B, P, D, 1): u -> w
            g_s_u, g_s_w = g_s.index_select(2, u), g_s.index_select(2, w)
            g_v_u, g_v_w = g_v.index_select(2, u), g_v.index_select(2, w)
            pa_u, pb_u, pc_u = phi.index_select(2, u).split(f, dim=-1)
            pa_w, pb_w, pc_w = phi.index_select(2, w).split(f, dim=-1)
            g_a = g_s_u * pa_w + g_s_w * pa_u
            if v is not None:
                v_u, v_w = v.index_select(2, u), v.index_select(2, w)
                g_b = torch.sum(g_v_u * v_w, dim=-2) * pb_w + torch.sum(g_v_w * v_u, dim=-2) * pb_u
            else:
                g_b = torch.zeros_like(g_a)
            g_c = torch.sum(g_v_u * e, dim=-2) * pc_w - torch.sum(g_v_w * e, dim=-2) * pc_u
            g_filt = torch.nn.functional.pad(torch.cat([g_a, g_b, g_c], dim=-1), (0, 0, 0, 1))
        return g_filt, g_phi, g_v_in, g_unit, None, None, None, None


def stacked_linear(x: Tensor, weight_t: Tensor, bias: Tensor | None) -> Tensor:
    """M linear layers at once: x (M, ..., I), weight_t (M, I, O) (transposed weights), bias (M, O) or None
    -> (M, ..., O)."""
    m, shape = weight_t.shape[0], x.shape
    flat = x.reshape(m, -1, shape[-1])
    y = torch.bmm(flat, weight_t) if bias is None else torch.baddbmm(bias[:, None, :], flat, weight_t)
    return y.view(*shape[:-1], weight_t.shape[-1])


def stack_parameters(modules) -> dict[str, Tensor]:
    """{name: (M, ...)} of M modules of the same structure, detached (inference and gradients with respect
    to the inputs; training goes through the modules themselves). Linear weights are stored transposed
    (name + '_t'), ready for stacked_linear."""
    states = [dict(m.named_parameters()) | dict(m.named_buffers()) for m in modules]
    out = {}
    with torch.no_grad():
        for name in states[0]:
            t = torch.stack([s[name].detach() for s in states])
            if name.endswith("weight") and t.dim() == 3:
                out[name + "_t"] = t.transpose(1, 2).contiguous()
            else:
                out[name] = t
    return out


def parameters_key(parameters) -> tuple:
    """Changes when any of the parameters is moved, cast or changed in place (a cache key)."""
    return tuple((p.data_ptr(), p._version, p.dtype) for p in parameters)


class StackedEncoders:
    """M GeometricEncoders of the same settings (ensemble members) run as one on graphs of a FixedTopology.

    forward(pos (B, N, D), inputs (B, N, in_features), topology) -> (nodes (M, B, N, F), pooled (M, B, F)):
    what each encoder's forward returns on the batch of these B graphs, reshaped. D is 3, or 2 for planar
    graphs whose z coordinates are all zero (the airfoil's): there every vector channel's z component stays
    exactly zero, so dropping it changes nothing but the cost. Differentiable with respect to pos and inputs;
    the weights are a detached stack (refreshed when a member's parameters change), so training uses
    GeometricEncoder.forward.

    compile: run each pass through torch.compile (inductor). Off by default: measured on this project's 2-core
    machine (one thread, BENCHMARKS "Airfoil surrogate throughput") it makes `airfoil_fast.pt` 1.8x faster at 64
    shapes x 16 angles, 2.35x with gradients and 1.55x for one point, but the first call of every new pass size
    and gradient mode compiles: 14-45 s the first time, 0.5-3.5 s in a later process (inductor caches its kernels
    on disk). It pays for long loops and batch runs, not for one-off calls. Whatever fails in compiling or running
    the compiled pass is reported once (a RuntimeWarning) and the eager pass runs instead.
    """

    def __init__(self, encoders, compile: bool = False):
        self.encoders = list(encoders)
        self._compiled = None
        if compile:
            # dynamo counts recompilations per code object, across instances: each model, pass size and gradient
            # mode is one, so a process comparing three models would fall back to eager after its default of 8
            dynamo = torch._dynamo.config
            dynamo.recompile_limit = max(dynamo.recompile_limit, 64)
            self._compiled = torch.compile(self._chunk, dynamic=False)
        first = self.encoders[0]
        if any(e.config != first.config for e in self.encoders):
            raise ValueError("stacked encoders must share their settings")
        self.hidden, self.cutoff, self.scale = first.config["hidden"], first.cutoff, first.message_scale
        self.vectors = first.vectors
        self.n_layers = len(first.messages)
        self._parameters = [p for e in self.encoders for p in e.parameters()]
        self._key, self._w = None, None

    def weights(self) -> dict[str, Tensor]:
        key = parameters_key(self._parameters)
        if key != self._key:
            w = stack_parameters(self.encoders)
            for layer in range(self.n_layers):
                p = f"messages.{layer}.filter."  # filter and bias as one matrix (M, R + 1, 3F): see _chunk
                w[p + "full"] = torch.cat([w.pop(p + "weight_t"), w.pop(p + "bias")[:, None, :]], dim=1)
                p = f"updates.{layer}."  # U and V as one matmul
                if self.vectors:
                    w[p + "UV.weight_t"] = torch.cat([w.pop(p + "U.weight_t"), w.pop(p + "V.weight_t")], dim=-1)
            self._key, self._w = key, w
        return self._w

    def __call__(
        self, pos: Tensor, inputs: Tensor, topology: FixedTopology, chunk: int | None = None
    ) -> tuple[Tensor, Tensor]:
        """chunk: graphs per pass (default: as many as keep one slot's messages (M, B, N, 3F) near CHUNK_BYTES).
        The graphs are independent, so the chunk only trades cache misses against per-call overhead."""
        if pos.shape[-2] != topology.n_nodes:
            raise ValueError(f"graphs of {pos.shape[-2]} nodes on a topology of {topology.n_nodes} nodes")
        w = self.weights()
        if chunk is None:
            width = 3 * self.hidden if self.vectors else self.hidden
            per_graph = w["embed.bias"].shape[0] * topology.n_nodes * width * pos.element_size()
            chunk = max(1, self.CHUNK_BYTES // max(per_graph, 1))
        parts = [
            self._pass(w, pos[i : i + chunk], inputs[i : i + chunk], topology) for i in range(0, pos.shape[0], chunk)
        ]
        if len(parts) == 1:
            return parts[0]
        return torch.cat([a for a, _ in parts], dim=1), torch.cat([b for _, b in parts], dim=1)

    #: Bytes of one neighbour slot's messages (M, B, N, 3F) per pass. Measured on this project's 2-core EPYC
    #: (1 thread, 16 shapes, 5 members: 0.5 MB per graph): 1 or 2 graphs per pass about equal, 4 per pass 10-15 %
    #: slower, 64 per pass 2-4x slower: the work is memory-bound, not arithmetic-bound.
    CHUNK_BYTES = 2**20

    def _pass(self, w: dict, pos: Tensor, inputs: Tensor, topology: FixedTopology) -> tuple[Tensor, Tensor]:
        if self._compiled is not None:
            try:
                return self._compiled(w, pos, inputs, topology)
            except Exception as exc:  # inductor needs a C++ toolchain and may meet ops it cannot lower
                warnings.warn(
                    f"torch.compile of the airfoil fast path failed ({type(exc).__name__}: "
                    f"{' '.join(str(exc).split())[:200]}); running it eagerly",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._compiled = None
        return self._chunk(w, pos, inputs, topology)

    def _chunk(self, w: dict, pos: Tensor, inputs: Tensor, topology: FixedTopology) -> tuple[Tensor, Tensor]:
        f, first, silu = self.hidden, self.encoders[0], torch.nn.functional.silu
        n_graphs, n, k = pos.shape[0], topology.n_nodes, topology.k
        vec = pos.index_select(1, topology.neighbours.flatten()).view(n_graphs, n, k, -1) - pos[:, :, None]
        dist = torch.sqrt(torch.sum(vec**2, dim=-1) + 1e-12)  # (B, N, K): centre i -> its k-th neighbour j
        unit = vec / dist[..., None]  # (B, N, K, D)
        d = dist.flatten(1)[:, topology.pair_slot]  # (B, P): one distance per undirected pair
        envelope = cosine_cutoff(d, self.cutoff)
        # filter(rbf) * envelope = [rbf * envelope, envelope] @ [W; b]: one matmul per layer and pair; a zero row
        # appended for the padding slots' pair
        z = torch.cat([first.rbf(d.flatten()).view(*d.shape, -1) * envelope[..., None], envelope[..., None]], -1)
        z = torch.nn.functional.pad(z, (0, 0, 0, 1)).flatten(0, 1)  # (B * (P + 1), R + 1)
        s = torch.matmul(inputs.to(pos.dtype).reshape(-1, inputs.shape[-1]), w["embed.weight_t"])
        s = (s + w["embed.bias"][:, None, :]).view(-1, n_graphs, n, f)  # (M, B, N, F)
        v = None  # (M, B, N, D, F); zero before the first layer
        for layer in range(self.n_layers):
            p = f"messages.{layer}."
            phi = stacked_linear(
                silu(stacked_linear(s, w[p + "phi.0.weight_t"], w[p + "phi.0.bias"])),
                w[p + "phi.2.weight_t"],
                w[p + "phi.2.bias"],
            )  # (M, B, N, 3F), (M, B, N, F) without vectors
            # per member: (B (P + 1), R + 1) @ (R + 1, 3F) as a bmm of an expanded z, so that the filters come
            # out pair by pair (matmul's broadcast gave inductor a channel-major layout: strided gathers, 2x slower)
            w_filter = w[p + "filter.full"]
            filt = torch.bmm(z.expand(w_filter.shape[0], -1, -1), w_filter)
            filt = filt.view(-1, n_graphs, topology.n_pairs + 1, phi.shape[-1])
            if not self.vectors:
                ds = s.new_zeros(s.shape)
                for j in range(k):
                    ds.add_(filt.index_select(2, topology.pair_columns[j]) * phi.index_select(2, topology.columns[j]))
                s = s + self.scale * ds
                p = f"updates.{layer}."
                s = s + stacked_linear(
                    silu(stacked_linear(s, w[p + "mlp.0.weight_t"], w[p + "mlp.0.bias"])),
                    w[p + "mlp.2.weight_t"],
                    w[p + "mlp.2.bias"],
                )
                s = self._layer_norm(s, w, layer)
                continue
            ds, dv = FixedTopologyMessages.apply(
                filt, phi, v, unit, topology.columns, topology.pair_columns, topology.ends, topology.pair_slot
            )
            s = s + self.scale * ds
            v = self.scale * dv if v is None else v + self.scale * dv
            p = f"updates.{layer}."
            uv, vv = stacked_linear(v, w[p + "UV.weight_t"], None).split(f, dim=-1)
            norm = torch.sqrt(torch.sum(vv**2, dim=-2) + 1e-8)
            h = stacked_linear(
                silu(stacked_linear(torch.cat([s, norm], dim=-1), w[p + "mlp.0.weight_t"], w[p + "mlp.0.bias"])),
                w[p + "mlp.2.weight_t"],
                w[p + "mlp.2.bias"],
            )
            a_vv, a_sv, a_ss = h.split(f, dim=-1)
            s, v = s + a_ss + a_sv * torch.sum(uv * vv, dim=-2), v + a_vv[..., None, :] * uv
            s = self._layer_norm(s, w, layer)
            rms = torch.sqrt(torch.mean(torch.sum(v**2, dim=-2), dim=-1, keepdim=True) + 1e-6)
            v = v / rms[..., None].clamp_min(1.0)
        return s, s.mean(dim=2)

    def _layer_norm(self, s: Tensor, w: dict, layer: int) -> Tensor:
        p = f"norms.{layer}."
        s = torch.nn.functional.layer_norm(s, (self.hidden,), eps=self.encoders[0].norms[layer].eps)
        return s * w[p + "weight"][:, None, None, :] + w[p + "bias"][:, None, None, :]
