"""CLI command `tune`: hyperparameter search for a surrogate with Optuna (surrogate/tune.py)."""

from __future__ import annotations

from pathlib import Path

from phenograd.cli_options import seed_value
from phenograd.surrogate.domain import domain_names


def add_commands(sub) -> None:
    """Add `tune`, with its handler, to the top-level subparsers."""
    tu = sub.add_parser(
        "tune",
        help="search training hyperparameters with Optuna (shared, resumable studies)",
        description="Each trial trains a surrogate (1 member by default) with a learning rate, encoder width, "
        "message-passing layers, batch size and weight decay from a seeded TPE sampler and scores it by its best "
        "validation loss; a median pruner stops poor trials early. Trials train into <out>/trial_<n>/model.pt and "
        "the study's best goes to <out>/best.json. --storage keeps the study: sqlite:///study.db (or another "
        "database URL) or journal:study.log / study.log (a file that also works on NFS). Run the same command on "
        "several machines with the same --storage to share one study (give each its own --seed); each runs "
        "its own --trials.",
    )
    tu.add_argument("--domain", required=True, choices=domain_names(), help="which kind of dataset and model")
    tu.add_argument("--data", required=True, help="dataset file (.db) from `phenograd data`")
    tu.add_argument("--trials", type=int, required=True, help="trials this command runs")
    tu.add_argument(
        "--storage",
        default=None,
        help="study storage: sqlite:///FILE.db, a database URL, journal:FILE or FILE.log (default: memory)",
    )
    tu.add_argument("--study-name", default=None, help="study name (default phenograd-<domain>)")
    tu.add_argument(
        "--out", default="runs/tune", help="folder for the trials' models and best.json (default runs/tune)"
    )
    tu.add_argument("--epochs", type=int, default=20, help="maximum epochs per trial (default 20)")
    tu.add_argument("--members", type=int, default=1, help="ensemble members per trial (default 1)")
    tu.add_argument("--seed", type=seed_value, default=0, help="random seed of sampler and training (default 0)")
    tu.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    tu.set_defaults(handler=cmd_tune)


def cmd_tune(args) -> int:
    import optuna

    from phenograd.surrogate.tune import tune

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # one line per trial comes from us
    result = tune(
        args.domain,
        args.data,
        args.trials,
        storage=args.storage,
        study_name=args.study_name,
        out_dir=args.out,
        seed=args.seed,
        epochs=args.epochs,
        members=args.members,
        device=args.device,
        log=lambda line: print(line, flush=True),
    )
    best = Path(args.out) / "best.json"
    counts = (
        f"{result['trials']} trials in study {result['study_name']!r} ({result['complete']} complete, "
        f"{result['pruned']} pruned, {result['failed']} failed)"
    )
    if result["best_value"] is None:
        print(f"{best}: no trial finished; {counts}")
        return 1
    params = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in result["best_params"].items())
    print(f"{best}: best validation loss {result['best_value']:.5g} (trial {result['best_trial']}: {params}); {counts}")
    if result["best_model"]:
        print(f"best model: {result['best_model']}")
    return 0
