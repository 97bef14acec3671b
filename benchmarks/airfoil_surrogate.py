"""Airfoil surrogate benchmark: accuracy on held-out real airfoils and throughput, beside NeuralFoil and XFOIL.

    .venv/bin/python -m benchmarks.airfoil_surrogate [--model MODEL.pt] [--data data/airfoil_v1.db]
        [--compare LABEL=MODEL.pt ...]

Accuracy: every point of the dataset's "test" shapes (real UIUC airfoils that no
model of phenograd trains on) with Re 1e5..1e7 and alpha -5..15 deg. MAE of CL,
ln CD and CM over the points where XFOIL converged; ROC AUC of the convergence
prediction over all points (phenograd: the ensemble's mean probability;
NeuralFoil: its analysis_confidence); for each phenograd model also the
calibration of its ensemble std (scaled by the checkpoint's std_scale): the
fraction of converged points whose error lies inside 1 and 2 predicted std.
--compare adds accuracy rows for other phenograd checkpoints in the same run
(e.g. a model trained from scratch beside one fine-tuned from a pretrained encoder). NeuralFoil (pip `neuralfoil`, a
benchmark-only dependency) sees the same contours through
`get_aero_from_coordinates`, sizes large, xlarge and xxxlarge. A physics row: the
inviscid Hess-Smith panel method on the same contours (CL and CM only; simulators/panel.py).

Throughput (median of 5 repeats at batch 1, 3 at batch 1024, after a warm-up):
predictions per second at batch 1 (one shape, one angle) and batch 1024 (64
shapes x 16 angles, a multi-point design batch), with and
without gradients for phenograd (NeuralFoil is NumPy: no gradients), every phenograd
model (--model and --compare) as loaded and through torch.compile, all on one thread
(torch and NumPy's BLAS), and XFOIL points per second from a few real polars run
serially in the same process.
Writes the section "Airfoil surrogate" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from benchmarks.airfoil_points import metrics, test_points
from benchmarks.airfoil_throughput import neuralfoil_case, phenograd_cases
from benchmarks.report import labelled_path, machine, one_thread, publish, today
from phenograd.datasets.polar_store import PolarStore
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.evaluate import calibration, predict_airfoil_points
from phenograd.surrogate.model import load_checkpoint, shipped_model_path
from phenograd.surrogate.predict import native_bfloat16

NEURALFOIL_SIZES = ("large", "xlarge", "xxxlarge")


def phenograd_rows(
    model_path, data, shapes, keep, targets, converged, precision: str = "float32"
) -> tuple[dict, dict, dict]:
    """Accuracy metrics, calibration {target: (inside 1 std, inside 2 std)} and checkpoint info of one model;
    precision: the fast path's (AirfoilSurrogate)."""
    ensemble, info = load_checkpoint(model_path, "airfoil")
    values, logits, _ = predict_airfoil_points(ensemble, data, shapes, precision=precision)
    values = values[:, keep]
    mean = values.mean(0).numpy()
    std = values.std(0).numpy() if values.shape[0] > 1 else np.zeros_like(mean)
    row = metrics(mean[:, 0], mean[:, 1], mean[:, 2], torch.sigmoid(logits).mean(0).numpy()[keep], targets, converged)
    scales = info["meta"].get("std_scale", {})
    bands = {}
    for k, name in enumerate(("CL", "lnCD", "CM")):
        ok = converged & np.isfinite(targets[:, k])
        c = calibration(mean[ok, k] - targets[ok, k], std[ok, k] * scales.get(name, 1.0))
        bands[name] = (c["within_1sigma"], c["within_2sigma"])
    info["members"] = len(ensemble.members)
    return row, bands, info


def inviscid_row(data, shapes, point_shape, alpha, targets, converged) -> dict:
    """CL and CM MAE of the Hess-Smith inviscid panel method on the graphs' contours (simulators/panel.py): the
    classical answer without a boundary layer, so what the surrogates add over potential flow shows."""
    from phenograd.simulators.panel import inviscid_coefficients, inviscid_polar

    coefficients = inviscid_coefficients(torch.stack([data.graphs[s].pos[:, :2] for s in shapes]).double())
    local = np.searchsorted(shapes, point_shape)
    cl, cm = inviscid_polar(coefficients[torch.as_tensor(local)], torch.as_tensor(alpha, dtype=torch.float64))
    ok = converged & np.all(np.isfinite(targets[:, :3]), axis=1)
    return {
        "CL": float(np.mean(np.abs(cl.numpy()[ok] - targets[ok, 0]))),
        "lnCD": float("nan"),
        "CM": float(np.mean(np.abs(cm.numpy()[ok] - targets[ok, 2]))),
        "AUC": float("nan"),
    }


def neuralfoil_predictions(store_path, data, shapes, keep_alpha, keep_re, keep_ncrit, point_shape, size):
    import neuralfoil as nf

    out = {k: np.empty(len(point_shape)) for k in ("CL", "CD", "CM", "conf")}
    with PolarStore.open_readonly(store_path) as store:
        for s in shapes:
            idx = np.nonzero(point_shape == s)[0]
            if not len(idx):
                continue
            coords = store.shape(data.shape_ids[s]).coordinates
            r = nf.get_aero_from_coordinates(
                coords, alpha=keep_alpha[idx], Re=keep_re[idx], n_crit=keep_ncrit[idx], model_size=size
            )
            for k, key in (("CL", "CL"), ("CD", "CD"), ("CM", "CM"), ("conf", "analysis_confidence")):
                out[k][idx] = np.asarray(r[key], float)
    return out


def median_rate(fn, n_predictions: int, repeats: int = 5) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n_predictions / statistics.median(times)


def throughput(models: dict[str, str]) -> tuple[dict, list[str]]:
    """Predictions per second: batch 1 = one shape at one angle; batch 1024 = 64 shapes x 16 angles
    (a multi-point design batch: phenograd encodes each shape once for all its angles). Every phenograd model
    three times: its default fast path, the same through torch.compile (`compile=True`; the warm-up call
    compiles) and compiled with bfloat16 products (`precision="bfloat16"`; without gradients only: with them it is
    the float32 pass). Returns the rates keyed (name, batch, gradients) and the phenograd row names in order."""
    from phenograd.datasets.airfoil_sampling import training_cst
    from phenograd.surrogate.predict import AirfoilSurrogate, load_surrogate

    variants = {}
    for name, path in models.items():
        loaded = load_surrogate(path, domain="airfoil")
        variants[name] = loaded
        variants[f"{name}, compiled"] = AirfoilSurrogate(loaded.ensemble, loaded.info, compile=True)
        variants[f"{name}, compiled, bfloat16 products"] = AirfoilSurrogate(
            loaded.ensemble, loaded.info, compile=True, precision="bfloat16"
        )
    cst = torch.as_tensor(training_cst().params[:64], dtype=torch.float32)
    rates = {}
    for batch, n_shapes, alphas in ((1, 1, [4.0]), (1024, 64, list(np.linspace(-4.0, 11.0, 16)))):
        params = cst[:n_shapes]
        repeats = 5 if batch == 1 else 3
        for name, model in variants.items():
            for grad in (False, True) if model.precision == "float32" else (False,):
                rates[(name, batch, grad)] = median_rate(phenograd_cases(model, params, alphas, grad), batch, repeats)
        for size in NEURALFOIL_SIZES:
            rates[(f"NeuralFoil {size}", batch, False)] = median_rate(
                neuralfoil_case(params, alphas, size), batch, repeats
            )
    return rates, list(variants)


def xfoil_rate(store_path, data, shapes, n_polars: int = 4) -> float:
    from phenograd.simulators.xfoil import XfoilSettings, run_polar

    alphas = [float(a) for a in range(-5, 16)]
    points, t0 = 0, time.perf_counter()
    with PolarStore.open_readonly(store_path) as store:
        for s in shapes[:n_polars]:
            r = run_polar(store.shape(data.shape_ids[s]).coordinates, alphas, XfoilSettings(reynolds=1e6))
            points += len(r.points)
    return points / (time.perf_counter() - t0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="airfoil checkpoint (default: the shipped model)")
    parser.add_argument("--data", default="data/airfoil_v1.db", help="polar dataset with the test split")
    parser.add_argument("--shapes", type=int, default=None, help="only the first N test shapes (a quick check)")
    parser.add_argument(
        "--compare",
        nargs="*",
        default=[],
        metavar="LABEL=MODEL.pt",
        help="further phenograd checkpoints whose accuracy is measured in the same run",
    )
    parser.add_argument(
        "--mlp-members",
        type=int,
        default=0,
        help="also train this many members of the graph-free station-MLP baseline here "
        "(benchmarks/station_mlp.py; about 2 min each on one core), with the --model's loss "
        "(squared error or its Huber delta)",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    threads = one_thread()
    compare = {}
    for item in args.compare:
        label, path = labelled_path(item, parser)
        compare[f"phenograd ({label})"] = path
    model_path = args.model or shipped_model_path("airfoil")
    models = {"phenograd": model_path, **compare}
    command = (
        "python -m benchmarks.airfoil_surrogate"
        + "".join(
            f" {k} {v}"
            for k, v in (
                ("--model", args.model),
                ("--data", args.data),
                ("--shapes", args.shapes),
                ("--mlp-members", args.mlp_members),
            )
            if v
        )
        + (" --compare " + " ".join(args.compare) if args.compare else "")
    )
    started = today()
    data = load_airfoil_points(args.data)
    shapes = np.sort(data.shapes_in("test"))[: args.shapes]
    sel, keep, alpha, re, ncrit = test_points(data, shapes)
    targets = data.targets[sel].numpy()[keep]
    converged = data.converged[sel].numpy()[keep]
    point_shape = data.point_shape[sel].numpy()[keep]
    rows, bands, infos = {}, {}, {}
    for name, path in models.items():
        rows[name], bands[name], infos[name] = phenograd_rows(path, data, shapes, keep, targets, converged)
        rows[f"{name}, bfloat16 products"], _, _ = phenograd_rows(
            path, data, shapes, keep, targets, converged, precision="bfloat16"
        )
    for size in NEURALFOIL_SIZES:
        nfp = neuralfoil_predictions(args.data, data, shapes, alpha[keep], re[keep], ncrit[keep], point_shape, size)
        rows[f"NeuralFoil {size}"] = metrics(nfp["CL"], np.log(nfp["CD"]), nfp["CM"], nfp["conf"], targets, converged)
    rows["inviscid panel method (no boundary layer)"] = inviscid_row(
        data, shapes, point_shape, alpha[keep], targets, converged
    )
    if args.mlp_members:
        from benchmarks.station_mlp import loss_name, model_huber_delta, station_mlp_predictions

        points = torch.nonzero(sel).flatten()[torch.as_tensor(keep)]
        delta = model_huber_delta(infos["phenograd"])
        values, prob = station_mlp_predictions(
            data, data.shapes_in("train"), points, args.mlp_members, huber_delta=delta
        )
        rows[f"station MLP (no graph, trained here, {loss_name(delta)})"] = metrics(
            values[:, 0], values[:, 1], values[:, 2], prob, targets, converged
        )
    rates, phenograd_names = throughput(models)
    xfoil_pts = xfoil_rate(args.data, data, shapes)

    n_shapes = len(np.unique(point_shape))
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}  ",
        f"Machine: {machine()}; {threads}.  ",
        *(
            f"Model{'' if name == 'phenograd' else ' ' + name}: `{path}` ({infos[name]['members']} members, trained on "
            f"data hash {infos[name]['data_hash']}, {infos[name]['meta'].get('train_shapes', '?')} training shapes"
            f"{', fine-tuned from a pretrained encoder' if infos[name]['meta'].get('pretrained_encoder') else ''})."
            for name, path in models.items()
        ),
        f"Data: `{args.data}` (data hash {data.data_hash}; the station MLP trains on its training split).",
        "",
        f"Held-out real airfoils: {n_shapes} shapes, {int(keep.sum())} points with Re 1e5-1e7 and alpha -5..15 deg, "
        f"{int(converged.sum())} XFOIL-converged. Acceptance (issue 4): CL MAE <= 0.025, ln CD MAE <= 0.06, "
        "CM MAE <= 0.005.",
        "",
        "| model | CL MAE | ln CD MAE | CM MAE | convergence ROC AUC |",
        "|---|---|---|---|---|",
    ]
    cell = lambda v, digits: f"{v:.{digits}f}" if np.isfinite(v) else "-"  # noqa: E731
    for name, r in rows.items():
        lines.append(
            f"| {name} | {cell(r['CL'], 4)} | {cell(r['lnCD'], 4)} | {cell(r['CM'], 5)} | {cell(r['AUC'], 3)} |"
        )
    lines += [
        "",
        "Calibration of the phenograd ensembles' std (fraction of converged points inside 1 / 2 calibrated "
        "std; a Gaussian gives 0.683 / 0.954):",
        "",
        "| model | CL | ln CD | CM |",
        "|---|---|---|---|",
    ]
    for name, cal in bands.items():
        lines.append(f"| {name} | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in cal.values()) + " |")
    lines += [
        "",
        "Throughput, predictions per second (batch 1 = one shape, one angle, median of 5; batch 1024 = "
        "64 shapes x 16 angles, median of 3; phenograd's fast path as loaded, through torch.compile, and compiled "
        'with the encoder\'s products in bfloat16 (`precision="bfloat16"`, no gradients: calls that record them '
        "run the float32 pass); "
        f"this CPU {'has' if native_bfloat16() else 'lacks'} native bfloat16):",
        "",
        "| model | batch 1 | batch 1 with gradients | batch 1024 | batch 1024 with gradients |",
        "|---|---|---|---|---|",
    ]
    for name in [*phenograd_names, *(f"NeuralFoil {s}" for s in NEURALFOIL_SIZES)]:
        cells = []
        for batch in (1, 1024):
            for grad in (False, True):
                rate = rates.get((name, batch, grad))
                missing = "n/a (NumPy)" if name.startswith("NeuralFoil") else "float32 pass"
                cells.append(missing if rate is None else f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(f"| XFOIL (serial, 21-angle polars at Re 1e6) | {xfoil_pts:.1f} points/s | | | |")
    publish("Airfoil surrogate", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
