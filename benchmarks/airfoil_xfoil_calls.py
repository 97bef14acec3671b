"""XFOIL calls to a good airfoil: phenograd (surrogate + verification + refinement) against
Optuna's CMA-ES and TPE calling XFOIL directly.

    .venv/bin/python -m benchmarks.airfoil_xfoil_calls [--trials 300] [--model MODEL.pt]

Problem: from NACA 0012, maximise CL/CD at Re 1e6 (Ncrit 9, Mach 0) with maximum t/c >= 0.12;
the design is the 18 CST parameters (trailing-edge thickness fixed at NACA 0012's fitted value)
plus the angle of attack in [0, 12] deg. The baselines see the same variables within
phenograd's default CST bounds; a trial whose shape fails the geometry checks or the thickness
bound is scored without running XFOIL (a penalty that grows with the violation); a trial that
XFOIL does not converge scores 0. One XFOIL call = one polar (a 3-angle ramp ending at alpha).

phenograd: optimize through the surrogate, verify the optimum with XFOIL, and refine (simulate
around the optimum, fine-tune, optimize again) until the verified L/D reaches CMA-ES's final best
or the rounds run out; every XFOIL polar is counted (verification, refinement samples).
Writes the section "Airfoil design: XFOIL calls" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import torch

from benchmarks.report import machine, publish, today
from phenograd.core.errors import InputError
from phenograd.datasets.airfoil import check_airfoil, naca
from phenograd.datasets.cst import cst_to_coordinates, fit_cst
from phenograd.optimize.airfoil_geometry import max_thickness
from phenograd.optimize.airfoil_problem import AirfoilProblem, Bounds, Constraints, OperatingPoint, Solver, Trust
from phenograd.simulators.xfoil import XfoilSettings, run_polar

RE = 1e6
T_MIN = 0.12


def problem(maxiter: int = 100) -> AirfoilProblem:
    return AirfoilProblem(
        points=(OperatingPoint(reynolds=RE),),
        objective="max_cl_cd",
        name="max L/D",
        constraints=Constraints(max_thickness_min=T_MIN, te_angle_min=4.0, wiggliness_max_ratio=3.0),
        trust=Trust(confidence_min=0.9),
        bounds=Bounds(te_thickness=float(start_cst()[-1]), alpha=(0.0, 12.0)),
        solver=Solver(maxiter=maxiter),
    )


def start_cst() -> np.ndarray:
    return fit_cst(naca("0012"))


def xfoil_l_over_d(cst: np.ndarray, alpha: float) -> tuple[float | None, bool]:
    """(CL/CD or None, whether XFOIL was called) for one design; None for a refused shape."""
    try:
        contour = check_airfoil(cst_to_coordinates(cst), "trial")
    except InputError:
        return None, False
    polar = run_polar(contour, [alpha - 1.0, alpha - 0.5, alpha], XfoilSettings(reynolds=RE))
    p = polar.points[-1]
    return (p.CL / p.CD if p.converged and p.CD > 0 else 0.0), True


def baseline(sampler_name: str, trials: int, seed: int) -> dict:
    """Optuna CMA-ES or TPE on XFOIL directly: best L/D after each XFOIL call."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    b, x0 = problem().bounds, start_cst()
    lo = np.r_[np.full(8, b.upper[0]), np.full(8, b.lower[0]), b.le_weight[0]]
    hi = np.r_[np.full(8, b.upper[1]), np.full(8, b.lower[1]), b.le_weight[1]]
    names = [f"w{i}" for i in range(17)] + ["alpha"]
    init = {**{n: float(np.clip(v, lo[i], hi[i])) for i, (n, v) in enumerate(zip(names, x0[:17]))}, "alpha": 5.0}
    sampler = (
        optuna.samplers.CmaEsSampler(x0=init, sigma0=0.05, seed=seed)
        if sampler_name == "CMA-ES"
        else optuna.samplers.TPESampler(seed=seed)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial(init)
    calls, best, curve = 0, 0.0, []

    def objective(trial):
        nonlocal calls, best
        w = np.array([trial.suggest_float(n, lo[i], hi[i]) for i, n in enumerate(names[:17])])
        alpha = trial.suggest_float("alpha", 0.0, 12.0)
        cst = np.r_[w, x0[17]]
        t = float(max_thickness(torch.as_tensor(cst)))
        if t < T_MIN:
            return -1000.0 * (T_MIN - t)
        value, called = xfoil_l_over_d(cst, alpha)
        if not called:
            return -10.0
        calls += 1
        best = max(best, value)
        curve.append((calls, best))
        return value

    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    return {
        "name": f"Optuna {sampler_name} on XFOIL",
        "best": best,
        "calls": calls,
        "curve": curve,
        "seconds": time.perf_counter() - t0,
    }


def calls_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((c for c, b in curve if b >= target), None)


def phenograd_run(model, rounds: int) -> dict:
    from phenograd.optimize.airfoil_refine import refine
    from phenograd.surrogate.predict import load_surrogate

    surrogate = load_surrogate(model, domain="airfoil")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result, _ = refine(problem(), surrogate, start_cst(), rounds=rounds, out_dir=tmp, tolerance=0.0)
    curve = [(r["xfoil_calls"], -r["verified"]) for r in result.rounds if r["verified"] is not None]
    best = max((b for _, b in curve), default=0.0)
    return {
        "name": "phenograd (surrogate, verify, refine)",
        "best": best,
        "calls": result.xfoil_calls,
        "rounds": result.rounds,
        "seconds": time.perf_counter() - t0,
        "curve": curve,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=300, help="Optuna trials per sampler (default 300)")
    ap.add_argument("--rounds", type=int, default=3, help="phenograd refinement rounds (default 3)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cma = baseline("CMA-ES", args.trials, args.seed)
    tpe = baseline("TPE", args.trials, args.seed)
    ours = phenograd_run(args.model, args.rounds)
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.airfoil_xfoil_calls --trials {args.trials} --rounds {args.rounds}` ({today()}; "
        f"{machine()}).",
        "",
        f"Maximise CL/CD at Re 1e6 from NACA 0012 with max t/c >= {T_MIN} (module docstring). Target: "
        f"CMA-ES's best XFOIL L/D after {args.trials} trials, {cma['best']:.1f}.",
        "",
        "| method | best XFOIL L/D | XFOIL calls in all | XFOIL calls to reach CMA-ES's best | "
        f"XFOIL calls to reach phenograd's best ({ours['best']:.1f}) | wall (s) |",
        "|---|---|---|---|---|---|",
    ]
    fmt = lambda c: c if c else "not reached"  # noqa: E731
    for r in (cma, tpe, ours):
        lines.append(
            f"| {r['name']} | {r['best']:.1f} | {r['calls']} | {fmt(calls_to_reach(r['curve'], cma['best']))} | "
            f"{fmt(calls_to_reach(r['curve'], ours['best']))} | {r['seconds']:.0f} |"
        )
    rounds = []
    for r in ours["rounds"]:
        verified = "-" if r["verified"] is None else f"{-r['verified']:.1f}"
        rounds.append(f"{r['round']}: {-r['predicted']:.1f} / {verified} after {r['xfoil_calls']} XFOIL calls")
    lines += ["", "phenograd rounds (predicted / verified L/D): " + "; ".join(rounds)]
    publish("Airfoil design: XFOIL calls", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
