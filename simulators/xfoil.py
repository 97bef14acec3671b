"""XFOIL driver: one isolated, time-limited subprocess per polar.

XFOIL (Drela's viscous panel method with an integral boundary layer) labels an
airfoil contour at a Reynolds number with CL, CD, CDp, CM and the transition
locations, per angle of attack. This module scripts the ``xfoil`` binary through
stdin and reads its results back, and it guards against XFOIL's known traps:

* Debian's build dies with SIGFPE on the first viscous point unless a no-op
  ``_gfortran_set_fpe`` is preloaded (:func:`fpe_shim_path` builds it once);
* it hangs at a prompt at end of input, or iterates for a long time: every run
  has a wall-clock limit and the whole process group is killed on expiry;
* it keeps the previous airfoil when a contour has too many points and exits 0
  on a self-crossing one: :func:`phenograd.simulators.contour.prepare_for_xfoil`
  refuses or repanels such contours before XFOIL sees them.

Each angle's outcome is read from XFOIL's own console markers in order ("Point
added to stored polar" or "Convergence failed"), so a crash, a timeout or a
non-converged angle is attributed to exactly the angle it happened at.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from phenograd.core.atomic import atomic_path
from phenograd.core.errors import InputError, SimulatorUnavailable
from phenograd.core.paths import cache_dir

from .contour import XFOIL_MAX_POINTS, prepare_for_xfoil

POINT_FIELDS = ("CL", "CD", "CDp", "CM", "Top_Xtr", "Bot_Xtr")

_OUTCOME = re.compile(r"Point added to stored polar|VISCAL:\s+Convergence failed")
_ALPHA_ECHO = re.compile(r"^\s*a =\s*(-?[\d.]+)\s+CL =", re.MULTILINE)


@dataclass(frozen=True)
class XfoilSettings:
    """Settings of one XFOIL polar.

    Args:
        reynolds: chord Reynolds number (> 0).
        mach: free-stream Mach number for XFOIL's Karman-Tsien correction (0 <= M < 1).
        ncrit: e^N transition amplification ratio (9 = average wind tunnel).
        n_panels: panel nodes after XFOIL's curvature-based repanelling (PANE).
        max_iter: Newton iterations per angle (ITER).
        timeout_s: wall-clock limit for the whole polar; None = 20 s + 4 s per angle.
        angle_timeout_s: XFOIL is killed when no angle finishes for this long (a hang).
        max_restarts: cold restarts after a hang or crash, each from the next angle.

    timeout_s, angle_timeout_s and max_restarts bound the work; they do not
    change a converged answer, so they are not part of a dataset's content key.
    """

    reynolds: float
    mach: float = 0.0
    ncrit: float = 9.0
    n_panels: int = 160
    max_iter: int = 100
    timeout_s: float | None = None
    angle_timeout_s: float = 10.0
    max_restarts: int = 3

    def validate(self) -> None:
        """Raise InputError for settings XFOIL cannot run."""
        if not (math.isfinite(self.reynolds) and 1e3 <= self.reynolds <= 1e9):
            raise InputError(f"Reynolds number {self.reynolds!r} out of range [1e3, 1e9]")
        if not (math.isfinite(self.mach) and 0.0 <= self.mach < 1.0):
            raise InputError(f"Mach number {self.mach!r} out of range [0, 1)")
        if not (math.isfinite(self.ncrit) and 0.0 < self.ncrit <= 20.0):
            raise InputError(f"Ncrit {self.ncrit!r} out of range (0, 20]")
        if not (20 <= int(self.n_panels) <= XFOIL_MAX_POINTS - 5):
            raise InputError(f"n_panels {self.n_panels!r} out of range [20, {XFOIL_MAX_POINTS - 5}]")
        if not (1 <= int(self.max_iter) <= 10000):
            raise InputError(f"max_iter {self.max_iter!r} out of range [1, 10000]")
        if self.timeout_s is not None and not (self.timeout_s > 0):
            raise InputError(f"timeout_s {self.timeout_s!r} must be positive")
        if not (self.angle_timeout_s > 0):
            raise InputError(f"angle_timeout_s {self.angle_timeout_s!r} must be positive")
        if not (0 <= int(self.max_restarts) <= 100):
            raise InputError(f"max_restarts {self.max_restarts!r} out of range [0, 100]")

    def timeout_for(self, n_alpha: int) -> float:
        """Wall-clock limit in seconds for a polar of n_alpha angles."""
        return float(self.timeout_s) if self.timeout_s is not None else 20.0 + 4.0 * n_alpha


@dataclass
class PolarPoint:
    """One angle of attack. Coefficients are None unless converged.

    status: "ok", "failed: <reason>", "timeout" or "not run: <reason>".
    alpha in degrees; Top_Xtr, Bot_Xtr are transition locations in x/c.
    """

    alpha: float
    converged: bool
    status: str
    CL: float | None = None
    CD: float | None = None
    CDp: float | None = None
    CM: float | None = None
    Top_Xtr: float | None = None
    Bot_Xtr: float | None = None


@dataclass
class PolarResult:
    """All angles of one contour at one setting, in ascending alpha.

    Args:
        status: "ok" when XFOIL went through every angle without incident (angles
            may still be non-converged); otherwise the first incident, "timeout" or
            "failed: <reason>", after which XFOIL may have been restarted cold at the
            next angle (restarts). Per-point statuses say which angles have values.
        points: one PolarPoint per angle, ascending alpha.
        settings: the XfoilSettings it ran with.
        wall_s: seconds the XFOIL subprocesses ran in all.
        returncode: the last XFOIL process's exit code.
        restarts: cold restarts after a hang or crash.
        log_tail: the end (2,000 characters) of XFOIL's output.
    """

    status: str
    points: list[PolarPoint]
    settings: XfoilSettings
    wall_s: float = 0.0
    returncode: int | None = None
    restarts: int = 0
    log_tail: str = field(default="", repr=False)

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "settings": asdict(self.settings),
            "wall_s": self.wall_s,
            "returncode": self.returncode,
            "restarts": self.restarts,
            "points": [asdict(p) for p in self.points],
        }

    @property
    def n_converged(self) -> int:
        return sum(p.converged for p in self.points)


# --------------------------------------------------------------------------- binaries


def xfoil_binary() -> str:
    """Absolute path of the xfoil executable ($PHENOGRAD_XFOIL or `xfoil` on PATH)."""
    name = os.environ.get("PHENOGRAD_XFOIL", "xfoil")
    path = shutil.which(name)
    if path is None:
        raise SimulatorUnavailable(
            f"xfoil binary {name!r} not found on PATH; install it with `apt-get install xfoil` (make setup does)"
        )
    return path


def fpe_shim_path() -> Path:
    """Path of the shared library that disables gfortran's FP traps, built on first use.

    Built with $CC (default `cc`) from the bundled nofpe.c into the cache
    directory ($PHENOGRAD_CACHE_DIR or ~/.cache/phenograd), atomically, so
    concurrent workers never load a half-written file.
    """
    source = Path(__file__).with_name("nofpe.c")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    target = cache_dir() / f"libnofpe-{digest}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise SimulatorUnavailable("no C compiler (cc/gcc) to build XFOIL's floating-point-trap shim; install gcc")
    with atomic_path(target, suffix=".so.tmp") as tmp:
        proc = subprocess.run(
            [compiler, "-shared", "-fPIC", "-O2", "-o", str(tmp), str(source)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise SimulatorUnavailable(f"building XFOIL's FP-trap shim failed: {proc.stderr.strip()[:200]}")
    return target


# --------------------------------------------------------------------------- script


def _sweep_order(alphas: Sequence[float]) -> tuple[list[float], list[float]]:
    """Split angles into the upward sweep from 0 and the downward sweep from below 0."""
    uniq = sorted({round(float(a), 4) for a in alphas})
    up = [a for a in uniq if a >= 0.0]
    down = sorted((a for a in uniq if a < 0.0), reverse=True)
    return up, down


def _write_contour(path: Path, contour: np.ndarray) -> None:
    with open(path, "w") as f:
        f.write("phenograd\n")
        for x, y in contour:
            f.write(f"{x: .8f} {y: .8f}\n")


def _script(settings: XfoilSettings, up: list[float], down: list[float]) -> str:
    lines = [
        "PLOP",
        "G F",
        "",  # graphics off
        "LOAD foil.dat",
        "PPAR",
        f"N {int(settings.n_panels)}",
        "",
        "",  # repanel with n nodes
        "OPER",
        f"VISC {settings.reynolds:.6g}",
        f"MACH {settings.mach:.6g}",
        "VPAR",
        f"N {settings.ncrit:.6g}",
        "",
        f"ITER {int(settings.max_iter)}",
    ]
    if up:
        lines += ["PACC", "up.pol", ""]
        lines += [f"ALFA {a:.4f}" for a in up]
        lines += ["PACC"]
    if down:
        lines += ["INIT", "PACC", "down.pol", ""]
        lines += [f"ALFA {a:.4f}" for a in down]
        lines += ["PACC"]
    lines += ["", "QUIT", ""]
    return "\n".join(lines)


def _read_polar_rows(path: Path) -> list[dict]:
    """Rows of an XFOIL polar save file as dicts of the POINT_FIELDS plus alpha."""
    rows = []
    if not path.exists():
        return rows
    started = False
    for line in path.read_text(errors="replace").splitlines():
        if line.strip().startswith("------"):
            started = True
            continue
        if not started or not line.strip():
            continue
        parts = line.split()
        try:
            values = [float(v) for v in parts[:7]]
        except ValueError:
            continue
        if len(values) == 7:
            rows.append(dict(zip(("alpha",) + POINT_FIELDS, values)))
    return rows


def _segment_outcomes(log: str) -> list[tuple[bool, float | None]]:
    """(converged, echoed alpha) for each ALFA command XFOIL finished, in order."""
    outcomes = []
    start = 0
    for m in _OUTCOME.finditer(log):
        echoed = _ALPHA_ECHO.findall(log, start, m.start())
        outcomes.append((m.group(0).startswith("Point"), float(echoed[-1]) if echoed else None))
        start = m.end()
    return outcomes


def _not_run(stop_reason: str | None) -> str:
    why = (stop_reason or "xfoil stopped early").removeprefix("failed: ")
    return f"not run: {why} at an earlier angle"


class _OutOfStep(Exception):
    """XFOIL's console log does not match the angles sent (never silently misattribute)."""


def _assemble(
    sweep: list[float], outcomes: list[tuple[bool, float | None]], rows: list[dict], stop_reason: str | None
) -> list[PolarPoint]:
    """Attribute outcomes to the angles of one sweep in the order they were sent."""
    points = []
    row_iter = iter(rows)
    for k, alpha in enumerate(sweep):
        if k < len(outcomes):
            converged, echoed = outcomes[k]
            if echoed is not None and abs(echoed - alpha) > 1e-3:
                raise _OutOfStep(f"xfoil log out of step (expected alpha {alpha}, saw {echoed})")
            if converged:
                row = next(row_iter, None)
                if row is None or abs(row["alpha"] - alpha) > 1e-3:
                    points.append(PolarPoint(alpha, False, "failed: polar file missing this point"))
                else:
                    points.append(PolarPoint(alpha, True, "ok", **{k2: row[k2] for k2 in POINT_FIELDS}))
            else:
                points.append(PolarPoint(alpha, False, "failed: not converged"))
        elif k == len(outcomes) and stop_reason is not None:
            points.append(PolarPoint(alpha, False, stop_reason))
        else:
            points.append(PolarPoint(alpha, False, _not_run(stop_reason)))
    return points


@dataclass
class _Run:
    """What one XFOIL process left behind."""

    log: str
    returncode: int | None
    timed_out: bool
    wall_s: float
    up_rows: list[dict]
    down_rows: list[dict]


def _count_new_markers(tail: str, chunk: str) -> tuple[int, str]:
    """Outcome markers that end inside `chunk` (markers are < 64 characters long)."""
    combined = tail + chunk
    n = sum(1 for m in _OUTCOME.finditer(combined) if m.end() > len(tail))
    return n, combined[-64:]


def _run_xfoil(
    foil: np.ndarray,
    settings: XfoilSettings,
    up: list[float],
    down: list[float],
    env: dict,
    binary: str,
    deadline: float,
) -> _Run:
    """One XFOIL process over the given sweeps, killed when an angle makes no progress
    for settings.angle_timeout_s or when the polar's deadline passes."""
    with tempfile.TemporaryDirectory(prefix="phenograd-xfoil-") as tmp:
        workdir = Path(tmp)
        _write_contour(workdir / "foil.dat", foil)
        t0 = time.monotonic()
        # coreutils `timeout` also bounds XFOIL when this process dies (e.g. SIGKILL) before its watchdog can act.
        limit = f"{max(1.0, deadline - t0) + 5.0:.0f}"
        command = ["timeout", "-s", "KILL", limit, binary] if shutil.which("timeout") else [binary]
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return _watch(proc, settings, up, down, workdir, deadline, t0)
        finally:
            if proc.poll() is None:  # interrupted (Ctrl-C, SIGTERM): leave no XFOIL running in its own session
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _watch(
    proc: subprocess.Popen,
    settings: XfoilSettings,
    up: list[float],
    down: list[float],
    workdir: Path,
    deadline: float,
    t0: float,
) -> _Run:
    """Feed XFOIL its script and read its output until it ends, makes no progress or passes the deadline."""
    try:
        proc.stdin.write(_script(settings, up, down).encode())  # a few kB: fits the pipe buffer
        proc.stdin.close()
    except BrokenPipeError:
        pass
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    tail, last_progress, timed_out = "", time.monotonic(), False
    while True:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            data = os.read(fd, 1 << 16)
            if not data:
                break
            chunks.append(data)
            n, tail = _count_new_markers(tail, data.decode(errors="replace"))
            if n:
                last_progress = time.monotonic()
        now = time.monotonic()
        if now - last_progress > settings.angle_timeout_s or now > deadline:
            timed_out = True
            break
    if timed_out:
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    proc.stdout.close()
    return _Run(
        log=b"".join(chunks).decode(errors="replace"),
        returncode=proc.returncode,
        timed_out=timed_out,
        wall_s=time.monotonic() - t0,
        up_rows=_read_polar_rows(workdir / "up.pol"),
        down_rows=_read_polar_rows(workdir / "down.pol"),
    )


def _describe_exit(code: int) -> str:
    """'killed by signal SIGFPE' for a signal death (negative code, or 128+n as `timeout` reports it)."""
    number = -code if code < 0 else code - 128 if code > 128 else None
    try:
        return f"killed by signal {signal.Signals(number).name}" if number else f"exit code {code}"
    except ValueError:
        return f"exit code {code}"


def _interpret(run: _Run, up: list[float], down: list[float]) -> tuple[list[PolarPoint], str | None]:
    """Points of one run (angles never reached are 'not run: ...') and its stop reason or None."""
    outcomes = _segment_outcomes(run.log)
    code = run.returncode
    if run.timed_out:
        stop = "timeout"
    elif code != 0:
        how = _describe_exit(code)
        stop = f"failed: xfoil crashed ({how})"
    elif len(outcomes) < len(up) + len(down):
        stop = "failed: xfoil stopped before finishing the sweep (exit code 0)"
    else:
        stop = None
    up_out, down_out = outcomes[: len(up)], outcomes[len(up) :]
    try:
        up_points = _assemble(up, up_out, run.up_rows, stop)
        if stop is not None and len(up_out) < len(up):
            # The run stopped during the upward sweep: the downward one never started.
            down_points = [PolarPoint(a, False, _not_run(stop)) for a in down]
        else:
            down_points = _assemble(down, down_out, run.down_rows, stop)
    except _OutOfStep as exc:
        stop = f"failed: {exc}"
        return [PolarPoint(a, False, stop) for a in up + down], stop
    return up_points + down_points, stop


def run_polar(
    contour: np.ndarray, alphas: Sequence[float], settings: XfoilSettings, name: str = "contour"
) -> PolarResult:
    """Run one XFOIL polar for a contour (N, 2) at angles `alphas` (degrees).

    Angles >= 0 are swept upward from the smallest, then the boundary layer is
    re-initialised and angles < 0 are swept downward, so each point starts from
    its neighbour's solution. If XFOIL hangs (no angle finishes within
    settings.angle_timeout_s) or crashes at some angle, that angle is recorded
    as such and a fresh XFOIL process continues cold from the next angle, at
    most settings.max_restarts times and within settings.timeout_for(n) seconds
    in all. Returns points in ascending alpha. Raises InputError for a bad
    contour or settings before XFOIL is started.

    Args:
        contour: the airfoil, a Selig-ordered contour (N, 2) in chords (checked and repanelled for XFOIL).
        alphas: angles of attack in degrees, any order.
        settings: Reynolds number, Mach, Ncrit, panels, iterations and the time bounds (XfoilSettings).
        name: what error messages call the contour.
    """
    settings.validate()
    if len(alphas) == 0:
        raise InputError("no angles of attack given")
    if not all(math.isfinite(float(a)) and -90.0 < float(a) < 90.0 for a in alphas):
        raise InputError("angles of attack must be finite and within (-90, 90) degrees")
    foil = prepare_for_xfoil(contour, name)
    up, down = _sweep_order(alphas)
    binary = xfoil_binary()
    env = dict(os.environ, GFORTRAN_UNBUFFERED_ALL="y")
    if os.environ.get("PHENOGRAD_XFOIL_FPE_SHIM", "1") != "0":  # "0" only to diagnose the trap itself
        env["LD_PRELOAD"] = str(fpe_shim_path())
    deadline = time.monotonic() + settings.timeout_for(len(up) + len(down))

    done: dict[float, PolarPoint] = {}
    first_stop: str | None = None
    wall, code, log, restarts = 0.0, None, "", 0
    while up or down:
        run = _run_xfoil(foil, settings, up, down, env, binary, deadline)
        wall += run.wall_s
        code, log = run.returncode, run.log
        points, stop = _interpret(run, up, down)
        for p in points:
            if not p.status.startswith("not run"):
                done[p.alpha] = p
        if stop is None:
            break
        first_stop = first_stop or stop
        up = [a for a in up if a not in done]
        down = [a for a in down if a not in done]
        out_of_time = time.monotonic() >= deadline
        if stop.startswith("failed: xfoil stopped") or out_of_time or restarts >= settings.max_restarts:
            why = "polar time limit reached" if out_of_time else "no restarts left"
            for a in up + down:
                done[a] = PolarPoint(a, False, f"not run: {why} after {stop.removeprefix('failed: ')}")
            break
        restarts += 1 if (up or down) else 0
    points = sorted(done.values(), key=lambda p: p.alpha)
    return PolarResult(
        first_stop or "ok", points, settings, wall_s=wall, returncode=code, restarts=restarts, log_tail=log[-2000:]
    )


def parse_alpha_spec(spec: str) -> list[float]:
    """Angles from a SPEC: '2', '-4:12:1' (start:stop:step, stop included) or '0,2,4'.

    Args:
        spec: the text as a user writes it on the command line.
    """
    text = str(spec).strip()
    try:
        if ":" in text:
            parts = [float(p) for p in text.split(":")]
            if len(parts) != 3:
                raise ValueError
            start, stop, step = parts
            if step <= 0 or stop < start:
                raise ValueError
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            if n > 1000:
                raise InputError(f"alpha spec {spec!r} gives {n} angles; at most 1000")
            values = [round(start + i * step, 6) for i in range(n)]
        else:
            values = [float(p) for p in text.split(",")]
    except (ValueError, OverflowError):  # OverflowError: an infinite range ('0:inf:1')
        raise InputError(
            f"bad alpha spec {spec!r}: use a number ('2'), start:stop:step with step > 0 ('-4:12:1') "
            "or a list ('0,2,4')"
        ) from None
    if not values or not all(math.isfinite(v) and -90 < v < 90 for v in values):
        raise InputError(f"bad alpha spec {spec!r}: angles must be finite and within (-90, 90) degrees")
    return values
