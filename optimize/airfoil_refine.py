"""Refinement: where XFOIL and the surrogate disagree at the optimum, teach the surrogate there.

One round: verify the optimum with XFOIL; if the predicted objective is off by more than
`tolerance` (relative), simulate the optimum and a few seeded perturbations of it with
XFOIL over a window of angles at every operating point's Reynolds number, store the polars
in DIR/refine.db (a regular polar dataset file, so a killed run reuses what was simulated; the
polars run on local processes or a Dask cluster, `scheduler`),
fine-tune every ensemble member on everything simulated so far (a few epochs, small learning
rate, the model's own target normalisation kept), and optimize again from the current
optimum. Each round's predicted and verified objective is recorded in result.rounds.
The fine-tuned model is written to DIR/refined_model.pt. The design returned is the best one XFOIL verified in any
round (a later round can be worse: fine-tuning corrects the surrogate near one optimum and moves the next), marked
"kept" in result.rounds.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from phenograd.datasets.cst import cst_to_coordinates
from phenograd.datasets.polar_store import PolarStore, ShapeRecord, polar_key, quantize
from phenograd.simulators.parallel import run_unordered
from phenograd.simulators.xfoil import PolarResult, XfoilSettings, run_polar
from phenograd.surrogate.airfoil_data import load_airfoil_points
from phenograd.surrogate.model import save_checkpoint
from phenograd.surrogate.train_airfoil import AirfoilTask
from phenograd.surrogate.trainer import TrainConfig

from .airfoil import optimize
from .airfoil_problem import AirfoilProblem

ANGLE_WINDOW = np.arange(-2.0, 2.001, 0.5)  # degrees around each point's optimized angle


def _samples(cst: np.ndarray, n: int, scale: float, seed: int) -> list[np.ndarray]:
    """The design and n seeded perturbations of its CST weights (std `scale`, TE thickness kept)."""
    rng = np.random.default_rng(seed)
    out = [np.asarray(cst, float)]
    for _ in range(n):
        step = rng.normal(0.0, scale, len(cst))
        step[-1] = 0.0
        out.append(out[0] + step)
    return out


def _refine_polar(job) -> PolarResult | None:
    """XFOIL polar of (coordinates, alphas, settings, name); None when XFOIL refuses the contour
    (a perturbed shape may self-cross): a picklable task that returns failures as values."""
    coordinates, alphas, settings, name = job
    try:
        return run_polar(coordinates, alphas, settings, name=name)
    except Exception:  # the other samples carry the round
        return None


def simulate_around(
    result,
    problem: AirfoilProblem,
    store: PolarStore,
    n: int,
    seed: int,
    workers: int = 2,
    scheduler: str | None = None,
) -> int:
    """Simulate the optimum and n perturbations at every point on `workers` local processes or the
    Dask cluster at `scheduler`; each polar is stored as it finishes (this process is the only
    writer), so a killed round resumes without rerunning stored polars. Returns polars run."""
    existing = store.existing_keys()
    jobs, meta = [], []
    for k, cst in enumerate(_samples(np.array(result.cst), n, 0.01, seed)):
        coords_um = quantize(cst_to_coordinates(cst))
        shape = ShapeRecord(f"refine-{seed}-{k}", "refine", "train", coords_um, cst)
        for p, rep in zip(problem.points, result.points):
            alphas = [float(a) for a in np.round(rep.alpha + ANGLE_WINDOW, 2)]
            settings = XfoilSettings(reynolds=p.reynolds, ncrit=p.ncrit)
            key = polar_key(shape.shape_id, settings, alphas)
            if key in existing:
                continue
            existing.add(key)
            jobs.append((shape.coordinates, alphas, settings, shape.name))
            meta.append((shape, key, alphas))
    runs = 0
    for i, polar in run_unordered(
        _refine_polar, jobs, workers=min(max(1, workers), max(1, len(jobs))), scheduler=scheduler
    ):
        if polar is not None:
            shape, key, alphas = meta[i]
            store.add_polar(shape, key, polar, alphas)
            runs += 1
    return runs


def fine_tune(surrogate, data_file: Path, epochs: int, lr: float, seed: int):
    """A copy of `surrogate` with every member fine-tuned on the polars in data_file."""
    data = load_airfoil_points(data_file, surrogate.stations)
    task = AirfoilTask(data, seed=seed)
    shapes = np.arange(len(data.graphs))
    cfg = TrainConfig(members=len(surrogate.ensemble.members), epochs=epochs, lr=lr, seed=seed)
    tuned = copy.copy(surrogate)
    tuned.ensemble = copy.deepcopy(surrogate.ensemble)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)  # not NumPy's global state, which whatever ran before in the process has moved
    for member in tuned.ensemble.members:
        member.train()
        for p in member.parameters():
            p.requires_grad_(True)
        opt = torch.optim.AdamW(member.parameters(), lr=lr, weight_decay=cfg.weight_decay)
        for _ in range(epochs):
            for batch in np.array_split(rng.permutation(shapes), max(1, len(shapes) // 8)):
                opt.zero_grad()
                loss = task.loss(member, batch, cfg, torch.device("cpu"))
                loss.backward()
                opt.step()
        member.eval()
    tuned.ensemble.eval()
    return tuned


def refine(
    problem: AirfoilProblem,
    surrogate,
    start,
    rounds: int,
    out_dir,
    workers: int = 2,
    tolerance: float = 0.03,
    samples: int = 4,
    epochs: int = 10,
    lr: float = 3e-4,
    seed: int = 0,
    progress=None,
    scheduler: str | None = None,
):
    """Optimize, verify, and refine up to `rounds` times; returns (the best verified round's result, the last
    refined surrogate). XFOIL runs (verification and the simulations around each optimum) use `workers` local
    processes or the Dask cluster at `scheduler`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda msg: None)
    result = optimize(problem, surrogate, start=start, verify=True, xfoil_workers=workers, scheduler=scheduler)
    reference = np.array(result.start_cst)
    log, results = [], []
    total_xfoil = result.xfoil_calls
    for r in range(rounds + 1):
        results.append(result)
        gap = (
            None
            if result.verified_objective is None
            else abs(result.objective - result.verified_objective) / max(abs(result.verified_objective), 1e-12)
        )
        log.append(
            {
                "round": r,
                "predicted": result.objective,
                "verified": result.verified_objective,
                "gap": gap,
                "status": result.status,
                "xfoil_calls": total_xfoil,
            }
        )
        say(
            f"round {r}: predicted {result.objective:.6g}, XFOIL "
            f"{'unverified' if gap is None else f'{result.verified_objective:.6g} (gap {100 * gap:.1f} %)'}"
        )
        if r == rounds or (gap is not None and gap <= tolerance):
            break
        with PolarStore.open(out / "refine.db") as store:
            total_xfoil += simulate_around(result, problem, store, samples, seed + r, workers, scheduler)
        surrogate = fine_tune(surrogate, out / "refine.db", epochs, lr, seed + r)
        save_checkpoint(
            out / "refined_model.pt",
            surrogate.ensemble,
            surrogate.info.get("data_hash", ""),
            {**surrogate.info.get("meta", {}), "refined_on": str(out / "refine.db")},
        )
        result = optimize(
            problem,
            surrogate,
            start=np.array(result.cst),
            verify=True,
            xfoil_workers=workers,
            reference=reference,
            scheduler=scheduler,
        )
        total_xfoil += result.xfoil_calls
    kept = best_round(results)
    for k, entry in enumerate(log):
        entry["kept"] = k == kept
    if kept != len(results) - 1:
        say(f"returning round {kept}'s design: XFOIL rated it best ({results[kept].verified_objective:.6g})")
    result = results[kept]
    result.rounds = log
    result.xfoil_calls = total_xfoil
    return result, surrogate


def best_round(results: list) -> int:
    """Index of the round to return: the lowest XFOIL-verified objective among the optima the solver reached
    (success) and XFOIL converged on at every point; the last round where none qualifies."""
    ok = [
        (res.verified_objective, k)
        for k, res in enumerate(results)
        if res.success and res.verified and res.verified_objective is not None
    ]
    return min(ok)[1] if ok else len(results) - 1
