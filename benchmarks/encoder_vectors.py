"""Do PaiNN's vector channels earn their cost on airfoils? (issue 31) Two encoders, same data, recipe and budget.

    .venv/bin/python -m benchmarks.encoder_vectors --arm "NAME=MODEL.pt:TRAIN_SECONDS" [--arm ...] \
        [--data data/airfoil_v1.db] [--reps 5] [--no-write]

The models are trained beforehand by one command that differs only in the encoder's settings (one member each,
from scratch, so that no pretrained encoder favours either; TRAIN_SECONDS is the wall time it took):

    phenograd train --domain airfoil --data data/airfoil_v1.db --out runs/vec_painn.pt --epochs 40 --patience 10 \
        --batch-size 4 --huber-delta 0.03 --members 1 --seed 0 [--no-vectors] [--hidden 32]

Reported side by side: MAE of CL, ln CD and CM and the convergence ROC AUC on the validation shapes and on the
held-out real airfoils (``phenograd evaluate``'s numbers), the encoder's parameters, the training time per epoch
(from each checkpoint's report) and the fast path's prediction rate (64 CST shapes x 16 angles, one torch thread,
with and without the gradient with respect to the CST weights; variants alternate rep by rep, medians quoted).
Writes the section "Airfoil encoder: vector channels or not" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

import torch

from benchmarks.airfoil_throughput import phenograd_cases
from benchmarks.hotspots import side_by_side
from benchmarks.report import machine, publish, today

SECTION = "Airfoil encoder: vector channels or not"
MODELS = (
    "one member each, trained from scratch by one command that differs only in the encoder "
    "(`phenograd train --domain airfoil --data data/airfoil_v1.db --epochs 40 --patience 10 --batch-size 4 "
    "--huber-delta 0.03 --members 1 --seed 0`, plus `--no-vectors` or `--hidden 32`), one process each, on a "
    "machine shared with background DFT and CHGNet jobs (training times are indicative)."
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arm", action="append", required=True, help="NAME=MODEL.pt:TRAIN_SECONDS (the wall time its training took)"
    )
    parser.add_argument("--data", default="data/airfoil_v1.db")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--section", default=SECTION, help=f"BENCHMARKS.md section to write (default {SECTION!r})")
    parser.add_argument("--models", default=MODELS, help="the 'Models:' line: how the arms were trained")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from phenograd.datasets.airfoil_sampling import training_cst
    from phenograd.surrogate.evaluate import evaluate
    from phenograd.surrogate.model import load_checkpoint
    from phenograd.surrogate.predict import AirfoilSurrogate

    arms = {}
    for arm in args.arm:
        name, _, rest = arm.partition("=")
        path, _, seconds = rest.rpartition(":")
        if not name or not path:
            parser.error(f"--arm {arm!r}: use NAME=MODEL.pt:TRAIN_SECONDS")
        try:
            arms[name] = (path, float(seconds) if seconds else None)
        except ValueError:
            parser.error(f"--arm {arm!r}: TRAIN_SECONDS must be a number")
    rows, models = [], {}
    for name, (path, seconds) in arms.items():
        ensemble, info = load_checkpoint(path, domain="airfoil")
        epochs = sum(int(m.get("epochs", 0)) for m in info["meta"].get("members", []))
        scores = {split: evaluate(path, args.data, split) for split in ("val", "test")}
        params = sum(p.numel() for p in ensemble.members[0].encoder.parameters())
        rows.append((name, path, scores, params, epochs, seconds))
        models[name] = AirfoilSurrogate(ensemble.eval(), info)
    cst = torch.as_tensor(training_cst().params[:64], dtype=torch.float32)
    alphas = [float(a) for a in torch.linspace(-4, 12, 16)]
    rates = {}
    for grad in (False, True):
        cases = {name: phenograd_cases(m, cst, alphas, grad) for name, m in models.items()}
        for case in cases.values():
            case()  # warm-up
        times = side_by_side(cases, args.reps)
        rates[grad] = {name: len(cst) * len(alphas) / t for name, t in times.items()}

    command = " ".join(f'--arm "{a}"' for a in args.arm)
    lines = [
        f"Command: `python -m benchmarks.encoder_vectors {command} --data {args.data} --reps {args.reps}"
        + (f' --section "{args.section}" --models "..."' if args.section != SECTION else "")
        + "`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}; one torch thread.  ",
        f"Models: {args.models}",
        "",
        "| encoder | encoder parameters | epochs run | training s/epoch | split | CL MAE | ln CD MAE | CM MAE | "
        "convergence ROC AUC |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, _path, scores, params, epochs, seconds in rows:
        per_epoch = f"{seconds / epochs:.0f}" if epochs and seconds else "-"
        for split in ("val", "test"):
            m = scores[split]
            lines.append(
                f"| {name} | {params:,} | {epochs} | {per_epoch} | {split} ({m['shapes']} shapes) | "
                f"{m['mae']['CL']:.4f} | {m['mae']['lnCD']:.4f} | {m['mae']['CM']:.5f} | {m['convergence_auc']:.3f} |"
            )
    names = list(models)
    lines += [
        "",
        "Fast-path prediction rate, 64 CST shapes x 16 angles (predictions per second; medians of "
        f"{args.reps} alternating repeats; ratio to the first row):",
        "",
        "| encoder | no gradients | ratio | gradient w.r.t. the CST weights | ratio |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        a, b = rates[False][name], rates[True][name]
        a0, b0 = rates[False][names[0]], rates[True][names[0]]
        lines.append(f"| {name} | {a:,.0f}/s | {a / a0:.2f}x | {b:,.0f}/s | {b / b0:.2f}x |")
    publish(args.section, "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
