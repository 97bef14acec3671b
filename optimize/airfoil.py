"""Gradient-based airfoil shape optimization through a surrogate, verified by XFOIL.

    from phenograd.optimize.airfoil import optimize
    from phenograd.optimize.airfoil_problem import daedalus_problem
    result = optimize(daedalus_problem(), start="naca0012", verify=True)
    result.objective, result.verified_objective, result.contour

The design is 18 CST parameters plus one angle per operating point whose angle is
free; scipy's SLSQP (or trust-constr) gets the objective gradient and constraint
Jacobians from torch autograd through the surrogate (see airfoil_design.py).
With `verify=True` the start and the optimum are run through XFOIL at every
operating point (airfoil_verify.py) and the result carries both sets of numbers.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.optimize import Bounds as ScipyBounds
from scipy.optimize import NonlinearConstraint, minimize

from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import check_airfoil, naca
from phenograd.datasets.cst import check_cst, cst_to_coordinates, fit_cst
from phenograd.datasets.datfile import read_dat
from phenograd.surrogate.design_range import design_warning, range_bounds

from .airfoil_design import DesignEvaluator, DesignSpace, Evaluation
from .airfoil_problem import AirfoilProblem

#: Where the shipped airfoil surrogate was trained (the data release's plan); points
#: outside are flagged, not refused.
TRAINED_REYNOLDS = (1e5, 1e7)
TRAINED_ALPHA = (-5.0, 15.0)
TRAINED_CL = (-1.0, 1.9)
FEASIBILITY_TOL = 1e-4


@dataclass
class PointReport:
    """One operating point: predicted (and verified) values. Angles in degrees."""

    reynolds: float
    target_cl: float | None
    weight: float
    alpha: float
    CL: float
    CD: float
    CM: float
    CL_std: float
    CD_std: float
    confidence: float
    verified: dict | None = None


@dataclass
class AirfoilResult:
    """What an optimization found. objective values are the problem's objective
    (minimised); verified_* come from XFOIL (None unless verified)."""

    problem: str
    success: bool
    status: str
    message: str
    cst: list[float]
    contour: np.ndarray = field(repr=False)
    start_cst: list[float] = field(default_factory=list)
    start_contour: np.ndarray | None = field(default=None, repr=False)
    objective: float = float("nan")
    start_objective: float = float("nan")
    verified_objective: float | None = None
    verified_start_objective: float | None = None
    points: list[PointReport] = field(default_factory=list)
    start_points: list[PointReport] = field(default_factory=list)
    constraints: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    iterations: int = 0
    surrogate_calls: int = 0
    xfoil_calls: int = 0
    rans_cases: int = 0
    fidelity: str = "xfoil"
    solve_s: float = 0.0
    wall_s: float = 0.0
    rounds: list[dict] = field(default_factory=list)

    #: the surrogate that produced the result (set by optimize(); not part of the report)
    surrogate = None

    @property
    def verified(self) -> bool:
        """True when XFOIL converged at every operating point of the optimum."""
        return bool(self.points) and all(p.verified is not None and p.verified.get("converged") for p in self.points)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["contour"] = np.asarray(self.contour).tolist()
        d["start_contour"] = None if self.start_contour is None else np.asarray(self.start_contour).tolist()
        d["verified"] = self.verified
        return d


def start_design(start) -> tuple[np.ndarray, str]:
    """CST (18,) of a start shape: "nacaXXXX", a .dat path, a contour (N, 2) or a CST vector (18,)."""
    if isinstance(start, str):
        if start.lower().startswith("naca"):
            try:
                coords = naca(start[4:].strip())
            except (InputError, ValueError) as exc:
                raise InputError(f"start shape {start!r}: {exc}") from None
        else:
            coords = read_dat(start).coordinates
        name = start
    else:
        arr = np.asarray(start, dtype=float)
        if arr.shape == (18,):
            check_cst(arr, "start design")
            return arr, "cst"
        coords, name = arr, "contour"
    try:
        coords = check_airfoil(coords, f"start shape {name}")
    except InputError:
        raise
    return fit_cst(coords), name


def _domain_warnings(problem: AirfoilProblem) -> list[str]:
    out = []
    for k, p in enumerate(problem.points):
        if not TRAINED_REYNOLDS[0] <= p.reynolds <= TRAINED_REYNOLDS[1]:
            out.append(
                f"point {k + 1}: Re {p.reynolds:.3g} outside the surrogate's training range "
                f"{TRAINED_REYNOLDS[0]:.0e}-{TRAINED_REYNOLDS[1]:.0e}; predictions there are extrapolations"
            )
        if p.cl is not None and not TRAINED_CL[0] <= p.cl <= TRAINED_CL[1]:
            out.append(
                f"point {k + 1}: target CL {p.cl:g} outside what the surrogate has seen "
                f"({TRAINED_CL[0]:g} to {TRAINED_CL[1]:g})"
            )
        if p.mach > 0.1:
            out.append(
                f"point {k + 1}: Mach {p.mach:g}: the surrogate is incompressible (trained at Mach 0); "
                "XFOIL verification applies its Karman-Tsien correction"
            )
    lo, hi = problem.bounds.alpha
    if lo < TRAINED_ALPHA[0] or hi > TRAINED_ALPHA[1]:
        out.append(f"alpha bounds [{lo:g}, {hi:g}] reach beyond the training angles {list(TRAINED_ALPHA)}")
    return out


def _recorded_range(surrogate) -> dict | None:
    """The checkpoint's design_range (surrogate/design_range.py); None for models written before 2026-12-03."""
    return (getattr(surrogate, "info", None) or {}).get("meta", {}).get("design_range")


def _training_range(surrogate) -> tuple[np.ndarray, np.ndarray]:
    """The model's per-weight CST range (low, high), each (18,); InputError when it records none."""
    bounds = range_bounds(_recorded_range(surrogate))
    if bounds is None:
        raise InputError(
            "trust.training_range: this model records no training range; add it with "
            "`python -m phenograd.surrogate.design_range MODEL.pt DATA.db`"
        )
    return bounds


def _design_warnings(surrogate, cst: np.ndarray) -> list[str]:
    """The optimum's CST weights outside the surrogate's training range, as a warning line (or none)."""
    line = design_warning(cst, _recorded_range(surrogate))
    return [line] if line else []


def constraint_report(evaluator: DesignEvaluator, ev: Evaluation) -> list[dict]:
    """Every constraint at an evaluation, per point (not aggregated): name, kind, value
    (feasible when == 0 for eq, >= 0 for ineq, within FEASIBILITY_TOL), satisfied."""
    rows = [
        {"name": n, "kind": "eq", "value": float(v), "satisfied": bool(abs(v) <= 1e-3)}
        for n, v in zip(ev.eq_names, ev.eq)
    ]
    groups, names = evaluator.point_rows({k: torch.as_tensor(v) for k, v in ev.predicted.items()})
    n_agg = len(ev.ineq) - len(ev.jac_geometry)  # the aggregated surrogate rows come first
    per_point = [(n, float(v)) for g, ns in zip(groups, names) for n, v in zip(ns, g.tolist())]
    per_point += list(zip(ev.ineq_names[n_agg:], ev.ineq[n_agg:].tolist()))
    rows += [{"name": n, "kind": "ineq", "value": v, "satisfied": bool(v >= -FEASIBILITY_TOL)} for n, v in per_point]
    return rows


def _point_reports(problem: AirfoilProblem, predicted: dict) -> list[PointReport]:
    return [
        PointReport(
            reynolds=p.reynolds,
            target_cl=p.cl,
            weight=p.weight,
            alpha=float(predicted["alpha"][k]),
            CL=float(predicted["CL"][k]),
            CD=float(predicted["CD"][k]),
            CM=float(predicted["CM"][k]),
            CL_std=float(predicted["CL_std"][k]),
            CD_std=float(predicted["CD_std"][k]),
            confidence=float(predicted["confidence"][k]),
        )
        for k, p in enumerate(problem.points)
    ]


def _restore_feasibility(ev: DesignEvaluator, x0: np.ndarray) -> np.ndarray:
    """Move an infeasible start towards feasibility before the constrained solve: minimise
    0.5 |eq|^2 + 0.5 |min(ineq, 0)|^2 within the bounds (L-BFGS-B). A start far from
    feasibility (say NACA 0012 asked for CL 1.6) otherwise sends SLSQP's first steps, taken
    with an identity Hessian, far out into shapes where the surrogate is meaningless."""
    if _violation(ev.at(x0)) <= 1e-3:
        return x0

    def phase1(x):
        # every row in its constraint's own units (CM, t/c, ...), as _violation measures it: in the solver's units
        # the surrogate row (tolerances of 1e-3) outweighs a t/c shortfall a million times over in the squares, and
        # once it was met L-BFGS-B crawled on the geometry rows (measured: 19 iterations, 92 evaluations on Daedalus)
        e = ev.at(x)
        short = np.minimum(e.ineq * e.ineq_unit, 0.0)
        return 0.5 * (e.eq @ e.eq + short @ short), e.weighted_gradient(
            np.concatenate([[0.0], e.eq, short * e.ineq_unit])
        )

    res = minimize(
        phase1,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=ScipyBounds(ev.space.lower, ev.space.upper),
        options={"maxiter": 50},
    )
    return ev.space.clip(res.x)


def _solve(ev: DesignEvaluator, x0: np.ndarray) -> tuple[np.ndarray, object]:
    space, solver = ev.space, ev.problem.solver
    x0 = _restore_feasibility(ev, x0)
    probe = ev.at(x0)
    scale = max(abs(probe.objective), 1e-12)  # the solver sees an objective of order 1
    fun = lambda x: ev.at(x).objective / scale  # noqa: E731
    jac = lambda x: ev.at(x).grad / scale  # noqa: E731
    history: list[tuple[float, float]] = []

    def stall_stop(intermediate_result):
        """End when 5 iterations in a row changed the objective by < ftol (relative) while feasible:
        the surrogate's float32 rounding keeps SLSQP's own test from firing there."""
        e = ev.at(intermediate_result.x)
        history.append((e.objective, _violation(e)))
        if len(history) > 5:
            recent = [f for f, _ in history[-6:]]
            if max(recent) - min(recent) <= solver.ftol * max(abs(recent[-1]), 1e-12) and history[-1][1] <= 1e-4:
                raise StopIteration

    if solver.method == "SLSQP":
        cons = []
        if len(probe.eq):
            cons.append({"type": "eq", "fun": lambda x: ev.at(x).eq, "jac": lambda x: ev.at(x).jac_eq})
        if len(probe.ineq):
            cons.append({"type": "ineq", "fun": lambda x: ev.at(x).ineq, "jac": lambda x: ev.at(x).jac_ineq})
        res = minimize(
            fun,
            x0,
            jac=jac,
            method="SLSQP",
            bounds=ScipyBounds(space.lower, space.upper),
            constraints=cons,
            options={"maxiter": solver.maxiter, "ftol": solver.ftol},
            callback=stall_stop,
        )
    else:
        cons = []
        if len(probe.eq):
            cons.append(NonlinearConstraint(lambda x: ev.at(x).eq, 0.0, 0.0, jac=lambda x: ev.at(x).jac_eq))
        if len(probe.ineq):
            cons.append(NonlinearConstraint(lambda x: ev.at(x).ineq, 0.0, np.inf, jac=lambda x: ev.at(x).jac_ineq))
        res = minimize(
            fun,
            x0,
            jac=jac,
            method="trust-constr",
            bounds=ScipyBounds(space.lower, space.upper),
            constraints=cons,
            options={"maxiter": solver.maxiter, "gtol": solver.ftol},
            callback=stall_stop,
        )
    if res.status == 99:  # our stall test stopped it
        res.success, res.message = True, f"converged: objective changed < {solver.ftol:g} (relative) over 5 iterations"
    return space.clip(res.x), res


def _violation(ev: Evaluation) -> float:
    """The largest constraint violation at ev, every row in its constraints' own units (CM, CL, t/c, ...)."""
    return float(max(np.max(np.abs(ev.eq), initial=0.0), np.max(-ev.ineq * ev.ineq_unit, initial=0.0)))


def optimize(
    problem: AirfoilProblem,
    model=None,
    start="naca0012",
    verify: bool = False,
    xfoil_workers: int = 2,
    reference=None,
    scheduler: str | None = None,
    fidelity: str = "xfoil",
    rans_mesh: str = "coarse",
) -> AirfoilResult:
    """Optimize an airfoil for `problem` through a surrogate (default: the shipped model).

    Args:
        problem: operating points, objective, constraints, bounds (AirfoilProblem).
        model: a checkpoint path or a loaded AirfoilSurrogate; None: the shipped model.
        start: "nacaXXXX", a .dat path, a contour (N, 2) or a CST vector (18,).
        verify: run XFOIL on the start and the optimum at every operating point.
        xfoil_workers: local processes for the verification.
        reference: the shape (same forms as start) that relative constraints (wiggliness) refer
            to; default the start. Refinement restarts from an optimum but keeps the first start's bound.
        scheduler: the verification runs on this Dask cluster instead (an address or a scheduler file).
        fidelity: "xfoil" (default) or "rans": verify with OpenFOAM RANS on the `rans_mesh` grid instead
            (minutes per operating point; counted in result.rans_cases).
        rans_mesh: the RANS grid level ("coarse", "medium", "fine").

    Raises InputError for bad input; a solver failure or an infeasible problem comes
    back as a result with success False and the violated constraints listed.
    """
    from phenograd.surrogate.predict import load_surrogate

    t0 = time.perf_counter()
    surrogate = (
        model
        if model is not None and not isinstance(model, (str,)) and hasattr(model, "predict_airfoil")
        else load_surrogate(model, domain="airfoil")
    )
    start_cst, _ = start_design(start)
    space = DesignSpace.build(problem, start_cst)
    if problem.trust.training_range:
        space = space.narrowed(*_training_range(surrogate))
    reference_cst = start_cst if reference is None else start_design(reference)[0]
    ev = DesignEvaluator(surrogate, problem, space, reference_cst)
    x_start = space.clip(space.pack(start_cst, ev.start_alpha(start_cst)))
    start_eval = ev.at(x_start)

    rng = np.random.default_rng(problem.solver.seed)
    starts = [x_start] + [
        space.clip(x_start + rng.normal(0.0, 0.03, space.size) * (space.upper - space.lower))
        for _ in range(problem.solver.multistart)
    ]
    best = None
    t_solve = time.perf_counter()
    iterations = 0
    for x0 in starts:
        try:
            x, res = _solve(ev, x0)
        except FloatingPointError as exc:
            x, res = x0, type("Res", (), {"success": False, "message": str(exc), "nit": 0, "status": -1})()
        iterations += int(getattr(res, "nit", 0))
        e = ev.at(x)
        key = (_violation(e) > 1e-3, e.objective)
        if best is None or key < best[0]:
            best = (key, x, res, e)
    solve_s = time.perf_counter() - t_solve
    _, x, res, opt_eval = best
    cst, alpha = (t.detach().numpy() for t in space.unpack(torch.as_tensor(x, dtype=torch.float64)))
    constraints = constraint_report(ev, opt_eval)
    violated = [c["name"] for c in constraints if not c["satisfied"]]
    feasible = not violated
    if feasible and res.success:
        status = "optimal"
    elif feasible:
        status = "feasible, solver stopped early"
    else:
        status = "infeasible"
    message = str(getattr(res, "message", ""))
    if violated:
        message += f"; violated at the returned design: {', '.join(violated[:5])}" + (
            f" and {len(violated) - 5} more" if len(violated) > 5 else ""
        )
    result = AirfoilResult(
        problem=problem.name,
        success=bool(feasible),
        status=status,
        message=message,
        cst=[float(v) for v in cst],
        contour=cst_to_coordinates(cst),
        start_cst=[float(v) for v in start_cst],
        start_contour=cst_to_coordinates(start_cst),
        objective=opt_eval.objective,
        start_objective=start_eval.objective,
        points=_point_reports(problem, opt_eval.predicted),
        start_points=_point_reports(problem, start_eval.predicted),
        constraints=constraints,
        warnings=_domain_warnings(problem) + _design_warnings(surrogate, cst),
        iterations=iterations,
        surrogate_calls=ev.calls,
        solve_s=solve_s,
    )
    result.surrogate = surrogate
    if verify:
        from .airfoil_verify import verify_result

        verify_result(
            result, problem, workers=xfoil_workers, scheduler=scheduler, fidelity=fidelity, rans_mesh=rans_mesh
        )
    result.wall_s = time.perf_counter() - t0
    return result
