"""CLI commands that train, evaluate and use surrogates: `train`, `evaluate`, `predict airfoil|adsorption`."""

from __future__ import annotations

import json
import math
from pathlib import Path

from phenograd.cli_options import seed_value
from phenograd.cli_run import run_distributed
from phenograd.core.errors import InputError
from phenograd.surrogate.domain import domain_names, get_domain


def add_commands(sub) -> None:
    """Add the subcommands, each with its handler, to the top-level subparsers."""
    tr = sub.add_parser(
        "train",
        help="train a surrogate ensemble on a dataset (resumable)",
        description="Train an ensemble of encoder+head surrogates with early stopping. After every epoch the run's "
        "state is saved to <out>.partial; a killed run continues from there when the same command is run again. "
        "Held-out test (and out-of-distribution) items are never trained on. Multi-process: "
        "`torchrun --nproc_per_node N -m phenograd train ...` trains with DistributedDataParallel (gloo on CPU, "
        "NCCL on GPUs, one GPU per process); --batch-size stays per process, so each step's effective batch is "
        "N x --batch-size; only rank 0 writes files.",
    )
    tr.add_argument("--domain", required=True, choices=domain_names(), help="which kind of dataset and model")
    tr.add_argument("--data", required=True, help="dataset file (.db) from `phenograd data`")
    tr.add_argument("--out", required=True, help="model checkpoint to write (.pt)")
    tr.add_argument(
        "--encoder",
        default=None,
        help="pretrained encoder checkpoint to start every member from; `shipped` for the one in the package",
    )
    tr.add_argument("--freeze-encoder", action="store_true", help="keep the pretrained encoder fixed; train the head")
    tr.add_argument(
        "--fine-tune",
        default=None,
        metavar="MODEL.pt",
        help="airfoil: fine-tune this XFOIL-trained model on a few cases of a new fidelity (RANS): "
        "output biases first, then all layers at --lr (default 3e-5); see surrogate/fidelity.py",
    )
    tr.add_argument(
        "--train-only",
        choices=("output-layer", "output-bias"),
        default=None,
        help="train only the head's output layer, or only its biases (one offset per target), e.g. "
        "the first stage of fine-tuning an --init model on a new fidelity (see surrogate/fidelity.py)",
    )
    tr.add_argument(
        "--init",
        default=None,
        metavar="MODEL.pt",
        help="start every member from this trained model (weights and target normalisation): "
        "fine-tune it on new data, e.g. RANS cases on top of an XFOIL-trained surrogate",
    )
    tr.add_argument("--members", type=int, default=3, help="ensemble members (default 3)")
    tr.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="maximum epochs per member (default: airfoil 200, catalyst 100); 0 with --init and "
        "--refit-epochs: only refit the heads of the --init model",
    )
    tr.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (default: 20 / 15)")
    tr.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="shapes (airfoil) or structures (catalyst) per batch and process "
        "(default 32; under torchrun with N processes a step sees N x this many)",
    )
    tr.add_argument("--lr", type=float, default=None, help="AdamW learning rate (default: 2e-3 / 1e-3)")
    tr.add_argument("--hidden", type=int, default=None, help="encoder width (default: airfoil 64, catalyst 32)")
    tr.add_argument(
        "--train-fraction",
        type=float,
        default=None,
        help="train on this share of the training items, a seeded nested subset (default 1; data-scaling curves)",
    )
    tr.add_argument("--layers", type=int, default=None, help="message-passing layers (default 3)")
    tr.add_argument(
        "--encoder-lr-scale",
        type=float,
        default=None,
        help="the encoder learns at --lr times this, the head at --lr (default 1; below 1 fine-tunes a pretrained "
        "encoder gently)",
    )
    tr.add_argument(
        "--disqualified",
        choices=("keep", "drop"),
        default=None,
        help="catalyst: train on the placements AdsorbML disqualifies (keep, OC20's IS2RE; the default) or leave them "
        "out (drop; BENCHMARKS.md 'Catalyst surrogate: disqualified placements in training')",
    )
    tr.add_argument(
        "--teacher",
        default=None,
        help="distil this model of the same domain: its ensemble mean labels the training items (validation and "
        "held-out items keep the simulator's labels; see surrogate/distill.py)",
    )
    tr.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    tr.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar")
    tr.set_defaults(handler=cmd_train, domain_options=add_domain_options("train", tr))

    ev = sub.add_parser(
        "evaluate",
        help="accuracy and calibration of a model on a dataset split",
        description="Prints the metrics and, with --out, writes metrics.json and a parity-plot PNG there. "
        "Airfoils: MAE of CL, ln CD, CM, transition points over XFOIL-converged points and the convergence ROC AUC. "
        "Catalysts: MAE, RMSE and share within 0.1 eV of E_ads, per adsorbate and without anomalous relaxations. "
        "Both: fraction of errors inside the ensemble's 1- and 2-sigma bands.",
    )
    ev.add_argument("--model", required=True, help="model checkpoint (.pt)")
    ev.add_argument("--data", required=True, help="dataset file (.db) of the model's domain")
    ev.add_argument("--split", default="test", help="train, val, test or ood (catalyst) (default test)")
    ev.add_argument("--out", default=None, help="folder for metrics.json and parity_<split>.png")
    ev.add_argument("--json", action="store_true", help="print JSON")
    ev.set_defaults(handler=cmd_evaluate)

    ca = sub.add_parser(
        "calibrate",
        help="refit a model's uncertainty scale on a dataset split",
        description="Sets each target's std scale so that the band of +-1 scaled ensemble std holds 68.27 %% of "
        "the errors on the split (what training does on its validation split at the end), and writes the "
        "checkpoint again, atomically; the weights are unchanged. Use it to recalibrate on data of your own.",
    )
    ca.add_argument("--model", required=True, help="model checkpoint (.pt), rewritten unless --out")
    ca.add_argument("--data", required=True, help="dataset file (.db) of the model's domain")
    ca.add_argument("--split", default="val", help="split to fit on (default val)")
    ca.add_argument("--out", default=None, help="write the recalibrated checkpoint here instead")
    ca.add_argument(
        "--keep-members",
        type=int,
        default=None,
        metavar="K",
        help="keep only the first K members (a faster, slightly less accurate ensemble) and fit their scales",
    )
    ca.add_argument(
        "--convergence",
        action="store_true",
        help="airfoil: refit the convergence probability instead, on the dataset's convergence labels (its training "
        "shapes fit, its validation shapes choose; every other output unchanged; e.g. after `data airfoil-fallback`)",
    )
    ca.set_defaults(handler=cmd_calibrate)

    pr = sub.add_parser("predict", help="predict with a surrogate (the shipped model unless --model)")
    pr_sub = pr.add_subparsers(dest="domain", required=True, metavar="{airfoil,adsorption}")
    pa = pr_sub.add_parser(
        "airfoil",
        help="polar of one airfoil from the surrogate",
        description="Predicted polar with the ensemble's calibrated std (CD_std is relative: the "
        "std of ln CD, 0.09 = 9 %) and the probability that XFOIL converges.",
    )
    src = pa.add_mutually_exclusive_group(required=True)
    src.add_argument("--naca", help="4-digit NACA designation, e.g. 2412")
    src.add_argument("--dat", help="airfoil .dat file (Selig or Lednicer)")
    pa.add_argument("--model", default=None, help="airfoil model checkpoint (default: the shipped model)")
    pa.add_argument("--re", type=float, required=True, help="chord Reynolds number")
    pa.add_argument("--alpha", default="-4:12:1", help="angles in degrees: a list 0,2,4 or a range start:stop:step")
    pa.add_argument("--ncrit", type=float, default=9.0, help="e^N transition criterion (default 9)")
    pa.add_argument("--json", action="store_true", help="print JSON")
    pd = pr_sub.add_parser(
        "adsorption",
        help="adsorption energies of structures from the surrogate",
        description="FILE is anything ase.io reads (extxyz with several frames, an ase.db, ...); "
        "every frame needs OC20 tags (0 fixed subsurface, 1 surface, 2 adsorbate). Prints E_ads and "
        "the ensemble std in eV per structure, in input order.",
    )
    pd.add_argument("--structures", required=True, help="structure file (every frame is predicted)")
    pd.add_argument("--model", default=None, help="catalyst model checkpoint (default: the shipped model)")
    pd.add_argument("--json", action="store_true", help="print a JSON list of {index, formula, E_ads, std}")
    pa.set_defaults(handler=cmd_predict_airfoil)
    pd.set_defaults(handler=cmd_predict_adsorption)


def add_domain_options(command: str, parser) -> dict[str, list]:
    """Let every domain add its own options to a shared command (Domain.add_cli_options); returns
    {domain: its options' argparse actions}, for check_domain_options."""
    owned = {}
    for name in domain_names():
        before = len(parser._actions)
        get_domain(name).add_cli_options(command, parser)
        owned[name] = parser._actions[before:]
    return owned


def check_domain_options(args) -> None:
    """InputError when an option another domain added (one without a default) is given for args.domain."""
    for owner, actions in args.domain_options.items():
        given = [
            a.option_strings[0]
            for a in actions
            if owner != args.domain and a.default is None and getattr(args, a.dest, None) is not None
        ]
        if given:
            flags = ", ".join(given[:-1]) + " and " + given[-1] if len(given) > 1 else given[0]
            raise InputError(f"{flags} {'are' if len(given) > 1 else 'is'} for --domain {owner} only")


def _train_config(args):
    """The TrainConfig of a `train` command line: the domain's defaults, the options given, validated."""
    from dataclasses import fields

    from phenograd.surrogate.trainer import TrainConfig

    check_domain_options(args)
    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if f.name not in ("members", "seed") and getattr(args, f.name, None) is not None
    }
    cfg = get_domain(args.domain).train_defaults(members=args.members, seed=args.seed, **overrides)
    cfg.validate(args.domain, from_model=bool(getattr(args, "init", None)))
    return cfg


def cmd_train(args) -> int:
    return run_distributed(_train, args)


def _train(args, device) -> int:
    from phenograd.surrogate import distributed
    from phenograd.surrogate.pretrained import load_encoder_state

    if args.fine_tune and args.lr is None:
        from phenograd.surrogate.fidelity import FINE_TUNE_LR

        args.lr = FINE_TUNE_LR
    cfg = _train_config(args)
    out = Path(args.out)
    if not out.parent.exists():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    if args.fine_tune:
        domain = get_domain(args.domain)
        if (
            domain.fine_tune is None
            or args.init
            or args.encoder
            or args.freeze_encoder
            or args.train_only
            or args.teacher
        ):
            tuned = " and ".join(name for name in domain_names() if get_domain(name).fine_tune is not None)
            raise InputError(
                f"--fine-tune is for {tuned} models and takes no --init, --encoder, --freeze-encoder, "
                "--train-only or --teacher (it runs its own two stages)"
            )
        report = domain.fine_tune(args.fine_tune, args.data, out, cfg, progress=not args.no_progress)["all"]
        noun = domain.item_noun
        print(
            f"{out}: {len(report['members'])} members fine-tuned on {report[f'train_{noun}']} {noun} "
            f"({report[f'val_{noun}']} for validation); output biases alone: {out.stem}.bias.pt"
        )
        return 0
    if args.freeze_encoder and not (args.encoder or args.init):
        raise InputError("--freeze-encoder needs --encoder ENC.pt or --init MODEL.pt")
    init = load_encoder_state(args.encoder, args.domain) if args.encoder else None
    if args.init and args.encoder:
        raise InputError("--init MODEL.pt and --encoder ENC.pt exclude each other")
    kwargs = dict(
        progress=not args.no_progress,
        device=device,
        init_encoder=init,
        freeze_encoder=args.freeze_encoder,
        train_only=args.train_only,
    )
    if args.init:
        from phenograd.surrogate.model import load_checkpoint

        kwargs["init_model"] = load_checkpoint(args.init, args.domain)
    from phenograd.surrogate.trainer import train_ensemble

    domain = get_domain(args.domain)
    options = {
        name: getattr(args, name)
        for name in ("disqualified", "teacher", "extra_shapes", "extra_structures")
        if getattr(args, name, None) is not None
    }
    task = domain.task(args.data, cfg.seed, **options)
    report = train_ensemble(task, out, cfg, meta={"data_file": str(args.data), **options}, **kwargs)
    if not distributed.is_main():
        return 0
    losses = ", ".join(f"{m['best_val_loss']:.4f}" for m in report["members"])
    n_train, n_val = report.get(f"train_{domain.item_noun}"), report.get(f"val_{domain.item_noun}")
    print(
        f"{out}: {len(report['members'])} members trained on {n_train} items ({n_val} for validation); "
        f"best validation losses {losses}"
    )
    return 0


def format_metrics(m: dict) -> str:
    """evaluate()'s metrics as text, as the model's domain writes them (Domain.format_metrics)."""
    return get_domain(m["domain"]).format_metrics(m)


def cmd_evaluate(args) -> int:
    from phenograd.surrogate.evaluate import evaluate

    metrics = evaluate(args.model, args.data, args.split, args.out)
    print(json.dumps(metrics, indent=1) if args.json else format_metrics(metrics))
    if args.out:
        print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / f'parity_{args.split}.png'}")
    return 0


def cmd_calibrate(args) -> int:
    from phenograd.surrogate.evaluate import calibrate

    if args.convergence:
        from phenograd.surrogate.airfoil_convergence_refit import refit_convergence

        if args.keep_members is not None or args.split != "val":
            raise InputError("--convergence fits on the training split and chooses on val; drop --split/--keep-members")
        r = refit_convergence(args.model, args.data, args.out)
        print(
            f"{args.out or args.model}: convergence row refitted on {r['train_shapes']} training shapes, pull "
            f"{r['pull']} chosen on {r['val_shapes']} validation shapes (cross-entropy {r['val_bce']['none']:.4f} -> "
            f"{r['val_bce'][r['pull']]:.4f}); {r['left_out']} shapes without final labels left out"
        )
        return 0
    result = calibrate(args.model, args.data, args.split, args.out, keep_members=args.keep_members)
    scales = ", ".join(
        f"{name} {result['old'].get(name, float('nan')):.3g} -> {k:.3g}" for name, k in result["new"].items()
    )
    members = f"{result['members']} members, " if args.keep_members is not None else ""
    print(f"{args.out or args.model}: {members}std scales fitted on {result['items']} {args.split} items: {scales}")
    return 0


def cmd_predict_airfoil(args) -> int:
    from phenograd.datasets.airfoil import check_airfoil, naca
    from phenograd.datasets.datfile import read_dat
    from phenograd.simulators.xfoil import parse_alpha_spec
    from phenograd.surrogate.predict import load_surrogate

    if not 0 < args.re < math.inf:
        raise InputError(f"--re must be a positive number, got {args.re}")
    if not 0 < args.ncrit <= 20:
        raise InputError(f"--ncrit must be within (0, 20], got {args.ncrit}")
    alphas = parse_alpha_spec(args.alpha)
    if args.naca is not None:  # --naca "" is a bad code, not a missing one
        name, coords = f"NACA {args.naca}", naca(args.naca)
    else:
        dat = read_dat(args.dat)
        name, coords = dat.name, check_airfoil(dat.coordinates, args.dat)
    model = load_surrogate(args.model, domain="airfoil")
    import torch

    with torch.no_grad():
        out = model.predict_airfoil(torch.as_tensor(coords), alpha=alphas, reynolds=args.re, ncrit=args.ncrit)
    keys = ("CL", "CL_std", "CD", "CD_std", "CM", "CM_std", "Top_Xtr", "Bot_Xtr", "confidence")
    rows = [{"alpha": a, **{k: float(out[k][0, i]) for k in keys}} for i, a in enumerate(alphas)]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(
        f"{name}  Re {args.re:.3g}  Ncrit {args.ncrit:g}  "
        f"[surrogate: {model.info.get('meta', {}).get('data_file', '?')}]"
    )
    print(
        f"{'alpha':>7} {'CL':>8} {'±':>6} {'CD':>9} {'±%':>5} {'CM':>8} {'±':>6} "
        f"{'Top_Xtr':>8} {'Bot_Xtr':>8} {'P(conv)':>8}"
    )
    for r in rows:
        print(
            f"{r['alpha']:7.2f} {r['CL']:8.4f} {r['CL_std']:6.4f} {r['CD']:9.5f} {100 * r['CD_std']:5.1f} "
            f"{r['CM']:8.4f} {r['CM_std']:6.4f} {r['Top_Xtr']:8.4f} {r['Bot_Xtr']:8.4f} {r['confidence']:8.3f}"
        )
    return 0


def read_structures(path) -> list:
    """Every frame of a structure file ase.io can read, each with a usable geometry; InputError
    naming the file otherwise."""
    from phenograd.datasets.catalyst import read_frames
    from phenograd.simulators.adsorption import check_atoms

    frames = read_frames(path, ":")
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise InputError(f"{path}: no structures in the file")
    for k, atoms in enumerate(frames):
        check_atoms(atoms, f"{path}: frame {k}")
    return frames


def cmd_predict_adsorption(args) -> int:
    import torch

    from phenograd.surrogate.predict import load_surrogate

    frames = read_structures(args.structures)
    model = load_surrogate(args.model, domain="catalyst")
    with torch.no_grad():
        out = model.predict_adsorption(frames)
    rows = [
        {"index": i, "formula": a.get_chemical_formula(), "E_ads": float(out["E_ads"][i]), "std": float(out["std"][i])}
        for i, a in enumerate(frames)
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'index':>5} {'formula':<16} {'E_ads eV':>9} {'std eV':>7}")
    for r in rows:
        print(f"{r['index']:5d} {r['formula']:<16} {r['E_ads']:9.4f} {r['std']:7.4f}")
    return 0
