"""Write an airfoil optimization's results: .dat files, a JSON report and PNG plots.

Files in the output folder:
    optimized.dat, start.dat   Selig-format contours
    report.json                AirfoilResult.to_dict() (objective, constraints, predicted and
                               verified values per point, solver status, call counts, wall time)
    shape.png                  start and optimized contours
    polars.png                 CL(alpha), drag polar and CM(alpha) at the middle operating
                               point's Reynolds number: surrogate curves, and XFOIL polars
                               when `xfoil_polars` is true (two more XFOIL calls, counted)
Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from phenograd.core.atomic import write_bytes_atomic
from phenograd.datasets.datfile import format_dat
from phenograd.simulators.xfoil import XfoilSettings, run_polar

PLOT_ALPHAS = np.arange(-5.0, 15.001, 1.0)


def _save_figure(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_bytes_atomic(path, buf.getvalue())


def _shape_plot(result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 2.8))
    ax.plot(*np.asarray(result.start_contour).T, "--", color="0.5", label="start")
    ax.plot(*np.asarray(result.contour).T, "-", color="C0", label="optimized")
    ax.set_aspect("equal")
    ax.set_xlabel("x/c")
    ax.set_ylabel("y/c")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"{result.problem}: objective {result.start_objective:.5g} -> {result.objective:.5g} (predicted)")
    _save_figure(fig, path)
    plt.close(fig)


def _polars_plot(result, problem, surrogate, path: Path, xfoil_polars: bool) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mid = problem.points[len(problem.points) // 2]
    alphas = torch.linspace(-5.0, 15.0, 81, dtype=torch.float64)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    calls = 0
    for cst, contour, label, color in (
        (result.start_cst, result.start_contour, "start", "0.5"),
        (result.cst, result.contour, "optimized", "C0"),
    ):
        with torch.no_grad():
            out = surrogate.predict_airfoil(
                torch.tensor(cst, dtype=torch.float32)[None], alphas.float(), mid.reynolds, mid.ncrit
            )
        cl, cd, cm = (out[k][0].numpy() for k in ("CL", "CD", "CM"))
        a = alphas.numpy()
        axes[0].plot(a, cl, "-", color=color, label=f"{label}, surrogate")
        axes[1].plot(cd, cl, "-", color=color)
        axes[2].plot(a, cm, "-", color=color)
        if xfoil_polars:
            polar = run_polar(
                np.asarray(contour),
                list(PLOT_ALPHAS),
                XfoilSettings(reynolds=mid.reynolds, mach=mid.mach, ncrit=mid.ncrit),
            )
            calls += 1
            ok = [p for p in polar.points if p.converged]
            axes[0].plot([p.alpha for p in ok], [p.CL for p in ok], "o", ms=3, color=color, label=f"{label}, XFOIL")
            axes[1].plot([p.CD for p in ok], [p.CL for p in ok], "o", ms=3, color=color)
            axes[2].plot([p.alpha for p in ok], [p.CM for p in ok], "o", ms=3, color=color)
    axes[0].set(xlabel="alpha (deg)", ylabel="CL")
    axes[1].set(xlabel="CD", ylabel="CL", xlim=(0, None))
    axes[2].set(xlabel="alpha (deg)", ylabel="CM (c/4)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"polars at Re {mid.reynolds:.3g}, Ncrit {mid.ncrit:g}")
    _save_figure(fig, path)
    plt.close(fig)
    return calls


def write_report(result, problem, out_dir, xfoil_polars: bool = False, started: float | None = None) -> Path:
    """Write every output file of `result` into out_dir (the module docstring lists them); returns report.json's path.

    Args:
        result: what optimize() returned; its surrogate draws the predicted polars.
        problem: the AirfoilProblem it solved.
        out_dir: the folder to write into (created if missing).
        xfoil_polars: add XFOIL polars of the start and the optimum to polars.png (two more XFOIL calls, counted).
        started: time.perf_counter() at the start of the run, to record the wall time with the plots.
    """
    surrogate = result.surrogate
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(
        out / "optimized.dat", format_dat(f"{result.problem} optimized", np.asarray(result.contour)).encode()
    )
    write_bytes_atomic(
        out / "start.dat", format_dat(f"{result.problem} start", np.asarray(result.start_contour)).encode()
    )
    _shape_plot(result, out / "shape.png")
    result.xfoil_calls += _polars_plot(result, problem, surrogate, out / "polars.png", xfoil_polars)
    if started is not None:
        result.wall_s = time.perf_counter() - started
    path = out / "report.json"
    write_bytes_atomic(path, json.dumps(result.to_dict(), indent=1).encode())
    return path
