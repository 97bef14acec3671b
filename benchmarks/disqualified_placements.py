"""Should the catalyst surrogate learn from placements that AdsorbML disqualifies? Same recipe, two training sets.

    .venv/bin/python -m benchmarks.disqualified_placements [--data data/catalyst_v2.db] [--members 2]
        [--epochs 30] [--patience 8] [--seeds 0,1,2] [--no-write]

A placement that desorbed, dissociated, reconstructed the surface or intercalated still has a relaxed energy, but
not the binding energy of its adsorbate at a site; AdsorbML leaves it out of a system's minimum, which is what a
screen ranks. Arm "keep" trains on every labelled placement (IS2RE as in OC20, phenograd's default); arm "drop"
leaves the disqualified ones out (`load_catalyst_samples(disqualified="drop")`). Both use the same seeds, members,
epochs, batch and learning rate, and the same slabs for validation. Each is scored on the held-out splits twice:
on the valid placements (the labels a screen needs) and on all placements; MAE mean and std over the seeds.
Writes the section "Catalyst surrogate: disqualified placements in training" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.report import machine, publish, today
from phenograd.surrogate.catalyst_data import HELD_OUT_SPLITS, load_catalyst_samples
from phenograd.surrogate.evaluate import predict_structures
from phenograd.surrogate.model import load_checkpoint
from phenograd.surrogate.train_catalyst import CatalystTask, catalyst_defaults
from phenograd.surrogate.trainer import train_ensemble


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/catalyst_v2.db")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=8)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds (one ensemble per seed)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = today()
    seeds = [int(x) for x in args.seeds.split(",")]
    data = {arm: load_catalyst_samples(args.data, disqualified=arm) for arm in ("keep", "drop")}
    everything = data["keep"]
    valid = np.isin(everything.uids, data["drop"].uids)  # the placements AdsorbML does not disqualify
    ensembles, sizes, minutes = {}, {}, {}
    for arm in ("keep", "drop"):
        t0 = time.perf_counter()
        for seed in seeds:
            cfg = catalyst_defaults(members=args.members, epochs=args.epochs, patience=args.patience, seed=seed)
            task = CatalystTask(data[arm], cfg.seed)
            sizes[arm] = (len(task.train), len(task.val))
            with tempfile.TemporaryDirectory() as tmp:
                train_ensemble(task, Path(tmp) / "arm.pt", cfg, progress=False)
                ensembles[arm, seed] = load_checkpoint(Path(tmp) / "arm.pt", "catalyst")[0]
        minutes[arm] = (time.perf_counter() - t0) / 60
    held_out = [s for s in HELD_OUT_SPLITS if len(everything.items_in(s))]
    lines = [
        f"Command: `python -m benchmarks.disqualified_placements --data {args.data} --members {args.members} "
        f"--epochs {args.epochs} --patience {args.patience} --seeds {args.seeds}`  ",
        f"Date: {started}  ",
        f"Machine: {machine()}  ",
        f"Data: `{args.data}`: {len(everything.uids)} labelled placements, {int((~valid).sum())} of them disqualified "
        f"by AdsorbML's rule. Training placements (train / val): keep {sizes['keep'][0]} / {sizes['keep'][1]}, "
        f"drop {sizes['drop'][0]} / {sizes['drop'][1]}. Budget per arm and seed: {cfg.members} members x at most "
        f"{cfg.epochs} epochs (patience {cfg.patience}), batch {cfg.batch_size}, AdamW lr {cfg.lr:g}; seeds "
        f"{args.seeds}; wall time keep {minutes['keep']:.0f} min, drop {minutes['drop']:.0f} min.",
        "",
        "| split | scored on | n | MAE keep (eV) | MAE drop (eV) | drop - keep, per seed (eV) |",
        "|---|---|---|---|---|---|",
    ]
    for split in held_out:
        items = everything.items_in(split)
        true = everything.e_ads[torch.as_tensor(items)].numpy()
        graphs = [everything.graphs[i] for i in items]
        pred = {key: predict_structures(ens, graphs).mean(0).numpy() for key, ens in ensembles.items()}
        for name, mask in (("valid placements", valid[items]), ("all placements", np.ones(len(items), bool))):
            mae = {key: float(np.mean(np.abs(p[mask] - true[mask]))) for key, p in pred.items()}
            cells = []
            for arm in ("keep", "drop"):
                values = [mae[arm, seed] for seed in seeds]
                cells.append(f"{np.mean(values):.4f} ± {np.std(values):.4f}")
            gaps = ", ".join(f"{mae['drop', seed] - mae['keep', seed]:+.3f}" for seed in seeds)
            lines.append(f"| {split} | {name} | {int(mask.sum())} | {cells[0]} | {cells[1]} | {gaps} |")
    publish("Catalyst surrogate: disqualified placements in training", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
