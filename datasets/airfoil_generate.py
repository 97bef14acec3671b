"""Generate an airfoil polar dataset: plan polars, simulate them in parallel, store them.

The plan is a deterministic function of the request (counts, seed, ranges), so
the same command always asks for the same polars; polars already in the file
are skipped, which makes a killed run resumable with nothing lost and nothing
simulated twice once stored. Workers (local processes or a Dask cluster) only
simulate; this process is the single writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from phenograd.core.errors import InputError
from phenograd.simulators.parallel import run_unordered
from phenograd.simulators.xfoil import PolarPoint, PolarResult, XfoilSettings, run_polar

from .airfoil import real_airfoils
from .airfoil_sampling import mixed_shapes, reynolds_samples, sobol_shapes
from .cst import cst_coordinates, fit_cst
from .generation import GenerationSummary
from .polar_store import PolarStore, ShapeRecord, polar_key, quantize

DEFAULT_ALPHAS = tuple(float(a) for a in range(-5, 16))
DEFAULT_RE_RANGE = (1e5, 1e7)


@dataclass(frozen=True)
class PolarJob:
    """One polar to simulate: a shape, settings and angles (degrees), keyed by content."""

    shape: ShapeRecord
    settings: XfoilSettings
    alphas: tuple[float, ...]
    key: str


def simulate_job(job: PolarJob) -> PolarResult:
    """Worker entry point: run XFOIL; a contour XFOIL must not see becomes a failed row."""
    try:
        return run_polar(job.shape.coordinates, job.alphas, job.settings, name=job.shape.name)
    except InputError as exc:
        reason = f"failed: rejected before xfoil: {exc}"
        return PolarResult(reason, [PolarPoint(float(a), False, reason) for a in sorted(job.alphas)], job.settings)


@dataclass
class AirfoilRequest:
    """What `phenograd data airfoil` asks for (the plan depends on nothing else).

    Args:
        shapes: sampled CST shapes: scrambled-Sobol ones and mixes of real training airfoils.
        seed: every random draw of the plan (shapes, Reynolds numbers, order).
        include_real: bundled real airfoils to add: "none", "train", "test" or "all".
        polars_per_shape: with `reynolds` None: Reynolds numbers drawn per shape.
        reynolds: a fixed list, every shape at each; None: drawn log-uniformly from re_range.
        re_range: (low, high) of the drawn Reynolds numbers.
        alphas: angles of attack (degrees) of every polar.
        ncrit, mach, n_panels, max_iter, timeout_s: XFOIL's settings (XfoilSettings).
        mix_fraction: the share of the sampled shapes that are mixes of real airfoils (the rest Sobol).
    """

    shapes: int
    seed: int = 0
    include_real: str = "none"  # none | train | test | all
    polars_per_shape: int = 1
    reynolds: Sequence[float] | None = None  # fixed list (each shape at each), or None: log-uniform range
    re_range: tuple[float, float] = DEFAULT_RE_RANGE
    alphas: Sequence[float] = DEFAULT_ALPHAS
    ncrit: float = 9.0
    mach: float = 0.0
    n_panels: int = 160
    max_iter: int = 100
    timeout_s: float | None = None
    mix_fraction: float = 0.5

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["alphas"] = list(self.alphas)
        d["reynolds"] = None if self.reynolds is None else list(self.reynolds)
        d["re_range"] = list(self.re_range)
        return d


def plan_shapes(request: AirfoilRequest) -> list[ShapeRecord]:
    """Held-out real airfoils first (when asked for), then the rest in a seeded shuffle."""
    if request.shapes < 0:
        raise InputError(f"shapes must be >= 0, got {request.shapes}", parameter="shapes")
    if request.include_real not in ("none", "train", "test", "all"):
        raise InputError(
            f"include_real must be none, train, test or all, got {request.include_real!r}", parameter="include_real"
        )
    seeds = np.random.SeedSequence(request.seed).spawn(3)
    n_mix = int(round(request.shapes * request.mix_fraction))
    n_sobol = request.shapes - n_mix
    first: list[ShapeRecord] = []
    rest: list[ShapeRecord] = []
    if request.include_real != "none":
        for foil in real_airfoils(request.include_real):
            rec = ShapeRecord(foil.name, "uiuc", foil.split, quantize(foil.coordinates), fit_cst(foil.coordinates))
            (first if foil.split == "test" else rest).append(rec)
    sobol_seed, mix_seed, order_seed = (int(s.generate_state(1)[0]) for s in seeds)
    for i, p in enumerate(sobol_shapes(n_sobol, sobol_seed)):
        rest.append(_cst_record(f"sobol-{request.seed}-{i}", "sobol", p))
    for i, p in enumerate(mixed_shapes(n_mix, mix_seed)):
        rest.append(_cst_record(f"mix-{request.seed}-{i}", "mix", p))
    order = np.random.default_rng(order_seed).permutation(len(rest))
    return first + [rest[i] for i in order]


def _cst_record(name: str, source: str, params: np.ndarray) -> ShapeRecord:
    import torch

    coords = cst_coordinates(torch.as_tensor(params, dtype=torch.float64)).numpy()
    return ShapeRecord(name, source, "train", quantize(coords), np.asarray(params))


def plan_jobs(request: AirfoilRequest) -> list[PolarJob]:
    """Every polar of the request, in the order they should be run: the real airfoils' polars (held-out
    ones first) before the sampled shapes', so that a partly finished dataset holds first the shapes
    most like the real airfoils a surrogate is judged on. Reynolds numbers are drawn per position
    in plan_shapes' order, before this reordering, so a job's key does not depend on it."""
    shapes = plan_shapes(request)
    if request.reynolds is not None:
        res = np.tile(np.asarray(request.reynolds, dtype=float), (len(shapes), 1))
    else:
        if request.polars_per_shape < 1:
            raise InputError(
                f"polars_per_shape must be >= 1, got {request.polars_per_shape}", parameter="polars_per_shape"
            )
        re_seed = int(np.random.SeedSequence([request.seed, 7]).generate_state(1)[0])
        res = reynolds_samples(len(shapes), request.polars_per_shape, *request.re_range, seed=re_seed)
    alphas = tuple(sorted({round(float(a), 4) for a in request.alphas}))
    jobs = []
    for shape, row in zip(shapes, res):
        for re in row:
            settings = XfoilSettings(
                reynolds=float(re),
                mach=request.mach,
                ncrit=request.ncrit,
                n_panels=request.n_panels,
                max_iter=request.max_iter,
                timeout_s=request.timeout_s,
            )
            settings.validate()
            jobs.append(PolarJob(shape, settings, alphas, polar_key(shape.shape_id, settings, alphas)))
    return sorted(jobs, key=lambda job: job.shape.source != "uiuc")  # stable: the seeded order within each group


def generate(
    path: str | Path,
    request: AirfoilRequest,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Simulate every planned polar not yet in the dataset at `path` and store it.

    Args:
        path: the dataset file (SQLite; created if missing, resumed if not).
        request: what to simulate (shapes, Reynolds numbers, angles, XFOIL settings, seed).
        workers: local processes (default: all CPUs; 1 runs in this process).
        scheduler: an existing Dask scheduler's address ("tcp://host:port") or its JSON file; tasks go there.
        progress: show a progress bar.

    Returns a GenerationSummary (planned, already present, written, failed, count per status).
    """
    jobs = plan_jobs(request)
    with PolarStore.open(path) as store:
        store.record_request(request.as_dict())
        return simulate_and_store(
            store, jobs, simulate_job, lambda job: job.alphas, workers, scheduler, progress, "polar"
        )


def simulate_and_store(
    store: PolarStore,
    jobs: list,
    simulate,
    alphas_of,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    unit: str = "polar",
    keep=lambda result: True,
) -> GenerationSummary:
    """Run simulate(job) for every job (with .shape and .key) whose key is not in `store`, on a local pool or
    a Dask cluster, and store each result as it arrives (this process is the single writer).

    alphas_of(job): the job's angles; keep(result): False for a result that must not be stored (it is
    counted by status and retried on the next run).
    """
    done = store.existing_keys()
    todo = [j for j in jobs if j.key not in done]
    summary = GenerationSummary(planned=len(jobs), already_present=len(jobs) - len(todo))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), initial=summary.already_present, unit=unit, dynamic_ncols=True)
    try:
        for index, result in run_unordered(simulate, todo, workers=workers, scheduler=scheduler):
            job = todo[index]
            if not keep(result):
                summary.by_status[result.status] = summary.by_status.get(result.status, 0) + 1
            elif store.add_polar(job.shape, job.key, result, alphas_of(job)):
                summary.written += 1
                summary.failed += result.status != "ok"
                summary.by_status[result.status] = summary.by_status.get(result.status, 0) + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=summary.failed, refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return summary
