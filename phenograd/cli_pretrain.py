"""CLI command `pretrain`: self-supervised pretraining of the shared encoder (surrogate/pretrain.py)."""

from __future__ import annotations

import json
from pathlib import Path

from phenograd.cli_options import seed_value
from phenograd.cli_run import run_distributed
from phenograd.core.errors import InputError
from phenograd.surrogate.domain import domain_names, get_domain


def add_commands(sub) -> None:
    """Add `pretrain`, with its handler, to the top-level subparsers."""
    pretrainable = [name for name in domain_names() if get_domain(name).pretraining is not None]
    pt = sub.add_parser(
        "pretrain",
        help="pretrain the shared encoder on unlabelled structures (resumable)",
        description="Self-supervised pretraining: joint-embedding prediction of hidden blocks (jepa; VICReg variance "
        "and covariance terms against collapse), coordinate denoising (denoise), or both. airfoil --data: a polar "
        "dataset (.db; its non-held-out shapes, polars ignored) or an .npz from `phenograd data unlabelled`, plus "
        "--sampled fresh CST shapes. catalyst --data: an ase.db from `phenograd data unlabelled` or a labelled "
        "catalyst dataset (labels ignored). Held-out test/ood structures are never used. After every epoch the state "
        "goes to <out>.partial; the same command continues a killed run. The encoder file feeds "
        "`phenograd train --encoder`. Multi-process: `torchrun --nproc_per_node N -m phenograd pretrain ...` "
        "(DistributedDataParallel; --batch-size per process, so a step sees N x --batch-size; rank 0 writes).",
    )
    pt.add_argument("--domain", required=True, choices=pretrainable, help="which kind of structures")
    pt.add_argument("--data", required=True, help="unlabelled (or labelled, labels ignored) data file")
    pt.add_argument("--out", required=True, help="encoder file to write (.pt)")
    pt.add_argument(
        "--objective",
        default=None,
        choices=["jepa", "denoise", "both", "potential"],
        help="jepa, denoise or both (default: the measured best per domain: airfoil jepa, catalyst denoise); "
        "catalyst: potential learns the single points of a file from `phenograd data single-points`",
    )
    pt.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    pt.add_argument("--batch-size", type=int, default=32, help="structures per batch and process (default 32)")
    pt.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    pt.add_argument(
        "--hidden",
        type=int,
        default=None,
        help="encoder width; must match the surrogate to fine-tune (default: airfoil 64, catalyst 32)",
    )
    pt.add_argument("--layers", type=int, default=3, help="message-passing layers (default 3)")
    pt.add_argument(
        "--ema", type=float, default=0.99, help="target-encoder EMA momentum; 0 shares weights (default 0.99)"
    )
    pt.add_argument("--var-weight", type=float, default=1.0, help="VICReg variance weight (default 1)")
    pt.add_argument("--cov-weight", type=float, default=0.04, help="VICReg covariance weight (default 0.04)")
    pt.add_argument(
        "--noise", type=float, default=None, help="denoising std (default: 0.1 Å atoms, 0.002 chords airfoil)"
    )
    pt.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    pt.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    pt.add_argument(
        "--log-file",
        "--log",
        dest="log",
        default=None,
        help="also append one JSON line per epoch (losses, embedding std, rank) here",
    )
    pt.add_argument("--no-progress", action="store_true", help="no progress bar")
    for name in pretrainable:  # the domains' own options (airfoil --sampled, catalyst --limit and --geometry)
        get_domain(name).add_cli_options("pretrain", pt)
    pt.set_defaults(handler=cmd_pretrain)


def cmd_pretrain(args) -> int:
    return run_distributed(_pretrain, args)  # torchrun: one process group, files and messages from rank 0


def _pretrain(args, device) -> int:
    from phenograd.surrogate import distributed
    from phenograd.surrogate.pretrain import PretrainConfig, pretrain
    from phenograd.surrogate.pretrain_data import load_unlabelled

    out = Path(args.out)
    if not out.parent.exists():
        raise InputError(f"{out}: folder {out.parent} does not exist")
    sampled, limit = getattr(args, "sampled", 0), getattr(args, "limit", None)
    if sampled < 0:
        raise InputError(f"--sampled must be >= 0, got {sampled}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    cfg = PretrainConfig(
        objective=args.objective,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        hidden=args.hidden,
        layers=args.layers,
        ema=args.ema,
        var_weight=args.var_weight,
        cov_weight=args.cov_weight,
        noise=args.noise,
        seed=args.seed,
    )
    cfg.validate()
    data = load_unlabelled(
        args.domain,
        args.data,
        n_sampled=sampled,
        seed=args.seed,
        limit=limit,
        geometry=getattr(args, "geometry", "initial"),
        stations=getattr(args, "contour_stations", None),
    )
    log = None
    if args.log and distributed.is_main():

        def log(record, path=Path(args.log)):
            with open(path, "a") as f:
                f.write(json.dumps(record) + "\n")

    report = pretrain(
        data, out, cfg, progress=not args.no_progress, device=device, meta={"data_file": str(args.data)}, log=log
    )
    if not distributed.is_main():
        return 0
    f = report["final"]
    print(
        f"{out}: {report['objective']} encoder pretrained on {report['structures']} structures; final loss "
        f"{f.get('total', float('nan')):.4f}, embedding std {f['node_std_mean']:.3f}, "
        f"effective rank {f['node_rank']:.1f}"
    )
    return 0
