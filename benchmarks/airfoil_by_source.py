"""Where the airfoil surrogate's error sits by kind of shape: validation MAE per shape source.

    .venv/bin/python -m benchmarks.airfoil_by_source [--model MODEL.pt] [--data data/airfoil_v1.db]
        [--mlp-members 3] [--no-write]

The validation split (1/16 of the non-held-out shapes, fixed by content hash) mixes the
sources of the data release: real airfoils ("uiuc"), Sobol-sampled CST shapes ("sobol") and
blends of two real airfoils ("mix"). This scores the phenograd model and the graph-free station
MLP (benchmarks/station_mlp.py, trained here on the training split) on each source's
XFOIL-converged validation points, side by side in one run. Why: on the held-out real
airfoils the MLP beats the graph model on CL and CM, while on the whole validation split
the two are level; the split by source says which shapes each model handles better.
Writes the section "Airfoil surrogate by shape source" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from benchmarks.report import machine, publish, today
from benchmarks.station_mlp import loss_name, model_huber_delta, station_mlp_predictions
from phenograd.datasets.polar_store import PolarStore
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.evaluate import predict_airfoil_points
from phenograd.surrogate.model import load_checkpoint, shipped_model_path

TARGETS = ("CL", "lnCD", "CM")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="airfoil checkpoint (default: the shipped model)")
    parser.add_argument("--data", default="data/airfoil_v1.db")
    parser.add_argument("--mlp-members", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = today()
    model_path = args.model or shipped_model_path("airfoil")
    data = load_airfoil_points(args.data)
    with PolarStore.open_readonly(args.data) as store:
        source = np.array([store.shape(sid).source for sid in data.shape_ids])
    train, val = data.shapes_in("train"), np.sort(data.shapes_in("val"))
    ensemble, info = load_checkpoint(model_path, "airfoil")
    delta = model_huber_delta(info)
    values, _, mask = predict_airfoil_points(ensemble, data, val)
    points = torch.nonzero(mask).flatten()
    preds = {
        "phenograd": values.mean(0).numpy(),
        f"station MLP ({args.mlp_members} members)": station_mlp_predictions(
            data, train, points, args.mlp_members, huber_delta=delta
        )[0],
    }
    targets, converged = data.targets[points].numpy(), data.converged[points].numpy()
    point_source = source[data.point_shape[points].numpy()]
    lines = [
        "Command: `python -m benchmarks.airfoil_by_source"
        + "".join(f" {k} {v}" for k, v in (("--model", args.model), ("--data", args.data)) if v)
        + f" --mlp-members {args.mlp_members}`  ",
        f"Date: {started}  ",
        f"Machine: {machine()}  ",
        f"Model: `{model_path}`; data `{args.data}` (data hash {data.data_hash}); the station MLP trains on its "
        f"{len(train)} training shapes with the model's loss ({loss_name(delta)}). MAE over the XFOIL-converged "
        f"points of the {len(val)} validation shapes, by "
        "source (uiuc: real airfoils; sobol: Sobol-sampled CST shapes; mix: blends of two real airfoils).",
        "",
        "| source | shapes | points | "
        + " | ".join(f"{t} {name}" for t in TARGETS for name in ("phenograd", "MLP"))
        + " |",
        "|---|---|---|" + "---|" * (2 * len(TARGETS)),
    ]
    for group in [*sorted(set(point_source)), "all"]:
        sel = converged & ((point_source == group) if group != "all" else True)
        n_shapes = int(np.sum(source[val] == group)) if group != "all" else len(val)
        cells = []
        for k, t in enumerate(TARGETS):
            for p in preds.values():
                mae = float(np.mean(np.abs(p[sel, k] - targets[sel, k])))
                cells.append(f"{mae:.5f}" if t == "CM" else f"{mae:.4f}")
        lines.append(f"| {group} | {n_shapes} | {int(sel.sum())} | " + " | ".join(cells) + " |")
    publish("Airfoil surrogate by shape source", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
