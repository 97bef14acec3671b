"""Catalyst head readout: pooling every atom's energy contribution or the adsorbate's only, side by side.

    .venv/bin/python -m benchmarks.catalyst_readout [--data data/catalyst_v1.db] [--train 4000] [--hidden 64]
        [--epochs 10] [--readouts all adsorbate]

One ensemble member per readout (surrogate/heads.py, AdsorptionHead), trained on the
first --train structures of the release's training split with the same seed, width,
epochs (patience 4) and the catalyst defaults otherwise, early-stopped on the whole
validation split, and scored on the in-distribution "test" and out-of-distribution
"ood" (Au + Ni slabs) splits: E_ads MAE in eV. A subset and one member keep it to about
15 minutes per readout on one core; the shipped model's full-data numbers are in the
section "Catalyst surrogate". Writes the section "Catalyst readout" of BENCHMARKS.md.
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
from phenograd.surrogate.catalyst_data import load_catalyst_samples
from phenograd.surrogate.evaluate import predict_structures
from phenograd.surrogate.heads import READOUTS
from phenograd.surrogate.model import load_checkpoint
from phenograd.surrogate.train_catalyst import CatalystTask, catalyst_defaults
from phenograd.surrogate.trainer import train_ensemble


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/catalyst_v1.db")
    parser.add_argument("--train", type=int, default=4000, help="training structures (the first N of the split)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--readouts", nargs="+", choices=READOUTS, default=list(READOUTS))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    command = (
        f"python -m benchmarks.catalyst_readout --data {args.data} --train {args.train} --hidden {args.hidden} "
        f"--epochs {args.epochs} --readouts {' '.join(args.readouts)}"
    )
    started = today()
    data = load_catalyst_samples(args.data)
    rows = []
    for readout in args.readouts:
        t0 = time.perf_counter()
        task = CatalystTask(data, 0)
        task.train = task.train[: args.train]
        e = data.e_ads[torch.as_tensor(task.train)]
        task.mean, task.std = e.mean(), e.std()
        cfg = catalyst_defaults(members=1, epochs=args.epochs, patience=4, hidden=args.hidden, readout=readout)
        with tempfile.TemporaryDirectory() as tmp:
            report = train_ensemble(task, Path(tmp) / "m.pt", cfg, progress=False)
            ensemble, _ = load_checkpoint(Path(tmp) / "m.pt", "catalyst")
        mae = {}
        for split in ("test", "ood"):
            items = data.items_in(split)
            pred = predict_structures(ensemble, [data.graphs[i] for i in items]).mean(0).numpy()
            mae[split] = float(np.mean(np.abs(pred - data.e_ads[torch.as_tensor(items)].numpy())))
        minutes = (time.perf_counter() - t0) / 60
        rows.append((readout, report["members"][0]["best_val_loss"], mae, minutes))
        print(f"{readout}: test {mae['test']:.4f} eV, ood {mae['ood']:.4f} eV ({minutes:.0f} min)", flush=True)
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}  ",
        f"Machine: {machine()}  ",
        f"Data: `{args.data}` (data hash {data.data_hash}); training on the first {args.train} structures of the "
        f"training split, validation {len(task.val)}, test {len(data.items_in('test'))}, "
        f"ood {len(data.items_in('ood'))}. One member per readout, hidden {args.hidden}, {args.epochs} epochs "
        "(patience 4), seed 0, catalyst defaults otherwise.",
        "",
        "| readout | best validation loss | test MAE (eV) | ood MAE (eV) | minutes |",
        "|---|---|---|---|---|",
    ]
    for readout, val, mae, minutes in rows:
        lines.append(f"| {readout} | {val:.4f} | {mae['test']:.4f} | {mae['ood']:.4f} | {minutes:.0f} |")
    publish("Catalyst readout", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
