"""CLI: `phenograd optimize airfoil` (shape optimization through the surrogate, verified by XFOIL or RANS)."""

from __future__ import annotations

import sys

from phenograd.core.errors import InputError

EXIT_NOT_FOUND = 3  # the run finished but found no feasible design (the report says why)


def add_commands(sub):
    """Add `optimize` with its `airfoil` subcommand (and its handler); returns the `optimize` subparsers
    object, so other design commands can add their domain."""
    op = sub.add_parser("optimize", help="design through a surrogate, verified by the simulator")
    op_sub = op.add_subparsers(dest="domain", required=True, metavar="{airfoil,composition}")
    oa = op_sub.add_parser(
        "airfoil",
        help="optimize an airfoil shape for a problem file (TOML)",
        description="Gradient-based shape optimization: 18 CST parameters plus one angle per free operating point, "
        "SLSQP (or trust-constr) with exact gradients through the surrogate, trust constraints on the ensemble's "
        "confidence and spread. With --verify, XFOIL runs the start and the optimum at every operating point. "
        "Writes optimized.dat, start.dat, report.json, shape.png and polars.png into --out. Exit status 3 when no "
        "feasible design was found (the report lists the violated constraints).",
    )
    oa.add_argument(
        "--problem",
        required=True,
        help="problem file (TOML; see `phenograd optimize airfoil --example`)"
        " or 'daedalus' for the built-in Daedalus multi-point problem",
    )
    oa.add_argument("--model", default=None, help="airfoil model checkpoint (default: the shipped model)")
    oa.add_argument(
        "--start", default=None, help="start shape: nacaXXXX or a .dat file (default: the problem's, else naca0012)"
    )
    oa.add_argument("--verify", action="store_true", help="run XFOIL on the start and the optimum")
    oa.add_argument(
        "--refine",
        type=int,
        default=0,
        metavar="K",
        help="up to K rounds: where XFOIL and the surrogate disagree by > 3 %%, simulate around the optimum, "
        "fine-tune the surrogate there, optimize again (implies --verify; DIR/refine.db, DIR/refined_model.pt)",
    )
    oa.add_argument(
        "--fidelity",
        choices=("xfoil", "rans"),
        default="xfoil",
        help="simulator that verifies the start and the optimum: xfoil (default) or rans (OpenFOAM "
        "Spalart-Allmaras, minutes per point; implies --verify; needs `make setup-cfd`)",
    )
    oa.add_argument(
        "--rans-mesh",
        choices=("coarse", "medium", "fine"),
        default="coarse",
        help="grid level for --fidelity rans (default coarse)",
    )
    oa.add_argument(
        "--compile",
        action="store_true",
        help="run the model's encoder through torch.compile: a Daedalus solve 3.6 s instead of 8.5 s on one thread, "
        "after a first call that compiles (about 2 minutes in a fresh cache, about 15 s once inductor's disk cache "
        "holds the kernels), so it pays where a run solves several times (--multistart, --refine); "
        "BENCHMARKS.md 'Airfoil optimization'",
    )
    oa.add_argument("--multistart", type=int, default=None, help="extra random starts (default: the problem's, else 0)")
    par = oa.add_mutually_exclusive_group()
    par.add_argument(
        "--workers", type=int, default=2, help="parallel XFOIL processes for verification and refinement (default 2)"
    )
    par.add_argument(
        "--scheduler", default=None, help="send the XFOIL runs to a Dask cluster: tcp://HOST:PORT or a scheduler file"
    )
    oa.add_argument("--out", required=True, help="output folder")
    oa.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    oa.set_defaults(handler=run_optimize_airfoil)
    return op_sub


def _format_table(result) -> str:
    sim = "RANS" if result.fidelity == "rans" else "XFOIL"
    lines = [
        f"{result.problem}: {result.status} ({result.message.strip()})",
        f"objective (predicted): start {result.start_objective:.6g} -> optimum {result.objective:.6g}",
    ]
    if result.verified_objective is not None or result.verified_start_objective is not None:
        fmt = lambda v: "unverified" if v is None else f"{v:.6g}"  # noqa: E731
        lines.append(
            f"objective ({sim}):{' ' * (6 - len(sim))}start {fmt(result.verified_start_objective)} -> optimum "
            f"{fmt(result.verified_objective)}"
        )
    lines.append(
        f"{'Re':>9} {'CL*':>5} {'alpha':>6} {'CL':>7} {'CD':>8} {'CM':>7} {'conf':>5} | "
        f"{sim + ' a':>7} {'CL':>7} {'CD':>8} {'CM':>7}"
    )
    for p in result.points:
        v = p.verified or {}
        ok = v.get("converged")
        tgt = "" if p.target_cl is None else f"{p.target_cl:g}"
        xf = (
            f"{v['alpha']:7.2f} {v['CL']:7.4f} {v['CD']:8.5f} {v['CM']:7.4f}"
            if ok
            else f"{'-' if not v else 'not converged':>32}"
        )
        lines.append(
            f"{p.reynolds:9.3g} {tgt:>5} {p.alpha:6.2f} {p.CL:7.4f} {p.CD:8.5f} {p.CM:7.4f} {p.confidence:5.2f} | {xf}"
        )
    lines.append(
        f"solver {result.iterations} iterations, {result.surrogate_calls} surrogate calls, "
        f"{result.solve_s:.1f} s; XFOIL calls {result.xfoil_calls}"
        + (f"; RANS cases {result.rans_cases}" if result.fidelity == "rans" else "")
        + f"; wall {result.wall_s:.1f} s"
    )
    for r in result.rounds:
        ver = "unverified" if r["verified"] is None else f"{r['verified']:.6g} (gap {100 * r['gap']:.1f} %)"
        lines.append(f"refinement round {r['round']}: predicted {r['predicted']:.6g}, XFOIL {ver}")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def run_optimize_airfoil(args) -> int:
    import json
    import time
    from dataclasses import replace

    from phenograd.optimize.airfoil import optimize
    from phenograd.optimize.airfoil_problem import daedalus_problem, load_problem
    from phenograd.optimize.airfoil_report import write_report
    from phenograd.surrogate.predict import AirfoilSurrogate, load_surrogate

    t0 = time.perf_counter()
    if args.problem == "daedalus":
        problem, start = daedalus_problem(), None
    else:
        problem, start = load_problem(args.problem)
    if args.multistart is not None:
        if args.multistart < 0:
            raise InputError("--multistart must be >= 0")
        problem = replace(problem, solver=replace(problem.solver, multistart=args.multistart))
    if args.workers < 1:
        raise InputError("--workers must be >= 1")
    surrogate = load_surrogate(args.model, domain="airfoil")
    if args.compile:
        surrogate = AirfoilSurrogate(surrogate.ensemble, surrogate.info, compile=True)
    start = args.start or start or "naca0012"
    if args.refine < 0:
        raise InputError("--refine must be >= 0")
    verify = args.verify or args.refine > 0 or args.fidelity == "rans"
    if args.fidelity == "rans":
        from phenograd.simulators.openfoam import openfoam_env

        openfoam_env()  # missing OpenFOAM: one line and exit 3 before any optimization runs
        if args.refine:
            raise InputError("--refine simulates with XFOIL; with --fidelity rans use --verify only")
    if args.refine:
        from phenograd.optimize.airfoil_refine import refine

        result, _ = refine(
            problem,
            surrogate,
            start,
            rounds=args.refine,
            out_dir=args.out,
            workers=args.workers,
            progress=lambda msg: print(msg, file=sys.stderr),
            scheduler=args.scheduler,
        )
    else:
        result = optimize(
            problem,
            surrogate,
            start=start,
            verify=verify,
            xfoil_workers=args.workers,
            scheduler=args.scheduler,
            fidelity=args.fidelity,
            rans_mesh=args.rans_mesh,
        )
    write_report(result, problem, args.out, xfoil_polars=verify and args.fidelity == "xfoil", started=t0)
    print(
        json.dumps(result.to_dict() | {"contour": None, "start_contour": None}, indent=1)
        if args.json
        else _format_table(result)
    )
    return 0 if result.success else EXIT_NOT_FOUND
