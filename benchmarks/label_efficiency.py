"""Label efficiency of self-supervised pretraining (issue 5): test MAE against the share of labels.

    .venv/bin/python -m benchmarks.label_efficiency [--quick] [--domains airfoil catalyst]
        [--airfoil-data data/airfoil_v1.db] [--catalyst-data data/catalyst_v1.db]
        [--out-dir runs/label_efficiency] [--no-write]

For each domain, encoders are pretrained once per objective (jepa, denoise,
both, potential; seed 0, or --pretrain-seed) on the unlabelled side of the data (surrogate/pretrain_data.py:
airfoils, every non-held-out shape of the polar file plus --sampled fresh CST
shapes; catalysts, the labelled file's train structures with labels ignored, or
those of --catalyst-pretrain, plus --catalyst-unlabelled if given; objective
potential needs single points on all of them: `phenograd data single-points`). Then, for every fraction of the labelled
training set (1, 5, 10, 25, 100 %) and seed, the same random subset (drawn
from the seed) is used to fine-tune a one-member surrogate from each encoder
and from scratch (same settings; early stopping on the full validation split),
scored on the held-out test split. A linear probe (ridge regression, penalty
picked on validation) of each frozen encoder's embeddings, random-init
included, is fitted on the same subsets.

Scores: catalysts, E_ads MAE (eV); airfoils, MAE of CL, ln CD and CM over
XFOIL-converged test points, and their mean with each MAE divided by the
target's std over the training points ("normalised MAE", the headline).

Resumable: one JSON file per (domain, arm, fraction, seed) cell under
--out-dir/cells, written when the cell finishes; a rerun skips finished cells
(pretraining itself resumes from its .partial file); --cached-only computes
nothing and reports the finished cells of the grid, listing the missing ones. --quick runs a small
version (fractions 10 % and 100 % of a capped training pool, 1 seed, few
epochs) to check the pipeline; only a full run writes BENCHMARKS.md and
benchmarks/label_efficiency.png.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.report import machine, publish, today
from phenograd.core.atomic import write_text_atomic
from phenograd.surrogate.domain import get_domain
from phenograd.surrogate.encoder import GeometricEncoder
from phenograd.surrogate.evaluate import evaluate_airfoil, evaluate_catalyst
from phenograd.surrogate.model import default_encoder_config, load_checkpoint
from phenograd.surrogate.pretrain import PretrainConfig, default_hidden, pretrain
from phenograd.surrogate.pretrain_data import UnlabelledSet, load_unlabelled
from phenograd.surrogate.pretrained import load_encoder_state
from phenograd.surrogate.trainer import train_ensemble

OBJECTIVES = ("jepa", "denoise", "both", "potential")
DEFAULT_OBJECTIVES = ("jepa", "denoise", "both")  # potential needs a single-point file (--catalyst-pretrain)
FRACTIONS = (0.01, 0.05, 0.10, 0.25, 1.0)
AIRFOIL_HEADLINE = ("CL", "lnCD", "CM")
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- data and tasks


def load_domain(domain: str, args):
    """(labelled data, task factory) of a domain, with quick-mode caps applied to train pool and test."""
    if domain == "airfoil":
        from phenograd.surrogate.airfoil_data import load_airfoil_points
        from phenograd.surrogate.train_airfoil import AirfoilTask

        data = load_airfoil_points(args.airfoil_data)
        task = AirfoilTask(data, 0)
        split = data.shape_split
    else:
        from phenograd.surrogate.catalyst_data import load_catalyst_samples
        from phenograd.surrogate.train_catalyst import CatalystTask

        data = load_catalyst_samples(args.catalyst_data)
        task = CatalystTask(data, 0)
        split = data.split
    if args.max_test:
        test = [i for i, s in enumerate(split) if s == "test"]
        for i in np.random.default_rng(1).permutation(test)[args.max_test :]:
            split[i] = "unused"
    pool = task.train
    if args.max_train and len(pool) > args.max_train:
        pool = np.sort(np.random.default_rng(2).permutation(pool)[: args.max_train])
    return data, task, pool


def subset(pool: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """The first max(2, round(fraction * n)) items of a seed's permutation of the pool (shared by every arm)."""
    n = max(2, int(round(fraction * len(pool))))
    return np.sort(np.random.default_rng([seed, 0xF4]).permutation(pool)[:n])


def restrict(task, items: np.ndarray, min_epoch_items: int = 0):
    """The task trained on `items` only, its target normalisation refitted on them. An epoch
    draws at least min_epoch_items (the subset repeated), so that small subsets get as many
    optimizer steps between validations as a larger set, not a handful in all."""
    task.train = np.resize(items, max(len(items), min_epoch_items)) if len(items) else items
    if task.domain == "airfoil":
        from phenograd.surrogate.train_airfoil import target_normalisation

        task.mean, task.std = target_normalisation(task.data, items)
    else:
        e = task.data.e_ads[torch.as_tensor(items)]
        task.mean, task.std = e.mean(), e.std()
    return task


def train_config(domain: str, args, seed: int):
    if domain == "airfoil":
        from phenograd.surrogate.train_airfoil import airfoil_defaults as defaults
    else:
        from phenograd.surrogate.train_catalyst import catalyst_defaults as defaults
    # the catalyst grid began with the all-atom readout (the default until 2026-12-02); its cells keep it
    extra = {"stations": args.stations} if domain == "airfoil" else {"readout": "all"}
    if args.encoder_lr_scale != 1:
        extra["encoder_lr_scale"] = args.encoder_lr_scale
    return defaults(members=1, epochs=args.epochs, patience=args.patience, seed=seed, **extra)


def airfoil_scale(data, items) -> dict:
    """Std per headline target over the converged training points (normalises the airfoil MAEs)."""
    mask = torch.isin(data.point_shape, torch.as_tensor(items)) & data.converged
    t = data.targets[mask]
    names = ("CL", "lnCD", "CM", "Top_Xtr", "Bot_Xtr")
    return {n: float(torch.nanmean((t[:, k] - torch.nanmean(t[:, k])) ** 2).sqrt()) for k, n in enumerate(names)}


def score(domain: str, metrics: dict, scale: dict) -> float:
    if domain == "airfoil":
        return float(np.mean([metrics["mae"][k] / scale[k] for k in AIRFOIL_HEADLINE]))
    return float(metrics["mae"])


# --------------------------------------------------------------------------- arms


def pretrained_encoder(domain: str, arm: str, args) -> Path:
    """The encoder file of an arm: an objective, with "@relaxed" for catalyst pretraining on relaxed positions."""
    objective, _, geometry = arm.partition("@")
    out = args.out_dir / "encoders" / f"{domain}_{objective}{'_' + geometry if geometry else ''}.pt"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    unl = unlabelled(domain, args, geometry or "initial")
    cfg = PretrainConfig(objective=objective, epochs=args.pretrain_epochs, seed=args.pretrain_seed)
    t0 = time.perf_counter()
    report = pretrain(unl, out, cfg, progress=False)
    f = report["final"]
    print(
        f"pretrained {domain} {arm}: {report['structures']} structures, {time.perf_counter() - t0:.0f} s, "
        f"loss {f.get('total', float('nan')):.4f}, rank {f['node_rank']:.1f}",
        flush=True,
    )
    return out


_UNLABELLED: dict = {}


def unlabelled(domain: str, args, geometry: str = "initial") -> UnlabelledSet:
    if (domain, geometry) not in _UNLABELLED:
        if domain == "airfoil":
            s = load_unlabelled("airfoil", args.airfoil_data, n_sampled=args.sampled, seed=0)
        else:
            source = args.catalyst_pretrain or args.catalyst_data
            s = load_unlabelled("catalyst", source, limit=args.max_unlabelled, geometry=geometry)
            if args.catalyst_unlabelled:
                extra = load_unlabelled("catalyst", args.catalyst_unlabelled, limit=args.max_unlabelled)
                s = UnlabelledSet(
                    "catalyst",
                    s.graphs + extra.graphs,
                    {**s.counts, "extra": len(extra.graphs)},
                    s.data_hash + extra.data_hash,
                )
        if args.max_unlabelled and len(s.graphs) > args.max_unlabelled:
            s.graphs = s.graphs[: args.max_unlabelled]
        _UNLABELLED[(domain, geometry)] = s
    return _UNLABELLED[(domain, geometry)]


def finetune_cell(domain, arm, fraction, seed, data, task, pool, args, frozen: bool = False) -> dict:
    """One member trained on the cell's labels from an arm's encoder ("scratch" or "random": a fresh one); frozen:
    the encoder stays as it starts and only the domain's head trains."""
    items = subset(pool, fraction, seed)
    task = restrict(task, items, args.min_epoch_items)
    fresh = arm in ("scratch", "random")
    init = None if fresh else load_encoder_state(pretrained_encoder(domain, arm, args), domain)
    cfg = train_config(domain, args, seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.out_dir) as tmp:
        report = train_ensemble(task, Path(tmp) / "m.pt", cfg, progress=False, init_encoder=init, freeze_encoder=frozen)
        ensemble, _ = load_checkpoint(Path(tmp) / "m.pt", domain)
    if domain == "airfoil":
        metrics, _ = evaluate_airfoil(ensemble, data, "test")
        mae = {k: metrics["mae"][k] for k in AIRFOIL_HEADLINE}
    else:
        metrics, _ = evaluate_catalyst(ensemble, data, "test")
        mae = {"E_ads": metrics["mae"]}
    scale = airfoil_scale(data, pool) if domain == "airfoil" else {}
    return {
        "n_train": int(len(items)),
        "mae": mae,
        "score": score(domain, metrics, scale),
        "epochs": report["members"][0]["epochs"],
        "wall_s": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------- linear probe


@torch.no_grad()
def embeddings(domain: str, encoder: GeometricEncoder, data) -> torch.Tensor:
    """Frozen per-structure features (S, D): airfoil, the pooled embedding; catalyst, [mean over atoms,
    mean over adsorbate atoms] of node embeddings."""
    from torch_geometric.data import Batch
    from torch_geometric.utils import scatter

    encoder.eval()
    out = []
    for i in range(0, len(data.graphs), 64):
        b = Batch.from_data_list(data.graphs[i : i + 64])
        s, pooled = encoder(b)
        if domain == "catalyst":
            ads = (b.tags == 2).to(s.dtype)[:, None]
            n_ads = scatter(ads, b.batch, dim=0, dim_size=pooled.shape[0], reduce="sum").clamp_min(1.0)
            pooled = torch.cat(
                [pooled, scatter(s * ads, b.batch, dim=0, dim_size=pooled.shape[0], reduce="sum") / n_ads], 1
            )
        out.append(pooled)
    return torch.cat(out).double()


def probe_design(domain: str, z: torch.Tensor, data, items: np.ndarray):
    """Design matrix and targets of the probe: airfoil rows are converged points ([z, cond, z * alpha]
    -> CL, ln CD, CM); catalyst rows are structures (z -> E_ads)."""
    if domain == "catalyst":
        idx = torch.as_tensor(items)
        return z[idx], data.e_ads[idx].double()[:, None]
    mask = torch.isin(data.point_shape, torch.as_tensor(items)) & data.converged
    t = data.targets[mask][:, :3].double()
    ok = torch.all(torch.isfinite(t), 1)
    zp, cond = z[data.point_shape[mask]], data.cond[mask].double()
    x = torch.cat([zp, cond, zp * cond[:, :1]], 1)
    return x[ok], t[ok]


def ridge(x, y, lam):
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-8)
    xs = torch.cat([(x - mu) / sd, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    reg = lam * torch.eye(xs.shape[1], dtype=x.dtype)
    reg[-1, -1] = 0
    w = torch.linalg.solve(xs.T @ xs + reg, xs.T @ y)
    return lambda q: torch.cat([(q - mu) / sd, torch.ones(len(q), 1, dtype=q.dtype)], 1) @ w


def kernel_ridge(x, y, lam: float, length: float):
    """Kernel ridge regression with a Gaussian kernel on standardised features: length is in units of the
    features' root-mean-square distance, so one grid of values serves any feature width. The targets' mean is
    fitted separately (the kernel's prior mean is zero)."""
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-8)
    xs = (x - mu) / sd
    scale = float(torch.cdist(xs, xs).pow(2).mean().sqrt().clamp_min(1e-8)) * length
    y_mean = y.mean(0)

    def kernel(a, b):
        return torch.exp(-0.5 * torch.cdist(a, b).pow(2) / scale**2)

    alpha = torch.linalg.solve(kernel(xs, xs) + lam * torch.eye(len(xs), dtype=x.dtype), y - y_mean)
    return lambda q: kernel((q - mu) / sd, xs) @ alpha + y_mean


def frozen_cell(domain, encoder_name, fraction, seed, data, task, pool, args) -> dict:
    """The domain's own head (not a linear probe) trained on a frozen encoder: "random" or an objective's."""
    return finetune_cell(domain, encoder_name, fraction, seed, data, task, pool, args, frozen=True)


def kernel_probe_cell(domain, encoder_name, fraction, seed, data, task, pool, args) -> dict:
    """A kernel ridge probe (Gaussian kernel) on the frozen encoder's features: the strongly regularised, nonlinear
    head that the linear probes pointed to; penalty and length scale picked on the validation split."""
    return probe_cell(domain, encoder_name, fraction, seed, data, task, pool, args, kernel=True)


def probe_cell(domain, encoder_name, fraction, seed, data, task, pool, args, kernel: bool = False) -> dict:
    if encoder_name == "random":
        torch.manual_seed(0)
        enc = GeometricEncoder(
            **default_encoder_config(domain, default_hidden(domain)), node_inputs=get_domain(domain).node_inputs
        )
    else:
        init = load_encoder_state(pretrained_encoder(domain, encoder_name, args), domain)
        enc = GeometricEncoder(**init["config"], node_inputs=get_domain(domain).node_inputs)
        enc.load_state_dict(init["state"])
    key = (domain, encoder_name)
    if key not in _EMB:
        _EMB[key] = embeddings(domain, enc, data)
    z = _EMB[key]
    items = subset(pool, fraction, seed)
    x, y = probe_design(domain, z, data, items)
    xv, yv = probe_design(domain, z, data, task.val)
    if kernel:
        settings = [(lam, length) for lam in (1e-3, 1e-2, 1e-1, 1) for length in (0.25, 0.5, 1, 2)]
        fit = lambda setting: kernel_ridge(x, y, *setting)  # noqa: E731
    else:
        settings = [1e-2, 1e-1, 1, 10, 100, 1000]
        fit = lambda lam: ridge(x, y, lam)  # noqa: E731
    best = min(
        (
            (float(torch.mean(torch.abs(fit(st)(xv) - yv) / y.std(0).clamp_min(1e-8))), i)
            for i, st in enumerate(settings)
        )
    )
    chosen = settings[best[1]]
    test = data.shapes_in("test") if domain == "airfoil" else data.items_in("test")
    xt, yt = probe_design(domain, z, data, test)
    err = torch.abs(fit(chosen)(xt) - yt).mean(0).numpy()
    if domain == "airfoil":
        mae = dict(zip(AIRFOIL_HEADLINE, map(float, err)))
        scale = airfoil_scale(data, pool)
        s = float(np.mean([mae[k] / scale[k] for k in AIRFOIL_HEADLINE]))
    else:
        mae = {"E_ads": float(err[0])}
        s = mae["E_ads"]
    return {"n_train": int(len(items)), "mae": mae, "score": s, "ridge": chosen}


_EMB: dict = {}


# --------------------------------------------------------------------------- report


def summarise(cells: list[dict], domain: str, arms: list[str], fractions) -> dict:
    """{arm: {fraction: (mean, std, n)}} of scores."""
    out = {}
    for arm in arms:
        out[arm] = {}
        for f in fractions:
            v = [c["score"] for c in cells if c["domain"] == domain and c["arm"] == arm and c["fraction"] == f]
            if v:
                out[arm][f] = (float(np.mean(v)), float(np.std(v)), len(v))
    return out


def plot(summary: dict, domains: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(domains), figsize=(6 * len(domains), 4.2), squeeze=False)
    for ax, domain in zip(axes[0], domains):
        for arm, rows in summary[domain].items():
            if not rows:
                continue
            fs = sorted(rows)
            ax.errorbar(
                [100 * f for f in fs],
                [rows[f][0] for f in fs],
                yerr=[rows[f][1] for f in fs],
                capsize=3,
                marker="o",
                ls="--" if arm.startswith(("probe", "kprobe")) else "-",
                label=arm,
            )
        ax.set_xscale("log")
        ticks = sorted({100 * f for rows in summary[domain].values() for f in rows})
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("labelled training set used (%)")
        ax.set_ylabel("normalised MAE (CL, ln CD, CM)" if domain == "airfoil" else "E_ads MAE (eV)")
        ax.set_title(f"{domain}: held-out test split")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick", action="store_true", help="small pipeline check (~10 min on one core); writes no BENCHMARKS.md"
    )
    p.add_argument("--domains", nargs="+", default=["airfoil", "catalyst"], choices=["airfoil", "catalyst"])
    p.add_argument("--airfoil-data", default="data/airfoil_v1.db")
    p.add_argument("--catalyst-data", default="data/catalyst_v1.db")
    p.add_argument(
        "--catalyst-unlabelled", default=None, help="extra unlabelled ase.db from `phenograd data unlabelled`"
    )
    p.add_argument(
        "--catalyst-pretrain",
        default=None,
        help="pretrain catalysts on this file instead of --catalyst-data's non-held-out structures (objective "
        "potential: a file from `phenograd data single-points`)",
    )
    p.add_argument("--out-dir", default="runs/label_efficiency", type=Path)
    p.add_argument("--fractions", nargs="+", type=float, default=list(FRACTIONS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument(
        "--objectives",
        nargs="+",
        default=list(DEFAULT_OBJECTIVES),
        choices=[*OBJECTIVES, *(f"{o}@relaxed" for o in OBJECTIVES)],
        help="pretraining objectives; OBJ@relaxed pretrains catalysts on relaxed positions of the labelled "
        "file's training structures (labels unused)",
    )
    p.add_argument("--pretrain-epochs", type=int, default=20)
    p.add_argument(
        "--pretrain-seed",
        type=int,
        default=0,
        help="seed of every pretraining run (default 0); give another --out-dir, its encoders differ",
    )
    p.add_argument("--sampled", type=int, default=2000, help="airfoil: fresh CST shapes added to pretraining")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=12)
    p.add_argument(
        "--min-epoch-items",
        type=int,
        default=1024,
        help="an epoch draws at least this many training items (small subsets repeated; default 1024)",
    )
    p.add_argument("--max-train", type=int, default=None, help="cap the labelled training pool (items)")
    p.add_argument("--max-test", type=int, default=None, help="score on a fixed random subset of the test split")
    p.add_argument("--max-unlabelled", type=int, default=None, help="cap the pretraining structures")
    p.add_argument(
        "--stations",
        type=int,
        default=0,
        help="airfoil head's station-readout channels (default 0, mean pooling: the setting of the "
        "cells measured before the readout existed); cells with K > 0 are kept apart (_stK)",
    )
    p.add_argument(
        "--frozen",
        nargs="*",
        default=[],
        choices=["random", "jepa", "denoise", "both", "jepa@relaxed", "denoise@relaxed", "both@relaxed"],
        help="extra arms: the domain's head trained on this frozen encoder ('random': an untrained one)",
    )
    p.add_argument(
        "--encoder-lr-scale",
        type=float,
        default=1.0,
        help="fine-tuning: the encoder learns at this factor of the head's rate, in every arm (default 1); "
        "cells with another value are kept apart (_elrX)",
    )
    p.add_argument(
        "--kernel-probes",
        action="store_true",
        help="extra arms: kernel ridge probes (Gaussian kernel) on each frozen encoder beside the linear ones",
    )
    p.add_argument(
        "--probes-only",
        action="store_true",
        help="of the fine-tuned arms run only scratch (the reference of every ratio); probes and frozen arms as asked",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small graphs, shared cores)")
    p.add_argument("--no-write", action="store_true")
    p.add_argument(
        "--section",
        default=None,
        metavar="NAME",
        help="write the section 'Pretraining label efficiency (DOMAIN, NAME)' and its own PNG, leaving the "
        "main grid's section alone (a side experiment with other settings and its own --out-dir)",
    )
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="compute nothing: report the finished cells of this command's grid and list the missing ones",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.fractions, args.seeds = [0.1, 1.0], [0]
        args.pretrain_epochs, args.epochs, args.patience = 2, 4, 4
        args.sampled, args.max_unlabelled = 0, 150
        args.max_train, args.max_test = 120, 60
        args.out_dir = args.out_dir.with_name(args.out_dir.name + "_quick")
    torch.set_num_threads(args.threads)
    command = "python -m benchmarks.label_efficiency " + shlex.join(argv if argv is not None else sys.argv[1:])
    started, machine_line = today(), machine()
    (args.out_dir / "cells").mkdir(parents=True, exist_ok=True)
    arms = ["scratch"] if args.probes_only else ["scratch", *args.objectives]
    probes = ["random", *args.objectives]
    kernel_probes = probes if args.kernel_probes else []
    cells: list[dict] = []
    missing: list[tuple] = []
    for domain in args.domains:
        if not args.cached_only:
            t0 = time.perf_counter()
            data, task, pool = load_domain(domain, args)
            print(
                f"{domain}: labelled data loaded in {time.perf_counter() - t0:.0f} s; train pool {len(pool)}, "
                f"val {len(task.val)}",
                flush=True,
            )
            val = task.val
        for fraction in args.fractions:
            for seed in args.seeds:
                jobs = (
                    [(a, finetune_cell) for a in arms]
                    + [(f"probe:{e}", probe_cell) for e in probes]
                    + [(f"kprobe:{e}", kernel_probe_cell) for e in kernel_probes]
                    + [(f"frozen:{e}", frozen_cell) for e in args.frozen]
                )
                for arm, fn in jobs:
                    readout = f"_st{args.stations}" if domain == "airfoil" and args.stations else ""
                    if args.encoder_lr_scale != 1 and fn is finetune_cell:  # other settings, other cells
                        readout += f"_elr{args.encoder_lr_scale:g}"
                    path = (
                        args.out_dir / "cells" / f"{domain}_{arm.replace(':', '-')}_{fraction:g}_{seed}{readout}.json"
                    )
                    if path.exists():
                        cells.append(json.loads(path.read_text()))
                        continue
                    if args.cached_only:
                        missing.append((domain, arm, fraction, seed))
                        continue
                    task.val = val
                    name = arm.split(":", 1)[1] if fn is not finetune_cell else arm
                    result = fn(domain, name, fraction, seed, data, task, pool, args)
                    cell = {"domain": domain, "arm": arm, "fraction": fraction, "seed": seed, **result}
                    write_text_atomic(path, json.dumps(cell, indent=1))
                    cells.append(cell)
                    print(
                        f"{domain} {arm:<14} {100 * fraction:5.1f}% seed {seed}: score {cell['score']:.4f} "
                        f"(n_train {cell['n_train']})",
                        flush=True,
                    )
    shown = arms + [f"probe:{e}" for e in probes] + [f"kprobe:{e}" for e in kernel_probes]
    shown += [f"frozen:{e}" for e in args.frozen]
    summary = {d: summarise(cells, d, shown, args.fractions) for d in args.domains}
    tag = ("" if len(args.domains) > 1 else f"_{args.domains[0]}") + (
        "_" + re.sub(r"[^A-Za-z0-9]+", "_", args.section).strip("_") if args.section else ""
    )
    png = (
        (ROOT / "benchmarks" / f"label_efficiency{tag}.png")
        if not (args.quick or args.no_write)
        else args.out_dir / "curves.png"
    )
    plot(summary, args.domains, png)
    lines = [
        f"Command: `{command}`  ",
        f"Date: {started}  ",
        f"Machine: {machine_line}  ",
        f"Settings: pretraining {args.pretrain_epochs} epochs per objective (seed {args.pretrain_seed}); fine-tuning one member, at most "
        f"{args.epochs} epochs of at least {args.min_epoch_items} items (small subsets repeated), patience {args.patience}"
        + (
            f", the encoder at {args.encoder_lr_scale:g}x the head's learning rate"
            if args.encoder_lr_scale != 1
            else ""
        )
        + f", domain defaults otherwise; seeds {args.seeds}. Airfoil score: "
        "mean of MAE/std over CL, ln CD, CM (converged held-out points); catalyst score: E_ads MAE in eV (test split). "
        "± is the population std over seeds (a linear probe on 100 % of the pool does not depend on the seed). "
        f"Curves: `{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}`.",
        "",
    ]
    for domain in args.domains:
        s = summary[domain]
        lines += [
            f"**{domain}** (mean ± std over seeds)",
            "",
            "| arm | " + " | ".join(f"{100 * f:g}%" for f in args.fractions) + " |",
            "|---|" + "---|" * len(args.fractions),
        ]
        for arm, rows in s.items():
            lines.append(
                f"| {arm} | "
                + " | ".join(
                    f"{rows[f][0]:.4f} ± {rows[f][1]:.4f}"
                    + (f" (n={rows[f][2]})" if rows[f][2] < len(args.seeds) else "")
                    if f in rows
                    else ""
                    for f in args.fractions
                )
                + " |"
            )
        if 0.1 in args.fractions and 0.1 in s.get("scratch", {}):
            pretrained = [a for a in arms if a != "scratch"] + [f"frozen:{e}" for e in args.frozen if e != "random"]
            if not pretrained:  # --probes-only: the probes of the pretrained encoders
                pretrained = [f"{kind}:{e}" for kind in ("probe", "kprobe") for e in args.objectives]
            best = min((s[a][0.1][0], a) for a in pretrained if 0.1 in s.get(a, {}))
            ratio = best[0] / s["scratch"][0.1][0]
            full = s["scratch"].get(1.0)
            lines += [
                "",
                f"10 % of labels: best pretrained ({best[1]}) / scratch = {ratio:.3f} "
                f"(acceptance ≤ 0.75: {'met' if ratio <= 0.75 else 'not met'}); best pretrained at 10 % "
                f"{best[0]:.4f} vs scratch at 100 % " + (f"{full[0]:.4f}." if full else "(not run)."),
                "",
            ]
            probes = [f"{kind}:{e}" for kind in ("probe", "kprobe") for e in args.objectives]
            probes = [a for a in probes if a != best[1] and 0.1 in s.get(a, {})]
            if probes:  # a probe is a head on a frozen pretrained encoder: pretraining too, reported on its own
                p_mae, p_arm = min((s[a][0.1][0], a) for a in probes)
                p_ratio = p_mae / s["scratch"][0.1][0]
                lines += [
                    f"10 % of labels, heads on a frozen pretrained encoder: best ({p_arm}) / scratch = "
                    f"{p_ratio:.3f} (acceptance ≤ 0.75: {'met' if p_ratio <= 0.75 else 'not met'}).",
                    "",
                ]
    if missing:
        groups: dict = {}
        for domain, arm, fraction, seed in missing:
            groups.setdefault(f"{domain} {arm} at {100 * fraction:g} %", []).append(str(seed))
        lines += [
            f"Not run yet ({len(missing)} cells; the same command without --cached-only computes them): "
            + "; ".join(f"{k} (seeds {', '.join(v)})" for k, v in groups.items())
            + ".",
            "",
        ]
    scope = [] if len(args.domains) > 1 else [args.domains[0]]
    title = "Pretraining label efficiency" + (
        f" ({', '.join(scope + ([args.section] if args.section else []))})" if scope or args.section else ""
    )
    publish(title, "\n".join(lines), write=not (args.quick or args.no_write))
    return 0


if __name__ == "__main__":
    sys.exit(main())
