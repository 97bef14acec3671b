"""Use a trained airfoil surrogate from Python: batched, differentiable predictions.

    from phenograd.surrogate.predict import load_surrogate
    model = load_surrogate("MODEL.pt")
    out = model.predict_airfoil(cst, alpha=torch.linspace(-4, 12, 17), reynolds=1e6)
    out["CL"].sum().backward()          # gradients reach the CST tensor

Outputs are dicts of tensors of shape (B, P) for B shapes and P angles: the
ensemble mean of CL, CD (exp of the mean ln CD), CM, Top_Xtr, Bot_Xtr, the
ensemble standard deviation of each (CD's as the std of ln CD, i.e. relative),
and `confidence`, the mean predicted probability that XFOIL converges.
"""

from __future__ import annotations

import torch
from torch_geometric.data import Batch

from phenograd.simulators.errors import InputError

from .graphs import airfoil_graph, airfoil_graph_from_cst
from .heads import AIRFOIL_TARGETS, conditions
from .model import Ensemble, load_checkpoint


class AirfoilSurrogate:
    """A loaded airfoil ensemble. `info` holds the checkpoint's domain, data hash and meta."""

    def __init__(self, ensemble: Ensemble, info: dict):
        self.ensemble = ensemble
        self.info = info

    def _graphs(self, shapes) -> Batch:
        if isinstance(shapes, torch.Tensor) and shapes.dim() == 2 and shapes.shape[-1] == 18:
            graphs = [airfoil_graph_from_cst(p) for p in shapes]
        elif isinstance(shapes, torch.Tensor) and shapes.dim() == 1 and shapes.shape[-1] == 18:
            graphs = [airfoil_graph_from_cst(shapes)]
        else:
            seq = shapes if isinstance(shapes, (list, tuple)) else [shapes]
            graphs = [airfoil_graph(c) for c in seq]
        for g in graphs:
            g.pos, g.x = g.pos.float(), g.x.float()
        return Batch.from_data_list(graphs)

    def predict_airfoil(self, shapes, alpha, reynolds, ncrit: float = 9.0) -> dict[str, torch.Tensor]:
        """Predict polars.

        shapes: a CST tensor (18,) or (B, 18), or a contour (M, 2) / list of contours.
        alpha: angles in degrees, (P,); reynolds, ncrit: scalars or (P,) tensors.
        Returns tensors (B, P); differentiable with respect to CST tensors and contour tensors.
        """
        graphs = self._graphs(shapes)
        n_shapes = graphs.num_graphs
        alpha = torch.as_tensor(alpha, dtype=torch.float32).reshape(-1)
        p = alpha.numel()
        re = torch.as_tensor(reynolds, dtype=torch.float32).expand(p)
        nc = torch.as_tensor(ncrit, dtype=torch.float32).expand(p)
        if torch.any(re <= 0) or not torch.all(torch.isfinite(alpha)):
            raise InputError("Reynolds numbers must be positive and angles finite")
        cond = conditions(alpha, re, nc).repeat(n_shapes, 1)
        point_graph = torch.arange(n_shapes).repeat_interleave(p)
        values, logits = self.ensemble(graphs, point_graph, cond)  # (M, B*P, 5), (M, B*P)
        mean, std = values.mean(0), values.std(0) if values.shape[0] > 1 else torch.zeros_like(values[0])
        out = {}
        for k, name in enumerate(AIRFOIL_TARGETS):
            key = "CD" if name == "lnCD" else name
            m = torch.exp(mean[:, k]) if name == "lnCD" else mean[:, k]
            out[key] = m.reshape(n_shapes, p)
            out[f"{key}_std"] = std[:, k].reshape(n_shapes, p)
        out["confidence"] = torch.sigmoid(logits).mean(0).reshape(n_shapes, p)
        return out


def load_surrogate(path) -> AirfoilSurrogate:
    """Load an airfoil model checkpoint (InputError with a one-line reason if it cannot be used)."""
    ensemble, info = load_checkpoint(path)
    if info["domain"] != "airfoil":
        raise InputError(f"{path}: a {info['domain']} model; load_surrogate serves airfoil models for now")
    return AirfoilSurrogate(ensemble, info)
