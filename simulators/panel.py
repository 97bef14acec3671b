"""Inviscid lift and pitching moment of airfoil contours: a differentiable Hess-Smith panel method.

Constant-strength source panels plus one vortex strength shared by all panels, with
the Kutta condition of equal tangential speeds on the two trailing-edge panels (Hess &
Smith 1967; the formulation of Moran, "An Introduction to Theoretical and
Computational Aerodynamics", 1984, ch. 4). The solution is linear in the free-stream
vector (cos alpha, sin alpha), so one solve per shape with two right-hand sides gives
every angle:

    CL_inv(alpha) = a cos(alpha) + b sin(alpha)                    (Kutta-Joukowski, 2 Gamma / c)
    CM_inv(alpha) = m0 - muu cos^2 - 2 muv sin cos - mvv sin^2     (surface pressure, quarter chord)

What it is for: the potential-flow answer a surrogate has to beat (the physics row of
benchmarks/airfoil_surrogate.py shows how much of XFOIL's lift and moment is the
boundary layer's doing), and differentiable physics features for models (as inputs of the
station MLP they did not help: surrogate/models/README.md, "Measurements behind the defaults").
Checked against XFOIL's own inviscid solution (tests/test_panel.py).

Everything is torch and differentiable in the node positions; contours are the airfoil
graph's nodes in graph order (trailing edge -> upper surface -> leading edge -> lower
surface -> trailing edge, counter-clockwise), chord 1 along x, moments about (0.25, 0).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Per-shape coefficients returned by `inviscid_coefficients`, in order.
COEFFICIENTS = ("a", "b", "m0", "muu", "muv", "mvv")


def _influence(nodes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Panel geometry and unit influence coefficients of clockwise contours nodes (B, N+1, 2).

    Returns (A, Bt, theta, length, mid): A (B, N, N) normal and Bt (B, N, N) tangential velocity
    at control point i induced by a unit source density on panel j; theta (B, N) panel angles;
    length (B, N); mid (B, N, 2) control points (panel midpoints)."""
    start, end = nodes[:, :-1], nodes[:, 1:]
    d = end - start
    length = torch.linalg.norm(d, dim=-1).clamp_min(1e-12)
    theta = torch.atan2(d[..., 1], d[..., 0])
    mid = 0.5 * (start + end)
    to_start = start[:, None, :, :] - mid[:, :, None, :]  # (B, i, j, 2): control point i -> node j
    to_end = end[:, None, :, :] - mid[:, :, None, :]
    r_start = torch.linalg.norm(to_start, dim=-1).clamp_min(1e-12)
    r_end = torch.linalg.norm(to_end, dim=-1).clamp_min(1e-12)
    cross = to_start[..., 0] * to_end[..., 1] - to_start[..., 1] * to_end[..., 0]
    dot = (to_start * to_end).sum(-1)
    n = nodes.shape[1] - 1
    eye = torch.eye(n, dtype=torch.bool, device=nodes.device)
    # the angle a panel subtends at its own midpoint is pi (atan2 of a +-0 cross product would give either sign)
    beta = torch.where(eye, torch.full_like(dot, math.pi), torch.atan2(cross, dot))
    log_ratio = torch.where(eye, torch.zeros_like(dot), torch.log(r_end / r_start))
    diff = theta[:, :, None] - theta[:, None, :]
    s, c = torch.sin(diff), torch.cos(diff)
    a = (s * log_ratio + c * beta) / (2 * math.pi)
    bt = (s * beta - c * log_ratio) / (2 * math.pi)
    return a, bt, theta, length, mid


def inviscid_coefficients(contours: Tensor) -> Tensor:
    """Per-shape inviscid coefficients (B, 6) in the order of COEFFICIENTS, from contours (B, N+1, 2)
    in graph order (counter-clockwise from the upper trailing edge). Float64 inside; the result
    has the input's dtype."""
    dtype = contours.dtype
    nodes = torch.flip(contours.double(), [1])  # clockwise: lower trailing edge -> leading edge -> upper
    a, bt, theta, length, mid = _influence(nodes)
    batch, n = theta.shape
    # unknowns: n source densities, then the vortex density; rows: n flow-tangency equations, then Kutta
    mat = torch.zeros(batch, n + 1, n + 1, dtype=nodes.dtype, device=nodes.device)
    mat[:, :n, :n] = a
    mat[:, :n, n] = -bt.sum(-1)
    mat[:, n, :n] = bt[:, 0] + bt[:, -1]
    mat[:, n, n] = a[:, 0].sum(-1) + a[:, -1].sum(-1)
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    # right-hand sides for a unit free stream along x (cos alpha part) and along y (sin alpha part)
    rhs = torch.zeros(batch, n + 1, 2, dtype=nodes.dtype, device=nodes.device)
    rhs[:, :n, 0], rhs[:, :n, 1] = sin_t, -cos_t
    rhs[:, n, 0] = -(cos_t[:, 0] + cos_t[:, -1])
    rhs[:, n, 1] = -(sin_t[:, 0] + sin_t[:, -1])
    sol = torch.linalg.solve(mat, rhs)  # (B, n+1, 2)
    q, gamma = sol[:, :n], sol[:, n]
    # tangential speed at each control point for each unit free stream (B, n, 2)
    vt = torch.einsum("bij,bjk->bik", bt, q) + a.sum(-1, keepdim=True) * gamma[:, None, :]
    vt = vt + torch.stack([cos_t, sin_t], dim=-1)
    chord = contours[..., 0].double().amax(-1) - contours[..., 0].double().amin(-1)
    circulation = gamma * length.sum(-1, keepdim=True)  # (B, 2)
    lift = 2.0 * circulation / chord[:, None]
    # pitching moment about the quarter chord from Cp = 1 - vt^2 on each panel (outward normal (-sin, cos))
    arm_x, arm_y = mid[..., 0] - 0.25 * chord[:, None], mid[..., 1]
    # moment (nose up positive) of the force -Cp n l:  -(x F_y - y F_x)
    weight = -(arm_x * (-cos_t) - arm_y * sin_t) * length / chord[:, None] ** 2  # CM = sum weight * Cp
    m0 = weight.sum(-1)
    muu = (weight * vt[..., 0] ** 2).sum(-1)
    muv = (weight * vt[..., 0] * vt[..., 1]).sum(-1)
    mvv = (weight * vt[..., 1] ** 2).sum(-1)
    return torch.stack([lift[:, 0], lift[:, 1], m0, muu, muv, mvv], dim=-1).to(dtype)


def inviscid_polar(coefficients: Tensor, alpha_deg: Tensor) -> tuple[Tensor, Tensor]:
    """(CL_inv, CM_inv) at angles alpha_deg (P,) from per-point coefficients (P, 6)."""
    alpha = torch.deg2rad(alpha_deg.to(coefficients.dtype))
    c, s = torch.cos(alpha), torch.sin(alpha)
    a, b, m0, muu, muv, mvv = coefficients.unbind(-1)
    return a * c + b * s, m0 - muu * c * c - 2 * muv * s * c - mvv * s * s
