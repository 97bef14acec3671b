"""The inviscid Hess-Smith panel method (simulators/panel.py) against XFOIL's own inviscid solution,
its symmetries, and its gradients with respect to the contour's nodes."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import torch

from phenograd.datasets.airfoil import naca
from phenograd.simulators.panel import inviscid_coefficients, inviscid_polar
from phenograd.simulators.xfoil import _read_polar_rows, _write_contour, fpe_shim_path, xfoil_binary
from phenograd.surrogate.graphs import airfoil_graph


def _graph_contour(coords) -> torch.Tensor:
    """The airfoil graph's nodes (129, 2), float64: the contour the surrogates see."""
    return airfoil_graph(coords).pos[:, :2].double()


def _panel(contour: torch.Tensor, alphas) -> tuple[np.ndarray, np.ndarray]:
    coefficients = inviscid_coefficients(contour[None]).repeat(len(alphas), 1)
    cl, cm = inviscid_polar(coefficients, torch.tensor(alphas, dtype=torch.float64))
    return cl.numpy(), cm.numpy()


def _xfoil_inviscid(contour: np.ndarray, alphas, tmp_path) -> list[dict]:
    """XFOIL's inviscid CL and CM of a contour (160 panels), one row per angle."""
    _write_contour(tmp_path / "foil.dat", contour)
    script = "\n".join(
        [
            "PLOP",
            "G F",
            "",
            "LOAD foil.dat",
            "PPAR",
            "N 160",
            "",
            "",
            "OPER",
            "PACC",
            "inv.pol",
            "",
            *(f"ALFA {a:.4f}" for a in alphas),
            "PACC",
            "",
            "QUIT",
            "",
        ]
    )
    env = {**os.environ, "LD_PRELOAD": str(fpe_shim_path())}
    subprocess.run([xfoil_binary()], input=script, text=True, capture_output=True, cwd=tmp_path, env=env, timeout=60)
    return _read_polar_rows(tmp_path / "inv.pol")


@pytest.mark.parametrize("code", ["2412", "0012", "4415"])
def test_inviscid_lift_and_moment_match_xfoils_inviscid_solution(code, tmp_path):
    """Same contour (the graph's 129 nodes) in both: CL within 1.5 % and CM within 5 % (or 0.002 where larger;
    3 % seen on NACA 4415) at -4, 0, 4 and 8 deg; constant-strength panels against XFOIL's linear vorticity at
    160 nodes."""
    contour = _graph_contour(naca(code))
    alphas = [-4.0, 0.0, 4.0, 8.0]
    rows = _xfoil_inviscid(contour.numpy(), alphas, tmp_path)
    assert [r["alpha"] for r in rows] == alphas
    cl, cm = _panel(contour, alphas)
    for r, c, m in zip(rows, cl, cm):
        assert abs(c - r["CL"]) <= 0.015 * max(abs(r["CL"]), 0.2), (code, r, c)
        assert abs(m - r["CM"]) <= max(0.002, 0.05 * abs(r["CM"])), (code, r, m)


def test_symmetric_section_lift_is_odd_in_alpha_and_the_slope_near_thin_airfoil_theory():
    """NACA 0006: no lift or moment about c/4 at zero incidence, CL(-a) = -CL(a), and a lift slope between thin-airfoil
    theory's 2 pi per radian and 10 % above it (thickness raises it by about 0.8 t/c)."""
    contour = _graph_contour(naca("0006"))
    cl, cm = _panel(contour, [-6.0, 0.0, 6.0])
    assert abs(cl[1]) < 2e-3 and abs(cm[1]) < 1e-3
    assert cl[0] == pytest.approx(-cl[2], abs=2e-3)
    slope = (cl[2] - cl[0]) / np.deg2rad(12.0)
    assert 2 * np.pi < slope < 1.1 * 2 * np.pi


def test_batched_solve_equals_single_solves_and_float32_inputs_keep_their_dtype():
    shapes = torch.stack([_graph_contour(naca(c)) for c in ("2412", "0012", "6409")])
    batched = inviscid_coefficients(shapes)
    single = torch.cat([inviscid_coefficients(s[None]) for s in shapes])
    assert torch.allclose(batched, single, atol=1e-12)
    assert inviscid_coefficients(shapes.float()).dtype == torch.float32


def test_gradients_with_respect_to_the_nodes_are_exact():
    """Autograd through the linear solve against finite differences, on a coarse contour (every 4th node)."""
    contour = _graph_contour(naca("2412"))[::4].clone().requires_grad_(True)

    def polar(nodes):
        coefficients = inviscid_coefficients(nodes[None]).repeat(2, 1)
        cl, cm = inviscid_polar(coefficients, torch.tensor([2.0, 6.0], dtype=torch.float64))
        return torch.cat([cl, cm])

    assert torch.autograd.gradcheck(polar, (contour,), eps=1e-6, atol=1e-5)
