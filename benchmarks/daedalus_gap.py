"""Why phenograd's Daedalus optimum verifies above NeuralFoil's: a diagnosis, not a race.

    .venv/bin/pip install -e .[bench]        # aerosandbox, neuralfoil (benchmark-only)
    .venv/bin/python -m benchmarks.daedalus_gap [--model MODEL.pt] [--compare LABEL=MODEL.pt] [--size large]

Drela's Daedalus problem as benchmarks/airfoil_optimization.py poses it. For each phenograd model:
1. the solve from NACA 0012 (as in that benchmark);
2. the model at NeuralFoil's optimum (AeroSandbox + IPOPT, same problem): its predicted objective at
   its own solved angles and its convergence probability per point, the quantity the problem bounds at 0.9;
3. the solve started from NeuralFoil's optimum;
4. the solve from NACA 0012 without the convergence-probability bound.
Every optimum is verified by the same XFOIL (airfoil_verify). Finally, at each optimum, the training data's
XFOIL protocol (integer angles -5..15 deg swept from 0 up, 160 panels; datasets/airfoil_generate.py): which angles
converge at each operating point's Reynolds number, i.e. what the convergence labels near the design say.
Writes the section "Airfoil optimization: the gap to NeuralFoil" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np

from benchmarks.airfoil_optimization import aerosandbox_daedalus
from benchmarks.report import labelled_path, machine, one_thread, publish, today
from phenograd.datasets.airfoil_generate import DEFAULT_ALPHAS
from phenograd.datasets.cst import cst_to_coordinates
from phenograd.optimize.airfoil import optimize
from phenograd.optimize.airfoil_problem import Trust, daedalus_problem
from phenograd.optimize.airfoil_verify import verified_objective, verify_design
from phenograd.simulators.xfoil import XfoilSettings, run_polar
from phenograd.surrogate.predict import load_surrogate


def verified(problem, cst: np.ndarray, alphas) -> float | None:
    """XFOIL's weighted mean CD of a CST design (None where a point did not converge)."""
    points, _ = verify_design(cst_to_coordinates(cst), problem, alphas)
    return verified_objective(problem, points, cst)


def protocol_convergence(problem, cst: np.ndarray) -> list[str]:
    """Per operating point, the training protocol's polar at its Reynolds number: the angles that did not
    converge (degrees), or "all"."""
    contour = cst_to_coordinates(cst)
    cells = []
    for p in problem.points:
        polar = run_polar(contour, list(DEFAULT_ALPHAS), XfoilSettings(reynolds=p.reynolds))
        failed = [f"{q.alpha:g}" for q in polar.points if not q.converged]
        cells.append("all" if not failed else "all but " + ", ".join(failed))
    return cells


def fmt(value: float | None) -> str:
    return "not converged" if value is None else f"{value:.5f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="airfoil model (default: the shipped one)")
    ap.add_argument("--compare", default=None, metavar="LABEL=MODEL.pt", help="another airfoil model")
    ap.add_argument("--size", default="large", help="NeuralFoil size AeroSandbox solves with")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args()
    threads = one_thread()
    problem = daedalus_problem()
    unbounded = dataclasses.replace(problem, trust=Trust(confidence_min=None))
    models = {"phenograd": args.model}
    if args.compare:
        label, path = labelled_path(args.compare, ap)
        models[f"phenograd, {label}"] = path

    peer_cst, peer_alphas, _, peer_status = aerosandbox_daedalus(args.size)
    peer = f"NeuralFoil {args.size}"
    peer_verified = verified(problem, peer_cst, peer_alphas)

    rows, at_peer, optima = [], [], {f"{peer} (IPOPT, {peer_status})": peer_cst}
    for label, path in models.items():
        surrogate = load_surrogate(path, domain="airfoil")
        solves = (
            ("from NACA 0012", problem, "naca0012"),
            (f"from {peer}'s optimum", problem, peer_cst),
            ("from NACA 0012, no convergence-probability bound", unbounded, "naca0012"),
        )
        for how, posed, start in solves:
            result = optimize(posed, surrogate, start=start)
            score = verified(problem, result.cst, [p.alpha for p in result.points])
            low = min(p.confidence for p in result.points)
            rows.append(
                f"| {label} | {how} | {result.objective:.5f} | {fmt(score)} | {low:.2f} | "
                f"{result.status}, {result.iterations} it. |"
            )
            if start is peer_cst:  # the model's view of the peer's optimum: the start of this solve
                probs = ", ".join(f"{p.confidence:.2f}" for p in result.start_points)
                at_peer.append(f"| {label} | {result.start_objective:.5f} | {fmt(peer_verified)} | {probs} |")
            if how == "from NACA 0012":
                optima[f"{label} (from NACA 0012)"] = result.cst

    protocol = [f"| {name} | " + " | ".join(protocol_convergence(problem, cst)) + " |" for name, cst in optima.items()]
    options = (("model", args.model), ("compare", args.compare and f'"{args.compare}"'), ("size", args.size))
    command = ".venv/bin/python -m benchmarks.daedalus_gap" + "".join(f" --{k} {v}" for k, v in options if v)
    points = " | ".join(f"CL {p.cl:g}, Re {p.reynolds:,.0f}" for p in problem.points)
    lines = [
        f"Command: `{command}` ({today()}; {machine()}; {threads}; XFOIL verifications on 2 threads beside it, so "
        "no solve times here).",
        "",
        f'The Daedalus problem of section "Airfoil optimization"; {peer}\'s optimum verifies at '
        f"{fmt(peer_verified)}. Predicted: the model's weighted mean CD at its own solved angles; verified: XFOIL's "
        "(160 panels, retried finer where 160 fails); lowest p: the smallest predicted probability that XFOIL "
        "converges over the six points (the problem bounds it at 0.9).",
        "",
        "| model | solve | predicted | XFOIL-verified | lowest p | status |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Each model at {peer}'s optimum (no solve): predicted objective, XFOIL's, and the convergence probability "
        "per point (CL 0.8 ... 1.6):",
        "",
        "| model | predicted | XFOIL-verified | probability XFOIL converges, by point |",
        "|---|---|---|---|",
        *at_peer,
        "",
        "The training data's XFOIL protocol at each optimum (integer angles -5..15 deg, swept from 0 up, 160 panels, "
        "at each point's Reynolds number): the angles that did not converge.",
        "",
        f"| optimum | {points} |",
        "|---|" + "---|" * len(problem.points),
        *protocol,
    ]
    publish("Airfoil optimization: the gap to NeuralFoil", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
