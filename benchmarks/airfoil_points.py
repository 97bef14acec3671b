"""The airfoil benchmarks' test points and scores, shared by airfoil_surrogate.py and station_mlp.py."""

from __future__ import annotations

import numpy as np
import torch

from phenograd.surrogate.evaluate import roc_auc


def test_points(data, shapes):
    """Mask (over shapes' points, in shape order) of the benchmark's operating range, and the points' alpha, Re, Ncrit."""
    sel = torch.isin(data.point_shape, torch.as_tensor(shapes))
    cond = data.cond[sel]
    alpha, re, ncrit = cond[:, 0] * 10, 10 ** (cond[:, 1].double() + 6), cond[:, 2] * 3 + 9
    keep = (alpha >= -5 - 1e-6) & (alpha <= 15 + 1e-6) & (re >= 1e5 * 0.999) & (re <= 1e7 * 1.001)
    return sel, keep.numpy(), alpha.numpy(), re.numpy(), ncrit.numpy()


def metrics(pred_cl, pred_lncd, pred_cm, conf, targets, converged) -> dict:
    """MAE of CL, ln CD and CM over the XFOIL-converged points, and the ROC AUC of `conf` for convergence."""
    ok = converged & np.all(np.isfinite(targets[:, :3]), axis=1)
    return {
        "CL": float(np.mean(np.abs(pred_cl[ok] - targets[ok, 0]))),
        "lnCD": float(np.mean(np.abs(pred_lncd[ok] - targets[ok, 1]))),
        "CM": float(np.mean(np.abs(pred_cm[ok] - targets[ok, 2]))),
        "AUC": roc_auc(converged, conf),
    }
