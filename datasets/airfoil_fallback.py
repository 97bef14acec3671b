"""Finer-panelling retries of a polar dataset's non-converged points, so that its labels follow the
protocol designs are verified with.

A design is verified (optimize/airfoil_verify.py) at 160 panels and, where XFOIL gives no converged
answer there, again at FALLBACK_PANELS (200, then 240). A dataset simulated at 160 panels alone calls
such a point non-converged, so a surrogate trained on it under-states the chance that verification
converges: on 56 polars of the airfoil release drawn at random (2026-12-07), 86 % of the isolated
failures (both neighbouring angles converged), 64 % of those at the low end of the range and 34 % of
those at the stall end converged at 200 or 240 panels.

For every stored polar with non-converged points this runs the same contour and settings again at each
fallback panelling in turn, on the angles XFOIL's continuation needs to reach the points still failing
(run_polar sweeps angles >= 0 upward from the smallest, then angles < 0 downward), and stores each
run as an ordinary polar: its panelling differs, so its key does too. `merged_points` reads a store back
with one row per point of each primary polar (the earliest stored of a shape, Reynolds, Mach and Ncrit),
taking a fallback's values where the primary did not converge and a fallback did.

What is still to run is computed from the store on every call: a killed run resumes with nothing lost
and nothing simulated twice once stored. The held-out ("test") shapes run first, then the others in a
fixed pseudo-random order (run_order), so that a partly finished pass has final labels on a random subset
of the training shapes (settled_shapes).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from phenograd.core.errors import InputError
from phenograd.simulators.parallel import run_unordered
from phenograd.simulators.xfoil import PolarPoint, PolarResult, XfoilSettings, run_polar

from .generation import GenerationSummary
from .polar_store import PolarStore, ShapeRecord, polar_key

FALLBACK_PANELS = (200, 240)  # tried in this order where the primary panelling gives no converged answer
REJECTED = "failed: rejected before xfoil"  # a contour XFOIL never saw: finer panels cannot change that
ORDER_SEED = 0


@dataclass(frozen=True)
class FallbackJob:
    """One primary polar's retries: its shape and settings, its angles (degrees), the angles still without a
    converged answer and the panellings still to try, in order."""

    shape: ShapeRecord
    settings: XfoilSettings
    alphas: tuple[float, ...]
    failing: tuple[float, ...]
    panels: tuple[int, ...]


def sweep_angles(alphas, failing) -> list[float]:
    """The angles of `alphas` that run_polar's sweep passes through on its way to every angle in `failing`.

    The upward half (angles >= 0, from the smallest) does not depend on the downward one, so with failures at
    positive angles only it stops at the largest of them. The downward half starts from the state the whole
    upward one leaves (NACA 4412, Re 1e5, 200 panels: -2 and -1 deg converge after the sweep 0..1 deg and fail
    started cold), so a failure below 0 takes every angle."""
    if not failing:
        return []
    if min(failing) < 0:
        return sorted(alphas)
    return sorted(a for a in alphas if 0 <= a <= max(failing))


def _polar_groups(store: PolarStore) -> dict[tuple, list[tuple]]:
    """(shape_id, reynolds, mach, ncrit) -> its polars (created, key, n_panels, max_iter, alphas JSON, status),
    earliest first: the first is the primary, the others its retries."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in store.conn.execute(
        "SELECT shape_id, reynolds, mach, ncrit, created, key, n_panels, max_iter, alphas, status FROM polars "
        "ORDER BY created, key"
    ):
        groups[row[:4]].append(row[4:])
    return groups


def _converged_angles(store: PolarStore) -> dict[str, set[float]]:
    done: dict[str, set[float]] = defaultdict(set)
    for key, alpha in store.conn.execute("SELECT key, alpha FROM points WHERE converged = 1"):
        done[key].add(round(float(alpha), 4))
    return done


def plan_fallback(store: PolarStore, panels: tuple[int, ...] = FALLBACK_PANELS) -> list[FallbackJob]:
    """The retries still to run in `store`: per primary polar with angles that no stored polar of its group has
    converged, the panellings of `panels` not yet stored for it (none once a retry at the last one is stored).
    Held-out shapes first, then the others in run_order."""
    converged = _converged_angles(store)
    jobs, shapes = [], {}
    for (shape_id, reynolds, mach, ncrit), polars in _polar_groups(store).items():
        _, key, primary_panels, max_iter, alphas_json, status = polars[0]
        if status.startswith(REJECTED):
            continue
        alphas = tuple(round(float(a), 4) for a in json.loads(alphas_json))
        done = set().union(*(converged.get(p[1], set()) for p in polars))
        failing = tuple(a for a in alphas if a not in done)
        tried = {p[2] for p in polars}
        retries = [p for p in panels if p != primary_panels]
        if not failing or not retries or retries[-1] in tried:
            continue
        todo = tuple(p for p in retries if p not in tried)
        if shape_id not in shapes:
            shapes[shape_id] = store.shape(shape_id)
        settings = XfoilSettings(
            reynolds=float(reynolds),
            mach=float(mach),
            ncrit=float(ncrit),
            n_panels=int(primary_panels),
            max_iter=int(max_iter),
        )
        jobs.append(FallbackJob(shapes[shape_id], settings, alphas, failing, todo))
    return sorted(jobs, key=lambda j: (j.shape.split != "test", run_order(j.shape.shape_id), j.settings.reynolds))


def run_order(shape_id: str) -> str:
    """A shape's place in the retries' order: a seeded hash, so that every subset keeps its relative order and a
    resumed run continues the same sequence."""
    return hashlib.sha256(f"{ORDER_SEED}:{shape_id}".encode()).hexdigest()


def simulate_fallback(job: FallbackJob) -> list[tuple[str, list[float], PolarResult]]:
    """Worker entry point: XFOIL at each of the job's panellings in turn, on the angles the sweep needs to reach
    the points still failing, until none is. Returns (key, angles, result) per run."""
    failing, runs = set(job.failing), []
    for panels in job.panels:
        if not failing:
            break
        alphas = sweep_angles(job.alphas, failing)
        settings = replace(job.settings, n_panels=panels)
        try:
            result = run_polar(job.shape.coordinates, alphas, settings, name=job.shape.name)
        except InputError as exc:
            reason = f"{REJECTED}: {exc}"
            result = PolarResult(reason, [PolarPoint(a, False, reason) for a in alphas], settings)
        runs.append((polar_key(job.shape.shape_id, settings, alphas), alphas, result))
        failing -= {round(p.alpha, 4) for p in result.points if p.converged}
    return runs


def run_fallback(
    path: str | Path,
    panels: tuple[int, ...] = FALLBACK_PANELS,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Run every retry still missing from the polar dataset at `path` and store each run as it arrives.

    Returns a GenerationSummary counting primary polars: planned (with a retry still to run when this call
    started), written (retried now), failed (still with a non-converged angle after their retries)."""
    if not panels or any(not 20 <= int(p) <= 400 for p in panels):
        raise InputError(f"fallback panels must be 1 or more numbers within [20, 400], got {list(panels)}")
    if not Path(path).is_file():
        raise InputError(f"no polar dataset at {path}")
    with PolarStore.open(path) as store:
        jobs = plan_fallback(store, tuple(int(p) for p in panels))
        store.record_request({"fallback_panels": [int(p) for p in panels]})
        summary = GenerationSummary(planned=len(jobs))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), unit="polar", dynamic_ncols=True)
        try:
            for index, runs in run_unordered(simulate_fallback, jobs, workers=workers, scheduler=scheduler):
                job = jobs[index]
                for key, alphas, result in runs:
                    store.add_polar(job.shape, key, result, alphas)
                    summary.by_status[result.status] = summary.by_status.get(result.status, 0) + 1
                recovered = {round(p.alpha, 4) for _, _, r in runs for p in r.points if p.converged}
                summary.written += 1
                summary.failed += bool(set(job.failing) - recovered)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
    return summary


def merged_points(store: PolarStore) -> Iterator[tuple]:
    """One row per point of each primary polar, ordered by shape, Reynolds number and angle:
    (shape_id, reynolds, ncrit, alpha, converged, CL, CD, CM, Top_Xtr, Bot_Xtr, n_panels). Where the primary
    polar did not converge, the first retry (in the order stored) that converged at that angle gives the row."""
    rows: dict[str, dict[float, tuple]] = defaultdict(dict)
    for key, alpha, conv, cl, cd, cm, top, bot in store.conn.execute(
        "SELECT key, alpha, converged, CL, CD, CM, Top_Xtr, Bot_Xtr FROM points"
    ):
        rows[key][round(float(alpha), 4)] = (conv, cl, cd, cm, top, bot)
    out = []
    for (shape_id, reynolds, _, ncrit), polars in _polar_groups(store).items():
        primary = polars[0]
        for alpha, point in rows[primary[1]].items():
            row, panels = point, primary[2]
            if not point[0]:
                for retry in polars[1:]:
                    found = rows[retry[1]].get(alpha)
                    if found is not None and found[0]:
                        row, panels = found, retry[2]
                        break
            out.append((shape_id, reynolds, ncrit, alpha, *row, panels))
    out.sort(key=lambda r: (r[0], r[1], r[3]))
    return iter(out)


def pending_shapes(store: PolarStore, panels: tuple[int, ...] = FALLBACK_PANELS) -> set[str]:
    """Shapes with a retry still to run: their convergence labels are not yet the verification protocol's."""
    return {job.shape.shape_id for job in plan_fallback(store, panels)}


def settled_shapes(store: PolarStore, panels: tuple[int, ...] = FALLBACK_PANELS) -> set[str]:
    """Shapes whose labels are final and that are a fair sample of the dataset while the retries are under way:
    the held-out shapes once none of them has a retry to run, and the other shapes that come before the first one
    with a retry to run in run_order, those that needed no retry included (all shapes when none is pending)."""
    pending = pending_shapes(store, panels)
    split = dict(store.conn.execute("SELECT shape_id, split FROM shapes"))
    frontier = min((run_order(s) for s in pending if split[s] != "test"), default=None)
    settled = {s for s, sp in split.items() if sp != "test" and (frontier is None or run_order(s) < frontier)}
    if not any(split[s] == "test" for s in pending):
        settled |= {s for s, sp in split.items() if sp == "test"}
    return settled
