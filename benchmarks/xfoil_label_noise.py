"""XFOIL's label noise between protocols (issue 31): how far the release's labels move when only the protocol does.

    .venv/bin/python -m benchmarks.xfoil_label_noise [--data data/airfoil_v1.db] [--shapes 30] [--cold-shapes 6]
        [--seed 0] [--workers 1] [--no-write]

The release labels every polar with one protocol (simulators/xfoil.py): 160 panel nodes after XFOIL's
curvature-based repanelling, Ncrit 9, 100 Newton iterations per angle, and the angles >= 0 swept upward from 0
with each point started from its neighbour's solution, then the boundary layer re-initialised and the angles < 0
swept downward. Another user of XFOIL may choose other panels or solve every angle cold; the converged answer
then moves, and that movement is noise a surrogate cannot learn away. On a seeded sample of the held-out real
airfoils (the release's test split: the shapes, Reynolds numbers and angles stored there) this reruns XFOIL with

* the release's protocol (the labels must come back: XFOIL is deterministic here),
* 240 and 279 panel nodes instead of 160 (panelling; 279 is AeroSandbox's XFoil default, the tooling around
  NeuralFoil),
* every angle in its own XFOIL process, cold (no continuation from a neighbouring angle: hysteresis), on the
  first --cold-shapes shapes of the sample only (an angle that does not converge cold costs its full iterations),

and reports, against the stored labels over points converged in both, the MAE and 95th percentile of |dCL|,
|d ln CD| and |dCM|, and the share of points that converge in only one of the two. The shipped surrogate's
MAE on the same converged points is computed in the same run, so noise and model error sit side by side.
Writes the section "XFOIL label noise between protocols" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from functools import partial

import numpy as np

from benchmarks.report import machine, publish, today
from phenograd.datasets.polar_store import PolarStore
from phenograd.simulators.parallel import run_unordered
from phenograd.simulators.xfoil import XfoilSettings, run_polar

#: (name, how the protocol differs from the release's)
VARIANTS = (
    ("release protocol, rerun", "same settings and sweep (reproducibility)"),
    ("240 panel nodes", "PANE 240 instead of 160"),
    ("279 panel nodes", "PANE 279 instead of 160: AeroSandbox's XFoil default"),
    ("cold start per angle", "each angle its own XFOIL process: no continuation from the neighbouring angle"),
)
RE_BANDS = ((0.0, 5e5, "Re < 5e5"), (5e5, 2e6, "5e5 <= Re < 2e6"), (2e6, np.inf, "Re >= 2e6"))


def sample_polars(path: str, n_shapes: int, seed: int) -> list[dict]:
    """The stored polars of n_shapes held-out shapes drawn with the seed: coordinates, settings, stored points."""
    with PolarStore.open_readonly(path) as store:
        shape_ids = [r[0] for r in store.conn.execute("SELECT shape_id FROM shapes WHERE split='test' ORDER BY 1")]
        rng = np.random.default_rng(seed)
        chosen = sorted(rng.choice(shape_ids, size=min(n_shapes, len(shape_ids)), replace=False).tolist())
        polars = []
        for sid in chosen:
            coords = store.shape(sid).coordinates
            for key, re, mach, ncrit, panels, iters, alphas in store.conn.execute(
                "SELECT key, reynolds, mach, ncrit, n_panels, max_iter, alphas FROM polars WHERE shape_id=? "
                "ORDER BY reynolds",
                (sid,),
            ):
                points = store.conn.execute(
                    "SELECT alpha, converged, CL, CD, CM FROM points WHERE key=? ORDER BY alpha", (key,)
                ).fetchall()
                polars.append(
                    {
                        "shape_id": sid,
                        "coords": coords,
                        "settings": XfoilSettings(
                            reynolds=re, mach=mach, ncrit=ncrit, n_panels=int(panels), max_iter=int(iters)
                        ),
                        "alphas": [float(a) for a in json.loads(alphas)],
                        "stored": {round(a, 4): (bool(c), cl, cd, cm) for a, c, cl, cd, cm in points},
                    }
                )
    return polars


def rerun(polar: dict, variant: str) -> dict:
    """{alpha: (converged, CL, CD, CM)} of one polar under one protocol variant."""
    settings = polar["settings"]
    if variant.endswith("panel nodes"):
        settings = replace(settings, n_panels=int(variant.split()[0]))
    if variant.startswith("cold"):
        points = [p for a in polar["alphas"] for p in run_polar(polar["coords"], [a], settings).points]
    else:
        points = run_polar(polar["coords"], polar["alphas"], settings).points
    return {round(p.alpha, 4): (p.converged, p.CL, p.CD, p.CM) for p in points}


def _diffs(polars: list[dict], results: list[dict]) -> dict:
    """Rerun minus stored CL, ln CD, CM over points converged in both (with their Reynolds numbers) and the
    convergence flips."""
    d, res, flips, total = [], [], 0, 0
    for polar, got in zip(polars, results):
        for alpha, (c0, cl0, cd0, cm0) in polar["stored"].items():
            c1, cl1, cd1, cm1 = got.get(alpha, (False, None, None, None))
            total += 1
            flips += c0 != c1
            if c0 and c1:
                d.append([cl1 - cl0, np.log(cd1) - np.log(cd0), cm1 - cm0])
                res.append(polar["settings"].reynolds)
    return {"d": np.array(d).reshape(-1, 3), "re": np.array(res), "flips": flips, "total": total}


def _model_errors(polars: list[dict]) -> dict:
    """The shipped surrogate's error (predicted minus stored) of CL, ln CD, CM at every XFOIL-converged point."""
    import torch

    from phenograd.surrogate.predict import load_surrogate

    model = load_surrogate(domain="airfoil")
    d, res = [], []
    with torch.no_grad():
        for polar in polars:
            alphas = sorted(a for a, v in polar["stored"].items() if v[0])
            if not alphas:
                continue
            out = model.predict_airfoil(
                torch.as_tensor(polar["coords"]), torch.tensor(alphas), float(polar["settings"].reynolds)
            )
            for j, a in enumerate(alphas):
                _, cl, cd, cm = polar["stored"][a]
                d.append(
                    [
                        float(out["CL"][0, j]) - cl,
                        float(torch.log(out["CD"][0, j])) - np.log(cd),
                        float(out["CM"][0, j]) - cm,
                    ]
                )
                res.append(polar["settings"].reynolds)
    return {"d": np.array(d).reshape(-1, 3), "re": np.array(res), "flips": None, "total": len(d)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/airfoil_v1.db")
    parser.add_argument("--shapes", type=int, default=30, help="held-out shapes sampled (default 30)")
    parser.add_argument(
        "--cold-shapes", type=int, default=6, help="shapes of the sample rerun cold, angle by angle (default 6)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="XFOIL processes at once (default 1)")
    parser.add_argument(
        "--variant",
        action="append",
        choices=[v for v, _ in VARIANTS],
        help="run only these protocols (repeatable; default all); a partial run is printed, not written",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    if args.shapes < 1 or args.cold_shapes < 1:
        parser.error("--shapes and --cold-shapes must be at least 1")

    polars = sample_polars(args.data, args.shapes, args.seed)
    n_points = sum(len(p["stored"]) for p in polars)
    stats, seconds = {}, {}
    cold_ids = sorted({p["shape_id"] for p in polars})[: args.cold_shapes]
    variants = [(v, how) for v, how in VARIANTS if not args.variant or v in args.variant]
    for variant, _ in variants:
        subset = [p for p in polars if not variant.startswith("cold") or p["shape_id"] in cold_ids]
        t0 = time.perf_counter()
        results = [None] * len(subset)
        for i, got in run_unordered(partial(rerun, variant=variant), subset, workers=args.workers):
            results[i] = got
        seconds[variant] = time.perf_counter() - t0
        stats[variant] = _diffs(subset, results)
        print(f"{variant}: {seconds[variant]:.0f} s", flush=True)
    model = _model_errors(polars)

    lines = [
        f"Command: `python -m benchmarks.xfoil_label_noise --data {args.data} --shapes {args.shapes} "
        f"--cold-shapes {args.cold_shapes} --seed {args.seed} --workers {args.workers}`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}  ",
        f"Sample: {len({p['shape_id'] for p in polars})} held-out real airfoils drawn with seed {args.seed} from the "
        f"release's test split, {len(polars)} stored polars, {n_points} points (their Reynolds numbers and angles); "
        "XFOIL 6.99 through simulators/xfoil.py. Each row compares a rerun under the named protocol with the stored "
        "labels, over the points converged in both (the cold-start row on the first "
        f"{len(cold_ids)} shapes only); the last row is the shipped surrogate's error on the stored XFOIL-converged "
        "points.",
        "",
        "| protocol against the release's labels | points compared | converged in only one | CL MAE / p95 / mean "
        "signed | ln CD MAE / p95 / mean signed | CM MAE / p95 / mean signed | XFOIL s |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(name, s, secs):
        d = s["d"]
        if len(d) == 0:
            return f"| {name} | 0 | - | - | - | - | - |"
        mae, p95, bias = np.abs(d).mean(0), np.percentile(np.abs(d), 95, axis=0), d.mean(0)
        flips = "-" if s["flips"] is None else f"{s['flips']} of {s['total']} ({100 * s['flips'] / s['total']:.1f} %)"
        return (
            f"| {name} | {len(d)} | {flips} | {mae[0]:.4f} / {p95[0]:.4f} / {bias[0]:+.4f} | "
            f"{mae[1]:.4f} / {p95[1]:.4f} / {bias[1]:+.4f} | {mae[2]:.5f} / {p95[2]:.5f} / {bias[2]:+.5f} | {secs} |"
        )

    for variant, how in variants:
        lines.append(row(f"{variant} ({how})", stats[variant], f"{seconds[variant]:.0f}"))
    lines.append(row("shipped surrogate (its prediction error, for scale)", model, "-"))
    lines += ["", "CL MAE by Reynolds band (points converged in both):", ""]
    lines += ["| protocol | " + " | ".join(b[2] for b in RE_BANDS) + " |", "|---|" + "---|" * len(RE_BANDS)]
    for name, s in [(v, stats[v]) for v, _ in variants] + [("shipped surrogate", model)]:
        cells = []
        for lo, hi, _ in RE_BANDS:
            sel = (s["re"] >= lo) & (s["re"] < hi)
            cells.append(f"{np.abs(s['d'][sel, 0]).mean():.4f} ({sel.sum()})" if sel.any() else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write = not args.no_write and len(variants) == len(VARIANTS)
    publish("XFOIL label noise between protocols", "\n".join(lines) + "\n", write=write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
