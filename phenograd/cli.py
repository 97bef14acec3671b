"""The `phenograd` command line. Every command has --help; bad input gives one line
on stderr naming the problem and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys

from phenograd import cli_catalyst, cli_design, cli_model, cli_optimize, cli_pretrain, cli_tune
from phenograd.cli_options import add_parallel_options, as_flags, seed_value
from phenograd.cli_run import EXIT_BAD_INPUT, EXIT_UNAVAILABLE
from phenograd.core.errors import InputError, PhenogradError


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage dump) and the same exit code as other bad input."""

    def error(self, message: str):  # noqa: D401 - argparse API
        raise InputError(f"{self.prog}: {message} (see --help)")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def _reynolds_spec(text: str) -> tuple[tuple[float, float] | None, list[float] | None]:
    """'LOW:HIGH' (log-uniform range) or 'RE' / 'RE1,RE2' (fixed list)."""
    try:
        if ":" in text:
            lo, hi = (float(v) for v in text.split(":"))
            if not (0 < lo <= hi and math.isfinite(hi)):
                raise ValueError
            return (lo, hi), None
        values = [float(v) for v in text.split(",")]
        if not values or not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError
        return None, values
    except ValueError:
        raise InputError(
            f"bad --re {text!r}: use a number (1e6), a list (2e5,1e6) or a log-uniform range (1e5:1e7)"
        ) from None


def _add_xfoil_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("XFOIL settings")
    g.add_argument("--ncrit", type=_positive_float, default=9.0, help="e^N transition criterion (default 9)")
    g.add_argument("--mach", type=float, default=0.0, help="Mach number (default 0)")
    g.add_argument("--panels", type=int, default=160, help="panel nodes (default 160)")
    g.add_argument("--iter", type=int, default=100, help="viscous iterations per angle (default 100)")
    g.add_argument("--timeout", type=_positive_float, default=None, help="seconds per polar (default 20 + 4 per angle)")


def _add_rans_settings(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("RANS settings (--solver rans)")
    g.add_argument(
        "--mesh",
        choices=("coarse", "medium", "fine"),
        default="coarse",
        help="grid level: coarse 14,400 cells (about 20-40 s per angle on 2 cores), medium, fine",
    )
    g.add_argument(
        "--turbulence",
        choices=("SpalartAllmaras", "kOmegaSST"),
        default="SpalartAllmaras",
        help="turbulence model (default SpalartAllmaras, fully turbulent)",
    )
    g.add_argument("--max-iter", type=int, default=3000, help="SIMPLE iterations at most per angle (default 3000)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="phenograd", description="Differentiable surrogate-physics design.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    # simulate
    sim = sub.add_parser("simulate", help="run a simulator on one design")
    sim_sub = sim.add_subparsers(dest="domain", required=True, parser_class=_Parser)
    sa = sim_sub.add_parser(
        "airfoil",
        help="XFOIL polar of one airfoil",
        description="Run XFOIL on a NACA section or a .dat file and print the polar.",
    )
    src = sa.add_mutually_exclusive_group(required=True)
    src.add_argument("--naca", help="NACA 4- or 5-digit code, e.g. 2412")
    src.add_argument("--dat", help="Selig or Lednicer coordinate file")
    sa.add_argument("--re", type=_positive_float, required=True, help="chord Reynolds number, e.g. 1e6")
    sa.add_argument("--alpha", required=True, help="angles in degrees: 2, -4:12:1 or 0,2,4")
    sa.add_argument("--json", action="store_true", help="print a JSON list, one object per angle")
    sa.add_argument(
        "--solver",
        choices=("xfoil", "rans"),
        default="xfoil",
        help="xfoil (default; seconds) or rans: OpenFOAM simpleFoam on a C-grid (minutes per angle; "
        "needs `make setup-cfd`)",
    )
    _add_xfoil_settings(sa)
    _add_rans_settings(sa)
    sa.set_defaults(handler=cmd_simulate_airfoil)
    sa.add_argument(
        "--keep-case",
        default=None,
        metavar="DIR",
        help="RANS: keep each angle's OpenFOAM case under DIR (default: temporary, deleted)",
    )

    # data
    data = sub.add_parser("data", help="generate and inspect datasets")
    data_sub = data.add_subparsers(dest="domain", required=True, parser_class=_Parser)
    da = data_sub.add_parser(
        "airfoil",
        help="generate an XFOIL polar dataset (resumable)",
        description="Sample airfoil shapes, run XFOIL polars in parallel and store them in one SQLite file. "
        "Killed runs continue where they stopped when the same command is run again.",
    )
    da.add_argument("--out", required=True, help="dataset file (.db); created or resumed")
    da.add_argument("--shapes", type=int, required=True, help="number of sampled shapes (Sobol + mixtures)")
    da.add_argument(
        "--include-real",
        default="none",
        choices=["none", "train", "test", "all"],
        help="also simulate the bundled real airfoils of this split (default none)",
    )
    da.add_argument(
        "--solver",
        choices=("xfoil", "rans"),
        default="xfoil",
        help="xfoil (default) or rans: OpenFOAM cases, one shape x Re x alpha each (needs `make setup-cfd`)",
    )
    da.add_argument(
        "--re",
        default=None,
        help="Reynolds: LOW:HIGH log-uniform (default 1e5:1e7; rans 1e6:1e7) or a list 2e5,1e6 (xfoil)",
    )
    da.add_argument(
        "--polars-per-shape",
        type=int,
        default=1,
        help="Reynolds numbers per shape for a range, one per log-band (default 1)",
    )
    da.add_argument("--alpha", default=None, help="angles in degrees (default -5:15:1; rans: drawn from -2:10:1)")
    da.add_argument("--angles-per-shape", type=int, default=1, help="rans: angles drawn per shape (default 1)")
    da.add_argument(
        "--real-limit",
        type=int,
        default=None,
        help="rans: simulate only this many of the real airfoils (a seeded subset; default all)",
    )
    da.add_argument(
        "--real-skip",
        type=int,
        default=0,
        help="rans: skip the first N of that seeded order (another command's airfoils; default 0)",
    )
    da.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    da.add_argument(
        "--mix-fraction", type=float, default=0.5, help="share of mixed/perturbed shapes vs Sobol (default 0.5)"
    )
    add_parallel_options(da)
    _add_xfoil_settings(da)
    _add_rans_settings(da)
    da.set_defaults(handler=cmd_data_airfoil)

    df = data_sub.add_parser(
        "airfoil-fallback",
        help="retry an XFOIL dataset's non-converged points at finer panellings (resumable)",
        description="Run every polar of an XFOIL dataset that has non-converged angles again at finer panellings, "
        "one after another until those angles converge, as design verification does, and store the runs in the "
        "same file; training then counts a point converged when any panelling converged. Killed runs continue "
        "where they stopped when the same command is run again.",
    )
    df.add_argument("--data", required=True, help="XFOIL polar dataset file (.db), written in place")
    df.add_argument(
        "--panels",
        default=None,
        help="panellings to try in order, comma-separated (default 200,240: design verification's)",
    )
    add_parallel_options(df)
    df.set_defaults(handler=cmd_data_airfoil_fallback)

    di = data_sub.add_parser(
        "info",
        help="summarise a dataset file",
        description="Summarise a dataset file (airfoil polar SQLite or catalyst ase.db): counts, "
        "status and convergence by band, value ranges, splits. Reads only.",
    )
    di.add_argument("file", help="dataset file (.db)")
    di.add_argument("--json", action="store_true", help="print JSON")
    di.set_defaults(handler=cmd_data_info)

    # Every subcommand carries its handler (set_defaults(handler=...)).
    cli_catalyst.add_commands(sim_sub, data_sub)
    cli_model.add_commands(sub)
    cli_design.add_commands(sub, cli_optimize.add_commands(sub))
    cli_pretrain.add_commands(sub)
    cli_tune.add_commands(sub)

    # check
    ch = sub.add_parser(
        "check",
        help="check that the simulators are installed and work (builds XFOIL's FP-trap shim)",
        description="Run XFOIL on NACA 2412 and EMT on a small Pt slab with O, and print what was "
        "found. Exit 0 when both give the expected values, 1 when one does not, 3 when XFOIL "
        "is missing.",
    )
    ch.set_defaults(handler=cmd_check)
    return parser


# ----------------------------------------------------------------------------- commands


def _xfoil_settings(args, reynolds: float):
    from phenograd.simulators.xfoil import XfoilSettings

    s = XfoilSettings(
        reynolds=reynolds,
        mach=args.mach,
        ncrit=args.ncrit,
        n_panels=args.panels,
        max_iter=args.iter,
        timeout_s=args.timeout,
    )
    s.validate()
    return s


def cmd_simulate_airfoil(args) -> int:
    from phenograd.datasets.airfoil import check_airfoil, naca
    from phenograd.datasets.datfile import read_dat
    from phenograd.simulators.xfoil import parse_alpha_spec, run_polar

    alphas = parse_alpha_spec(args.alpha)
    if args.solver == "xfoil":
        settings = _xfoil_settings(args, args.re)
    else:
        from phenograd.simulators.openfoam import RansSettings

        settings = RansSettings(
            reynolds=args.re,
            mesh=args.mesh,
            turbulence=args.turbulence,
            max_iter=args.max_iter,
            timeout_s=args.timeout,
            keep_dir=args.keep_case,
        )
        settings.validate()
    if args.naca is not None:  # --naca "" is a bad code, not a missing one
        name, coords = f"NACA {args.naca}", naca(args.naca)
    else:
        dat = read_dat(args.dat)
        name, coords = dat.name, check_airfoil(dat.coordinates, args.dat)
    if args.solver == "rans":
        return _print_rans(name, coords, alphas, settings, args.json)
    result = run_polar(coords, alphas, settings, name=name)
    if args.json:
        print(json.dumps([p.__dict__ for p in result.points], indent=1))
    else:
        print(
            f"{name}  Re {settings.reynolds:.3g}  Mach {settings.mach:g}  Ncrit {settings.ncrit:g}  "
            f"[{result.status}, {result.wall_s:.2f} s]"
        )
        print(f"{'alpha':>7} {'CL':>8} {'CD':>9} {'CDp':>9} {'CM':>8} {'Top_Xtr':>8} {'Bot_Xtr':>8}  status")
        for p in result.points:
            if p.converged:
                print(
                    f"{p.alpha:7.2f} {p.CL:8.4f} {p.CD:9.5f} {p.CDp:9.5f} {p.CM:8.4f} "
                    f"{p.Top_Xtr:8.4f} {p.Bot_Xtr:8.4f}  ok"
                )
            else:
                print(f"{p.alpha:7.2f} {'-':>8} {'-':>9} {'-':>9} {'-':>8} {'-':>8} {'-':>8}  {p.status}")
    return 0 if result.status == "ok" else 1


def _print_rans(name, coords, alphas, settings, as_json: bool) -> int:
    from phenograd.simulators.openfoam import run_rans

    result = run_rans(coords, alphas, settings, name=name)
    if as_json:
        print(json.dumps(result.to_dict()["points"], indent=1))
    else:
        print(
            f"{name}  Re {settings.reynolds:.3g}  RANS {settings.turbulence}, {settings.mesh} mesh "
            f"({result.cells} cells)  [{result.status}, {result.wall_s:.0f} s]"
        )
        print(f"{'alpha':>7} {'CL':>8} {'CD':>9} {'CM':>8} {'iter':>6} {'y+ mean':>8}  status")
        for p in result.points:
            if p.CL is not None:
                yp = f"{p.y_plus_mean:8.2f}" if p.y_plus_mean is not None else f"{'-':>8}"
                state = (
                    p.status
                    if p.status != "ok"
                    else (
                        "ok, mean of oscillating forces"
                        if p.settled == "mean"
                        else "ok"
                        if p.converged
                        else "ok, not converged"
                    )
                )
                print(f"{p.alpha:7.2f} {p.CL:8.4f} {p.CD:9.5f} {p.CM:8.4f} {p.iterations:6d} {yp}  {state}")
            else:
                print(f"{p.alpha:7.2f} {'-':>8} {'-':>9} {'-':>8} {'-':>6} {'-':>8}  {p.status}")
    return 0 if result.status == "ok" and all(p.converged for p in result.points) else 1


def cmd_data_airfoil(args) -> int:
    from phenograd.datasets.airfoil_generate import AirfoilRequest, generate
    from phenograd.simulators.xfoil import parse_alpha_spec

    if args.solver == "rans":
        return _data_airfoil_rans(args)
    re_range, re_list = _reynolds_spec(args.re or "1e5:1e7")
    args.alpha = args.alpha or "-5:15:1"
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if not 0.0 <= args.mix_fraction <= 1.0:
        raise InputError(f"--mix-fraction must be within [0, 1], got {args.mix_fraction}")
    _xfoil_settings(args, 1e6)  # validate the shared settings before any work
    request = AirfoilRequest(
        shapes=args.shapes,
        seed=args.seed,
        include_real=args.include_real,
        polars_per_shape=args.polars_per_shape,
        reynolds=re_list,
        re_range=re_range or (1e5, 1e7),
        alphas=parse_alpha_spec(args.alpha),
        ncrit=args.ncrit,
        mach=args.mach,
        n_panels=args.panels,
        max_iter=args.iter,
        timeout_s=args.timeout,
        mix_fraction=args.mix_fraction,
    )
    summary = generate(args.out, request, workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress)
    print(
        f"{args.out}: {summary.planned} polars planned, {summary.already_present} already present, "
        f"{summary.written} written now ({summary.failed} with a failure status)"
    )
    return 0


def cmd_data_airfoil_fallback(args) -> int:
    from phenograd.datasets.airfoil_fallback import FALLBACK_PANELS, run_fallback

    try:
        panels = tuple(int(p) for p in args.panels.split(",")) if args.panels else FALLBACK_PANELS
    except ValueError:
        raise InputError(f"bad --panels {args.panels!r}: write panellings as 200,240") from None
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    summary = run_fallback(
        args.data, panels, workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress
    )
    print(
        f"{args.data}: {summary.planned} polars with non-converged angles to retry, {summary.written} retried now "
        f"({summary.failed} still with a non-converged angle)"
    )
    return 0


def _data_airfoil_rans(args) -> int:
    from phenograd.datasets.airfoil_rans import RansRequest, generate_rans
    from phenograd.simulators.xfoil import parse_alpha_spec

    re_range, re_list = _reynolds_spec(args.re or "1e6:1e7")
    if re_list is not None:
        if len(re_list) != 1:
            raise InputError("--solver rans takes one Reynolds number or a LOW:HIGH range")
        re_range = (re_list[0], re_list[0])
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if not 0.0 <= args.mix_fraction <= 1.0:
        raise InputError(f"--mix-fraction must be within [0, 1], got {args.mix_fraction}")
    request = RansRequest(
        shapes=args.shapes,
        seed=args.seed,
        include_real=args.include_real,
        real_limit=args.real_limit,
        real_skip=args.real_skip,
        re_range=re_range,
        alphas=parse_alpha_spec(args.alpha or "-2:10:1"),
        angles_per_shape=args.angles_per_shape,
        mesh=args.mesh,
        turbulence=args.turbulence,
        max_iter=args.max_iter,
        timeout_s=args.timeout,
        mix_fraction=args.mix_fraction,
    )
    summary = generate_rans(
        args.out, request, workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress
    )
    print(
        f"{args.out}: {summary.planned} RANS cases planned, {summary.already_present} already present, "
        f"{summary.written} written now ({summary.failed} with a failure status)"
    )
    return 0


def cmd_data_info(args) -> int:
    from phenograd.datasets.catalyst_store import is_catalyst_file

    if is_catalyst_file(args.file):  # an ase.db file: the catalyst domain
        from phenograd.datasets.catalyst_info import dataset_info, format_info
    else:
        from phenograd.datasets.polar_info import dataset_info, format_info

    info = dataset_info(args.file)
    print(json.dumps(info, indent=1) if args.json else format_info(info))
    return 0


def cmd_check(args) -> int:
    from phenograd.datasets.airfoil import naca
    from phenograd.simulators.xfoil import XfoilSettings, fpe_shim_path, run_polar, xfoil_binary

    print(f"xfoil: {xfoil_binary()}")
    print(f"FP-trap shim: {fpe_shim_path()}")
    r = run_polar(naca("2412"), [2.0], XfoilSettings(1e6))
    p = r.points[0]
    print(f"NACA 2412, Re 1e6, alpha 2: status {p.status}, CL {p.CL}, CD {p.CD} (reference CL 0.4496, CD 0.00578)")
    xfoil_ok = p.converged and abs(p.CL - 0.4496) < 0.002
    e_ads = _check_emt()
    emt_ok = e_ads is not None and -1.5 < e_ads < 0.0
    _report_catalyst_fidelities()
    return 0 if xfoil_ok and emt_ok else 1


def _report_catalyst_fidelities() -> None:
    """Print the versions of the higher catalyst fidelities (optional: they do not fail the check)."""
    from phenograd.core.errors import PhenogradError
    from phenograd.simulators.calculators import calculator_info
    from phenograd.simulators.dft import dft_python, gpaw_version

    for name in ("chgnet", "sevennet"):
        info = calculator_info(name)
        print(f"{name}: {info['model']}, package {info['package']} {info['version']}")
    try:
        print(f"GPAW (DFT): {gpaw_version()} under {dft_python()}")
    except PhenogradError as exc:
        print(f"GPAW (DFT): not available ({exc})")


def _check_emt() -> float | None:
    """E_ads (eV) of O in the fcc hollow of a relaxed 2x2x3 Pt(111) slab with ASE's EMT, printed."""
    from phenograd.datasets.catalyst import Composition, SlabSpec, adsorption_sites, build_slab, place_adsorbate
    from phenograd.simulators.adsorption import adsorption_energy

    slab = build_slab(SlabSpec("111", "pure", Composition.of({"Pt": 1.0}), size=(2, 2), layers=3))
    site = next(s for s in adsorption_sites(slab) if s.kind == "fcc")
    r = adsorption_energy(place_adsorbate(slab, "O", site.xy))
    print(f"EMT, O at fcc on Pt(111) 2x2x3: status {r.status}, E_ads {r.e_ads} eV")
    return r.e_ads if r.status == "ok" else None


def _join_negative_values(argv: list[str]) -> list[str]:
    """'--alpha -4:12:1' -> '--alpha=-4:12:1': argparse would take '-4:12:1' for an option."""
    out: list[str] = []
    it = iter(argv)
    for token in it:
        if token in VALUE_OPTIONS:
            nxt = next(it, None)
            if nxt is not None and nxt.startswith("-") and nxt[1:2].isdigit():
                out.append(f"{token}={nxt}")
                continue
            out.append(token)
            if nxt is not None:
                out.append(nxt)
            continue
        out.append(token)
    return out


VALUE_OPTIONS = {"--alpha", "--re", "--mach", "--seed", "--target", "--volcano"}


class Terminated(BaseException):
    """SIGTERM reached the command's own process: it unwinds like Ctrl-C, so temporary directories are removed,
    open transactions roll back and simulator processes in sessions of their own are killed."""


#: Exit status after SIGTERM (128 + 15, what a shell reports for a process the signal killed).
EXIT_TERMINATED = 128 + signal.SIGTERM


def _terminate_handler(main_pid: int):
    def handler(signum, frame):
        if os.getpid() != main_pid:  # a forked worker (simulator pool): unwind, then exit quietly with the status
            raise SystemExit(EXIT_TERMINATED)
        raise Terminated

    return handler


def main(argv: list[str] | None = None) -> int:
    try:
        previous = signal.signal(signal.SIGTERM, _terminate_handler(os.getpid()))
    except ValueError:  # not the main thread: signals cannot be handled here
        previous = None
    try:
        return _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(_join_negative_values(list(sys.argv[1:] if argv is None else argv)))
        return args.handler(args)
    except Terminated:
        print("phenograd: terminated; run the same command again to resume", file=sys.stderr)
        return EXIT_TERMINATED
    except InputError as exc:
        print(f"phenograd: error: {as_flags(exc, parser)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PhenogradError as exc:
        print(f"phenograd: error: {as_flags(exc, parser)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("phenograd: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except InterruptedError as exc:  # a simulator process stopped from outside (simulators/dft.py): nothing recorded
        print(f"phenograd: interrupted ({exc}); run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as exc:
        where = f" {exc.filename}:" if getattr(exc, "filename", None) else ""
        print(f"phenograd: error:{where} {exc.strerror or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
