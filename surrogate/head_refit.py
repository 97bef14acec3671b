"""Second training stage of an airfoil surrogate: refit the head on the frozen encoder's features.

End-to-end training (train_airfoil.py) encodes whole shapes, so a step sees every point of
a few shapes (batch 8 shapes, ~500 points): the head's regression of the polar on the
shape embedding gets gradients from 8 shapes per step, while a plain MLP on the station y
values (benchmarks/station_mlp.py), whose 256-point batches span ~200 shapes, beats the
graph model on the held-out airfoils. Here the encoder is fixed after end-to-end training,
every shape's node scalars are computed once, and the head alone is trained further on point
batches drawn across all training shapes: as many cheap, diverse steps as the MLP takes. The
start state is a candidate too, so the refit never raises the validation loss it is chosen on
(early stopping; the idea of last-layer retraining, Kirichenko et al., ICLR 2023). What it gains
after a short and after a full end-to-end run: surrogate/models/README.md, "Measurements behind the defaults".
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .trainer import cpu_state

ENCODE_BATCH = 64  # shapes per encoder pass when caching features


def cached_features(model, graphs: list, device) -> tuple[Tensor, Tensor, Tensor]:
    """Frozen encoder outputs for every graph (S graphs of N nodes each): node scalars (S, N, F), pooled (S, F)
    and raw node inputs (S, N, in_features), computed without gradients."""
    from torch_geometric.data import Batch

    nodes, pooled, inputs = [], [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(graphs), ENCODE_BATCH):
            batch = Batch.from_data_list(graphs[i : i + ENCODE_BATCH]).to(device)
            n, p = model.encoder(batch)
            nodes.append(n.reshape(p.shape[0], -1, n.shape[-1]))
            pooled.append(p)
            x = model.encoder.node_inputs(batch)
            inputs.append(x.reshape(p.shape[0], -1, x.shape[-1]))
    model.train()
    return torch.cat(nodes), torch.cat(pooled), torch.cat(inputs)


def point_loss(
    head,
    features,
    shape_of_point: Tensor,
    cond: Tensor,
    targets: Tensor,
    converged: Tensor,
    conv_weight: float,
    huber_delta: float = 0.0,
    target_weights: tuple[float, ...] | None = None,
) -> Tensor:
    """The airfoil training loss (AirfoilHead.loss) of points whose shapes' cached features are given;
    shape_of_point (P,) indexes the features' first dimension."""
    nodes, pooled, inputs = features
    shapes, local = torch.unique(shape_of_point, return_inverse=True)
    emb = head.shape_embedding(nodes[shapes].flatten(0, 1), pooled[shapes], inputs[shapes].flatten(0, 1))
    values, logit = head(emb[local], cond)
    return head.loss(values, logit, targets, converged, conv_weight, huber_delta, target_weights)


def refit_airfoil_head(
    model,
    data,
    train_shapes: np.ndarray,
    val_shapes: np.ndarray,
    epochs: int,
    conv_weight: float,
    device,
    seed: int,
    batch_points: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    huber_delta: float = 0.0,
    target_weights: tuple[float, ...] | None = None,
) -> dict:
    """Train model.head (in place) for up to `epochs` passes over the training points in shuffled batches of
    batch_points points, encoder frozen; keep the state of lowest validation loss (the start state included).

    data: AirfoilPoints; huber_delta, target_weights: the loss (AirfoilHead.loss). Returns {"start_val": loss before,
    "best_val": after, "best_epoch": 0 if unchanged}.
    """
    shapes = np.concatenate([train_shapes, val_shapes])
    features = cached_features(model, [data.graphs[i] for i in shapes], device)
    row = torch.full((len(data.graphs),), -1, dtype=torch.long)
    row[torch.as_tensor(shapes)] = torch.arange(len(shapes))

    def points(of: np.ndarray):
        idx = torch.nonzero(torch.isin(data.point_shape, torch.as_tensor(of))).flatten()
        return (
            row[data.point_shape[idx]].to(device),
            data.cond[idx].to(device),
            data.targets[idx].to(device),
            data.converged[idx].to(device),
        )

    train, val = points(train_shapes), points(val_shapes)
    head = model.head

    def val_loss() -> float:
        head.eval()
        with torch.no_grad():
            loss = point_loss(head, features, *val, conv_weight, huber_delta, target_weights).item()
        head.train()
        return loss

    start = best = val_loss()
    best_state, best_epoch = cpu_state(head), 0
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    n = len(train[0])
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        for i in range(0, n, batch_points):
            idx = order[i : i + batch_points]
            loss = point_loss(head, features, *(t[idx] for t in train), conv_weight, huber_delta, target_weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        current = val_loss()
        if current < best:
            best, best_epoch = current, epoch
            best_state = cpu_state(head)
    head.load_state_dict(best_state)
    return {"start_val": start, "best_val": best, "best_epoch": best_epoch}
