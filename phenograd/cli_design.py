"""Catalyst design commands of the `phenograd` command line.

`add_commands(sub, optimize_sub=None)` adds `screen` to the top-level command group
and `composition` to the `optimize` group (created when absent; pass it when another
module already made it), each with its handler (set_defaults(handler=...)):

    phenograd screen --space SPACE.toml [--model MODEL.pt] --top K [--verify [--verify-dft K]]
                     [--workers K | --scheduler tcp://HOST:PORT] --out RESULTS.db
    phenograd optimize composition --metals Pt Cu Ni (--target E | --volcano OPT[,kT]) [--mode sites|global]
                     [--model MODEL.pt] [--verify N [--verify-dft K]] --out DIR
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from phenograd.cli_options import add_parallel_options, comma_names, seed_value, surface_size
from phenograd.core.atomic import atomic_path


def _relax_options(p) -> None:
    g = p.add_argument_group("verification (the simulator; protocol: BFGS, fmax 0.05 eV/Å, 300 steps)")
    g.add_argument(
        "--calculator",
        default=None,
        help="emt, chgnet, sevennet or a trusted plug-in module.path:factory "
        "(default: the calculator whose labels the model learnt)",
    )
    g.add_argument("--fmax", type=float, default=0.05, help="force threshold in eV/Å (default 0.05)")
    g.add_argument("--relax-steps", type=int, default=300, help="BFGS step limit (default 300)")


def _optimize_group(sub):
    """The `optimize` subcommand group: the existing one, or a new one."""
    existing = sub.choices.get("optimize")
    if existing is not None:
        return existing._subparsers._group_actions[0]
    opt = sub.add_parser("optimize", help="design through a surrogate, verified by the simulator")
    return opt.add_subparsers(dest="domain", required=True, parser_class=type(opt))


def add_commands(sub, optimize_sub=None) -> None:
    sc = sub.add_parser(
        "screen",
        help="rank a catalyst candidate space with the surrogate, verify the best (resumable)",
        description="Enumerate the candidates of a space file (TOML; see optimize/space.py), predict E_ads and its "
        "uncertainty for all, rank them by distance to a target or by volcano activity, verify the top K (plus the "
        "most uncertain high-ranked ones) with the simulator, and write every candidate to an ase.db with a PNG beside "
        "it. A killed run continues where it stopped when the same command is run again.",
    )
    sc.add_argument("--space", required=True, help="candidate space (.toml)")
    sc.add_argument("--model", default=None, help="catalyst model checkpoint (default: the shipped model)")
    sc.add_argument("--top", type=int, default=20, help="candidates to verify and report (default 20)")
    sc.add_argument(
        "--uncertain",
        type=int,
        default=None,
        help="extra verifications of the most uncertain of ranks K..5K (default K/4)",
    )
    sc.add_argument("--verify", action="store_true", help="verify with the simulator")
    sc.add_argument(
        "--correct-offset",
        action="store_true",
        help="verify the top half first, shift every prediction by the mean verified residual, re-rank, "
        "then verify the rest (for a target inside the space's energy range)",
    )
    sc.add_argument(
        "--residual-rounds",
        type=int,
        default=0,
        metavar="N",
        help="verify the K in N rounds, after each correcting every prediction with a residual model learnt from "
        "the verified candidates (linear in the slab's and the site's composition; e.g. 5)",
    )
    sc.add_argument("--out", required=True, help="results ase.db (.db); created or resumed")
    _dft_options(sc, "of the best K verified candidates")
    add_parallel_options(sc)
    _relax_options(sc)

    osub = optimize_sub or _optimize_group(sub)
    oc = osub.add_parser(
        "composition",
        help="gradient-based alloy composition search for a target E_ads or volcano activity",
        description="Anneal element probabilities (per top-layer site on a host template, or a global composition "
        "sampled as random decorations) through the surrogate, discretize into concrete slabs, and verify the best "
        "with the simulator. Writes result.json, designs.extxyz and composition.png into --out.",
    )
    oc.add_argument("--metals", nargs="+", required=True, help="allowed metals, e.g. Pt Cu Ni Au")
    obj = oc.add_mutually_exclusive_group(required=True)
    obj.add_argument("--target", type=float, help="target E_ads in eV")
    obj.add_argument("--volcano", help="volcano optimum E_ads in eV, optionally ,kT (default kT 0.1 eV)")
    oc.add_argument("--adsorbate", default="O", help="adsorbate (default O)")
    oc.add_argument(
        "--mode", default="sites", choices=["sites", "global"], help="per-site design or global composition"
    )
    oc.add_argument("--facet", default="111", choices=["111", "100"], help="fcc facet of the slab (default 111)")
    oc.add_argument("--site", default="fcc", help="site kind where E_ads counts (default fcc)")
    oc.add_argument("--host", default=None, help="template metal for --mode sites (default: the first metal)")
    oc.add_argument("--bounds", default=None, help="global: per-metal fraction bounds, e.g. Pt:0.1:0.5,Cu:0:0.3")
    oc.add_argument("--max-metals", type=int, default=None, help="global: most metals in the alloy")
    oc.add_argument("--cost", default=None, help="global: cost per unit fraction, e.g. Pt:30,Pd:40,Cu:1")
    oc.add_argument("--max-cost", type=float, default=None, help="global: limit on sum cost x fraction")
    oc.add_argument("--size", type=surface_size, default=(3, 3), help="slab template surface cell (default 3x3)")
    oc.add_argument("--layers", type=int, default=4, help="slab template layers (default 4)")
    oc.add_argument("--steps", type=int, default=120, help="optimizer steps (default 120)")
    oc.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    oc.add_argument("--verify", type=int, default=3, help="designs verified with the simulator (default 3; 0: none)")
    oc.add_argument(
        "--until-within",
        type=float,
        default=None,
        metavar="TOL",
        help="sites mode with --target: verify one design at a time, each chosen with everything verified so far "
        "(optimize.target_search), until one lands within TOL eV of the target; --verify is the budget of calls "
        "(exit status 1 when it runs out first)",
    )
    _dft_options(oc, "of the K verified designs closest to the target")
    oc.add_argument("--model", default=None, help="catalyst model checkpoint (default: the shipped model)")
    oc.add_argument("--out", required=True, help="output folder (created if missing)")
    add_parallel_options(oc)
    _relax_options(oc)
    sc.set_defaults(handler=cmd_screen)
    oc.set_defaults(handler=cmd_optimize_composition)


def _relax(args):
    from phenograd.simulators.adsorption import RelaxSettings

    s = RelaxSettings(fmax=args.fmax, steps=args.relax_steps)
    s.validate()
    return s


def cmd_screen(args) -> int:
    from phenograd.optimize.screen import screen

    _relax(args)
    result = screen(
        args.space,
        args.out,
        model=args.model,
        top=args.top,
        verify=args.verify,
        uncertain=args.uncertain,
        workers=args.workers,
        scheduler=args.scheduler,
        calculator=args.calculator,
        fmax=args.fmax,
        steps=args.relax_steps,
        progress=not args.no_progress,
        correct_offset=args.correct_offset,
        residual_rounds=args.residual_rounds,
        verify_dft=args.verify_dft,
        dft_settings=_dft_settings(args),
    )
    import sys

    for flag in result.flags:
        print(f"phenograd: warning: {flag}", file=sys.stderr)
    for ads, shift in result.offset.items():
        print(f"offset of the surrogate for {ads}, measured on the first verifications: {shift:+.3f} eV (applied)")
    t = result.timings
    rate = (
        f", {result.n_candidates / t['predict_s']:.0f} candidates/s" if t.get("predict_s") else " (predictions resumed)"
    )
    print(
        f"{args.out}: {result.n_candidates} candidates ranked{rate}; {int((~_isnan(result.e_verified)).sum())} verified"
    )
    dft = result.e_dft is not None
    print(
        f"{'rank':>4} {'idx':>6} {'E_pred':>8} {'std':>6} {'E_verified':>10}"
        + (f" {'E_DFT':>8}" if dft else "")
        + "  status"
    )
    for r, i in enumerate(result.final_top(args.top)):
        ev = result.e_verified[i]
        line = f"{r:4d} {i:6d} {result.e_pred[i]:+8.3f} {result.std[i]:6.3f} {'' if _isnan(ev) else f'{ev:+10.3f}':>10}"
        if dft:
            ed = result.e_dft[i]
            line += f" {'' if _isnan(ed) else f'{ed:+8.3f}':>8}"
        status = result.verify_status[i] or "not verified"
        if dft and result.dft_status[i] and result.dft_status[i] != "ok":
            status += f"; DFT {result.dft_status[i]}"
        print(f"{line}  {status}")
    return 0


def _dft_options(parser, which: str) -> None:
    g = parser.add_argument_group("DFT verification (GPAW single points at the verified geometries; make setup-dft)")
    g.add_argument(
        "--verify-dft",
        type=int,
        default=0,
        metavar="K",
        help=f"DFT single points {which} (default 0: none; needs --verify)",
    )
    g.add_argument("--dft-basis", default="dzp", help="LCAO basis (default dzp)")
    g.add_argument("--dft-kpt-density", type=float, default=16.0, help="k-points x cell length, Å (default 16)")
    g.add_argument("--dft-grid", type=float, default=0.22, help="real-space grid spacing, Å (default 0.22)")
    g.add_argument("--dft-timeout", type=float, default=3600.0, help="limit per single point, s (default 3600)")


def _dft_settings(args):
    from phenograd.simulators.dft import DFTSettings

    s = DFTSettings(basis=args.dft_basis, kpt_density=args.dft_kpt_density, h=args.dft_grid, timeout_s=args.dft_timeout)
    s.validate()
    return s


def _isnan(x):
    import numpy as np

    return np.isnan(x)


def _parse_table(text, what: str, parts: int) -> dict:
    from phenograd.core.errors import InputError

    out = {}
    if not text:
        return out
    for item in text.split(","):
        fields = item.strip().split(":")
        try:
            if len(fields) != parts + 1:
                raise ValueError
            values = tuple(float(v) for v in fields[1:])
            if not all(math.isfinite(v) for v in values):
                raise ValueError
        except ValueError:
            raise InputError(
                f"bad --{what} {text!r}: write it as " + ("Pt:0.1:0.5,Cu:0:0.3" if parts == 2 else "Pt:30,Cu:1")
            ) from None
        out[fields[0]] = values if parts == 2 else values[0]
    return out


def _write_atomic(path: Path, write) -> None:
    with atomic_path(path, suffix=path.suffix, mode=0o644) as tmp:
        write(str(tmp))


def _search_until_within(args, problem, surrogate, relax, out: Path) -> int:
    """--until-within: optimize.target_search with the verifying calculator; writes result.json."""
    import sys

    from phenograd.core.errors import InputError
    from phenograd.optimize.fidelity import verifying_calculator
    from phenograd.optimize.frames import FrameEvaluator
    from phenograd.optimize.target_search import search_target, verifying_simulator
    from phenograd.simulators.adsorption import check_elements

    tol = args.until_within
    if problem.mode != "sites" or problem.target is None:
        raise InputError("--until-within needs --mode sites and a --target")
    if not (math.isfinite(tol) and tol > 0) or args.verify < 1:
        raise InputError(f"--until-within must be a positive number of eV and --verify at least 1, got {tol}")
    if args.verify_dft:
        raise InputError("--verify-dft does not combine with --until-within")
    calculator, flags = verifying_calculator(surrogate.info, args.calculator)
    check_elements(problem.metals, calculator, "metals")
    surrogate.check_elements(problem.metals, "metals")
    simulate = verifying_simulator(problem, calculator, relax)
    trace = search_target(problem, FrameEvaluator(surrogate), simulate, tol=tol, budget=args.verify, seed=args.seed)
    out.mkdir(exist_ok=True)
    verified = [
        {**record, "symbols": list(symbols), "e_pred": e_pred}
        for (symbols, e_pred, _), record in zip(trace.verified, simulate.records)
    ]
    summary = {
        "problem": problem.__dict__,
        "flags": flags,
        "search": {"target": trace.target, "tol": tol, "calls": trace.calls, "hit": trace.hit, "verified": verified},
    }
    _write_atomic(out / "result.json", lambda p: Path(p).write_text(json.dumps(summary, indent=1, default=str)))
    for flag in flags:
        print(f"phenograd: warning: {flag}", file=sys.stderr)
    for v in verified:
        ev = "failed: " + v["status"] if v["e_verified"] is None else f"{v['e_verified']:+.3f} eV"
        print(f"  {v['label']}: predicted {v['e_pred']:+.3f} eV, verified {ev}")
    found = f"{verified[-1]['label']} within {tol} eV" if trace.hit else f"no design within {tol} eV"
    print(f"{out}: {found} of {trace.target:+.3f} eV after {trace.calls} simulator calls")
    return 0 if trace.hit else 1


def cmd_optimize_composition(args) -> int:
    import sys

    from phenograd.core.errors import InputError
    from phenograd.optimize.composition import CompositionProblem, SearchSettings, optimize_composition
    from phenograd.optimize.objectives import Volcano
    from phenograd.optimize.plots import plot_composition
    from phenograd.surrogate.predict import load_surrogate

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    if not out.parent.exists():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.steps < 1 or args.verify < 0:
        raise InputError("--steps must be >= 1 and --verify >= 0")
    volcano = None
    if args.volcano is not None:
        try:
            vals = [float(v) for v in args.volcano.split(",")]
            volcano = Volcano(vals[0], vals[1] if len(vals) > 1 else 0.1)
            if len(vals) > 2 or not all(math.isfinite(v) for v in vals) or volcano.kT <= 0:
                raise ValueError
        except ValueError:
            raise InputError(f"bad --volcano {args.volcano!r}: write OPTIMUM or OPTIMUM,kT in eV") from None
    problem = CompositionProblem(
        metals=tuple(comma_names(args.metals)),
        adsorbate=args.adsorbate,
        target=args.target,
        volcano=volcano,
        mode=args.mode,
        facet=args.facet,
        site=args.site,
        host=args.host,
        bounds=_parse_table(args.bounds, "bounds", 2),
        max_metals=args.max_metals,
        cost=_parse_table(args.cost, "cost", 1),
        max_cost=args.max_cost,
        size=args.size,
        layers=args.layers,
    )
    problem.validate()
    relax = _relax(args)
    surrogate = load_surrogate(args.model, domain="catalyst")
    if args.until_within is not None:
        return _search_until_within(args, problem, surrogate, relax, out)
    result = optimize_composition(
        problem,
        surrogate,
        SearchSettings(steps=args.steps, seed=args.seed),
        verify=args.verify,
        calculator=args.calculator,
        relax=relax,
        workers=args.workers or 1,
        scheduler=args.scheduler,
        verify_dft=args.verify_dft,
        dft_settings=_dft_settings(args),
    )
    out.mkdir(exist_ok=True)
    summary = {
        "problem": {k: (v.__dict__ if isinstance(v, Volcano) else v) for k, v in problem.__dict__.items()},
        "flags": result.flags,
        "history": result.history,
        "probs": result.probs.tolist(),
        "designs": [
            {"label": d.label, "e_pred": d.e_pred, "std": d.std, "score": d.score, "composition": d.composition}
            for d in result.designs[:50]
        ],
        "verified": result.verified,
    }
    _write_atomic(out / "result.json", lambda p: Path(p).write_text(json.dumps(summary, indent=1, default=str)))
    from ase.io import write

    _write_atomic(out / "designs.extxyz", lambda p: write(p, [d.atoms for d in result.designs[:20]], format="extxyz"))
    plot_composition(result.history, result.verified, out / "composition.png")
    for flag in result.flags:
        print(f"phenograd: warning: {flag}", file=sys.stderr)
    print(
        f"{out}: {len(result.designs)} designs; best predicted {result.designs[0].label} "
        f"E_ads {result.designs[0].e_pred:+.3f} ± {result.designs[0].std:.3f} eV"
    )
    for v in result.verified:
        ev = "failed: " + v["status"] if v["e_verified"] is None else f"{v['e_verified']:+.3f} eV"
        dft = ""
        if "dft_status" in v:
            dft = f", DFT {v['e_dft']:+.3f} eV" if v.get("e_dft") is not None else f", DFT {v['dft_status']}"
            if v.get("e_dft") is not None and v["dft_status"] != "ok":
                dft += f" ({v['dft_status']})"
        print(f"  {v['label']}: predicted {v['e_pred']:+.3f} eV, verified {ev}{dft}")
    return 0
