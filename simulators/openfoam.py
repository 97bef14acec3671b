"""OpenFOAM RANS driver: steady incompressible flow around a 2-D airfoil, one isolated case per angle.

Same contract as the XFOIL driver: a plain function of (contour, angles,
settings) that returns one result per angle with a status ("ok", "failed:
<reason>", "timeout"), runs every case in its own temporary directory under a
wall-clock limit, and can run on a local pool or a Dask cluster.

Each case: a C-grid (:mod:`.openfoam_mesh`, written straight as a polyMesh),
``simpleFoam`` with Spalart-Allmaras or k-omega SST (:mod:`.openfoam_case`),
force coefficients from OpenFOAM's ``forceCoeffs`` every iteration, the wall
pressure coefficient and y+ at the end. The run stops when

* every initial residual is below its target (OpenFOAM's residualControl), or
* the force coefficients have settled: at a checkpoint (every CHECK_EVERY
  iterations) CL moved less than ``cl_tol`` and CD less than ``cd_tol`` over the
  last ``window`` iterations (this driver then asks OpenFOAM to write and stop,
  by editing controlDict, which it re-reads; the values reported are the means
  over the window before that checkpoint, so they do not depend on timing), or
* the forces oscillate about settled means (a steady solver's limit cycle, e.g. a
  separating trailing edge): at a checkpoint the CL and CD means of each of the
  last ``mean_blocks`` windows agree within ``cl_mean_tol``/``cd_mean_tol``; the
  values reported are the means over those windows (``settled`` "mean"), or
* ``max_iter`` is reached (the point is returned with ``converged`` False), or
* the solution diverges (a floating-point trap or |CL| > 50: "failed: diverged"),
  or the wall-clock limit passes ("timeout"); the solver's process group is killed.

Debian's ``openfoam`` package (v1912) provides the binaries; this module finds
its etc/ directory itself, so no OpenFOAM bashrc needs sourcing.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from phenograd.core.atomic import write_text_atomic
from phenograd.core.errors import InputError, SimulatorUnavailable

from .openfoam_case import TURBULENCE_MODELS, case_files
from .openfoam_mesh import MESH_LEVELS, CGrid, MeshLevel, c_grid, write_poly_mesh

#: Wall-clock seconds per angle when RansSettings.timeout_s is None (2 cores, Debian's OpenFOAM v1912).
DEFAULT_TIMEOUT_S = {"coarse": 300.0, "medium": 1200.0, "fine": 3600.0}


@dataclass(frozen=True)
class RansSettings:
    """Settings of one RANS polar.

    Args:
        reynolds: chord Reynolds number (free-stream speed and chord are 1, nu = 1/Re).
        mesh: resolution level, a key of MESH_LEVELS ("coarse", "medium", "fine").
        turbulence: "SpalartAllmaras" (fully turbulent, free-stream nuTilda = 3 nu) or "kOmegaSST".
        max_iter: SIMPLE iterations at most.
        window, cl_tol, cd_tol: force-coefficient convergence: CL and CD ranges over the last `window`
            iterations below the tolerances (1e-4 is one drag count; a blunt base's small limit cycle passes).
        mean_blocks, cl_mean_tol, cd_mean_tol: settled on average, for forces that oscillate in a steady
            limit cycle (a separating trailing edge, a blunt base on a coarse grid): the means of CL and CD
            over each of the last `mean_blocks` blocks of `window` iterations agree within these tolerances
            (the first block after the start-up transient is never among them); the answer is then the mean
            over those blocks. mean_blocks 0 turns this off.
        timeout_s: wall-clock limit per angle; None = DEFAULT_TIMEOUT_S[mesh].
        keep_dir: keep each case directory here (one sub-folder per angle) instead of deleting it.

    timeout_s and keep_dir do not change a converged answer.
    """

    reynolds: float
    mesh: str = "coarse"
    turbulence: str = "SpalartAllmaras"
    max_iter: int = 3000
    window: int = 200
    cl_tol: float = 1e-3
    cd_tol: float = 1e-4
    mean_blocks: int = 5
    cl_mean_tol: float = 5e-3
    cd_mean_tol: float = 3e-4
    timeout_s: float | None = None
    keep_dir: str | None = None

    def validate(self) -> None:
        """Raise InputError for settings this driver cannot run."""
        if not (math.isfinite(self.reynolds) and 1e4 <= self.reynolds <= 1e8):
            raise InputError(f"Reynolds number {self.reynolds!r} out of range [1e4, 1e8] for RANS")
        if self.mesh not in MESH_LEVELS:
            raise InputError(f"unknown mesh level {self.mesh!r}; choose from {', '.join(MESH_LEVELS)}")
        if self.turbulence not in TURBULENCE_MODELS:
            raise InputError(
                f"unknown turbulence model {self.turbulence!r}; choose from {', '.join(TURBULENCE_MODELS)}"
            )
        if not (isinstance(self.max_iter, int) and 10 <= self.max_iter <= 100_000):
            raise InputError(f"max_iter {self.max_iter!r} out of range [10, 100000]")
        if not (isinstance(self.window, int) and 10 <= self.window <= self.max_iter):
            raise InputError(f"convergence window {self.window!r} must be within [10, max_iter]")
        if not (isinstance(self.mean_blocks, int) and 0 <= self.mean_blocks <= 100):
            raise InputError(f"mean_blocks {self.mean_blocks!r} must be an integer within [0, 100]")
        if self.timeout_s is not None and not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise InputError(f"timeout {self.timeout_s!r} must be a positive number of seconds")

    def time_limit(self) -> float:
        return float(self.timeout_s) if self.timeout_s is not None else DEFAULT_TIMEOUT_S[self.mesh]


@dataclass
class RansPoint:
    """One angle of attack.

    status: "ok", "failed: <reason>" or "timeout". converged: a convergence criterion was met;
    settled says which: "forces" (CL, CD ranges), "residuals", "mean" (oscillating forces whose block
    means agree; see RansSettings), "" when none. CL, CD, CM are means over the last `window`
    iterations (over the last mean_blocks * window when settled is "mean") whenever the solver ran
    (also when not converged), None when it failed before any.
    CM about the quarter chord, positive nose-up. cp_x, cp_y, cp: wall pressure
    coefficient per wall face (face centres in chords). y_plus_mean/max: wall y+.
    """

    alpha: float
    converged: bool
    status: str
    CL: float | None = None
    CD: float | None = None
    CM: float | None = None
    iterations: int = 0
    settled: str = ""
    wall_s: float = 0.0
    y_plus_mean: float | None = None
    y_plus_max: float | None = None
    cp_x: list[float] = field(default_factory=list, repr=False)
    cp_y: list[float] = field(default_factory=list, repr=False)
    cp: list[float] = field(default_factory=list, repr=False)
    log_tail: str = field(default="", repr=False)


@dataclass
class RansResult:
    """All angles of one contour at one setting, ascending alpha.

    Args:
        status: "ok", or the first failure.
        points: one RansPoint per angle, ascending alpha.
        settings: the RansSettings it ran with.
        cells: the mesh's cell count.
        wall_s: seconds the solver ran in all.
    """

    status: str
    points: list[RansPoint]
    settings: RansSettings
    cells: int = 0
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "settings": asdict(self.settings),
            "cells": self.cells,
            "wall_s": self.wall_s,
            "points": [{k: v for k, v in asdict(p).items() if k != "log_tail"} for p in self.points],
        }


# --------------------------------------------------------------------------- installation


def openfoam_env() -> dict[str, str]:
    """Environment for OpenFOAM's binaries: os.environ plus WM_PROJECT_DIR/FOAM_ETC of the installed package.

    Raises SimulatorUnavailable when simpleFoam is not on PATH.
    """
    if shutil.which("simpleFoam") is None:
        raise SimulatorUnavailable(
            "OpenFOAM's simpleFoam not found on PATH; install Debian's openfoam package "
            "(`make setup-cfd` does: apt-get install openfoam)"
        )
    env = dict(os.environ)
    if "WM_PROJECT_DIR" not in env:
        for root in (os.environ.get("PHENOGRAD_OPENFOAM_DIR"), "/usr/share/openfoam", "/usr/lib/openfoam/openfoam"):
            if root and Path(root, "etc", "controlDict").exists():
                env["WM_PROJECT_DIR"], env["FOAM_ETC"] = root, str(Path(root, "etc"))
                break
        else:
            raise SimulatorUnavailable(
                "OpenFOAM's etc/controlDict not found; set PHENOGRAD_OPENFOAM_DIR to its project directory"
            )
    return env


# --------------------------------------------------------------------------- reading results


def read_force_coefficients(path: Path) -> dict[str, np.ndarray]:
    """Columns of a forceCoeffs ``coefficient.dat`` (v1912) or ``forceCoeffs.dat``:
    {"Time", "Cd", "Cl", "CmPitch", ...}.

    The header's last comment line names the columns; rows that are incomplete
    (a file being written) are dropped. Returns empty arrays when there are no rows.
    """
    names: list[str] = []
    rows: list[list[float]] = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            parts = line[1:].split()
            if parts and parts[0] == "Time":
                names = parts
            continue
        vals = line.split()
        if names and len(vals) == len(names):
            try:
                rows.append([float(v) for v in vals])
            except ValueError:
                continue
    if not names:
        return {}
    arr = np.array(rows, dtype=float).reshape(-1, len(names))
    return {n: arr[:, k] for k, n in enumerate(names)}


def _coefficient_file(case: Path) -> Path | None:
    hits = sorted((case / "postProcessing" / "forceCoeffs").glob("*/*.dat"))
    return hits[-1] if hits else None


def _read_cp(case: Path) -> tuple[list[float], list[float], list[float]]:
    hits = sorted(
        (case / "postProcessing" / "wallPressure").glob("*/p_airfoil.raw"), key=lambda p: float(p.parent.name)
    )
    if not hits:
        return [], [], []
    data = np.loadtxt(hits[-1], comments="#", ndmin=2)
    if data.size == 0:
        return [], [], []
    return data[:, 0].tolist(), data[:, 1].tolist(), (2.0 * data[:, 3]).tolist()


def _read_y_plus(case: Path) -> tuple[float | None, float | None]:
    hits = sorted((case / "postProcessing" / "yPlus").glob("*/yPlus.dat"))
    if not hits:
        return None, None
    last = None
    for line in hits[-1].read_text().splitlines():
        parts = line.split()
        if not line.startswith("#") and len(parts) >= 5 and parts[1] == "airfoil":
            last = parts
    if last is None:
        return None, None
    return float(last[4]), float(last[3])  # columns: time patch min max average


# --------------------------------------------------------------------------- running


#: Iterations between the checkpoints at which the force criterion is evaluated.
CHECK_EVERY = 50


def _first_settled(coeffs: dict[str, np.ndarray], settings: RansSettings) -> int | None:
    """The first checkpoint N (a multiple of CHECK_EVERY, N >= window) at which CL and CD have settled over
    iterations (N - window, N], or None. Deciding at fixed checkpoints, not whenever the monitor happens to
    look, keeps the result independent of timing: the same case gives the same numbers on any machine."""
    cl, cd = coeffs.get("Cl", np.empty(0)), coeffs.get("Cd", np.empty(0))
    w = settings.window
    for n in range(max(w, CHECK_EVERY), len(cl) + 1, CHECK_EVERY):
        if np.ptp(cl[n - w : n]) < settings.cl_tol and np.ptp(cd[n - w : n]) < settings.cd_tol:
            return n
    return None


def _first_mean_settled(coeffs: dict[str, np.ndarray], settings: RansSettings) -> int | None:
    """The first checkpoint N at which the CL and CD means over each of the last `mean_blocks` blocks of
    `window` iterations agree within cl_mean_tol and cd_mean_tol, or None. Needs one more block than it
    compares, so the start-up transient (the first block) never counts."""
    b, w = settings.mean_blocks, settings.window
    if b < 2:
        return None
    cl, cd = coeffs.get("Cl", np.empty(0)), coeffs.get("Cd", np.empty(0))
    first = math.ceil((b + 1) * w / CHECK_EVERY) * CHECK_EVERY  # the first checkpoint with b + 1 blocks
    for n in range(first, len(cl) + 1, CHECK_EVERY):
        means_cl = cl[n - b * w : n].reshape(b, w).mean(axis=1)
        means_cd = cd[n - b * w : n].reshape(b, w).mean(axis=1)
        if np.ptp(means_cl) < settings.cl_mean_tol and np.ptp(means_cd) < settings.cd_mean_tol:
            return n
    return None


def _settled(coeffs: dict[str, np.ndarray], settings: RansSettings) -> tuple[int, str] | None:
    """(checkpoint, "forces" | "mean") of the first criterion met, the plain force criterion first."""
    n = _first_settled(coeffs, settings)
    if n is not None:
        return n, "forces"
    n = _first_mean_settled(coeffs, settings)
    return (n, "mean") if n is not None else None


def _request_stop(case: Path) -> None:
    """Ask the running solver to write and stop at its next iteration (it re-reads controlDict)."""
    cd = case / "system" / "controlDict"
    text = re.sub(r"^stopAt\s+\w+;", "stopAt writeNow;", cd.read_text(), flags=re.MULTILINE)
    write_text_atomic(cd, text)
    future = time.time() + 2.0  # a new mtime, past the file-modification skew check
    os.utime(cd, (future, future))


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _solve(case: Path, settings: RansSettings, env: dict, deadline: float) -> tuple[str, str, dict]:
    """Run simpleFoam in `case` until converged, diverged, finished or out of time.

    Returns (status, settled, coefficients); settled is "" unless a criterion was met.
    """
    log = open(case / "log.simpleFoam", "wb")
    # setpriv (util-linux) makes the kernel kill the solver if this process dies first (a SIGTERM to a dataset run,
    # an OOM kill): the solver runs in a session of its own, so nothing else would stop it before max_iter.
    guard = ["setpriv", "--pdeathsig", "KILL"] if shutil.which("setpriv") else []
    proc = subprocess.Popen(
        [*guard, "simpleFoam", "-case", str(case)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    coeffs: dict = {}
    stop_requested, status = False, None
    try:
        while True:
            try:
                proc.wait(timeout=1.0)
                break
            except subprocess.TimeoutExpired:
                pass
            path = _coefficient_file(case)
            coeffs = read_force_coefficients(path) if path else {}
            cl = coeffs.get("Cl", np.empty(0))
            if len(cl) and (not np.all(np.isfinite(cl[-5:])) or np.abs(cl[-5:]).max() > 50.0):
                _kill(proc)
                status = "failed: diverged"
                break
            if time.monotonic() > deadline:
                _kill(proc)
                status = "timeout"
                break
            if not stop_requested and _settled(coeffs, settings) is not None:
                _request_stop(case)
                stop_requested = True
    finally:
        if proc.poll() is None:
            _kill(proc)
        log.close()
    path = _coefficient_file(case)
    coeffs = read_force_coefficients(path) if path else {}
    if status is not None:
        return status, "", coeffs
    text = (case / "log.simpleFoam").read_text(errors="replace")
    if proc.returncode != 0:
        if proc.returncode in (-signal.SIGKILL, -signal.SIGTERM, -signal.SIGINT):
            return f"failed: killed by signal {-proc.returncode}", "", coeffs
        if proc.returncode in (-signal.SIGFPE, 128 + signal.SIGFPE) or "sigFpe" in text:
            return "failed: diverged (floating-point exception)", "", coeffs
        tail = text.strip().splitlines()[-1:] if text.strip() else ["no output"]
        return f"failed: simpleFoam exit {proc.returncode}: {tail[0][:120]}", "", coeffs
    cl = coeffs.get("Cl", np.empty(0))
    if len(cl) == 0 or not np.all(np.isfinite(cl[-5:])):
        return "failed: no force coefficients written", "", coeffs
    settled = _settled(coeffs, settings)
    if settled is not None:  # report the iterations up to the checkpoint, whatever ran after it
        n, how = settled
        return "ok", how, {k: v[:n] for k, v in coeffs.items()}
    return "ok", "residuals" if "SIMPLE solution converged" in text else "", coeffs


def run_rans_point(
    contour: np.ndarray, alpha: float, settings: RansSettings, name: str = "contour", level: MeshLevel | None = None
) -> RansPoint:
    """Run one RANS case at angle of attack `alpha` (degrees) around `contour` (N, 2), Selig order, chords.

    level: a resolution of one's own (grid-sensitivity studies) instead of MESH_LEVELS[settings.mesh].
    Raises InputError for a bad contour or settings before OpenFOAM is started
    (including a contour the C-grid cannot be built around).
    """
    settings.validate()
    grid = c_grid(contour, settings.reynolds, level or MESH_LEVELS[settings.mesh], name)
    return _run_case(grid, alpha, settings)


def _run_case(grid: CGrid, alpha: float, settings: RansSettings) -> RansPoint:
    """One case on an already built grid (the grid depends on the contour and Re, not on alpha)."""
    if not (math.isfinite(float(alpha)) and -25.0 <= float(alpha) <= 25.0):
        raise InputError(f"angle of attack {alpha!r} must be finite and within [-25, 25] degrees for RANS")
    env = openfoam_env()
    t0 = time.monotonic()
    # The case always runs in a fresh temporary folder of a safe name: OpenFOAM never sees a user's path (a
    # --keep-case folder with spaces, quotes or newlines); with keep_dir the finished case is copied there.
    cleanup = tempfile.TemporaryDirectory(prefix="phenograd-rans-")
    case = Path(cleanup.name)
    try:
        write_poly_mesh(grid, case)
        for rel, text in case_files(float(alpha), settings.reynolds, settings.turbulence, settings.max_iter).items():
            (case / rel).parent.mkdir(parents=True, exist_ok=True)
            (case / rel).write_text(text)
        status, settled, coeffs = _solve(case, settings, env, t0 + settings.time_limit())
        point = RansPoint(float(alpha), bool(settled), status, settled=settled, wall_s=time.monotonic() - t0)
        if len(coeffs.get("Cl", [])):
            span = settings.window * (settings.mean_blocks if settled == "mean" else 1)
            point.CL, point.CD, point.CM = (float(np.mean(coeffs[k][-span:])) for k in ("Cl", "Cd", "CmPitch"))
            point.iterations = int(coeffs["Time"][-1])
        if status == "ok":
            point.cp_x, point.cp_y, point.cp = _read_cp(case)
            point.y_plus_mean, point.y_plus_max = _read_y_plus(case)
        log = case / "log.simpleFoam"
        point.log_tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        return point
    finally:
        try:
            if settings.keep_dir:
                kept = Path(settings.keep_dir) / f"alpha_{alpha:+08.3f}"
                if kept.exists():
                    shutil.rmtree(kept)
                shutil.copytree(case, kept)
        finally:
            cleanup.cleanup()


def run_rans(contour: np.ndarray, alphas: Sequence[float], settings: RansSettings, name: str = "contour") -> RansResult:
    """RANS at each angle (degrees), one isolated case each, in ascending alpha.

    Angles run one after another (each case already keeps a core busy); give
    several contours or settings to a pool or Dask cluster to run them side by side.

    Args:
        contour: the airfoil, a Selig-ordered contour (N, 2) in chords (meshed as a C-grid).
        alphas: angles of attack in degrees, any order.
        settings: Reynolds number, turbulence model, mesh level, iterations and time bounds (RansSettings).
        name: what error messages call the contour.
    """
    settings.validate()
    if len(alphas) == 0:
        raise InputError("no angles of attack given")
    grid = c_grid(contour, settings.reynolds, MESH_LEVELS[settings.mesh], name)  # refused before any solver runs
    points = [_run_case(grid, a, settings) for a in sorted(float(a) for a in alphas)]
    first_bad = next((p.status for p in points if p.status != "ok"), None)
    return RansResult(first_bad or "ok", points, settings, cells=len(grid.cells), wall_s=sum(p.wall_s for p in points))
