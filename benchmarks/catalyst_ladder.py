"""The catalyst fidelity ladder on held-out DFT rows (issue 34): surrogates and the potential against DFT.

    .venv/bin/python -m benchmarks.catalyst_ladder --arm "v2 surrogate as is=runs/v2.pt" \
        --arm "DFT only=runs/dft_only.pt" --arm "v2 fine-tuned on DFT=runs/dft_ft.pt" \
        [--dft data/catalyst_dft_v1.db] [--no-write]

The DFT label set (data/catalyst_dft_v1.md) holds, for every system, the DFT single point's E_ads at the geometry
CHGNet relaxed and CHGNet's own E_ads of that geometry. Its `test` rows (whole slabs, 25 % by hash) are never
trained on. On them this scores, side by side:

* CHGNet itself (the potential a user would otherwise run),
* CHGNet plus a per-adsorbate offset fitted on the DFT `train` rows (the cheapest multi-fidelity correction),
* the per-adsorbate mean of the DFT `train` rows (knows the adsorbate, nothing of the surface),
* each --arm: a catalyst surrogate checkpoint, predicting from the stored (CHGNet-relaxed) adslab.

Metrics: MAE (eV) and Spearman's rank correlation against DFT. The arms are trained by `phenograd train`
(commands in BENCHMARKS.md). Writes the section "Catalyst fidelity ladder (held-out DFT rows)" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from ase.db import connect
from scipy.stats import spearmanr

from benchmarks.report import machine, publish, today


def _metrics(true: np.ndarray, pred: np.ndarray) -> tuple[int, float, float]:
    """(rows covered, MAE, Spearman) over the rows with a prediction (not NaN)."""
    ok = np.isfinite(pred)
    return int(ok.sum()), float(np.mean(np.abs(pred[ok] - true[ok]))), float(spearmanr(true[ok], pred[ok])[0])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dft", default="data/catalyst_dft_v1.db")
    parser.add_argument("--arm", action="append", default=[], help="NAME=MODEL.pt (a catalyst checkpoint)")
    parser.add_argument("--command", action="append", default=[], help="how an arm was trained (for the report)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    arms = []
    for arm in args.arm:
        name, _, path = arm.partition("=")
        if not name or not path:
            parser.error(f"--arm {arm!r}: use NAME=MODEL.pt")
        arms.append((name, path))

    rows = list(connect(args.dft).select(kind="adslab", status="ok"))
    train = [r for r in rows if r.split == "train"]
    test = [r for r in rows if r.split == "test"]
    if len(test) < 2 or not train:
        raise SystemExit(f"{args.dft}: too few DFT rows ({len(train)} train, {len(test)} test)")
    true = np.array([r.e_ads for r in test])
    chgnet = np.array([r.e_ads_potential for r in test])
    offset = {
        ads: float(np.mean([r.e_ads - r.e_ads_potential for r in train if r.adsorbate == ads]))
        for ads in {r.adsorbate for r in train}
    }
    all_offset = float(np.mean([r.e_ads - r.e_ads_potential for r in train]))
    mean_of = {ads: float(np.mean([r.e_ads for r in train if r.adsorbate == ads])) for ads in offset}
    all_mean = float(np.mean([r.e_ads for r in train]))
    table = [
        ("CHGNet (the potential itself)", chgnet),
        (
            "CHGNet + per-adsorbate offset (DFT train rows)",
            np.array([r.e_ads_potential + offset.get(r.adsorbate, all_offset) for r in test]),
        ),
        ("per-adsorbate mean of DFT train rows", np.array([mean_of.get(r.adsorbate, all_mean) for r in test])),
    ]
    from phenograd.core.errors import InputError
    from phenograd.surrogate.predict import load_surrogate

    for name, path in arms:
        model = load_surrogate(path, "catalyst")
        pred = []
        for r in test:
            try:
                pred.append(float(model.predict_adsorption([r.toatoms()])["E_ads"][0]))
            except InputError:  # an element outside the model's vocabulary: the row is not covered
                pred.append(np.nan)
        table.append((f"{name} (`{path}`)", np.array(pred)))

    lines = [
        f"Command: `python -m benchmarks.catalyst_ladder --dft {args.dft} "
        + " ".join(f'--arm "{a}"' for a in args.arm)
        + "`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}  ",
        f"Data: `{args.dft}`: {len(rows)} DFT adsorption energies, {len(train)} train rows, {len(test)} held-out test "
        f"rows on {len({r.slab_key for r in test})} slabs (adsorbates: "
        + ", ".join(f"{a} {sum(r.adsorbate == a for r in test)}" for a in sorted({r.adsorbate for r in test}))
        + ").  ",
    ]
    lines += [f"Arm training: {c}  " for c in args.command]
    lines += [
        "",
        "| model (on the held-out DFT rows) | rows covered | MAE vs DFT (eV) | Spearman vs DFT |",
        "|---|---|---|---|",
    ]
    for name, pred in table:
        n, mae, rho = _metrics(true, pred)
        lines.append(f"| {name} | {n} | {mae:.2f} | {rho:+.2f} |")
    publish("Catalyst fidelity ladder (held-out DFT rows)", "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
