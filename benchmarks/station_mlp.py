"""A graph-free baseline for the airfoil surrogate: a plain MLP on the contour's station y values.

    .venv/bin/python -m benchmarks.station_mlp [--data data/airfoil_v1.db] [--fractions 0.125 0.25 0.5 1]
        [--seeds 0 1]

Run as a script, it measures how its held-out error scales with the number of training
shapes (nested seeded subsets, the same number of optimizer steps at every size) and
writes the section "Airfoil data scaling (station MLP)" of BENCHMARKS.md: how much more
XFOIL data the accuracy targets need. benchmarks/airfoil_surrogate.py --mlp-members
uses it as a row beside phenograd and NeuralFoil.

Input per point (132): the 129 node y/c values of phenograd's airfoil graph (upper
then lower surface at the fixed cosine chord stations, graphs.py; times 10) and
the scaled operating point (alpha/10, log10 Re - 6, (Ncrit - 9)/3). Output: the
normalised CL, ln CD, CM, Top_Xtr, Bot_Xtr and a convergence logit, with the same
loss as phenograd's airfoil training (train_airfoil.py; squared error unless
huber_delta). Three hidden layers of 256 SiLU units, AdamW lr 1e-3, cosine schedule, batches of 256 points. It shows
what the shape information alone gives with a model that takes many cheap steps;
the benchmark row beside phenograd's says how far the graph encoder is from it.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np
import torch

from phenograd.surrogate.graphs import AIRFOIL_NODES
from phenograd.surrogate.heads import N_CONDITIONS, regression_loss
from phenograd.surrogate.train_airfoil import target_normalisation
from phenograd.surrogate.trainer import TrainConfig

WIDTH, LR, BATCH_POINTS = 256, 1e-3, 256
N_INPUTS = AIRFOIL_NODES + N_CONDITIONS  # 132
CONV_WEIGHT = TrainConfig.conv_weight  # phenograd's airfoil loss weight on the convergence logit


def points_of(data, shapes: np.ndarray) -> torch.Tensor:
    """Indices of every point of the given shapes."""
    return torch.nonzero(torch.isin(data.point_shape, torch.as_tensor(shapes))).flatten()


def steps_per_epoch(n_points: int) -> int:
    return math.ceil(n_points / BATCH_POINTS)


def station_inputs(data, points: torch.Tensor) -> torch.Tensor:
    """(P, 132) MLP inputs of the given point indices of AirfoilPoints."""
    y = torch.stack([g.pos[:, 1] for g in data.graphs]) * 10.0
    return torch.cat([y[data.point_shape[points]], data.cond[points]], dim=1)


def train_station_mlp(
    data, train_shapes: np.ndarray, seed: int, epochs: int = 60, steps: int | None = None, huber_delta: float = 0.0
):
    """One MLP member trained on every point of train_shapes; returns a module mapping inputs (P, 132)
    to (values (P, 5) in physical units, convergence logit (P,)). steps: optimizer steps in all instead
    of whole epochs (epochs are then as many as that takes; a smaller set gets more of them).
    huber_delta: the regression loss, as phenograd's (heads.regression_loss; 0: squared error)."""
    torch.manual_seed(seed)
    mean, std = target_normalisation(data, train_shapes)
    net = torch.nn.Sequential(
        torch.nn.Linear(N_INPUTS, WIDTH),
        torch.nn.SiLU(),
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.SiLU(),
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.SiLU(),
        torch.nn.Linear(WIDTH, 6),
    )
    points = points_of(data, train_shapes)
    if steps is not None:
        epochs = max(1, round(steps / steps_per_epoch(len(points))))
    inputs = station_inputs(data, points)
    targets, converged = data.targets[points], data.converged[points]
    opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(points), generator=gen)
        for i in range(0, len(order), BATCH_POINTS):
            idx = order[i : i + BATCH_POINTS]
            out, t, c = net(inputs[idx]), targets[idx], converged[idx]
            ok = c[:, None] & torch.isfinite(t)
            err = out[:, :5] - (torch.where(ok, t, mean) - mean) / std
            bce = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 5], c.float())
            loss = regression_loss(err[ok], huber_delta) + CONV_WEIGHT * bce
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()

    def predict(x: torch.Tensor):
        with torch.no_grad():
            out = net(x)
        return out[:, :5] * std + mean, out[:, 5]

    return predict


def model_huber_delta(info: dict) -> float:
    """The Huber delta a phenograd checkpoint (load_checkpoint's info) was trained with; 0: squared error.
    The baseline trains with it so that the two rows differ by the model, not the loss."""
    return float(info["meta"].get("config", {}).get("huber_delta", 0.0))


def loss_name(huber_delta: float) -> str:
    return f"Huber delta {huber_delta:g}" if huber_delta else "squared error"


def station_mlp_predictions(
    data,
    train_shapes: np.ndarray,
    points: torch.Tensor,
    members: int,
    epochs: int = 60,
    steps: int | None = None,
    seed0: int = 0,
    huber_delta: float = 0.0,
):
    """Ensemble-mean values (P, 5) and mean convergence probability (P,) at the given point indices
    (members seeded seed0, seed0 + 1, ...)."""
    x = station_inputs(data, points)
    outs = [train_station_mlp(data, train_shapes, seed0 + k, epochs, steps, huber_delta)(x) for k in range(members)]
    values = torch.stack([o[0] for o in outs]).mean(0)
    prob = torch.stack([torch.sigmoid(o[1]) for o in outs]).mean(0)
    return values.numpy(), prob.numpy()


def main(argv=None) -> int:
    from benchmarks.airfoil_points import metrics, test_points
    from benchmarks.report import machine, publish, today
    from phenograd.surrogate.airfoil_data import load_airfoil_points

    parser = argparse.ArgumentParser(description="Station-MLP data scaling on the held-out real airfoils")
    parser.add_argument("--data", default="data/airfoil_v1.db")
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.125, 0.25, 0.5, 1.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = today()
    data = load_airfoil_points(args.data)
    train = data.shapes_in("train")
    test = np.sort(data.shapes_in("test"))
    sel, keep, *_ = test_points(data, test)
    points = torch.nonzero(sel).flatten()[torch.as_tensor(keep)]
    targets, converged = data.targets[points].numpy(), data.converged[points].numpy()
    full_steps = 60 * steps_per_epoch(len(points_of(data, train)))
    rows = []
    for fraction in args.fractions:
        maes = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            shapes = np.sort(np.random.default_rng(seed).permutation(train)[: max(1, round(fraction * len(train)))])
            values, prob = station_mlp_predictions(data, shapes, points, 1, steps=full_steps, seed0=seed)
            maes.append(metrics(values[:, 0], values[:, 1], values[:, 2], prob, targets, converged))
            print(
                f"{fraction:g} seed {seed}: {len(shapes)} shapes, CL {maes[-1]['CL']:.4f} "
                f"({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        rows.append(
            (
                fraction,
                len(shapes),
                {k: (np.mean([m[k] for m in maes]), np.std([m[k] for m in maes])) for k in ("CL", "lnCD", "CM")},
            )
        )
    f = np.log([r[1] for r in rows])
    lines = [
        f"Command: `python -m benchmarks.station_mlp --data {args.data} --fractions "
        f"{' '.join(f'{x:g}' for x in args.fractions)} --seeds {' '.join(map(str, args.seeds))}`  ",
        f"Date: {started}  ",
        f"Machine: {machine()}  ",
        f"One station-MLP member (benchmarks/station_mlp.py) per cell, trained on a seeded subset of the "
        f"{len(train)} training shapes of `{args.data}` (data hash {data.data_hash}) with the same {full_steps} "
        f"optimizer steps at every size; scored on "
        f"the {int(converged.sum())} XFOIL-converged held-out points (458 real airfoils, Re 1e5-1e7, alpha -5..15). "
        f"Mean ± std over seeds {args.seeds}.",
        "",
        "| training shapes | CL MAE | ln CD MAE | CM MAE |",
        "|---|---|---|---|",
    ]
    for fraction, n, m in rows:
        lines.append(
            f"| {n} ({100 * fraction:g} %) | "
            + " | ".join(
                f"{m[k][0]:.4f} ± {m[k][1]:.4f}" if k != "CM" else f"{m[k][0]:.5f} ± {m[k][1]:.5f}"
                for k in ("CL", "lnCD", "CM")
            )
            + " |"
        )
    if len(rows) > 1:
        lines.append("")
        fits = []
        for k, target in (("CL", 0.025), ("lnCD", 0.06), ("CM", 0.005)):
            slope, icpt = np.polyfit(f, np.log([r[2][k][0] for r in rows]), 1)
            need = np.exp((np.log(target) - icpt) / slope) if slope < 0 else float("inf")
            fits.append(f"{k} ∝ N^{slope:.2f} (target {target:g} at about {need:,.0f} shapes)")
        lines.append(
            "Power-law fit over these sizes, MAE against training shapes N: "
            + "; ".join(fits)
            + ". An extrapolation, for planning data generation, not a measurement."
        )
    publish("Airfoil data scaling (station MLP)", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
