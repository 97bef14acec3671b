"""Generate a RANS airfoil dataset (OpenFOAM): few expensive cases over the same design space as XFOIL's.

A case is one shape at one Reynolds number and one angle of attack. Shapes come
from the same planner as the XFOIL datasets (held-out real airfoils first when
asked, optionally a seeded subset of them, then Sobol and mixed CST shapes); each gets one Reynolds number
(log-uniform) and `angles_per_shape` angles drawn from the request's list, all
seeded, so the same command asks for the same cases. The file has the polar
store's schema (so the surrogate reads it like an XFOIL dataset) with these
meanings: ncrit 0 (fully turbulent, no e^N transition), n_panels = grid cells,
max_iter = SIMPLE iterations; CDp, Top_Xtr and Bot_Xtr are NULL. The file's
meta 'solver' says which solver, mesh level and turbulence model made it, and a
file made by another solver is refused. Resumable like every dataset here: each
case is written in one transaction as it finishes; a killed run reruns nothing stored. A solver
killed from outside (SIGKILL, SIGTERM, SIGINT) or stopped by the wall-clock limit is not stored
(that depends on the machine's load, not on the case): the next run retries it. Stored outcomes
are deterministic: converged, not converged within max_iter, diverged, or refused by the mesher.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from phenograd.core.errors import InputError
from phenograd.simulators.openfoam import RansSettings, run_rans_point
from phenograd.simulators.openfoam_mesh import MESH_LEVELS
from phenograd.simulators.xfoil import PolarPoint, PolarResult, XfoilSettings

from .airfoil_generate import AirfoilRequest, GenerationSummary, plan_shapes, simulate_and_store
from .airfoil_sampling import reynolds_samples
from .polar_store import PolarStore, ShapeRecord


@dataclass
class RansRequest:
    """What `phenograd data airfoil --solver rans` asks for."""

    shapes: int
    seed: int = 0
    include_real: str = "none"
    real_limit: int | None = None
    real_skip: int = 0
    re_range: tuple[float, float] = (1e6, 1e7)
    alphas: Sequence[float] = tuple(float(a) for a in range(-2, 11))
    angles_per_shape: int = 1
    mesh: str = "coarse"
    turbulence: str = "SpalartAllmaras"
    max_iter: int = 3000
    timeout_s: float | None = None
    mix_fraction: float = 0.5

    def solver_tag(self) -> str:
        return json.dumps({"solver": "openfoam-rans", "mesh": self.mesh, "turbulence": self.turbulence}, sort_keys=True)

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["alphas"], d["re_range"] = list(self.alphas), list(self.re_range)
        return d


@dataclass(frozen=True)
class RansJob:
    """One RANS case, keyed by content (shape, Re, alpha, solver settings)."""

    shape: ShapeRecord
    settings: RansSettings
    alpha: float
    key: str


def rans_key(shape_id: str, settings: RansSettings, alpha: float) -> str:
    payload = json.dumps(
        {
            "shape": shape_id,
            "re": float(f"{settings.reynolds:.6g}"),
            "alpha": round(float(alpha), 4),
            "solver": "openfoam-rans",
            "mesh": settings.mesh,
            "turbulence": settings.turbulence,
            "iter": settings.max_iter,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def plan_rans_jobs(request: RansRequest) -> list[RansJob]:
    """Every case of the request, in the order they should be run."""
    if request.angles_per_shape < 1:
        raise InputError(f"angles_per_shape must be >= 1, got {request.angles_per_shape}", parameter="angles_per_shape")
    alphas = sorted({round(float(a), 4) for a in request.alphas})
    if not alphas:
        raise InputError("no angles of attack given")
    shapes = plan_shapes(
        AirfoilRequest(
            shapes=request.shapes,
            seed=request.seed,
            include_real=request.include_real,
            mix_fraction=request.mix_fraction,
        )
    )
    if request.real_limit is not None or request.real_skip:
        # A seeded subset of the real airfoils, in their planned order: a slice of one seeded permutation, so
        # --real-skip 120 --real-limit 40 picks airfoils no --real-limit 120 run of the same seed had.
        if request.real_limit is not None and request.real_limit < 0:
            raise InputError(f"real_limit must be >= 0, got {request.real_limit}", parameter="real_limit")
        if request.real_skip < 0:
            raise InputError(f"real_skip must be >= 0, got {request.real_skip}", parameter="real_skip")
        real = [i for i, s in enumerate(shapes) if s.source == "uiuc"]
        stop = None if request.real_limit is None else request.real_skip + request.real_limit
        perm = np.random.default_rng(np.random.SeedSequence([request.seed, 17])).permutation(real)
        keep = set(perm[request.real_skip : stop].tolist())
        shapes = [s for i, s in enumerate(shapes) if s.source != "uiuc" or i in keep]
    re_seed = int(np.random.SeedSequence([request.seed, 11]).generate_state(1)[0])
    res = reynolds_samples(len(shapes), 1, *request.re_range, seed=re_seed)[:, 0]
    rng = np.random.default_rng(np.random.SeedSequence([request.seed, 13]))
    jobs = []
    for shape, re in zip(shapes, res):
        settings = RansSettings(
            reynolds=float(f"{re:.6g}"),
            mesh=request.mesh,
            turbulence=request.turbulence,
            max_iter=request.max_iter,
            timeout_s=request.timeout_s,
        )
        settings.validate()
        picks = rng.choice(len(alphas), size=min(request.angles_per_shape, len(alphas)), replace=False)
        for a in sorted(alphas[i] for i in picks):
            jobs.append(RansJob(shape, settings, a, rans_key(shape.shape_id, settings, a)))
    return jobs


def simulate_rans_job(job: RansJob) -> PolarResult:
    """Worker entry point: one RANS case as a one-point polar; a contour the mesher refuses becomes a failed row."""
    s = job.settings
    stored = XfoilSettings(
        reynolds=s.reynolds, mach=0.0, ncrit=0.0, n_panels=MESH_LEVELS[s.mesh].n_cells(), max_iter=s.max_iter
    )
    try:
        p = run_rans_point(job.shape.coordinates, job.alpha, s, name=job.shape.name)
    except InputError as exc:
        reason = f"failed: rejected before OpenFOAM: {exc}"
        return PolarResult(reason, [PolarPoint(job.alpha, False, reason)], stored)
    ok = p.status == "ok" and p.converged
    status = p.status if p.status != "ok" or p.converged else "failed: not converged"
    how = f"ok: mean of oscillating forces over {s.mean_blocks * s.window} iterations" if p.settled == "mean" else "ok"
    point = PolarPoint(
        job.alpha, ok, how if ok else status, CL=p.CL if ok else None, CD=p.CD if ok else None, CM=p.CM if ok else None
    )
    return PolarResult("ok" if ok else status, [point], stored, wall_s=p.wall_s)


def generate_rans(
    path: str | Path,
    request: RansRequest,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
) -> GenerationSummary:
    """Simulate every planned case not yet in the dataset at `path` and store it (single writer)."""
    jobs = plan_rans_jobs(request)
    with PolarStore.open(path) as store:
        tag = store.meta().get("solver")
        if tag is None and store.count("polars") > 0:
            raise InputError(f"{path}: holds XFOIL polars; write RANS cases to a file of their own")
        if tag is not None and tag != request.solver_tag():
            raise InputError(f"{path}: made by {tag}, not {request.solver_tag()}; use a file of its own")
        if tag is None:
            with store.conn:
                store.conn.execute("INSERT OR REPLACE INTO meta VALUES ('solver', ?)", (request.solver_tag(),))
        store.record_request(request.as_dict())
        # A kill from outside, or the wall-clock limit on a loaded machine, says nothing about the case
        # (the iteration cap is its real bound): not stored, retried on the next run.
        return simulate_and_store(
            store,
            jobs,
            simulate_rans_job,
            lambda job: [job.alpha],
            workers,
            scheduler,
            progress,
            "case",
            keep=lambda r: not (r.status.startswith("failed: killed") or r.status == "timeout"),
        )
