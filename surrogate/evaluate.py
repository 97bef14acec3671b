"""Accuracy, uncertainty calibration and parity plots of a trained ensemble on a dataset split.

Airfoil metrics are over XFOIL-converged points: MAE of CL, ln CD, CM, Top_Xtr,
Bot_Xtr, and the ROC AUC of the convergence logit over every point. Catalyst
metrics: MAE, RMSE and the share within 0.1 eV of E_ads (eV), also per
adsorbate and without anomalous relaxations. Calibration: the fraction of
errors inside the ensemble's 1-sigma and 2-sigma bands (a calibrated Gaussian
gives 0.683 and 0.954), with the ensemble std multiplied by the checkpoint's
per-target scale fitted on the validation split at the end of training.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import rankdata
from torch_geometric.data import Batch

from phenograd.core.atomic import write_text_atomic
from phenograd.core.errors import InputError

from .domain import get_domain
from .heads import AIRFOIL_TARGETS
from .model import Ensemble

SPLITS = ("train", "val", "test", "ood", "ood_composition", "ood_facet")  # the last two: catalyst v2


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) formula; NaN with one class only."""
    labels = np.asarray(labels, bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(err: np.ndarray, std: np.ndarray) -> dict:
    """Fractions of |err| within 1 and 2 ensemble standard deviations; NaN without data (RANS rows
    have no transition targets)."""
    if len(err) == 0:
        return {"within_1sigma": float("nan"), "within_2sigma": float("nan")}
    err, std = np.abs(err), np.maximum(std, 1e-12)
    return {"within_1sigma": float(np.mean(err <= std)), "within_2sigma": float(np.mean(err <= 2 * std))}


#: Share of a Gaussian's mass within one standard deviation of its mean.
ONE_SIGMA_COVERAGE = 0.6827
#: How std_scale fits (recorded in checkpoints as meta["std_scale_fit"]["rule"]); before 2026-12-02 the
#: maximum-likelihood RMS of err/std was used.
STD_SCALE_RULE = "1-sigma coverage 68.27 %"


def std_scale(err: np.ndarray, std: np.ndarray) -> float:
    """Factor k for which the band +-k*std holds 68.27 % of the errors (the 1-sigma share of a
    Gaussian): the 68.27th percentile of |err|/std. For Gaussian errors this equals the
    maximum-likelihood scale sqrt(mean((err/std)^2)); for heavy-tailed errors, where a few large
    misses inflate the RMS, it keeps the 1-sigma band's coverage honest (the 2-sigma band then
    under-covers, by as much as the tails are heavier than Gaussian). 1.0 without usable data."""
    ok = np.isfinite(err) & (std > 1e-12)
    if ok.sum() < 2:
        return 1.0
    return float(np.quantile(np.abs(err[ok]) / std[ok], ONE_SIGMA_COVERAGE))


def ensemble_errors(ensemble: Ensemble, data, items: np.ndarray) -> dict:
    """{target: (err, std)} of the ensemble mean against the labels, with the unscaled ensemble std, over items
    of the ensemble's domain's dataset (Domain.errors)."""
    return get_domain(ensemble.domain).errors(ensemble, data, items)


def airfoil_errors(ensemble: Ensemble, data, items: np.ndarray) -> dict:
    """ensemble_errors over shape indices of AirfoilPoints: every XFOIL-converged point that has the target."""
    values, _, mask = predict_airfoil_points(ensemble, data, np.sort(items))
    targets, conv = data.targets[mask], data.converged[mask]
    ok = (conv[:, None] & torch.isfinite(targets)).numpy()  # per target: RANS data has no transition points
    err, std = (values.mean(0) - targets).numpy(), values.std(0).numpy()
    return {name: (err[ok[:, k], k], std[ok[:, k], k]) for k, name in enumerate(AIRFOIL_TARGETS)}


def catalyst_errors(ensemble: Ensemble, data, items: np.ndarray) -> dict:
    """ensemble_errors over structure indices of CatalystSamples."""
    preds = predict_structures(ensemble, [data.graphs[i] for i in items])
    return {"E_ads": ((preds.mean(0) - data.e_ads[torch.as_tensor(items)]).numpy(), preds.std(0).numpy())}


def fit_std_scales(ensemble: Ensemble, data, items: np.ndarray) -> dict:
    """Per-target std scales fitted on validation items of the ensemble's domain's dataset (shape indices of
    AirfoilPoints, structure indices of CatalystSamples); deep ensembles are usually over-confident."""
    if not len(items):
        return {}
    return {name: std_scale(err, std) for name, (err, std) in ensemble_errors(ensemble, data, items).items()}


def _batches(items: np.ndarray, size: int):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def predict_airfoil_points(
    ensemble: Ensemble,
    data,
    shapes: np.ndarray,
    batch_shapes: int = 64,
    fast: bool = True,
    precision: str = "float32",
    last_hidden: bool = False,
):
    """Member predictions for every point of the given shapes: values (M, P, 5), logits (M, P), point mask (all P).
    fast: through the fixed-topology path of predict.AirfoilSurrogate (the same function to float rounding);
    False: each member in turn on a torch_geometric batch. precision: the fast path's (AirfoilSurrogate).
    last_hidden (fast path only): each head's last-layer inputs (M, P, width) in place of the values."""
    if last_hidden and not fast:
        raise ValueError("last_hidden needs the fast path")
    from .predict import AirfoilSurrogate

    values, logits = [], []
    mask = torch.isin(data.point_shape, torch.as_tensor(shapes))
    surrogate = AirfoilSurrogate(ensemble, {"meta": {}}, fast=fast, precision=precision)
    data = data.at_stations(surrogate.stations)  # the graphs at the model's contour resolution
    dtype = next(ensemble.parameters()).dtype
    with torch.no_grad():
        for chunk in _batches(shapes, batch_shapes):
            local = torch.full((len(data.graphs),), -1, dtype=torch.long)
            local[torch.as_tensor(chunk)] = torch.arange(len(chunk))
            sel = local[data.point_shape] >= 0
            if fast:
                pos = torch.stack([data.graphs[i].pos for i in chunk]).to(dtype)
                x = torch.stack([data.graphs[i].x for i in chunk]).to(dtype)
                embedding = surrogate.embedding_of_nodes(pos, x)
                v, lg = surrogate.stacked_heads(
                    embedding, data.cond[sel].to(embedding.dtype), local[data.point_shape[sel]], last_hidden
                )
            else:
                graphs = Batch.from_data_list([data.graphs[i] for i in chunk])
                v, lg = ensemble(graphs, local[data.point_shape[sel]], data.cond[sel])
            values.append(v)
            logits.append(lg)
    # chunks are in shape order and points are sorted by shape, so concatenation follows the mask's order
    return torch.cat(values, 1), torch.cat(logits, 1), mask


def evaluate_airfoil(ensemble: Ensemble, data, split: str, scales: dict | None = None) -> tuple[dict, dict]:
    """Metrics (dict) and parity arrays {target: (true, pred)} on a split of AirfoilPoints;
    scales: the checkpoint's calibrated std factors per target."""
    shapes = data.shapes_in(split)
    if len(shapes) == 0:
        raise InputError(f"no shapes in split {split!r} of this dataset")
    order = np.argsort(shapes)
    values, logits, mask = predict_airfoil_points(ensemble, data, shapes[order])
    targets, converged = data.targets[mask], data.converged[mask]
    mean, std = values.mean(0), values.std(0) if values.shape[0] > 1 else torch.zeros_like(values[0])
    okk = (converged[:, None] & torch.isfinite(targets)).numpy()  # per target: RANS data has no transition points
    metrics: dict = {
        "split": split,
        "shapes": int(len(shapes)),
        "points": int(mask.sum()),
        "converged_points": int(okk[:, 0].sum()),
        "mae": {},
        "calibration": {},
    }
    parity = {}
    for k, name in enumerate(AIRFOIL_TARGETS):
        ok = okk[:, k]
        t, p, s = targets[ok, k].numpy(), mean[ok, k].numpy(), std[ok, k].numpy() * (scales or {}).get(name, 1.0)
        metrics["mae"][name] = float(np.mean(np.abs(p - t))) if len(t) else float("nan")
        metrics["calibration"][name] = calibration(p - t, s)
        parity[name] = (t, p)
    prob = torch.sigmoid(logits).mean(0).numpy()
    metrics["convergence_auc"] = roc_auc(converged.numpy(), prob)
    return metrics, parity


def predict_structures(ensemble: Ensemble, graphs: list, batch_size: int = 64) -> torch.Tensor:
    """Member predictions (M, S) in eV for a list of atom graphs."""
    out = []
    with torch.no_grad():
        for i in range(0, len(graphs), batch_size):
            out.append(ensemble(Batch.from_data_list(graphs[i : i + batch_size])))
    return torch.cat(out, 1)


def catalyst_metrics(true: np.ndarray, pred: np.ndarray, std: np.ndarray) -> dict:
    err = pred - true
    return {
        "n": int(len(true)),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "within_0.1eV": float(np.mean(np.abs(err) <= 0.1)),
        **calibration(err, std),
    }


def evaluate_catalyst(ensemble: Ensemble, data, split: str, scales: dict | None = None) -> tuple[dict, dict]:
    """Metrics and parity arrays {"E_ads": (true, pred)} on a split of CatalystSamples."""
    items = data.items_in(split)
    if len(items) == 0:
        raise InputError(f"no structures in split {split!r} of this dataset")
    preds = predict_structures(ensemble, [data.graphs[i] for i in items])
    mean = preds.mean(0).numpy()
    std = preds.std(0).numpy() * (scales or {}).get("E_ads", 1.0) if preds.shape[0] > 1 else np.zeros_like(mean)
    true = data.e_ads[torch.as_tensor(items)].numpy()
    ads = np.array([data.adsorbate[i] for i in items])
    normal = ~data.anomalous[items]
    metrics = {
        "split": split,
        **catalyst_metrics(true, mean, std),
        "without_anomalies": catalyst_metrics(true[normal], mean[normal], std[normal]) if normal.any() else None,
        "per_adsorbate": {a: catalyst_metrics(true[ads == a], mean[ads == a], std[ads == a]) for a in sorted(set(ads))},
    }
    return metrics, {"E_ads": (true, mean)}


def parity_plot(parity: dict, path: Path, title: str, units: dict | None = None) -> None:
    """One parity panel per target (simulator on x, surrogate on y), written to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(parity)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        t, p = parity[name]
        ax.scatter(t, p, s=3, alpha=0.4, linewidths=0)
        if len(t):
            lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        unit = (units or {}).get(name, "")
        ax.set_xlabel(f"simulator {name} {unit}".strip())
        ax.set_ylabel(f"surrogate {name} {unit}".strip())
        ax.set_title(f"MAE {np.mean(np.abs(p - t)):.4g}" if len(t) else "no points", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_domain_data(info: dict, data_path):
    """The dataset a checkpoint (its load_checkpoint info) is evaluated on (Domain.load_data: AirfoilPoints, or
    CatalystSamples with graphs built with the model's cutoff)."""
    return get_domain(info["domain"]).load_data(data_path, info["encoder"])


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def evaluate(model_path, data_path, split: str, out_dir=None) -> dict:
    """Evaluate a checkpoint on a dataset split; with out_dir, write metrics.json and parity PNGs there."""
    from .model import load_checkpoint

    check_split(split)
    ensemble, info = load_checkpoint(model_path)
    scales = info["meta"].get("std_scale", {})
    data = load_domain_data(info, data_path)
    metrics, parity, units = get_domain(info["domain"]).evaluate(ensemble, data, split, scales)
    metrics = {
        "model": str(model_path),
        "data": str(data_path),
        "domain": info["domain"],
        "members": len(ensemble.members),
        "std_scale": scales,
        **metrics,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1))
        parity_plot(
            parity, out / f"parity_{split}.png", f"{Path(model_path).name} on {Path(data_path).name} [{split}]", units
        )
    return metrics


def calibrate(model_path, data_path, split: str = "val", out=None, keep_members: int | None = None) -> dict:
    """Refit a checkpoint's std scales (std_scale per target) on a dataset split and write the checkpoint
    again (to `out`, else in place; atomically). The weights are untouched; this is the fit the trainer
    makes at the end of training, so recalibrating a model on its own validation split after a change of
    the fitting rule gives what retraining would. keep_members: keep only the first K members (2 <= K <= the
    ensemble's size; a smaller, faster ensemble, the one `train --members K` with the same seed would make, since
    member k's seed does not depend on how many there are) and fit their scales. Returns {"old": scales,
    "new": scales, "items": n, "members": members kept}."""
    from .model import Ensemble, load_checkpoint, save_checkpoint

    check_split(split)
    if keep_members is not None and (out is None or Path(out).resolve() == Path(model_path).resolve()):
        raise InputError("--keep-members needs --out, a new file (the model keeps all its members)")
    ensemble, info = load_checkpoint(model_path)
    n_members = len(ensemble.members)
    if n_members < 2:
        raise InputError(f"{model_path}: a single-member model has no ensemble spread to calibrate")
    meta = dict(info["meta"])
    if keep_members is not None:
        if not 2 <= keep_members <= n_members:
            raise InputError(
                f"--keep-members must be between 2 and the model's {n_members} members, got {keep_members}"
            )
        ensemble = Ensemble(list(ensemble.members[:keep_members]))
        if isinstance(meta.get("members"), list):
            meta["members"] = meta["members"][:keep_members]
        if isinstance(meta.get("config"), dict):
            meta["config"] = {**meta["config"], "members": keep_members}
        meta["member_subset"] = {"kept": keep_members, "of": n_members, "source_data_hash": info["data_hash"]}
    data = load_domain_data(info, data_path)
    items = get_domain(info["domain"]).items(data, split)
    if len(items) < 2:
        raise InputError(f"{data_path}: split {split!r} has {len(items)} items; calibration needs at least 2")
    old = dict(meta.get("std_scale", {}))
    new = fit_std_scales(ensemble, data, np.asarray(items))
    meta |= {
        "std_scale": new,
        "std_scale_fit": {
            "rule": STD_SCALE_RULE,
            "data": Path(data_path).name,
            "split": split,
            "items": int(len(items)),
        },
    }
    save_checkpoint(out or model_path, ensemble, data_hash=info["data_hash"], meta=meta)
    return {"old": old, "new": new, "items": int(len(items)), "members": len(ensemble.members)}
