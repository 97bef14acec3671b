"""Airfoil convergence labels under the verification's protocol: what the retries at finer panellings change.

    .venv/bin/python -m benchmarks.convergence_labels --after runs/fallback/airfoil_v1.db
        [--before data/airfoil_v1.db] [--compare LABEL=MODEL.pt ...] [--size xxxlarge] [--no-write]

A design is verified at 160 panels and, where XFOIL gives no converged answer, again at 200 and 240
(optimize/airfoil_verify.py); `phenograd data airfoil-fallback` gives a dataset's non-converged points the same
retries (datasets/airfoil_fallback.py). `--before` is a dataset without retries, `--after` the same polars with
them (retries may be under way: then only the settled shapes count). Reports:
1. the labels: per kind of failure at 160 panels (by the pattern of its polar: an isolated angle, a run inside
   the converged range, at the low end, at the stall end, a polar that converged nowhere), how many points the
   retries turned into converged ones, on the held-out shapes and on the settled training and validation shapes;
2. on the held-out real airfoils, each model's convergence probability (and NeuralFoil's analysis_confidence)
   against both labels: ROC AUC, expected calibration error (benchmarks/calibration.py's bins), mean predicted
   probability against the observed rate; and the models' CL / ln CD / CM MAE on the points only the retries
   converged, beside that on the others.
Writes the section "Airfoil convergence labels: retries at finer panellings" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

import numpy as np
import torch

from benchmarks.airfoil_points import test_points
from benchmarks.airfoil_surrogate import neuralfoil_predictions
from benchmarks.calibration import reliability
from benchmarks.report import labelled_path, machine, one_thread, publish, today
from phenograd.datasets.airfoil_fallback import settled_shapes
from phenograd.datasets.polar_store import PolarStore
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.evaluate import predict_airfoil_points, roc_auc
from phenograd.surrogate.model import load_checkpoint

TITLE = "Airfoil convergence labels: retries at finer panellings"
KINDS = ("isolated", "inside run", "low end", "stall end", "no angle converged")


def failure_kinds(converged: np.ndarray) -> list[str | None]:
    """Per point of one polar (ascending angles, converged flags at the primary panelling): None where it converged,
    else the kind of its failure (KINDS)."""
    c = [bool(v) for v in converged]
    if not any(c):
        return ["no angle converged"] * len(c)
    first, last = c.index(True), len(c) - 1 - c[::-1].index(True)
    kinds: list[str | None] = [None] * len(c)
    i = 0
    while i < len(c):
        if c[i]:
            i += 1
            continue
        j = i
        while j < len(c) and not c[j]:
            j += 1
        kind = "low end" if i < first else "stall end" if j > last + 1 else "isolated" if j - i == 1 else "inside run"
        kinds[i:j] = [kind] * (j - i)
        i = j
    return kinds


def label_table(before, after, shapes: np.ndarray) -> Counter:
    """(kind, 'failed' | 'recovered') -> points over the polars of `shapes` (the two datasets' points align)."""
    counts: Counter = Counter()
    cond = before.cond.numpy()
    for s in shapes:
        idx = np.nonzero(before.point_shape.numpy() == s)[0]
        for re in np.unique(cond[idx, 1]):
            pol = idx[cond[idx, 1] == re]  # points are sorted by shape, Reynolds number, angle
            for k, kind in zip(pol, failure_kinds(before.converged.numpy()[pol])):
                if kind is not None:
                    counts[kind, "failed"] += 1
                    counts[kind, "recovered"] += int(after.converged[k])
    return counts


def convergence_row(name: str, p: np.ndarray, y_before: np.ndarray, y_after: np.ndarray) -> str:
    cells = []
    for y in (y_before, y_after):
        _, ece = reliability(p, y)
        cells += [f"{roc_auc(y, p):.3f}", f"{ece:.4f}", f"{p.mean():.3f} / {y.mean():.3f}"]
    return f"| {name} | " + " | ".join(cells) + " |"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="data/airfoil_v1.db", help="the dataset without retries")
    parser.add_argument("--after", required=True, help="the same polars with retries (phenograd data airfoil-fallback)")
    parser.add_argument("--model", default="surrogate/models/airfoil.pt")
    parser.add_argument("--compare", action="append", default=[], help="LABEL=MODEL.pt, more models (repeatable)")
    parser.add_argument("--size", default="xxxlarge", help="NeuralFoil model size beside them (default xxxlarge)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    threads = one_thread()
    models = [("phenograd", args.model)] + [labelled_path(c, parser) for c in args.compare]
    before, after = load_airfoil_points(args.before), load_airfoil_points(args.after)
    if before.shape_ids != after.shape_ids or not torch.equal(before.cond, after.cond):
        parser.error("--before and --after must hold the same polars (the second with retries)")
    with PolarStore.open_readonly(args.after) as store:
        settled = settled_shapes(store)
    ok = np.array([sid in settled for sid in after.shape_ids])
    test = np.array([s for s in np.sort(after.shapes_in("test")) if ok[s]], dtype=int)
    others = np.array([s for s in range(len(after.shape_ids)) if ok[s] and after.shape_split[s] != "test"], dtype=int)
    if not len(test):
        parser.error(f"{args.after}: the held-out shapes' retries are not finished; run the fallback command on")

    lines = [
        f"Command: `python -m benchmarks.convergence_labels --after {args.after} --before {args.before}"
        + "".join(f' --compare "{label}={path}"' for label, path in models[1:])
        + f" --size {args.size}`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}; {threads}  ",
        f"Retried shapes so far: {len(test)} held-out, {len(others)} training and validation of "
        f"{len(after.shape_ids) - int((np.array(after.shape_split) == 'test').sum())} (a fair sample: "
        "datasets/airfoil_fallback.settled_shapes).",
        "",
        "Points that did not converge at 160 panels, by kind of failure in their polar, and the share that converged "
        "at 200 or 240 panels:",
        "",
        "| shapes | " + " | ".join(KINDS) + " | all |",
        "|---|" + "---|" * (len(KINDS) + 1),
    ]
    for label, shapes in (("held-out", test), ("training and validation", others)):
        counts = label_table(before, after, shapes)
        cells = []
        for kind in KINDS:
            n = counts[kind, "failed"]
            cells.append(f"{counts[kind, 'recovered'] / n:.0%} of {n:,}" if n else "-")
        n_all = sum(counts[k, "failed"] for k in KINDS)
        rec_all = sum(counts[k, "recovered"] for k in KINDS)
        lines.append(
            f"| {label} ({len(shapes):,}) | " + " | ".join(cells) + f" | {rec_all / max(n_all, 1):.0%} of {n_all:,} |"
        )

    sel, keep, alpha, re, ncrit = test_points(after, test)
    y_before = before.converged[sel].numpy()[keep].astype(float)
    y_after = after.converged[sel].numpy()[keep].astype(float)
    added = (y_after > 0) & (y_before == 0)
    targets = after.targets[sel].numpy()[keep]
    lines += [
        "",
        f"Held-out real airfoils ({len(test)} shapes, {int(keep.sum()):,} points in -5..15 deg, Re 1e5-1e7; converged "
        f"{y_before.mean():.1%} at 160 panels, {y_after.mean():.1%} with the retries): the convergence probability "
        "against each label. ECE: expected calibration error; mean: mean predicted probability / observed rate.",
        "",
        "| model | AUC, 160 only | ECE, 160 only | mean, 160 only | AUC, with retries | ECE, with retries | mean, with retries |",
        "|---|---|---|---|---|---|---|",
    ]
    mae_lines = []
    for label, path in models:
        ensemble, _ = load_checkpoint(path, domain="airfoil")
        values, logits, _ = predict_airfoil_points(ensemble.eval(), after, test)
        p = torch.sigmoid(logits).mean(0).double().numpy()[keep]
        lines.append(convergence_row(label, p, y_before, y_after))
        pred = values.mean(0).double().numpy()[keep]
        mae_lines.append(mae_row(label, pred[:, 0], pred[:, 1], pred[:, 2], targets, y_before > 0, added))
    point_shape = after.point_shape[sel].numpy()[keep]
    nfp = neuralfoil_predictions(args.after, after, test, alpha[keep], re[keep], ncrit[keep], point_shape, args.size)
    lines.append(convergence_row(f"NeuralFoil {args.size}", nfp["conf"], y_before, y_after))
    mae_lines.append(
        mae_row(f"NeuralFoil {args.size}", nfp["CL"], np.log(nfp["CD"]), nfp["CM"], targets, y_before > 0, added)
    )
    lines += [
        "",
        f"MAE on the held-out points converged at 160 panels ({int((y_before > 0).sum()):,}) and on those only the "
        f"retries converged ({int(added.sum()):,}; their labels from the finer panelling):",
        "",
        "| model | CL, 160 | ln CD, 160 | CM, 160 | CL, retries | ln CD, retries | CM, retries |",
        "|---|---|---|---|---|---|---|",
        *mae_lines,
    ]
    publish(TITLE, "\n".join(lines), write=not args.no_write)
    return 0


def mae_row(name, cl, lncd, cm, targets, first, added) -> str:
    cells = []
    for mask in (first, added):
        cells += [
            f"{np.mean(np.abs(pred[mask] - targets[mask, k])):.{digits}f}"
            for k, (pred, digits) in enumerate(((cl, 4), (lncd, 4), (cm, 5)))
        ]
    return f"| {name} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
