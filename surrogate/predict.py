"""Use a trained surrogate from Python: batched, differentiable predictions.

    from phenograd import load_surrogate
    model = load_surrogate("MODEL.pt")             # or load_surrogate(domain="airfoil"): the shipped model
    out = model.predict_airfoil(cst, alpha=torch.linspace(-4, 12, 17), reynolds=1e6)
    out["CL"].sum().backward()          # gradients reach the CST tensor

    cat = load_surrogate(domain="catalyst")
    cat.predict_adsorption([atoms1, atoms2])        # {"E_ads": (S,), "std": (S,)} in eV

Outputs are dicts of tensors of shape (B, P) for B shapes and P angles: the
ensemble mean of CL, CD (exp of the mean ln CD), CM, Top_Xtr, Bot_Xtr, the
ensemble standard deviation of each (CD's as the std of ln CD, i.e. relative),
calibrated by the checkpoint's per-target scale (fitted on validation data),
and `confidence`, the mean predicted probability that XFOIL converges (at 160 panels, or at 200 or 240
where 160 fails: what optimize/airfoil_verify.py does; datasets/airfoil_fallback.py).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import torch
from torch_geometric.data import Batch

from phenograd.core.errors import InputError

from .domain import domain_names, get_domain
from .elements import model_elements, unseen_elements
from .encoder import FixedTopology, StackedEncoders, parameters_key, stack_parameters, stacked_linear
from .graphs import (
    AIRFOIL_STATIONS,
    airfoil_edges,
    airfoil_graph,
    airfoil_graph_from_cst,
    airfoil_nodes,
    airfoil_nodes_from_cst,
    airfoil_surfaces,
    atoms_graph,
    encoder_stations,
)
from .heads import AIRFOIL_TARGETS, conditions
from .model import Ensemble, load_checkpoint, shipped_model_path


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (AVX512-BF16 or AMX, as oneDNN reports it); elsewhere
    torch emulates bfloat16 products, slower than float32 ones."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def _needs_grad(*inputs) -> bool:
    """True when autograd is on and any input tensor (or tensor in a list) requires grad. The
    predictions are differentiable in their inputs only; recording the graph for inputs that do not
    need it (plain inference) made a 64-shape airfoil prediction 2.5x slower."""
    if not torch.is_grad_enabled():
        return False
    for x in inputs:
        items = x if isinstance(x, (list, tuple)) else [x]
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in items):
            return True
    return False


@lru_cache(maxsize=4)
def airfoil_topology(stations: int = AIRFOIL_STATIONS) -> FixedTopology:
    """The airfoil contour graph's topology (the same for every shape of a resolution) as a dense neighbour
    table."""
    return FixedTopology(airfoil_edges(stations), 2 * stations - 1)


class AirfoilSurrogate:
    """A loaded airfoil ensemble. `info` holds the checkpoint's domain, data hash and meta.

    fast (default True): encode through the fixed-topology path (encoder.StackedEncoders: the contour graph's
    one topology as a dense neighbour table, all members in one batched call, the nodes of a whole batch of
    CST vectors built in one vectorised call) and run the members' heads as one batched call; the same
    function as the graph path (fast False: a torch_geometric batch through each member in turn) to float
    rounding, with gradients with respect to CST and contour tensors either way. compile: the fast path's
    encoder through torch.compile (see encoder.StackedEncoders; off by default, falls back to eager).

    precision: "float32" (default) or "bfloat16": the fast path's encoder then takes its matrix products in
    bfloat16 (torch.autocast) whenever no gradient is recorded; outputs stay in the model's dtype, and calls that
    record gradients (the optimizers') keep float32, whose derivatives quasi-Newton solvers need. Measured on
    `airfoil_fast.pt` (BENCHMARKS.md "Airfoil surrogate"): held-out MAE within 0.2 % of float32, 1.7x the
    predictions a second compiled, on a CPU with native bfloat16 (AVX512-BF16 or AMX; elsewhere emulated and
    slower: a RuntimeWarning says so).
    """

    PRECISIONS = ("float32", "bfloat16")

    def __init__(
        self, ensemble: Ensemble, info: dict, fast: bool = True, compile: bool = False, precision: str = "float32"
    ):
        if precision not in self.PRECISIONS:
            raise InputError(f"precision {precision!r}: choose one of {', '.join(self.PRECISIONS)}")
        if precision != "float32" and not fast:
            raise InputError(f"precision {precision!r} needs the fast path (fast=True)")
        if precision == "bfloat16" and not native_bfloat16():
            warnings.warn(
                "this CPU has no native bfloat16 products (AVX512-BF16 or AMX): precision='bfloat16' is emulated "
                "and slower than float32 here",
                RuntimeWarning,
                stacklevel=2,
            )
        self.ensemble = ensemble
        self.info = info
        self.fast = fast
        self.compile = compile
        self.precision = precision
        self._stacked = None  # (parameters key, StackedEncoders, stacked head weights)
        self._parameters = None  # (the ensemble, its parameters)
        # chord stations per surface of the graphs the model was trained on (its encoder settings record them)
        self.stations = encoder_stations(ensemble.members[0].encoder.config)

    def stacked(self) -> tuple[StackedEncoders, dict]:
        """The members' encoders and heads with their weights stacked (rebuilt when a weight changes)."""
        members = list(self.ensemble.members)
        if self._parameters is None or self._parameters[0] is not self.ensemble:  # a new or copied ensemble
            self._parameters = (self.ensemble, [p for m in members for p in m.parameters()])
        key = parameters_key(self._parameters[1])
        if self._stacked is None or self._stacked[0] != key:
            self._stacked = (
                key,
                StackedEncoders([m.encoder for m in members], compile=self.compile),
                stack_parameters([m.head for m in members]),
            )
        return self._stacked[1], self._stacked[2]

    def nodes(self, shapes) -> tuple[torch.Tensor, torch.Tensor]:
        """Node positions (B, N, 3) and inputs (B, N, 4) of the shapes' contour graphs, in the model's dtype:
        a batch of CST vectors in one vectorised call; contours are canonicalised one by one (any point count)."""
        if isinstance(shapes, torch.Tensor) and shapes.dim() in (1, 2) and shapes.shape[-1] == 18:
            pos, x = airfoil_nodes_from_cst(shapes.reshape(-1, 18), self.stations)
        else:
            seq = shapes if isinstance(shapes, (list, tuple)) else [shapes]
            surfaces = [airfoil_surfaces(torch.as_tensor(c, dtype=torch.float64), self.stations) for c in seq]
            pos, x = airfoil_nodes(torch.stack([u for u, _ in surfaces]), torch.stack([lo for _, lo in surfaces]))
        dtype = next(self.ensemble.parameters()).dtype
        return pos.to(dtype), x.to(dtype)

    def _graphs(self, shapes) -> Batch:
        if isinstance(shapes, torch.Tensor) and shapes.dim() == 2 and shapes.shape[-1] == 18:
            graphs = [airfoil_graph_from_cst(p, self.stations) for p in shapes]
        elif isinstance(shapes, torch.Tensor) and shapes.dim() == 1 and shapes.shape[-1] == 18:
            graphs = [airfoil_graph_from_cst(shapes, self.stations)]
        else:
            seq = shapes if isinstance(shapes, (list, tuple)) else [shapes]
            graphs = [airfoil_graph(c, self.stations) for c in seq]
        dtype = next(self.ensemble.parameters()).dtype  # float32 as trained; float64 after .double()
        for g in graphs:
            g.pos, g.x = g.pos.to(dtype), g.x.to(dtype)
        return Batch.from_data_list(graphs)

    def predict_airfoil(self, shapes, alpha, reynolds, ncrit: float = 9.0) -> dict[str, torch.Tensor]:
        """Predict polars.

        shapes: a CST tensor (18,) or (B, 18), or a contour (M, 2) / list of contours.
        alpha: angles in degrees, (P,); reynolds, ncrit: scalars or (P,) tensors.
        Returns tensors (B, P) keyed CL, CD, CM, Top_Xtr, Bot_Xtr (x/c), confidence (probability that XFOIL
        converges) and <key>_std, the calibrated ensemble std; CD_std is the std of ln CD, i.e. relative
        (0.09 = 9 % of CD). Differentiable with respect to CST tensors and contour tensors
        (with autograd off, or no input requiring grad, no graph is recorded).
        """
        with torch.set_grad_enabled(_needs_grad(shapes, alpha, reynolds, ncrit)):
            return self.predict_from_embedding(self.shape_embedding(shapes), alpha, reynolds, ncrit)

    def shape_embedding(self, shapes) -> torch.Tensor:
        """Every member's shape encoding (M, B, D) — all the heads see of a shape;
        differentiable with respect to CST and contour tensors."""
        if self.fast:
            return self.embedding_of_nodes(*self.nodes(shapes))
        graphs = self._graphs(shapes)
        return torch.stack([member.airfoil_shape_embedding(graphs) for member in self.ensemble.members])

    def embedding_of_nodes(self, pos: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """shape_embedding (M, B, D) of contour graphs given by their node positions (B, N, 3) and inputs
        (B, N, 4) (``nodes``, or the graphs of a dataset stacked), through the fixed-topology path."""
        encoders, _ = self.stacked()
        low = self.precision == "bfloat16" and not torch.is_grad_enabled()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=low):
            nodes, pooled = encoders(pos[..., :2], x, airfoil_topology(self.stations))  # planar: z is zero
        nodes, pooled = nodes.to(pos.dtype), pooled.to(pos.dtype)
        members = self.ensemble.members
        if not any(m.head.stations or m.head.station_y for m in members):
            return pooled
        return torch.stack(
            [m.head.shape_embedding(nodes[k].flatten(0, 1), pooled[k], x.flatten(0, 1)) for k, m in enumerate(members)]
        )

    def predict_from_embedding(
        self, embedding: torch.Tensor, alpha, reynolds, ncrit: float = 9.0, shape_index: torch.Tensor | None = None
    ) -> dict:
        """Polars (B, P) from shape encodings (M, B, D) (``shape_embedding``): the heads alone,
        cheap next to the encoder, so derivatives can be taken at the encoding first (the
        optimizer does: one batched backward pass through the encoders for every row).
        With shape_index (P,) (long, into the B shapes) point k is shape shape_index[k] at alpha[k],
        reynolds[k], ncrit[k] instead, and every output is (P,)."""
        n_shapes = embedding.shape[1]
        dtype = embedding.dtype
        alpha = torch.as_tensor(alpha, dtype=dtype).reshape(-1)
        p = alpha.numel()
        re = torch.as_tensor(reynolds, dtype=dtype).expand(p)
        nc = torch.as_tensor(ncrit, dtype=dtype).expand(p)
        if torch.any(re <= 0) or not torch.all(torch.isfinite(alpha)):
            raise InputError("Reynolds numbers must be positive and angles finite")
        shape = (n_shapes, p) if shape_index is None else (p,)
        if self.fast:
            values, logits = self.stacked_heads(embedding, conditions(alpha, re, nc).to(dtype), shape_index)
        else:
            cond = conditions(alpha, re, nc)
            cond = cond.repeat(n_shapes, 1) if shape_index is None else cond
            point_graph = torch.arange(n_shapes).repeat_interleave(p) if shape_index is None else shape_index
            outs = [member.head(z[point_graph], cond) for member, z in zip(self.ensemble.members, embedding)]
            values, logits = torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])  # (M, B*P, 5)
        mean, std = values.mean(0), values.std(0) if values.shape[0] > 1 else torch.zeros_like(values[0])
        scales = self.info["meta"].get("std_scale", {})
        out = {}
        for k, name in enumerate(AIRFOIL_TARGETS):
            key = "CD" if name == "lnCD" else name
            m = torch.exp(mean[:, k]) if name == "lnCD" else mean[:, k]
            out[key] = m.reshape(shape)
            out[f"{key}_std"] = (std[:, k] * scales.get(name, 1.0)).reshape(shape)
        out["confidence"] = torch.sigmoid(logits).mean(0).reshape(shape)
        return out

    def stacked_heads(
        self,
        embedding: torch.Tensor,
        cond: torch.Tensor,
        shape_index: torch.Tensor | None = None,
        last_hidden: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Every member's head at every shape and point at once: embedding (M, B, D), cond (P, 3) ->
        values (M, B * P, 5), logits (M, B * P) (with shape_index (P,): (M, P, 5), (M, P), point k on shape
        shape_index[k]). The first layer is split into its shape and operating-point columns, so a shape's
        embedding goes through it once for all its points. last_hidden: the last layer's inputs (M, ..., width)
        in place of the values (what surrogate/airfoil_convergence_refit.py fits the convergence row on)."""
        _, w = self.stacked()
        d = embedding.shape[-1]
        first = w["net.0.weight_t"]  # (M, D + 3, width)
        zw, cw = torch.bmm(embedding, first[:, :d]), torch.matmul(cond, first[:, d:])  # (M, B, width), (M, P, width)
        if shape_index is None:
            h = (zw[:, :, None, :] + cw[:, None, :, :] + w["net.0.bias"][:, None, None, :]).flatten(1, 2)
        else:
            h = zw[:, shape_index] + cw + w["net.0.bias"][:, None, :]  # (M, P, width)
        depth = self.ensemble.members[0].head.config["depth"]
        for i in range(2, 2 * depth + 1, 2):
            hidden = torch.nn.functional.silu(h)
            h = stacked_linear(hidden, w[f"net.{i}.weight_t"], w[f"net.{i}.bias"])
        if last_hidden:
            return hidden, h[..., -1]
        return h[..., :-1] * w["std"][:, None, :] + w["mean"][:, None, :], h[..., -1]


class CatalystSurrogate:
    """A loaded catalyst (IS2RE-direct E_ads) ensemble."""

    def __init__(self, ensemble: Ensemble, info: dict):
        self.ensemble = ensemble
        self.info = info
        self.cutoff = float(info["encoder"]["cutoff"])
        self.elements = model_elements(info["meta"])  # what it was trained on (elements.py)

    def check_elements(self, symbols, what: str = "structure") -> None:
        """InputError naming the first of symbols that this model never saw in training (its predictions
        there would be the untrained embedding of that element)."""
        unseen = unseen_elements(symbols, self.elements)
        if unseen:
            raise InputError(
                f"{what}: element {unseen[0]} is outside this model's training data ({', '.join(self.elements)})"
            )

    def graphs(self, structures, element_probs=None, positions=None) -> Batch:
        """Batch of atom graphs. element_probs / positions: optional per-structure tensors
        (N_i, len(ELEMENTS)) / (N_i, 3) Å replacing the atoms' own (gradients flow to them)."""
        structures = list(structures)
        probs = element_probs if element_probs is not None else [None] * len(structures)
        pos = positions if positions is not None else [None] * len(structures)
        graphs = []
        for k, (atoms, p, x) in enumerate(zip(structures, probs, pos)):
            if p is None:
                self.check_elements(atoms.get_chemical_symbols(), f"structure {k}")
            try:
                graphs.append(atoms_graph(atoms, element_probs=p, cutoff=self.cutoff, positions=x))
            except ValueError as exc:
                raise InputError(f"structure {k}: {exc}") from None
        return Batch.from_data_list(graphs)

    def predict_adsorption(self, structures, element_probs=None, positions=None, batch_size: int = 256) -> dict:
        """E_ads (S,) and its ensemble std (S,) in eV for a list of ase.Atoms with OC20 tags
        (initial, unrelaxed structures). Differentiable in element_probs and positions."""
        structures = list(structures)
        for k, atoms in enumerate(structures):
            if 2 not in set(int(t) for t in atoms.get_tags()):
                raise InputError(f"structure {k} ({atoms.get_chemical_formula()}): no adsorbate (no atom tagged 2)")
        outs = []
        with torch.set_grad_enabled(_needs_grad(element_probs, positions)):
            for i in range(0, len(structures), batch_size):
                sl = slice(i, i + batch_size)
                outs.append(
                    self.ensemble(
                        self.graphs(
                            structures[sl],
                            None if element_probs is None else element_probs[sl],
                            None if positions is None else positions[sl],
                        )
                    )
                )
        members = torch.cat(outs, 1) if outs else torch.zeros((len(self.ensemble.members), 0))
        std = members.std(0) if members.shape[0] > 1 else torch.zeros_like(members[0])
        return {"E_ads": members.mean(0), "std": std * self.info["meta"].get("std_scale", {}).get("E_ads", 1.0)}


def load_surrogate(path=None, domain: str | None = None):
    """Load a model checkpoint, or the model shipped with phenograd for `domain` when path is None.

    Returns the domain's predictor (Domain.predictor: an AirfoilSurrogate or a CatalystSurrogate);
    InputError (one line) if the file cannot be used or is of another domain than the one asked for.

    Args:
        path: a checkpoint file (phenograd train writes them), or None for the shipped model of `domain`.
        domain: the domain the model must be of (a registered name: "airfoil", "catalyst"); None accepts any
            file's own domain (a path is then required).
    """
    if path is None:
        if domain is None:
            raise InputError(f"give a model file or a domain ({' or '.join(domain_names())}) for the shipped model")
        path = shipped_model_path(domain)
    if domain is not None:
        get_domain(domain)  # InputError for an unknown one
    ensemble, info = load_checkpoint(path, domain)
    return get_domain(info["domain"]).predictor(ensemble, info)
