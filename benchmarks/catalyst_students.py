"""Catalyst models side by side: accuracy against CHGNet and screening rate, in one run.

    .venv/bin/python -m benchmarks.catalyst_students --model LABEL=M.pt [--model ...] [--data data/catalyst_v2.db]
        [--repeats 3] [--no-write]

For each model: MAE (eV) of E_ads against the release's CHGNet labels on its validation, test, ood_composition and
ood_facet splits, on valid placements (those AdsorbML does not disqualify, as the shipped model is trained on) and on
every placement; MAE and Spearman rank correlation against the exhaustive CHGNet truth of the screening benchmark's
space (3,702 candidates, benchmarks/results/screening/truth_chgnet.db.xz); and the screen's prediction rate on that
space (candidates per second of ``predict_enumeration``, the shared-slab path across frames, one torch thread),
median of --repeats runs that alternate the models. Writes the section "Catalyst students (distillation)".

Why: a distilled student (surrogate/distill.py) is only worth shipping if what it saves in prediction time it does not
lose in accuracy; both are measured here on the same data, machine and load.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from phenograd.datasets.release import unpack
from phenograd.optimize.frames import FrameEvaluator
from phenograd.optimize.screen import predict_enumeration
from phenograd.optimize.space import enumerate_space, parse_space
from phenograd.surrogate.catalyst_data import load_catalyst_samples
from phenograd.surrogate.evaluate import predict_structures
from phenograd.surrogate.predict import load_surrogate

from .report import machine, publish, today
from .screening import simulate_all, space_dict

TITLE = "Catalyst students (distillation)"
SPLITS = ("val", "test", "ood_composition", "ood_facet")
TRUTH = Path("benchmarks/results/screening/truth_chgnet.db")


def split_errors(model, data, disqualified: np.ndarray) -> dict:
    """{split: (MAE valid placements, MAE every placement)} in eV of a CatalystSurrogate against the dataset's
    labels."""
    out = {}
    for split in SPLITS:
        items = data.items_in(split)
        pred = predict_structures(model.ensemble, [data.graphs[i] for i in items]).mean(0).numpy()
        err = np.abs(pred - data.e_ads[torch.as_tensor(items)].numpy())
        out[split] = (float(err[~disqualified[items]].mean()), float(err.mean()))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="LABEL=M.pt", help="repeatable")
    ap.add_argument("--data", default="data/catalyst_v2.db", help="the release the models were trained on")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    models = {}
    for item in args.model:
        label, sep, path = item.partition("=")
        if not sep or not label or not Path(path).is_file():
            ap.error(f"--model needs LABEL=M.pt with an existing file, got {item!r}")
        models[label] = path
    torch.set_num_threads(1)
    started = today()
    data = load_catalyst_samples(args.data)  # every placement; valid ones picked per row below
    disqualified = data.disqualified if data.disqualified is not None else np.zeros(len(data.uids), bool)
    surrogates = {label: load_surrogate(path, domain="catalyst") for label, path in models.items()}
    accuracy = {label: split_errors(model, data, disqualified) for label, model in surrogates.items()}

    space = parse_space(space_dict(False), "benchmark space")
    enum = enumerate_space(space, "chgnet")  # slabs at CHGNet's lattice constants, as the truth's
    unpack(TRUTH)
    e_true, _ = simulate_all(enum, TRUTH, workers=1, calculator="chgnet")
    ok = ~np.isnan(e_true)
    evaluators = {label: FrameEvaluator(model) for label, model in surrogates.items()}
    for ev in evaluators.values():
        predict_enumeration(ev, enum)  # warm the allocator
    rates = {label: [] for label in models}
    preds = {}
    for _ in range(args.repeats):
        for label, ev in evaluators.items():
            ev._cache.clear()
            t0 = time.perf_counter()
            preds[label], _ = predict_enumeration(ev, enum)
            rates[label].append(len(enum.candidates) / (time.perf_counter() - t0))

    lines = [
        f"Command: `python -m benchmarks.catalyst_students {' '.join('--model ' + m for m in args.model)}"
        f" --repeats {args.repeats}`  ",
        f"Date: {started}  ",
        f"Machine: {machine()}; one torch thread.  ",
        f"Data: `{args.data}` (data hash {data.data_hash}); screening truth `{TRUTH}.xz` ({int(ok.sum())} of "
        f"{len(e_true)} candidates relaxed by CHGNet).",
        "",
        "MAE (eV) against CHGNet, valid placements / every placement:",
        "",
        "| model | members, layers, hidden | " + " | ".join(SPLITS) + " | screening space MAE | Spearman |",
        "|---|---|" + "---|" * len(SPLITS) + "---|---|",
    ]
    for label, path in models.items():
        enc, members = surrogates[label].info["encoder"], len(surrogates[label].ensemble.members)
        cells = " | ".join(f"{v:.3f} / {a:.3f}" for v, a in (accuracy[label][s] for s in SPLITS))
        mae = float(np.mean(np.abs(preds[label][ok] - e_true[ok])))
        rho = float(spearmanr(preds[label][ok], e_true[ok]).statistic)
        lines.append(
            f"| {label} (`{path}`) | {members}, {enc['n_layers']}, {enc['hidden']} | {cells} | {mae:.3f} | {rho:.3f} |"
        )
    base = statistics.median(rates[next(iter(models))])
    lines += [
        "",
        f"Screen prediction rate on the screening space ({len(enum.candidates)} candidates; medians of "
        f"{args.repeats} alternating runs; ratio to the first row):",
        "",
        "| model | candidates/s | ratio |",
        "|---|---|---|",
        *(
            f"| {label} | {statistics.median(r):,.0f} | {statistics.median(r) / base:.2f}x |"
            for label, r in rates.items()
        ),
    ]
    publish(TITLE, "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
