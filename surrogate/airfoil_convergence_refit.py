"""Refit an airfoil model's convergence output on a dataset's convergence labels; every other output unchanged.

The convergence probability is the sigmoid of one row of each member head's last linear layer. When the labels
change meaning but the shapes do not (datasets/airfoil_fallback.py: a point counts as converged when XFOIL
converges at 160 panels or at a finer retry, as in design verification), that row alone is refitted: an
L2-regularised logistic regression on the head's last hidden layer (frozen encoder and hidden layers), pulled
toward the current row, on the training shapes; the pull is chosen on the validation shapes' cross-entropy, the
current row (no refit) being a candidate too. The values (CL, CD, CM, transition), their std and the weights of
every other layer are bit for bit those of the input model. While the retries are under way, only the shapes whose
labels are final and form a fair sample are used (datasets/airfoil_fallback.settled_shapes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from phenograd.core.errors import InputError

PULLS = (1e-4, 1e-3, 1e-2, 1e-1)  # L2 weight toward the current row, per point (mean loss)
LABEL_PROTOCOL = "XFOIL converged at the polar's panelling or at a finer retry (datasets/airfoil_fallback.py)"


def _mean_bce(z: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(y * log_expit(z) + (1 - y) * log_expit(-z)))


def fit_row(hidden: np.ndarray, labels: np.ndarray, row: np.ndarray, pull: float) -> np.ndarray:
    """Weights and bias (W + 1,) minimising the mean binary cross-entropy of sigmoid(hidden @ w + b) against
    labels (P,) plus pull / 2 x the squared distance to `row` (W + 1,); hidden (P, W)."""
    x = np.hstack([hidden, np.ones((hidden.shape[0], 1), dtype=hidden.dtype)]).astype(np.float64)
    y = labels.astype(np.float64)

    def loss_and_grad(theta):
        z = x @ theta
        d = theta - row
        loss = _mean_bce(z, y) + 0.5 * pull * d @ d
        grad = x.T @ (expit(z) - y) / len(y) + pull * d
        return loss, grad

    res = minimize(loss_and_grad, row.astype(np.float64), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x


def _features(ensemble, data, shapes: np.ndarray):
    from .evaluate import predict_airfoil_points

    hidden, logits, mask = predict_airfoil_points(ensemble, data, shapes, last_hidden=True)
    return hidden.double().numpy(), data.converged[mask].numpy().astype(float)


def refit_convergence(model_path, data_path, out=None) -> dict:
    """Refit the convergence row of every member of the airfoil model at `model_path` on the dataset at
    `data_path` (train shapes fit, validation shapes choose the pull) and write the checkpoint (to `out`, else in
    place; atomically). Returns {"pull", "val_bce": {pull: bce}, "train_shapes", "val_shapes", "left_out"}."""
    from phenograd.datasets.airfoil_fallback import settled_shapes
    from phenograd.datasets.polar_store import PolarStore

    from .airfoil_data import load_airfoil_points
    from .model import load_checkpoint, save_checkpoint

    ensemble, info = load_checkpoint(model_path, domain="airfoil")
    if not Path(data_path).is_file():
        raise InputError(f"no polar dataset at {data_path}")
    with PolarStore.open_readonly(data_path) as store:
        settled = settled_shapes(store)
    data = load_airfoil_points(data_path)
    keep = np.array([sid in settled for sid in data.shape_ids])
    train, val = (np.array([i for i in data.shapes_in(s) if keep[i]], dtype=int) for s in ("train", "val"))
    if len(train) < 10 or len(val) < 2:
        raise InputError(
            f"{data_path}: {len(train)} training and {len(val)} validation shapes with final labels; "
            "a convergence refit needs at least 10 and 2"
        )
    heads = [m.head.net[-1] for m in ensemble.members]
    rows = [
        np.concatenate([h.weight[-1].detach().double().numpy(), h.bias[-1:].detach().double().numpy()]) for h in heads
    ]
    train_h, train_y = _features(ensemble, data, train)
    val_h, val_y = _features(ensemble, data, val)

    def val_bce(candidate_rows) -> float:
        z = np.stack([val_h[k] @ r[:-1] + r[-1] for k, r in enumerate(candidate_rows)])
        p = expit(z).mean(0).clip(1e-7, 1 - 1e-7)  # the ensemble's probability: the members' mean
        return float(-np.mean(val_y * np.log(p) + (1 - val_y) * np.log(1 - p)))

    candidates = {"none": rows}
    for pull in PULLS:
        candidates[f"{pull:g}"] = [fit_row(train_h[k], train_y, rows[k], pull) for k in range(len(rows))]
    scores = {name: val_bce(c) for name, c in candidates.items()}
    best = min(scores, key=scores.get)
    with torch.no_grad():
        for head, row in zip(heads, candidates[best]):
            head.weight[-1] = torch.as_tensor(row[:-1], dtype=head.weight.dtype)
            head.bias[-1] = torch.as_tensor(row[-1], dtype=head.bias.dtype)
    report = {
        "pull": best,
        "val_bce": scores,
        "train_shapes": int(len(train)),
        "val_shapes": int(len(val)),
        "left_out": int((~keep).sum()),
        "data": Path(data_path).name,
        "data_hash": data.data_hash,
        "labels": LABEL_PROTOCOL,
    }
    meta = dict(info["meta"]) | {"convergence_refit": report}
    save_checkpoint(out or model_path, ensemble, data_hash=info["data_hash"], meta=meta)
    return report
