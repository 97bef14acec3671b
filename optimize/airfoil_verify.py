"""Verify airfoil designs with XFOIL (or OpenFOAM RANS) at a problem's operating points.

A fixed-angle point is run at its angle, approached by a short ramp (alpha - 1,
alpha - 0.5, alpha) so that XFOIL starts from a neighbouring solution. A target-CL
point is run over a window of angles around the predicted angle (0.25° apart;
shifted once if the target is not bracketed) and the angle where XFOIL's CL equals
the target is found by linear interpolation between the two converged angles that
bracket it; CD and CM are interpolated there (over 0.25° their curves are close to
linear). Each polar is one XFOIL call; points run in parallel threads (each XFOIL
is its own process).

XFOIL's Newton iteration sometimes fails in a narrow band of angles at the default
160 panels (a laminar bubble the boundary-layer march cannot follow) while a finer
panelling of the same contour converges. A point that gives no converged answer is
therefore run again at FALLBACK_PANELS, coarsest first; the answer says which
panelling it came from ("panels"), and each retry is counted as a call.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from phenograd.datasets.airfoil_fallback import FALLBACK_PANELS  # the training labels' retries too
from phenograd.simulators.xfoil import XfoilSettings, run_polar

from .airfoil_design import geometry_scalars, objective_value
from .airfoil_problem import AirfoilProblem, OperatingPoint

WINDOW = np.arange(-1.5, 1.5001, 0.25)  # degrees around the predicted angle
PANELS = 160  # XFOIL's panelling for verification, the data's default


def _interpolate_at_cl(points, target: float) -> dict | None:
    ok = [p for p in points if p.converged]
    for a, b in zip(ok[:-1], ok[1:]):
        if b.alpha - a.alpha > 0.51:  # a non-converged angle between them: do not bridge it
            continue
        if (a.CL - target) * (b.CL - target) <= 0 and a.CL != b.CL:
            f = (target - a.CL) / (b.CL - a.CL)
            lerp = lambda u, v: u + f * (v - u)  # noqa: E731
            return {
                "alpha": lerp(a.alpha, b.alpha),
                "CL": target,
                "CD": lerp(a.CD, b.CD),
                "CM": lerp(a.CM, b.CM),
                "converged": True,
            }
    return None


def verify_point(
    contour: np.ndarray,
    point: OperatingPoint,
    alpha_guess: float,
    n_panels: int = PANELS,
    fallback_panels: tuple[int, ...] = FALLBACK_PANELS,
) -> tuple[dict, int]:
    """XFOIL's values at one operating point: ({alpha, CL, CD, CM, converged, status, panels}, polars run).

    Runs at `n_panels`; when that gives no converged answer, again at each of `fallback_panels`
    (finer panellings of the same contour) until one does. The status says when a fallback was used."""
    first, calls = _verify_point_at(contour, point, alpha_guess, n_panels)
    if first["converged"]:
        return first, calls
    for panels in (p for p in fallback_panels if p != n_panels):
        found, runs = _verify_point_at(contour, point, alpha_guess, panels)
        calls += runs
        if found["converged"]:
            found["status"] = f"ok at {panels} panels (XFOIL did not converge at {n_panels})"
            return found, calls
    return first, calls


def _verify_point_at(contour: np.ndarray, point: OperatingPoint, alpha_guess: float, n_panels: int) -> tuple[dict, int]:
    """verify_point at one panelling, no fallback."""
    settings = XfoilSettings(reynolds=point.reynolds, mach=point.mach, ncrit=point.ncrit, n_panels=n_panels)
    if point.cl is None:
        alpha = float(point.alpha if point.alpha is not None else alpha_guess)
        polar = run_polar(contour, [alpha - 1.0, alpha - 0.5, alpha], settings)
        p = polar.points[-1]
        if p.converged:
            return {
                "alpha": alpha,
                "CL": p.CL,
                "CD": p.CD,
                "CM": p.CM,
                "converged": True,
                "status": "ok",
                "panels": n_panels,
            }, 1
        return {
            "alpha": alpha,
            "converged": False,
            "status": f"XFOIL did not converge ({p.status})",
            "panels": n_panels,
        }, 1
    calls, centre = 0, float(alpha_guess)
    for _ in range(2):
        polar = run_polar(contour, list(np.round(centre + WINDOW, 4)), settings)
        calls += 1
        found = _interpolate_at_cl(polar.points, point.cl)
        if found:
            return {**found, "status": "ok", "panels": n_panels}, calls
        cl = [(p.alpha, p.CL) for p in polar.points if p.converged]
        if not cl:
            break
        below = all(c < point.cl for _, c in cl)
        centre += 3.0 if below else -3.0  # the target lies outside the window: look once more on its side
    return {
        "alpha": None,
        "converged": False,
        "panels": n_panels,
        "status": f"XFOIL gave no converged CL = {point.cl:g} near alpha {alpha_guess:.2f}",
    }, calls


def verify_point_rans(
    contour: np.ndarray, point: OperatingPoint, alpha_guess: float, mesh: str = "coarse"
) -> tuple[dict, int]:
    """OpenFOAM RANS (Spalart-Allmaras, fully turbulent, incompressible) at one operating point:
    ({alpha, CL, CD, CM, converged, status}, RANS cases run).

    A fixed angle is one case. A target CL takes a secant search on alpha: the predicted angle,
    then angles from the measured lift slope (thin-airfoil 0.11 per degree to start), at most
    four cases, until |CL - target| < 0.005; the last case's values are reported.
    """
    from phenograd.simulators.openfoam import RansSettings, run_rans_point

    settings = RansSettings(reynolds=point.reynolds, mesh=mesh)

    def case(alpha: float):
        p = run_rans_point(contour, alpha, settings)
        return p if p.status == "ok" and p.converged else None, p.status

    if point.cl is None:
        alpha = float(point.alpha if point.alpha is not None else alpha_guess)
        p, status = case(alpha)
        if p is None:
            return {"alpha": alpha, "converged": False, "status": f"RANS did not converge ({status})"}, 1
        return {"alpha": alpha, "CL": p.CL, "CD": p.CD, "CM": p.CM, "converged": True, "status": "ok"}, 1
    alpha, slope, prev, runs = float(alpha_guess), 0.11, None, 0
    for _ in range(4):
        p, status = case(alpha)
        runs += 1
        if p is None:
            return {
                "alpha": alpha,
                "converged": False,
                "status": f"RANS did not converge at alpha {alpha:.2f} ({status})",
            }, runs
        if abs(p.CL - point.cl) < 0.005:
            return {"alpha": alpha, "CL": p.CL, "CD": p.CD, "CM": p.CM, "converged": True, "status": "ok"}, runs
        if prev is not None and abs(alpha - prev[0]) > 1e-6 and abs(p.CL - prev[1]) > 1e-6:
            slope = (p.CL - prev[1]) / (alpha - prev[0])
        prev = (alpha, p.CL)
        alpha = float(np.clip(alpha + (point.cl - p.CL) / max(slope, 0.02), alpha - 4.0, alpha + 4.0))
    return {"alpha": None, "converged": False, "status": f"RANS gave no CL = {point.cl:g} within 4 cases"}, runs


def _verify_task(job) -> tuple[dict, int]:
    """verify_point (XFOIL) or verify_point_rans on (contour, point, alpha guess, fidelity, mesh):
    a picklable task for a Dask cluster."""
    contour, point, alpha, fidelity, mesh = job
    if fidelity == "rans":
        return verify_point_rans(contour, point, alpha, mesh)
    return verify_point(contour, point, alpha)


def verify_design(
    contour: np.ndarray,
    problem: AirfoilProblem,
    alphas,
    workers: int = 2,
    scheduler: str | None = None,
    fidelity: str = "xfoil",
    rans_mesh: str = "coarse",
) -> tuple[list[dict], int]:
    """The simulator at every operating point of `problem` for one contour; (per-point dicts, runs).
    fidelity "xfoil" (polars counted) or "rans" (OpenFOAM cases counted, `rans_mesh` grid).
    Locally `workers` threads each drive a simulator process; with `scheduler` (a Dask address or
    scheduler file) the points go to that cluster."""
    jobs = [(contour, p, float(a), fidelity, rans_mesh) for p, a in zip(problem.points, alphas)]
    if scheduler:
        from phenograd.simulators.parallel import run_unordered

        results = [None] * len(jobs)
        for i, r in run_unordered(_verify_task, jobs, scheduler=scheduler):
            results[i] = r
    else:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = list(pool.map(_verify_task, jobs))
    return [r for r, _ in results], sum(c for _, c in results)


def verified_objective(problem: AirfoilProblem, verified: list[dict], cst) -> float | None:
    """The problem's objective from XFOIL's values (and the shape's CST (18,)), or None when
    a point did not converge."""
    if not all(v.get("converged") for v in verified):
        return None
    q = {k: torch.tensor([v[k] for v in verified], dtype=torch.float64) for k in ("alpha", "CL", "CD", "CM")}
    q["weight"] = torch.tensor([p.weight for p in problem.points], dtype=torch.float64)
    nan = torch.full_like(q["CL"], float("nan"))
    q.update(
        Top_Xtr=nan,
        Bot_Xtr=nan,
        CL_std=nan,
        CD_std=nan,
        Top_Xtr_std=nan,
        Bot_Xtr_std=nan,
        CM_std=nan,
        confidence=torch.ones_like(q["CL"]),
        **geometry_scalars(torch.as_tensor(cst, dtype=torch.float64)),
    )
    return float(objective_value(problem, q))


def verify_result(
    result,
    problem: AirfoilProblem,
    workers: int = 2,
    scheduler: str | None = None,
    fidelity: str = "xfoil",
    rans_mesh: str = "coarse",
) -> None:
    """Fill an AirfoilResult's verified values for the start and the optimum (in place), with XFOIL or RANS."""
    result.fidelity = fidelity
    if fidelity == "rans":
        if any(p.mach > 0 for p in problem.points):
            result.warnings.append("RANS verification is incompressible: the operating points' Mach is ignored")
        result.warnings.append(
            "RANS is fully turbulent (Spalart-Allmaras); the surrogate predicts XFOIL's free "
            "transition at the problem's Ncrit, so RANS drag is expected to be higher"
        )
    for contour, cst, reports, attr in (
        (result.start_contour, result.start_cst, result.start_points, "verified_start_objective"),
        (result.contour, result.cst, result.points, "verified_objective"),
    ):
        verified, calls = verify_design(
            contour, problem, [p.alpha for p in reports], workers, scheduler, fidelity, rans_mesh
        )
        if fidelity == "rans":
            result.rans_cases += calls
        else:
            result.xfoil_calls += calls
        for rep, v in zip(reports, verified):
            rep.verified = v
            if v.get("converged") and v.get("panels", PANELS) != PANELS:
                where = "start" if attr == "verified_start_objective" else "optimum"
                result.warnings.append(
                    f"{where}: XFOIL converged at Re {rep.reynolds:.4g} only at {v['panels']} panels "
                    f"(not at {PANELS}); that point's values come from the finer panelling"
                )
        setattr(result, attr, verified_objective(problem, verified, cst))
    if result.verified_objective is None:
        result.warnings.append(
            f"unverified: {'RANS' if fidelity == 'rans' else 'XFOIL'} did not converge at every "
            "operating point of the optimum"
        )
