"""Airfoil optimization benchmark: Drela's Daedalus multi-point problem, phenograd beside
AeroSandbox + NeuralFoil, both optima verified by the same XFOIL.

    .venv/bin/pip install -e .[bench]        # aerosandbox, neuralfoil (benchmark-only)
    .venv/bin/python -m benchmarks.airfoil_optimization [--model MODEL.pt] [--sizes large,xxxlarge]

The problem as posed in AeroSandbox's NeuralFoil optimization tutorial: start NACA 0012;
minimise the weighted mean CD at CL 0.8, 1.0, 1.2, 1.4, 1.5, 1.6 (weights 5..10) at
Re = 500,000 (CL/1.25)^-0.5, Mach 0.03; CM >= -0.133, t/c(0.33) >= 0.128, t/c(0.90) >= 0.014,
TE angle >= 6.03 deg, round leading edge, wiggliness <= 2x the tutorial start's (AeroSandbox's
NACA 0012 fit; an absolute bound), confidence >= 0.9, the tutorial's CST bounds, sharp trailing
edge (phenograd.optimize.airfoil_problem.daedalus_problem; the angle range is -5..15 deg for
phenograd, where its surrogate was trained, -5..18 for AeroSandbox as in the tutorial). AeroSandbox solves it with IPOPT through CasADi on NeuralFoil.

Both optima are verified by phenograd's XFOIL wrapper under the same settings (160 panels,
retried at 200 and 240 panels at a point where XFOIL does not converge at 160; Ncrit 9, Mach 0.03,
100 iterations; CL targets met by interpolation between converged angles 0.25 deg apart). The score is the weighted mean CD, sum(w CD) / sum(w), from XFOIL.
Solve times are wall-clock seconds of the solver alone (model loading excluded), on this machine; phenograd's
the median of 3 identical solves, as loaded (eager) and with the encoder's passes through torch.compile
(`AirfoilSurrogate(..., compile=True)`, `phenograd optimize airfoil --compile`), whose first solve, with the
compilation, is reported beside it as the wall time of that whole call (inductor keeps its kernels on disk, so a
fresh cache compiles longer than one that earlier runs filled).
Writes the section "Airfoil optimization" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.report import labelled_path, machine, one_thread, publish, today
from phenograd.datasets.cst import cst_to_coordinates
from phenograd.optimize.airfoil import optimize
from phenograd.optimize.airfoil_problem import daedalus_problem
from phenograd.optimize.airfoil_verify import PANELS, verified_objective, verify_design
from phenograd.surrogate.predict import AirfoilSurrogate, load_surrogate

SOLVES = 3  # phenograd's solve time is the median of this many solves from the same start (deterministic)


def aerosandbox_daedalus(model_size: str) -> tuple[np.ndarray, np.ndarray, float, str]:
    """The tutorial's IPOPT solve on NeuralFoil: (CST (18,), alphas (6,), solve seconds, status)."""
    import aerosandbox as asb
    import aerosandbox.numpy as anp

    problem = daedalus_problem()
    cl_targets = np.array([p.cl for p in problem.points])
    weights = np.array([p.weight for p in problem.points])
    re = np.array([p.reynolds for p in problem.points])
    start = asb.KulfanAirfoil("naca0012")
    opti = asb.Opti()
    af = asb.KulfanAirfoil(
        name="optimized",
        lower_weights=opti.variable(init_guess=start.lower_weights, lower_bound=-0.5, upper_bound=0.25),
        upper_weights=opti.variable(init_guess=start.upper_weights, lower_bound=-0.25, upper_bound=0.5),
        leading_edge_weight=opti.variable(init_guess=start.leading_edge_weight, lower_bound=-1, upper_bound=1),
        TE_thickness=0,
    )
    alpha = opti.variable(init_guess=np.degrees(cl_targets / (2 * np.pi)), lower_bound=-5, upper_bound=18)
    aero = af.get_aero_from_neuralfoil(alpha=alpha, Re=re, mach=0.03, model_size=model_size)
    wiggle = lambda a: sum(anp.sum(anp.diff(anp.diff(w)) ** 2) for w in (a.lower_weights, a.upper_weights))  # noqa: E731
    opti.subject_to(
        [
            aero["analysis_confidence"] > 0.90,
            aero["CL"] == cl_targets,
            anp.diff(alpha) > 0,
            aero["CM"] >= -0.133,
            af.local_thickness(x_over_c=0.33) >= 0.128,
            af.local_thickness(x_over_c=0.90) >= 0.014,
            af.TE_angle() >= 6.03,
            af.lower_weights[0] < -0.05,
            af.upper_weights[0] > 0.05,
            af.local_thickness() > 0,
            wiggle(af) < 2 * wiggle(start),
        ]
    )
    opti.minimize(anp.mean(aero["CD"] * weights))
    t0 = time.perf_counter()
    sol = opti.solve(
        behavior_on_failure="return_last",
        verbose=False,
        options={"ipopt.mu_strategy": "monotone", "ipopt.start_with_resto": "yes"},
    )
    seconds = time.perf_counter() - t0
    best = sol(af)
    cst = np.concatenate(
        [
            np.asarray(best.upper_weights, float),
            np.asarray(best.lower_weights, float),
            [float(best.leading_edge_weight), 0.0],
        ]
    )
    status = str(sol._sol.stats().get("return_status", "?"))
    return cst, np.asarray(sol(alpha), float), seconds, status


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="airfoil model (default: the shipped one)")
    ap.add_argument("--sizes", default="large,xxxlarge", help="NeuralFoil sizes for AeroSandbox (comma-separated)")
    ap.add_argument(
        "--compare", default=None, metavar="LABEL=MODEL.pt", help="another airfoil model solved in the same run"
    )
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    threads = one_thread()
    problem = daedalus_problem()
    models = {"phenograd (SLSQP on its surrogate)": args.model}
    if args.compare:
        label, path = labelled_path(args.compare, ap)
        models[f"phenograd, {label} (SLSQP on its surrogate)"] = path

    rows = []
    for label, path in models.items():
        loaded = load_surrogate(path, domain="airfoil")
        compiled = AirfoilSurrogate(loaded.ensemble, loaded.info, compile=True)
        first = optimize(problem, compiled, start="naca0012")  # compiles the encoder's passes
        variants = ((label, loaded, 0.0), (label.replace(" (", ", compiled encoder (", 1), compiled, first.wall_s))
        for name, surrogate, compile_s in variants:
            runs = [optimize(problem, surrogate, start="naca0012") for _ in range(SOLVES)]
            result = runs[0]
            verified, calls = verify_design(result.contour, problem, [p.alpha for p in result.points])
            note = f"; first call {compile_s:.1f} s wall, compilation included" if compile_s else ""
            rows.append(
                (
                    name,
                    result.objective,
                    verified_objective(problem, verified, result.cst),
                    float(np.median([r.solve_s for r in runs])),
                    f"{result.status}, {result.iterations} it., {result.surrogate_calls} surrogate calls{note}",
                    verified,
                )
            )
    start_verified, _ = verify_design(result.start_contour, problem, [p.alpha for p in result.start_points])
    start_obj = verified_objective(problem, start_verified, result.start_cst)
    for size in [s.strip() for s in args.sizes.split(",") if s.strip()]:
        cst, alphas, seconds, status = aerosandbox_daedalus(size)
        contour = cst_to_coordinates(cst)
        v, _ = verify_design(contour, problem, alphas)
        rows.append(
            (f"AeroSandbox + NeuralFoil {size} (IPOPT)", None, verified_objective(problem, v, cst), seconds, status, v)
        )

    options = (("model", args.model), ("compare", args.compare and f'"{args.compare}"'), ("sizes", args.sizes))
    command = ".venv/bin/python -m benchmarks.airfoil_optimization" + "".join(f" --{k} {v}" for k, v in options if v)
    fmt = lambda v: "not converged" if v is None else f"{v:.5f}"  # noqa: E731
    lines = [
        f"Command: `{command}` ({today()}; {machine()}; {threads}).",
        "",
        "Drela's Daedalus problem as posed in AeroSandbox's NeuralFoil tutorial (module docstring). Score: "
        "weighted mean CD sum(w CD)/sum(w) from XFOIL at the six target CLs (lower is better); the "
        f"NACA 0012 start scores {fmt(start_obj)} (its CL 1.4-1.6 targets are out of its reach where not "
        "converged).",
        "",
        "| solver | predicted | XFOIL-verified | solve (s) | status |",
        "|---|---|---|---|---|",
    ]
    for name, pred, ver, sec, status, _ in rows:
        lines.append(f"| {name} | {fmt(pred) if pred is not None else '-'} | {fmt(ver)} | {sec:.1f} | {status} |")
    lines += [
        "",
        "XFOIL per point (CD at the target CL; alpha in degrees; 160 panels unless a finer panelling is "
        "named, used only where 160 did not converge):",
        "",
        "| solver | " + " | ".join(f"CL {p.cl:g}" for p in problem.points) + " |",
        "|---|" + "---|" * len(problem.points),
    ]
    for name, _, _, _, _, v in rows:
        cells = [
            f"{x['CD']:.5f} @ {x['alpha']:.2f}"
            + (f" ({x['panels']} panels)" if x.get("panels", PANELS) != PANELS else "")
            if x.get("converged")
            else "n.c."
            for x in v
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    publish("Airfoil optimization", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
