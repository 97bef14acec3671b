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
* each --arm: a catalyst surrogate checkpoint, predicting from the stored (CHGNet-relaxed) adslab, or with
  ``NAME=MODEL.pt@initial`` from the structure that relaxation started from (``initial_adslab``: the task an
  IS2RE surrogate learnt). Fine-tuning sets of initial structures come from ``benchmarks.dft_initial``.

Metrics: MAE (eV) and Spearman's rank correlation against DFT, and each model's MAE minus CHGNet's on the same rows
with a 95 % bootstrap interval that resamples whole slabs. The arms are trained by `phenograd train`
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


def slab_bootstrap(true, pred, reference, slabs, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """MAE(pred) - MAE(reference) over the rows both cover, with a 95 % interval from resampling whole slabs (the
    rows of one slab are not independent). Returns (difference, low, high) in eV."""
    ok = np.isfinite(pred) & np.isfinite(reference)
    err = np.abs(pred - true) - np.abs(reference - true)
    groups = [np.flatnonzero(ok & (slabs == s)) for s in np.unique(slabs[ok])]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n):
        rows = np.concatenate([groups[i] for i in rng.integers(len(groups), size=len(groups))])
        draws.append(err[rows].mean())
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(err[ok].mean()), float(low), float(high)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dft", default="data/catalyst_dft_v1.db")
    parser.add_argument("--arm", action="append", default=[], help="NAME=MODEL.pt (a catalyst checkpoint)")
    parser.add_argument("--command", action="append", default=[], help="how an arm was trained (for the report)")
    parser.add_argument(
        "--plane-waves",
        type=float,
        default=None,
        metavar="ECUT",
        help="score against the plane-wave E_ads of benchmarks.dft_basis at this cutoff (eV), on the test rows it "
        "has computed, instead of the label set's LCAO values; the training rows and offsets stay the label set's",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    arms = []
    for arm in args.arm:
        name, _, path = arm.partition("=")
        path, _, structures = path.partition("@")
        if not name or not path or structures not in ("", "initial"):
            parser.error(f"--arm {arm!r}: use NAME=MODEL.pt or NAME=MODEL.pt@initial")
        arms.append((name, path, structures == "initial"))

    db = connect(args.dft)
    rows = list(db.select(kind="adslab", status="ok"))
    train = [r for r in rows if r.split == "train"]
    test = [r for r in rows if r.split == "test"]
    if len(test) < 2 or not train:
        raise SystemExit(f"{args.dft}: too few DFT rows ({len(train)} train, {len(test)} test)")
    truth = "DFT (the label set: LCAO dzp)"
    if args.plane_waves is not None:
        from benchmarks.dft_basis import cached_plane_wave_labels

        plane_waves = cached_plane_wave_labels(db, args.plane_waves)
        test = [r for r in test if r.id in plane_waves]
        if len(test) < 2:
            raise SystemExit(f"fewer than 2 test rows have plane-wave E_ads at {args.plane_waves:g} eV (dft_basis)")
        truth = f"DFT in plane waves at {args.plane_waves:g} eV (benchmarks.dft_basis), same geometries"
    true = np.array([plane_waves[r.id] if args.plane_waves is not None else r.e_ads for r in test])
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
    from phenograd.datasets.catalyst_dft import initial_adslab
    from phenograd.surrogate.predict import load_surrogate

    initial = [initial_adslab(db, r) for r in test] if any(a[2] for a in arms) else []
    for name, path, from_initial in arms:
        model = load_surrogate(path, "catalyst")
        pred = []
        for k, r in enumerate(test):
            try:
                atoms = initial[k] if from_initial else r.toatoms()
                pred.append(float(model.predict_adsorption([atoms])["E_ads"][0]))
            except InputError:  # an element outside the model's vocabulary: the row is not covered
                pred.append(np.nan)
        reads = "initial structures" if from_initial else "CHGNet-relaxed structures"
        table.append((f"{name} (`{path}`, reads {reads})", np.array(pred)))

    lines = [
        f"Command: `python -m benchmarks.catalyst_ladder --dft {args.dft} "
        + " ".join(f'--arm "{a}"' for a in args.arm)
        + (f" --plane-waves {args.plane_waves:g}" if args.plane_waves is not None else "")
        + "`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}  ",
        f"Truth: {truth}.  ",
        f"Data: `{args.dft}`: {len(rows)} DFT adsorption energies, {len(train)} train rows, {len(test)} held-out test "
        f"rows on {len({r.slab_key for r in test})} slabs (adsorbates: "
        + ", ".join(f"{a} {sum(r.adsorbate == a for r in test)}" for a in sorted({r.adsorbate for r in test}))
        + ").  ",
    ]
    lines += [f"Arm training: {c}  " for c in args.command]
    lines += [
        "",
        "| model (on the held-out DFT rows) | rows covered | MAE vs DFT (eV) | Spearman vs DFT "
        "| MAE - CHGNet's (eV, 95 % interval over slabs) |",
        "|---|---|---|---|---|",
    ]
    slabs = np.array([r.slab_key for r in test])
    for name, pred in table:
        n, mae, rho = _metrics(true, pred)
        diff = "" if pred is chgnet else "{:+.2f} [{:+.2f}, {:+.2f}]".format(*slab_bootstrap(true, pred, chgnet, slabs))
        lines.append(f"| {name} | {n} | {mae:.2f} | {rho:+.2f} | {diff} |")
    title = "Catalyst fidelity ladder (held-out DFT rows)"
    if args.plane_waves is not None:
        title = "Catalyst fidelity ladder against plane-wave DFT"
    publish(title, "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
