"""A graph-free baseline for the airfoil surrogate: a plain MLP on the contour's station y values.

Input per point (132): the 129 node y/c values of phenograd's airfoil graph (upper
then lower surface at the fixed cosine chord stations, graphs.py; times 10) and
the scaled operating point (alpha/10, log10 Re - 6, (Ncrit - 9)/3). Output: the
normalised CL, ln CD, CM, Top_Xtr, Bot_Xtr and a convergence logit, with the same
loss as phenograd's airfoil training (train_airfoil.py). Three hidden layers of
256 SiLU units, AdamW lr 1e-3, cosine schedule, batches of 256 points. It shows
what the shape information alone gives with a model that takes many cheap steps;
the benchmark row beside phenograd's says how far the graph encoder is from it.
"""

from __future__ import annotations

import numpy as np
import torch

from phenograd.surrogate.train_airfoil import target_normalisation

WIDTH, LR, BATCH_POINTS = 256, 1e-3, 256


def station_inputs(data, points: torch.Tensor) -> torch.Tensor:
    """(P, 132) MLP inputs of the given point indices of AirfoilPoints."""
    y = torch.stack([g.pos[:, 1] for g in data.graphs]) * 10.0
    return torch.cat([y[data.point_shape[points]], data.cond[points]], dim=1)


def train_station_mlp(data, train_shapes: np.ndarray, seed: int, epochs: int = 60) -> torch.nn.Module:
    """One MLP member trained on every point of train_shapes; returns a module mapping inputs (P, 132)
    to (values (P, 5) in physical units, convergence logit (P,))."""
    torch.manual_seed(seed)
    mean, std = target_normalisation(data, train_shapes)
    net = torch.nn.Sequential(torch.nn.Linear(132, WIDTH), torch.nn.SiLU(), torch.nn.Linear(WIDTH, WIDTH),
                              torch.nn.SiLU(), torch.nn.Linear(WIDTH, WIDTH), torch.nn.SiLU(), torch.nn.Linear(WIDTH, 6))
    points = torch.nonzero(torch.isin(data.point_shape, torch.as_tensor(train_shapes))).flatten()
    inputs = station_inputs(data, points)
    targets, converged = data.targets[points], data.converged[points]
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(points), generator=gen)
        for i in range(0, len(order), BATCH_POINTS):
            idx = order[i : i + BATCH_POINTS]
            out, t, c = net(inputs[idx]), targets[idx], converged[idx]
            ok = c[:, None] & torch.isfinite(t)
            err = out[:, :5] - (torch.where(ok, t, mean) - mean) / std
            loss = (err[ok] ** 2).mean() + 0.2 * torch.nn.functional.binary_cross_entropy_with_logits(out[:, 5], c.float())
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()

    def predict(x: torch.Tensor):
        with torch.no_grad():
            out = net(x)
        return out[:, :5] * std + mean, out[:, 5]

    return predict


def station_mlp_predictions(data, train_shapes: np.ndarray, points: torch.Tensor, members: int, epochs: int = 60):
    """Ensemble-mean values (P, 5) and mean convergence probability (P,) at the given point indices."""
    x = station_inputs(data, points)
    outs = [train_station_mlp(data, train_shapes, seed, epochs)(x) for seed in range(members)]
    values = torch.stack([o[0] for o in outs]).mean(0)
    prob = torch.stack([torch.sigmoid(o[1]) for o in outs]).mean(0)
    return values.numpy(), prob.numpy()
