"""Collapse prevention and collapse monitoring for self-supervised pretraining.

VICReg's variance and covariance terms (Bardes, Ponce, LeCun, ICLR 2022) keep
embeddings from collapsing without negative pairs:

* variance: mean over dimensions of relu(gamma - sqrt(Var_j + eps)), gamma = 1,
  eps = 1e-4. Fully collapsed embeddings (every row equal) cost
  1 - sqrt(1e-4) = 0.99.
* covariance: sum of squared off-diagonal entries of the covariance matrix,
  divided by the dimension d. The covariance is normalised by n - 1 where n is
  the number of rows actually in the batch (not a nominal batch size).

Effective rank (Roy & Vetterli 2007): exp of the entropy of the normalised
singular values of the centred embeddings; 1 for collapsed-to-a-line, d for
isotropic embeddings. All inputs are (n, d) tensors of embeddings (unitless).
"""

from __future__ import annotations

import torch
from torch import Tensor

VAR_TARGET = 1.0  # gamma: target std per dimension
VAR_EPS = 1e-4


def variance_loss(z: Tensor, gamma: float = VAR_TARGET, eps: float = VAR_EPS) -> Tensor:
    """Hinge on the per-dimension std of z (n, d): mean_j relu(gamma - sqrt(Var(z_j) + eps)). Scalar."""
    if z.shape[0] < 2:
        return z.sum() * 0.0
    std = torch.sqrt(z.var(dim=0, unbiased=True) + eps)
    return torch.relu(gamma - std).mean()


def covariance_loss(z: Tensor) -> Tensor:
    """Sum of squared off-diagonal covariances of z (n, d), over d; covariance normalised by n - 1. Scalar."""
    n, d = z.shape
    if n < 2:
        return z.sum() * 0.0
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return off.pow(2).sum() / d


def embedding_std(z: Tensor) -> Tensor:
    """Per-dimension standard deviation (d,) of z (n, d) over its rows."""
    return z.std(dim=0, unbiased=True) if z.shape[0] > 1 else torch.zeros(z.shape[1], dtype=z.dtype)


def effective_rank(z: Tensor, eps: float = 1e-12) -> float:
    """exp(entropy of normalised singular values) of the centred z (n, d): between 1 and min(n, d)
    (0 for all-equal rows)."""
    zc = (z - z.mean(dim=0)).detach().double()
    s = torch.linalg.svdvals(zc)
    total = s.sum()
    if total <= eps:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))
