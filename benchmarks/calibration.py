"""Uncertainty calibration of the shipped surrogates: two rules for the std scale, side by side.

    .venv/bin/python -m benchmarks.calibration [--airfoil-model M.pt] [--catalyst-model M.pt]
        [--airfoil-data data/airfoil_v1.db] [--catalyst-data data/catalyst_v2.db] [--no-write]

A deep ensemble's spread is too small, so each checkpoint stores a per-target factor k,
fitted on the validation split, by which the spread is multiplied (surrogate/evaluate.py).
This script fits k on the validation split in two ways, from the same predictions:

- RMS: k = sqrt(mean((err/std)^2)), the maximum-likelihood Gaussian scale (the rule
  until 2026-12-02);
- 1-sigma coverage: k = the 68.27th percentile of |err|/std (the rule now), so that the
  +-1 k*std band holds 68.27 % of the validation errors;

and reports, on the held-out splits (airfoil: test, XFOIL-converged points; catalyst:
test, and ood where the release has one: v1 does, v2 not), the fraction of errors inside +-1 and +-2 k*std (a calibrated Gaussian:
0.683 / 0.954) and the tail ratio q95.45/q68.27 of |err|/std (2.0 for Gaussian errors,
larger for heavier tails: then no single factor gets both bands right). Writes the
section "Uncertainty calibration" of BENCHMARKS.md.

Also the airfoil model's probability that XFOIL converges (the ensemble's mean, what a design's confidence
constraint bounds): a reliability table on the validation and held-out shapes (points binned by predicted
probability: mean prediction against the observed convergence rate) and its expected calibration error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.report import machine, publish, today
from phenograd.surrogate.evaluate import (
    calibration,
    ensemble_errors,
    load_domain_data,
    std_scale,
)
from phenograd.surrogate.model import load_checkpoint, shipped_model_path

AIRFOIL_SHOWN = ("CL", "lnCD", "CM")
EXPLAINED = (
    "Both factors k are fitted in this run on the validation split from the same ensemble predictions: by RMS "
    "(sqrt(mean((err/std)^2)), the maximum-likelihood Gaussian scale, the rule until 2026-12-02) and by 1σ coverage "
    "(the 68.27th percentile of |err|/std, the rule now). Columns: the fraction of held-out errors inside +-1 / +-2 "
    "k*std (a calibrated Gaussian gives 0.683 / 0.954); tail ratio: the 95.45th over the 68.27th percentile of "
    "|err|/std on the held-out split (2.0 for Gaussian errors; above it no single factor fits both bands)."
)


def rms_scale(err: np.ndarray, std: np.ndarray) -> float:
    ok = np.isfinite(err) & (std > 1e-12)
    return float(np.sqrt(np.mean((err[ok] / std[ok]) ** 2)))


def tail_ratio(err: np.ndarray, std: np.ndarray) -> float:
    z = np.abs(err) / np.maximum(std, 1e-12)
    return float(np.quantile(z, 0.9545) / np.quantile(z, 0.6827))


def rows_for(label: str, val: dict, held_out: dict[str, dict], targets) -> list[str]:
    rows = []
    for name in targets:
        fits = {"RMS": rms_scale(*val[name]), "1σ coverage": std_scale(*val[name])}
        for split, errors in held_out.items():
            err, std = errors[name]
            cells = []
            for _rule, k in fits.items():
                cov = calibration(err, k * std)
                cells.append(f"{k:.2f} | {cov['within_1sigma']:.3f} / {cov['within_2sigma']:.3f}")
            rows.append(
                f"| {label} | {name} | {split} ({len(err)}) | {' | '.join(cells)} | {tail_ratio(err, std):.2f} |"
            )
    return rows


RELIABILITY_BINS = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)


def convergence_reliability(ensemble, data, shapes) -> tuple[list[tuple[float, float, int]], float]:
    """Reliability of the airfoil ensemble's convergence probability on every point of `shapes` (reliability)."""
    import torch

    from phenograd.surrogate.evaluate import predict_airfoil_points

    _, logits, mask = predict_airfoil_points(ensemble, data, shapes)
    return reliability(torch.sigmoid(logits).mean(0).double().numpy(), data.converged[mask].double().numpy())


def reliability(p: np.ndarray, y: np.ndarray) -> tuple[list[tuple[float, float, int]], float]:
    """Predicted probabilities p (P,) against outcomes y (P,) in {0, 1}: per bin of RELIABILITY_BINS (the last
    closed) (mean predicted probability, observed rate, points), and the expected calibration error (the
    points-weighted mean of |predicted - observed| over the bins)."""
    index = np.clip(np.digitize(p, RELIABILITY_BINS[1:-1]), 0, len(RELIABILITY_BINS) - 2)
    bins = []
    for k in range(len(RELIABILITY_BINS) - 1):
        sel = index == k
        bins.append((float(p[sel].mean()), float(y[sel].mean()), int(sel.sum())) if sel.any() else (0.0, 0.0, 0))
    ece = sum(n * abs(pred - obs) for pred, obs, n in bins) / max(len(p), 1)
    return bins, ece


def reliability_lines(label: str, tables: dict[str, tuple[list, float]]) -> list[str]:
    edges = RELIABILITY_BINS
    head = [f"[{edges[k]:.2f}, {edges[k + 1]:.2f}{']' if k == len(edges) - 2 else ')'}" for k in range(len(edges) - 1)]
    lines = [
        f"Convergence probability of {label} (points binned by the ensemble's mean predicted probability that XFOIL "
        "converges; cells: mean predicted / observed rate (points)):",
        "",
        "| split | expected calibration error | " + " | ".join(head) + " |",
        "|---|---|" + "---|" * len(head),
    ]
    for split, (bins, ece) in tables.items():
        cells = [f"{pred:.3f} / {obs:.3f} ({n:,})" if n else "-" for pred, obs, n in bins]
        lines.append(f"| {split} | {ece:.4f} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--airfoil-model", default=None, help="default: the shipped airfoil model")
    parser.add_argument("--catalyst-model", default=None, help="default: the shipped catalyst model")
    parser.add_argument("--airfoil-data", default="data/airfoil_v1.db")
    parser.add_argument("--catalyst-data", default="data/catalyst_v2.db")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    header = f"Command: `python -m benchmarks.calibration`  \nDate: {today()}  \nMachine: {machine()}  \n"
    rows = []
    models = []
    reliability = []
    for domain, model, data_path in (
        ("airfoil", args.airfoil_model, args.airfoil_data),
        ("catalyst", args.catalyst_model, args.catalyst_data),
    ):
        path = model or shipped_model_path(domain)
        ensemble, info = load_checkpoint(path, domain=domain)
        data = load_domain_data(info, data_path)
        models.append(f"{domain} `{Path(path).name}` ({len(ensemble.members)} members, data `{data_path}`)")
        split_items = data.shapes_in if domain == "airfoil" else data.items_in
        held_out = [s for s in (("test",) if domain == "airfoil" else ("test", "ood")) if len(split_items(s))]
        rows += rows_for(
            domain,
            ensemble_errors(ensemble, data, split_items("val")),
            {s: ensemble_errors(ensemble, data, split_items(s)) for s in held_out},
            AIRFOIL_SHOWN if domain == "airfoil" else ("E_ads",),
        )
        if domain == "airfoil":
            tables = {s: convergence_reliability(ensemble, data, split_items(s)) for s in ("val", *held_out)}
            reliability = reliability_lines(f"`{Path(path).name}`", tables)
    body = (
        header
        + "Models: "
        + "; ".join(models)
        + ".\n\n"
        + EXPLAINED
        + "\n\n"
        + "\n".join(
            [
                "| model | target | held-out split (n) | k by RMS | in 1σ / 2σ | k by 1σ coverage | in 1σ / 2σ | tail ratio |",
                "|---|---|---|---|---|---|---|---|",
                *rows,
                "",
                *reliability,
            ]
        )
    )
    publish("Uncertainty calibration", body, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
