"""Multi-fidelity airfoil surrogate: a few RANS cases on top of many XFOIL polars (issue 10).

    .venv/bin/python -m benchmarks.multifidelity [--sizes 25 50 100] [--seeds 0 1 2] [--members 3]

Data (`make rans-data`): RANS cases (OpenFOAM simpleFoam, Spalart-Allmaras, coarse C-grid; one
shape, Re in [1e6, 1e7] and alpha in [-2, 8] each) on real training airfoils, and a test file on
held-out real airfoils. Arms, scored on the converged test cases (MAE of CL, CD, ln CD, CM):

* xfoil-as-is: the shipped surrogate (a 3-member ensemble trained on XFOIL polars only), asked at
  Ncrit 9, the only Ncrit of its training data (its weights on the Ncrit input are untrained, so
  asking at the RANS file's Ncrit 0 would give arbitrary answers);
* rans-only: a fresh surrogate trained on n RANS cases only;
* fine-tuned: the shipped surrogate fine-tuned on the same n cases by `surrogate.fidelity`'s recipe:
  its untrained Ncrit input zeroed (Ncrit 0 marks RANS), then the output biases alone (one offset
  per target: the systematic XFOIL-to-RANS shift), then all layers at a low learning rate, kept only
  where the validation cases improve. The biases-only stage is reported as a row of its own.

The n cases are the first n of a seeded shuffle of the converged training cases (nested subsets);
three members per trained model, like the shipped one (--members N for others), same epochs and patience for
both trained arms. Cells are cached as JSON (resumable); --arms runs one arm, so the two arms can run as separate
processes. Writes the section "Multi-fidelity airfoil surrogate (RANS)" of BENCHMARKS.md ("..., N member(s) per
model" for other member counts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.report import machine, publish, today
from phenograd.core.atomic import atomic_path
from phenograd.datasets.polar_store import PolarStore
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.evaluate import evaluate_airfoil
from phenograd.surrogate.fidelity import BIAS_EPOCHS, BIAS_LR, BIAS_PATIENCE, FINE_TUNE_LR, fine_tune_airfoil
from phenograd.surrogate.heads import conditions
from phenograd.surrogate.model import load_checkpoint
from phenograd.surrogate.train_airfoil import train_airfoil
from phenograd.surrogate.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def converged_keys(path: Path) -> list[str]:
    with PolarStore.open_readonly(path) as store:
        return [
            k
            for (k,) in store.conn.execute(
                "SELECT p.key FROM polars p JOIN points pt ON pt.key = p.key WHERE pt.converged = 1 ORDER BY p.key"
            )
        ]


def rows_digest(path: Path, keys: list[str] | None = None) -> str:
    """Digest of the converged rows (key, alpha, CL, CD, CM) of a RANS file, of `keys` only if given:
    cached cells are keyed by the data they used, so a rerun case or a changed test file recomputes them."""
    with PolarStore.open_readonly(path) as store:
        rows = store.conn.execute("SELECT key, alpha, CL, CD, CM FROM points WHERE converged = 1 ORDER BY key")
        wanted = None if keys is None else set(keys)
        text = "\n".join(repr(tuple(r)) for r in rows if wanted is None or r[0] in wanted)
    return hashlib.sha256(text.encode()).hexdigest()


def subset_file(source: Path, keys: list[str], out: Path) -> Path:
    """A dataset file holding only the polars `keys` of `source` (and their shapes), written once."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.unlink()
        PolarStore.open(tmp).close()  # schema and markers
        conn = sqlite3.connect(tmp)
        conn.execute("ATTACH DATABASE ? AS src", (f"file:{source}?mode=ro",))
        marks = ",".join("?" * len(keys))
        with conn:
            conn.execute(f"INSERT INTO polars SELECT * FROM src.polars WHERE key IN ({marks})", keys)
            conn.execute(f"INSERT INTO points SELECT * FROM src.points WHERE key IN ({marks})", keys)
            conn.execute("INSERT INTO shapes SELECT * FROM src.shapes WHERE shape_id IN (SELECT shape_id FROM polars)")
            conn.execute("INSERT OR REPLACE INTO meta SELECT * FROM src.meta WHERE key = 'solver'")
        conn.execute("DETACH DATABASE src")
        conn.close()
    return out


def scores(model_path: Path | None, ensemble_info, test_data, ncrit: float | None = None) -> dict:
    ensemble, _ = ensemble_info if ensemble_info is not None else load_checkpoint(model_path, "airfoil")
    data = test_data
    if ncrit is not None:  # ask at another Ncrit than the file's
        alpha = data.cond[:, 0] * 10.0
        re = 10.0 ** (data.cond[:, 1] + 6.0)
        data = type(data)(**{**data.__dict__, "cond": conditions(alpha, re, torch.full_like(alpha, ncrit))})
    metrics, parity = evaluate_airfoil(ensemble, data, "test")
    t, p = parity["lnCD"]
    return {
        "CL": metrics["mae"]["CL"],
        "CD": float(np.mean(np.abs(np.exp(p) - np.exp(t)))),
        "lnCD": metrics["mae"]["lnCD"],
        "CM": metrics["mae"]["CM"],
        "n_test": int(len(t)),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=Path, default=ROOT / "data" / "rans_train_v1.db")
    ap.add_argument("--test", type=Path, default=ROOT / "data" / "rans_test_v1.db")
    ap.add_argument("--base", type=Path, default=ROOT / "surrogate" / "models" / "airfoil.pt")
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--patience", type=int, default=25)
    ap.add_argument("--lr-scratch", type=float, default=2e-3)
    ap.add_argument("--lr-finetune", type=float, default=FINE_TUNE_LR, help="stage 2 (all layers) of fine-tuning")
    ap.add_argument("--lr-bias", type=float, default=BIAS_LR, help="stage 1 (output biases) of fine-tuning")
    ap.add_argument("--members", type=int, default=3, help="members per trained model (the shipped model has 3)")
    ap.add_argument("--arms", nargs="+", default=["rans-only", "fine-tuned"], choices=["rans-only", "fine-tuned"])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "results" / "multifidelity")
    ap.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    started, machine_line = today(), machine()
    command = " ".join(["python -m benchmarks.multifidelity", *(argv if argv is not None else sys.argv[1:])])
    cells_dir, cache = args.out_dir / "cells", ROOT / "benchmarks" / ".cache" / "multifidelity"
    cells_dir.mkdir(parents=True, exist_ok=True)
    test_data = load_airfoil_points(args.test)
    base = load_checkpoint(args.base, "airfoil")
    keys = converged_keys(args.train)
    test_digest = rows_digest(args.test)
    print(f"RANS train cases converged: {len(keys)}; test points: {int(test_data.converged.sum())}", flush=True)
    cells = {"xfoil-as-is (3 members, Ncrit 9)": scores(None, base, test_data, ncrit=9.0)}
    rows: dict = {}
    for seed in args.seeds:
        order = [keys[i] for i in np.random.default_rng([seed, 23]).permutation(len(keys))]
        for n in args.sizes:
            if n > len(order):
                print(f"skip n={n}: only {len(order)} converged training cases", flush=True)
                continue
            # digest: of the training cases used (in order, with their values) and of the test file's rows
            digest = hashlib.sha256(
                f"{','.join(order[:n])}:{rows_digest(args.train, order[:n])}:{test_digest}".encode()
            ).hexdigest()[:12]
            subset = subset_file(args.train, order[:n], cache / f"subset_{digest}.db")
            for arm in args.arms:
                tag = "" if args.members == 1 else f"_m{args.members}"
                path = cells_dir / f"{arm}_n{n}_seed{seed}{tag}_{digest}.json"
                if path.exists():
                    cell = json.loads(path.read_text())
                else:
                    cfg = TrainConfig(
                        members=args.members,
                        epochs=args.epochs,
                        patience=args.patience,
                        batch_size=8,
                        seed=seed,
                        lr=args.lr_scratch if arm == "rans-only" else args.lr_finetune,
                    )
                    model = cache / f"{arm}_n{n}_seed{seed}{tag}.pt"
                    t0 = time.perf_counter()
                    cell = {"arm": arm, "n": n, "seed": seed}
                    if arm == "fine-tuned":
                        fine_tune_airfoil(args.base, subset, model, cfg, bias_lr=args.lr_bias)
                        cell["biases_only"] = scores(model.with_name(model.stem + ".bias.pt"), None, test_data)
                    else:
                        train_airfoil(subset, model, cfg, progress=False)
                    cell.update(scores(model, None, test_data), train_s=time.perf_counter() - t0)
                    path.write_text(json.dumps(cell, indent=1))
                rows.setdefault((arm, n), []).append(cell)
                if arm == "fine-tuned":
                    rows.setdefault(("fine-tuned, biases only", n), []).append(cell["biases_only"])
                print(
                    f"{arm:<11} n={n:<4} seed {seed}: CL {cell['CL']:.4f}  CD {cell['CD']:.5f}  CM {cell['CM']:.4f}",
                    flush=True,
                )
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}  ",
        f"Machine: {machine_line}  ",
        f"Data: {args.train.name} ({len(keys)} converged RANS cases), {args.test.name} "
        f"({next(iter(cells.values()))['n_test']} converged held-out cases); RANS = OpenFOAM simpleFoam, "
        f"Spalart-Allmaras, coarse C-grid. Members per trained model: {args.members} (the shipped XFOIL model "
        "has three); "
        f"{args.epochs} epochs at most, patience {args.patience}; learning rate {args.lr_scratch} (rans-only); "
        f"fine-tuned: output biases at {args.lr_bias} ({BIAS_EPOCHS} epochs at most, patience {BIAS_PATIENCE}), "
        "then all layers at "
        f"{args.lr_finetune}. MAE on the held-out RANS cases, mean ± std over seeds {args.seeds}.",
        "",
        "| arm | RANS cases | CL MAE | CD MAE | ln CD MAE | CM MAE |",
        "|---|---|---|---|---|---|",
    ]
    for name, c in cells.items():
        lines.append(f"| {name} | 0 | {c['CL']:.4f} | {c['CD']:.5f} | {c['lnCD']:.4f} | {c['CM']:.4f} |")
    for (arm, n), cs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        fmt = {"CL": ".4f", "CD": ".5f", "lnCD": ".4f", "CM": ".4f"}
        vals = " | ".join(
            f"{np.mean([c[k] for c in cs]):{f}} ± {np.std([c[k] for c in cs]):{f}}" for k, f in fmt.items()
        )
        lines.append(f"| {arm} | {n} | {vals} |")
    wins = []
    for n in args.sizes:
        ft, ro = rows.get(("fine-tuned", n)), rows.get(("rans-only", n))
        if ft and ro:
            best_xfoil = {k: min(c[k] for c in cells.values()) for k in ("CL", "CD")}
            ok = all(
                np.mean([c[k] for c in ft]) < min(np.mean([c[k] for c in ro]), best_xfoil[k]) for k in ("CL", "CD")
            )
            wins.append(f"n={n}: {'yes' if ok else 'no'}")
    ft_cells = [c for (arm, _), cs in rows.items() if arm == "fine-tuned" for c in cs]
    moved = sum(abs(c["CL"] - c["biases_only"]["CL"]) + abs(c["CD"] - c["biases_only"]["CD"]) > 1e-7 for c in ft_cells)
    lines += [
        "",
        "Fine-tuned beats both other arms in CL and CD MAE (acceptance): " + ", ".join(wins) + ".",
        f"The all-layers stage changed the biases-only model in {moved} of {len(ft_cells)} fine-tuned cells "
        "(elsewhere no epoch improved the validation loss, so the stage-1 model was kept).",
        "",
        "Reading: XFOIL-as-is misses RANS drag by a factor of about two (ln CD MAE 0.65) because XFOIL's free "
        "transition (Ncrit 9) keeps long laminar runs that fully turbulent SA does not have; one offset per "
        "target removes most of it; the all-layers stage then adds little (the fine-tuned arm hardly improves "
        "from 25 to 100 cases), so what is left is shape-dependent error that a few RANS cases do not teach. "
        "The RANS targets are coarse-grid values (at 10 deg the coarse grid's CD is a third above the fine "
        "grid's, mostly for want of wall-normal cells; see RANS validation), so they are a consistent "
        "fidelity, not the grid-converged answer. "
        + (
            "Trained arms have as many members as the shipped model."
            if args.members == 3
            else f"Trained arms have {args.members} member(s) against the shipped model's three."
        ),
    ]
    title = "Multi-fidelity airfoil surrogate (RANS)"
    if args.members != 3:
        title += f", {args.members} member{'s' if args.members > 1 else ''} per model"
    publish(title, "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
