"""Pretrain the shared encoder on unlabelled catalyst structures, then fine-tune a surrogate on a few labels.

    .venv/bin/python examples/pretrain_finetune.py [--out runs/example_pretrain] [--unlabelled 600]
        [--labelled 160] [--objective denoise|jepa|both] [--epochs 20]

The workflow phenograd is built around, small enough to run in a few minutes on two cores:

1. Unlabelled structures cost nothing to make: random alloy slabs with adsorbates placed on sites,
   no simulation (`phenograd data unlabelled` does the same from the shell).
2. A few labels cost simulator time: EMT relaxations and adsorption energies, stored in an ase.db
   (`phenograd data catalyst`).
3. The encoder is pretrained without labels (`phenograd pretrain`), then one surrogate is fine-tuned
   from it and one is trained from scratch on the same labels (`phenograd train --encoder`).
4. Both predict fresh structures from another seed (EMT-labelled for the check) through the same
   API as the shipped models, `load_surrogate(path).predict_adsorption(atoms_list)`.

Every step writes its file under --out and skips the work when the file is already there, so a
second run (or one resumed after Ctrl-C) starts where the first stopped. What pretraining buys at
scale is measured in BENCHMARKS.md ("Pretraining label efficiency"); this example shows the pipeline.
"""

import argparse
from pathlib import Path

import numpy as np
from ase.db import connect

from phenograd import (
    CatalystRequest,
    PretrainConfig,
    generate_catalyst_dataset,
    load_surrogate,
    load_unlabelled,
    pretrain_encoder,
)
from phenograd.datasets.catalyst_unlabelled import UnlabelledRequest, write_unlabelled
from phenograd.surrogate.domain import get_domain
from phenograd.surrogate.pretrained import load_encoder_state
from phenograd.surrogate.train_catalyst import catalyst_defaults, train_catalyst

METALS = ("Pt", "Pd", "Cu", "Ni", "Ag", "Au")


def main() -> None:
    # Worker processes re-import this file (forkserver): the work runs only under __main__.
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/example_pretrain", type=Path)
    ap.add_argument("--unlabelled", type=int, default=600, help="unlabelled structures to pretrain on (default 600)")
    ap.add_argument("--labelled", type=int, default=160, help="EMT-labelled structures (default 160)")
    ap.add_argument("--check", type=int, default=80, help="fresh EMT-labelled structures to score on (default 80)")
    ap.add_argument(
        "--objective",
        default=get_domain("catalyst").pretraining.objective,
        choices=["jepa", "denoise", "both"],
        help="pretraining objective (default: denoise, the measured best for catalysts)",
    )
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=20, help="at most this many fine-tuning epochs (default 20)")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    # 1. Unlabelled structures (an ase.db of initial structures, no energies).
    unlabelled_db = out / "unlabelled.db"
    if not unlabelled_db.exists():
        write_unlabelled(
            unlabelled_db,
            UnlabelledRequest(args.unlabelled, seed=0, elements=METALS, adsorbates=("O", "H"), facets=("111",)),
        )
    print(f"[1/4] {args.unlabelled} unlabelled structures: {unlabelled_db}")

    # 2. A few labels from the simulator (resumable: a rerun relaxes only what is missing).
    labelled_db = out / "labelled.db"
    summary = generate_catalyst_dataset(
        labelled_db,
        CatalystRequest(args.labelled, seed=1, elements=METALS, adsorbates=("O", "H"), facets=("111",)),
        workers=2,
        progress=False,
    )
    print(
        f"[2/4] {args.labelled} EMT-labelled structures: {labelled_db} ({summary.written} relaxed now, "
        f"{summary.already_present} already there, {summary.failed} failed)"
    )

    # 3. Pretrain without labels, then train from the encoder and from scratch on the same labels.
    encoder = out / f"encoder_{args.objective}.pt"
    if not encoder.exists():
        report = pretrain_encoder(
            load_unlabelled("catalyst", unlabelled_db),
            encoder,
            PretrainConfig(objective=args.objective, epochs=args.pretrain_epochs, seed=0),
            progress=False,
        )
        print(
            f"[3/4] encoder pretrained ({args.objective}, {report['structures']} structures): effective rank of "
            f"node embeddings {report['final']['node_rank']:.1f}"
        )
    cfg = catalyst_defaults(members=1, epochs=args.epochs, patience=6, seed=0)
    models = {"scratch": out / "scratch.pt", "pretrained": out / "finetuned.pt"}
    for arm, path in models.items():
        if not path.exists():
            init = load_encoder_state(encoder, "catalyst") if arm == "pretrained" else None
            train_catalyst(labelled_db, path, cfg, progress=False, init_encoder=init)
    print(f"[3/4] trained {models['scratch']} (from scratch) and {models['pretrained']} (from the encoder)")

    # 4. Fresh structures neither model has seen (another seed), scored through the public API.
    check_db = out / "check.db"
    generate_catalyst_dataset(
        check_db,
        CatalystRequest(args.check, seed=2, elements=METALS, adsorbates=("O", "H"), facets=("111",)),
        workers=2,
        progress=False,
    )
    with connect(check_db) as db:
        rows = list(db.select(kind="adslab", status="ok"))
    surrogates = {arm: load_surrogate(path) for arm, path in models.items()}
    # a model refuses elements it was never trained on (the scratch model knows only its few labels' metals)
    known = set.intersection(*(set(s.elements) for s in surrogates.values()))
    scored = [r for r in rows if set(r.symbols) <= known]
    truth = np.array([r.e_ads for r in scored])
    for arm, surrogate in surrogates.items():
        pred = surrogate.predict_adsorption([r.toatoms() for r in scored])["E_ads"].detach().numpy()
        print(
            f"[4/4] {arm:<10} MAE {np.mean(np.abs(pred - truth)):.4f} eV on {len(scored)} fresh EMT-labelled "
            f"structures ({len(rows) - len(scored)} left out: an element outside a model's training data)"
        )


if __name__ == "__main__":
    main()
