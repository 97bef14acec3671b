"""Catalyst commands of the `phenograd` command line.

`add_commands(simulate_sub, data_sub)` adds subparsers, each with its handler, to the `simulate` and
`data` command groups:

    phenograd simulate adsorption --structure FILE [--calculator module:factory] [--json]
    phenograd data catalyst --out FILE.db --n N [--elements ...] [--adsorbates ...] [--facets ...]
                            [--seed S] [--workers K | --scheduler tcp://HOST:PORT]
    phenograd data unlabelled --domain catalyst|airfoil --out FILE --n N [--seed S]
    phenograd data single-points --data FILE.db --out FILE.db [--calculator chgnet] [--limit N]
    phenograd data dft --out FILE.db --n N [--potential chgnet] [--basis dzp] [--kpt-density 16] [--grid 0.22]
        [--setups reduced|standard] [--processes P]
"""

from __future__ import annotations

import argparse
import json

from phenograd.cli_options import add_parallel_options, comma_names, seed_value, surface_size


def _add_relax_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("relaxation (reference protocol: BFGS, fmax 0.05 eV/Å, 300 steps)")
    g.add_argument(
        "--calculator",
        default=None,
        help="emt, chgnet, sevennet or a trusted Python plug-in module.path:factory (it runs code); "
        "default emt (protocol v2: chgnet)",
    )
    g.add_argument("--fmax", type=float, default=0.05, help="force threshold in eV/Å (default 0.05)")
    g.add_argument("--steps", type=int, default=300, help="BFGS step limit (default 300)")


def _add_design_options(p: argparse.ArgumentParser, adsorbates_help: str, facets_help: str) -> None:
    p.add_argument(
        "--elements", nargs="+", default=None, help="slab metals (default EMT's seven: Al Ni Cu Pd Ag Pt Au)"
    )
    p.add_argument("--adsorbates", nargs="+", default=None, help=adsorbates_help)
    p.add_argument("--facets", nargs="+", default=None, help=facets_help)
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")


def add_commands(simulate_sub, data_sub) -> None:
    sa = simulate_sub.add_parser(
        "adsorption",
        help="adsorption energy of one slab + adsorbate structure",
        description="Relax a tagged slab + adsorbate (OC20 tags: 0 fixed, 1 surface, 2 adsorbate) and its clean "
        "slab, and print E_ads = E(adslab) - E(slab) - sum of gas references, with AdsorbML anomaly flags.",
    )
    sa.add_argument(
        "--structure", required=True, help="any file ase.io reads that keeps tags (.traj, .extxyz, .db, ...)"
    )
    sa.add_argument("--index", default="-1", help="frame of a multi-frame file (default -1, the last)")
    sa.add_argument("--json", action="store_true", help="print one JSON object")
    _add_relax_options(sa)
    sa.set_defaults(handler=cmd_simulate_adsorption)

    dc = data_sub.add_parser(
        "catalyst",
        help="generate a labelled adsorption-energy dataset (ase.db, resumable)",
        description="Sample alloy slabs and adsorbate placements, relax them in parallel and store them in one ase.db "
        "file. Killed runs continue where they stopped when the same command is run again.",
    )
    dc.add_argument("--out", required=True, help="dataset file (.db); created or resumed")
    dc.add_argument("--n", type=int, required=True, help="number of distinct labelled structures")
    _add_design_options(dc, "adsorbates from H O N C OH CO (default H O N C OH)", "111 and/or 100 (default both)")
    dc.add_argument("--composition", default=None, help="fix every slab to random decorations of e.g. Pt:0.75,Ni:0.25")
    dc.add_argument("--size", type=surface_size, default=(3, 3), help="surface cell (default 3x3)")
    dc.add_argument("--layers", type=int, default=4, help="slab layers, the bottom half fixed (default 4)")
    dc.add_argument("--per-slab", type=int, default=4, help="adsorbate placements per slab (default 4)")
    v2 = dc.add_argument_group(
        "protocol v2 (pymatgen surfaces of 31 metals, 7 facets, 10 adsorbates; data/catalyst_v2.md)"
    )
    v2.add_argument(
        "--protocol",
        choices=["v1", "v2"],
        default="v1",
        help="v1: EMT's seven fcc metals, (111)/(100), 3x3 cells (default); v2: see data/catalyst_v2.md",
    )
    v2.add_argument("--adsorbates-per-slab", type=int, default=3, help="v2: systems (adsorbates) per slab (default 3)")
    v2.add_argument(
        "--minimum-every",
        type=int,
        default=5,
        help="v2: every k-th slab's systems get several placements, the AdsorbML minimum (default 5; 0 = never)",
    )
    v2.add_argument("--minimum-placements", type=int, default=4, help="v2: placements per system there (default 4)")
    v2.add_argument(
        "--min-lateral",
        type=float,
        default=5.4,
        help="v2: shortest surface cell vector in Å (default 5.4: 2x2 of a close-packed facet)",
    )
    v2.add_argument(
        "--min-slab", type=float, default=7.0, help="v2: metal thickness in Å (default 7: four (111) layers)"
    )
    add_parallel_options(dc)
    _add_relax_options(dc)
    dc.set_defaults(handler=cmd_data_catalyst)

    du = data_sub.add_parser(
        "unlabelled",
        help="write unlabelled structures for self-supervised pretraining (no simulation)",
        description="catalyst: slabs of (111), (100), (110), (211) facets with 0-3 adsorbates, written to an ase.db "
        "(.db) or any ase.io format (.extxyz, .traj). airfoil: sampled CST contours written to an .npz.",
    )
    du.add_argument(
        "--domain",
        dest="unlabelled_domain",
        required=True,
        choices=_pretrainable(),
        help="catalyst: slabs with adsorbates as an ase.db; airfoil: sampled CST contours as .npz",
    )
    du.add_argument("--out", required=True, help="output file; replaced atomically")
    du.add_argument("--n", type=int, required=True, help="number of structures")
    du.add_argument(
        "--protocol",
        choices=("v1", "v2"),
        default="v1",
        help="catalyst: v1 (default: ASE slabs of EMT's metals, 0-3 adsorbates) or v2 (the initial structures of "
        "the v2 release's plan, pymatgen surfaces of its 31 metals and 7 facets, train-split slabs only; a seed "
        "other than the release's 0)",
    )
    _add_design_options(
        du, "catalyst: adsorbates (default H O N C OH CO)", "catalyst: facets (default 111 100 110 211)"
    )
    du.set_defaults(handler=cmd_data_unlabelled)

    dsp = data_sub.add_parser(
        "single-points",
        help="the potential's energy and forces on unlabelled catalyst structures, for pretraining (resumable)",
        description="Single points (no relaxation) of a potential on the structures pretraining may see: all of an "
        "unlabelled ase.db, or a labelled dataset's initial structures that are not held out. Writes an unlabelled "
        "ase.db whose rows carry energy and forces (`phenograd pretrain --objective potential` learns them). Killed "
        "runs continue where they stopped.",
    )
    dsp.add_argument("--data", required=True, help="unlabelled ase.db or labelled catalyst dataset")
    dsp.add_argument("--out", required=True, help="ase.db to write or extend")
    dsp.add_argument(
        "--calculator", default="chgnet", help="emt, chgnet, sevennet or a trusted plug-in module.path:factory"
    )
    dsp.add_argument("--limit", type=int, default=None, help="at most this many structures (the first ones)")
    dsp.add_argument("--no-progress", action="store_true", help="no progress bar")
    dsp.set_defaults(handler=cmd_data_single_points)

    dd = data_sub.add_parser(
        "dft",
        help="GPAW single points at geometries relaxed by a universal potential (the DFT label set, resumable)",
        description="For each planned system (pure metals' close-packed facets first, then alloys, then draws over the "
        "v2 space) the potential relaxes the adsorbate on every distinct site kind and keeps the AdsorbML minimum; "
        "GPAW computes single points of it, its clean slab and the gas molecules (one process each, one thread). Needs "
        "`make setup-dft`. Killed runs continue where they stopped.",
    )
    dd.add_argument("--out", required=True, help="dataset file (.db); created or resumed")
    dd.add_argument("--n", type=int, required=True, help="number of systems (adsorption energies) planned")
    dd.add_argument("--seed", type=seed_value, default=0, help="random seed of the v2 draws (default 0)")
    dd.add_argument("--potential", default="chgnet", help="calculator that relaxes the geometries (default chgnet)")
    dd.add_argument("--placements", type=int, default=4, help="sites the potential tries per system (default 4)")
    g = dd.add_argument_group("GPAW settings (recorded with every number)")
    g.add_argument(
        "--mode",
        default="lcao",
        choices=["lcao", "pw"],
        help="lcao: atomic orbitals (--basis; default); pw: plane waves up to --ecut (3-4x the cost, no basis error: "
        'BENCHMARKS.md "DFT label set: LCAO against plane waves")',
    )
    g.add_argument("--ecut", type=float, default=600.0, help="plane-wave cutoff in eV with --mode pw (default 600)")
    g.add_argument("--basis", default="dzp", help="LCAO basis (default dzp)")
    g.add_argument("--xc", default="PBE", help="exchange-correlation functional (default PBE)")
    g.add_argument(
        "--kpt-density",
        type=float,
        default=16.0,
        help="k-points x cell length in Å per in-plane direction (default 16: 3x3 on a 2x2 cell)",
    )
    g.add_argument("--grid", type=float, default=0.22, help="real-space grid spacing in Å (default 0.22)")
    g.add_argument(
        "--setups",
        choices=("reduced", "standard"),
        default="reduced",
        help="PAW setups: the reduced-valence ones where gpaw-data has one (Pd.10, Pt.10, ...; default), or GPAW's "
        "standard ones (with semicore states: up to 9x slower in LCAO)",
    )
    g.add_argument(
        "--timeout", type=float, default=3600.0, help="wall-clock limit of one single point in s (default 3600)"
    )
    g.add_argument(
        "--processes",
        type=int,
        default=1,
        help="MPI ranks per single point (GPAW splits k-points; same energies; default 1)",
    )
    dd.add_argument(
        "--workers",
        type=int,
        default=1,
        help="local processes, each working on one slab's systems at a time (default 1); workers x processes "
        "cores in all",
    )

    dd.set_defaults(handler=cmd_data_dft)


def _pretrainable() -> list[str]:
    """The domains that can write unlabelled structures (their PretrainView)."""
    from phenograd.surrogate.domain import domain_names, get_domain

    return [name for name in domain_names() if get_domain(name).pretraining is not None]


def cmd_data_dft(args) -> int:
    from phenograd.datasets.catalyst_dft import DFTRequest, generate_dft
    from phenograd.simulators.dft import DFTSettings

    settings = DFTSettings(
        mode=args.mode,
        ecut=args.ecut,
        basis=args.basis,
        xc=args.xc,
        kpt_density=args.kpt_density,
        h=args.grid,
        timeout_s=args.timeout,
        setups=args.setups,
        processes=args.processes,
    )
    request = DFTRequest(
        n=args.n, seed=args.seed, potential=args.potential, settings=settings, placements=args.placements
    )
    counts = generate_dft(args.out, request, progress=not getattr(args, "no_progress", False), workers=args.workers)
    print(
        f"{args.out}: {counts['planned']} systems planned, {counts['present']} already present, "
        f"{counts['written']} written now, {counts['failed']} failed"
    )
    return 0


def _relax_settings(args):
    from phenograd.simulators.adsorption import RelaxSettings

    s = RelaxSettings(fmax=args.fmax, steps=args.steps)
    s.validate()
    return s


def cmd_simulate_adsorption(args) -> int:
    from phenograd.datasets.catalyst import read_structure
    from phenograd.simulators.adsorption import adsorption_energy, calculator_spec, check_structure

    spec = calculator_spec(args.calculator)
    atoms = read_structure(args.structure, args.index)
    check_structure(atoms, spec, args.structure)  # errors name the file
    result = adsorption_energy(atoms, spec, _relax_settings(args))
    if args.json:
        print(json.dumps({"structure": args.structure, "calculator": spec, **result.summary()}, indent=1))
    elif result.ok:
        ads = "".join(atoms[atoms.get_tags() == 2].get_chemical_symbols())
        print(f"{args.structure}: {ads} on {atoms[atoms.get_tags() != 2].get_chemical_formula()}  [{spec}]")
        print(
            f"  E_ads      {result.e_ads:+.4f} eV  (E_adslab {result.e_adslab:.4f} - E_slab {result.e_slab:.4f}"
            f" - references {result.e_reference:.4f})"
        )
        print(f"  converged  {'yes' if result.converged else 'no'} ({result.steps} BFGS steps, {result.wall_s:.2f} s)")
        print(f"  site       {result.site_initial} -> {result.site_final}")
        print(f"  anomalies  {', '.join(result.anomalies) or 'none'}")
    else:
        print(f"{args.structure}: {result.status}")
    return 0 if result.ok else 1


def cmd_data_catalyst(args) -> int:
    from phenograd.core.errors import InputError
    from phenograd.datasets.catalyst import DEFAULT_ADSORBATES, EMT_METALS, LABELLED_FACETS
    from phenograd.datasets.catalyst_generate import CatalystRequest, generate

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.protocol == "v2":
        return _data_catalyst_v2(args)
    request = CatalystRequest(
        n=args.n,
        seed=args.seed,
        elements=tuple(comma_names(args.elements) or EMT_METALS),
        adsorbates=tuple(comma_names(args.adsorbates) or DEFAULT_ADSORBATES),
        facets=tuple(comma_names(args.facets) or LABELLED_FACETS),
        composition=args.composition,
        size=args.size,
        layers=args.layers,
        per_slab=args.per_slab,
        calculator=args.calculator,
        fmax=args.fmax,
        steps=args.steps,
    )
    summary = generate(args.out, request, workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress)
    print(
        f"{args.out}: {summary.planned} structures planned, {summary.already_present} already present, "
        f"{summary.written} written now ({summary.failed} with a failure status)"
    )
    return 0


def _data_catalyst_v2(args) -> int:
    from phenograd.datasets.catalyst_v2 import V2_ADSORBATES, V2_FACETS, V2_METALS, V2Request, generate_v2

    request = V2Request(
        n=args.n,
        seed=args.seed,
        metals=tuple(comma_names(args.elements) or V2_METALS),
        adsorbates=tuple(comma_names(args.adsorbates) or V2_ADSORBATES),
        facets=tuple(comma_names(args.facets) or V2_FACETS),
        calculator=args.calculator or "chgnet",
        adsorbates_per_slab=args.adsorbates_per_slab,
        minimum_every=args.minimum_every,
        minimum_placements=args.minimum_placements,
        fmax=args.fmax,
        steps=args.steps,
        min_lateral=args.min_lateral,
        min_slab_size=args.min_slab,
    )
    summary = generate_v2(
        args.out, request, workers=args.workers, scheduler=args.scheduler, progress=not args.no_progress
    )
    print(
        f"{args.out}: {summary.planned} systems planned, {summary.already_present} placements already present, "
        f"{summary.written} written now ({summary.failed} with a failure status)"
    )
    return 0


def cmd_data_single_points(args) -> int:
    from phenograd.datasets.catalyst_single_points import write_single_points

    summary = write_single_points(
        args.data, args.out, calculator=args.calculator, limit=args.limit, progress=not args.no_progress
    )
    rate = summary["seconds_per_structure"]
    print(
        f"{summary['out']}: {summary['structures']} structures, {summary['already_present']} already present, "
        f"{summary['written']} written now" + (f" ({rate:.3f} s each, median)" if rate else "")
    )
    return 0


def cmd_data_unlabelled(args) -> int:
    from phenograd.surrogate.domain import get_domain

    view = get_domain(args.unlabelled_domain).pretraining
    path, counts = view.write_unlabelled(
        args.out,
        args.n,
        args.seed,
        elements=comma_names(args.elements),
        adsorbates=comma_names(args.adsorbates),
        facets=comma_names(args.facets),
        **({"protocol": args.protocol} if args.protocol != "v1" else {}),
    )
    listed = f" ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})" if counts else ""
    print(f"{path}: {args.n} {view.unlabelled_noun}{listed}")
    return 0
