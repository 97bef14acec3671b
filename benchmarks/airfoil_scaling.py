"""Data-scaling curve of the airfoil graph surrogate (issue 31): the same recipe on nested shares of the shapes.

    .venv/bin/python -m benchmarks.airfoil_scaling --arm 0.25=runs/scale_0.25.pt --arm 0.5=runs/scale_0.5.pt \
        --arm 1=runs/vec_painn32.pt [--data data/airfoil_v1.db] [--no-write]

Each model is one member trained from scratch by

    phenograd train --domain airfoil --data data/airfoil_v1.db --out M.pt --hidden 32 --members 1 --seed 0 \
        --batch-size 4 --huber-delta 0.03 --train-fraction F --epochs 40/F --patience 10/F

so that every share gets the same number of optimizer steps (as the station MLP's curve in "Airfoil data scaling
(station MLP)"); the subsets of one seed are nested (surrogate/trainer.py, train_fraction). Scored on the
held-out real airfoils (``phenograd evaluate --split test``): MAE of CL, ln CD and CM over XFOIL-converged points,
and a power law MAE ~ N^slope fitted over the shares, extrapolated to issue 4's targets and to NeuralFoil
xxxlarge's MAE on the same points (BENCHMARKS.md "Airfoil surrogate"). Writes the section "Airfoil data scaling
(graph model)" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks.report import machine, publish, today

#: NeuralFoil xxxlarge on the release's held-out airfoils (BENCHMARKS.md "Airfoil surrogate", 2026-12-03).
NEURALFOIL_XXXLARGE = {"CL": 0.0242, "lnCD": 0.0707, "CM": 0.00366}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", action="append", required=True, help="FRACTION=MODEL.pt")
    parser.add_argument("--data", default="data/airfoil_v1.db")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from phenograd.surrogate.evaluate import evaluate
    from phenograd.surrogate.model import load_checkpoint

    rows = []
    for arm in args.arm:
        fraction, _, path = arm.partition("=")
        try:
            share = float(fraction)
        except ValueError:
            parser.error(f"--arm {arm!r}: use FRACTION=MODEL.pt")
        _, info = load_checkpoint(path, domain="airfoil")
        shapes = int(info["meta"]["train_shapes"])
        epochs = sum(int(m["epochs"]) for m in info["meta"]["members"])
        rows.append((share, shapes, epochs, path, evaluate(path, args.data, "test")))
    rows.sort()
    arms = " ".join(f"--arm {a}" for a in args.arm)
    lines = [
        f"Command: `python -m benchmarks.airfoil_scaling {arms} --data {args.data}`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}  ",
        "Models: one member each, PaiNN hidden 32, from scratch, the same number of optimizer steps at every share "
        "(`phenograd train --domain airfoil --hidden 32 --members 1 --seed 0 --batch-size 4 --huber-delta 0.03 "
        "--train-fraction F --epochs 40/F --patience 10/F`; nested subsets of the training shapes). Scored on the "
        f"held-out real airfoils ({rows[-1][4]['shapes']} shapes, XFOIL-converged points).",
        "",
        "| training shapes | epochs run | CL MAE | ln CD MAE | CM MAE | convergence ROC AUC |",
        "|---|---|---|---|---|---|",
    ]
    for share, shapes, epochs, _, m in rows:
        lines.append(
            f"| {shapes} ({100 * share:g} %) | {epochs} | {m['mae']['CL']:.4f} | {m['mae']['lnCD']:.4f} | "
            f"{m['mae']['CM']:.5f} | {m['convergence_auc']:.3f} |"
        )
    if len(rows) > 1:
        n = np.log([r[1] for r in rows])
        fits = []
        for key in ("CL", "lnCD", "CM"):
            slope, icpt = np.polyfit(n, np.log([r[4]["mae"][key] for r in rows]), 1)
            peer = NEURALFOIL_XXXLARGE[key]
            need = np.exp((np.log(peer) - icpt) / slope) if slope < 0 else float("inf")
            fits.append(f"{key} ∝ N^{slope:.2f} (NeuralFoil xxxlarge's {peer:g} at about {need:,.0f} shapes)")
        lines += [
            "",
            "Power-law fit over these sizes, MAE against training shapes N: "
            + "; ".join(fits)
            + ". An extrapolation for one member from scratch, for planning data generation, not a measurement; "
            "the shipped model (5 members from a pretrained encoder) starts lower.",
        ]
    publish("Airfoil data scaling (graph model)", "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
