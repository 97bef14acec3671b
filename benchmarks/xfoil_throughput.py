"""XFOIL simulator benchmark: throughput, wrapper overhead, convergence by Reynolds band, CPU use.

    .venv/bin/python -m benchmarks.xfoil_throughput [--shapes 16] [--repeats 2]

Inputs: every 100th real *training* airfoil of the bundled database, alpha -5..15
deg in 1 deg steps, Ncrit 9, 160 panels, ITER 100.
1. Wrapper vs raw: the same contour and the same XFOIL script run (a) through
   phenograd's run_polar (validation, watchdog, log parsing) and (b) by piping the
   script straight into the xfoil binary; serial, interleaved, `repeats` times.
2. Throughput and CPU use: every shape at Re 2e5, 1e6 and 5e6 with 1 and with 2
   local workers; CPU use = CPU seconds spent on the polars (workers and their
   xfoil processes, counted per task) / (wall x workers).
3. Convergence rate by Reynolds band, from run 2 (and from data/airfoil_v1.db if present).
Writes the section "XFOIL simulator" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.report import machine, today, write_section
from phenograd.datasets.airfoil import real_airfoils
from phenograd.datasets.polar_info import dataset_info
from phenograd.simulators import xfoil
from phenograd.simulators.parallel import run_unordered

ALPHAS = [float(a) for a in range(-5, 16)]
BANDS = (2e5, 1e6, 5e6)


RAW_LIMIT_S = 30.0


def raw_xfoil(coords, settings) -> float | None:
    """Seconds for the bare binary on the same input file and script (no checks, no parsing);
    None if it is still running after RAW_LIMIT_S (bare XFOIL has no watchdog)."""
    up, down = xfoil._sweep_order(ALPHAS)
    env = dict(os.environ, LD_PRELOAD=str(xfoil.fpe_shim_path()))
    with tempfile.TemporaryDirectory() as tmp:
        xfoil._write_contour(Path(tmp) / "foil.dat", coords)
        t0 = time.perf_counter()
        try:
            subprocess.run(
                [xfoil.xfoil_binary()],
                input=xfoil._script(settings, up, down).encode(),
                cwd=tmp,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=RAW_LIMIT_S,
            )
        except subprocess.TimeoutExpired:
            return None
        return time.perf_counter() - t0


def wrapped(coords, settings) -> float:
    t0 = time.perf_counter()
    xfoil.run_polar(coords, ALPHAS, settings)
    return time.perf_counter() - t0


def _cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (the xfoil processes it ran)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def polar_task(args):
    """One polar in a worker, with the CPU seconds it cost there (worker + its xfoil)."""
    coords, re = args
    before = _cpu_seconds()
    result = xfoil.run_polar(coords, ALPHAS, xfoil.XfoilSettings(reynolds=re))
    return result, _cpu_seconds() - before


def throughput(tasks, workers):
    t0 = time.perf_counter()
    done = [r for _, r in run_unordered(polar_task, tasks, workers=workers)]
    wall = time.perf_counter() - t0
    return [r for r, _ in done], wall, sum(c for _, c in done)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    foils = real_airfoils("train")[::100][: args.shapes]
    settings = xfoil.XfoilSettings(reynolds=1e6)
    header = machine()

    raw_t, wrap_t, hung = [], [], set()
    for _ in range(args.repeats):
        for f in foils:
            if f.name in hung:
                continue
            raw = raw_xfoil(f.coordinates, settings)
            if raw is None:
                hung.add(f.name)
                continue
            raw_t.append(raw)
            wrap_t.append(wrapped(f.coordinates, settings))
    ratios = [w / r for w, r in zip(wrap_t, raw_t)]

    tasks = [(f.coordinates, re) for f in foils for re in BANDS]
    runs = {}
    for workers in (1, 2):
        runs[workers] = throughput(tasks, workers)

    results = runs[1][0]
    band_rows = []
    for re in BANDS:
        pts = [p for r in results if r.settings.reynolds == re for p in r.points]
        band_rows.append(
            f"| {re:.0e} | {sum(p.converged for p in pts)}/{len(pts)} | {sum(p.converged for p in pts) / len(pts):.1%} |"
        )

    lines = [
        f"Command: `.venv/bin/python -m benchmarks.xfoil_throughput --shapes {args.shapes} --repeats {args.repeats}`",
        f"Date: {today()}. Machine: {header}. Debian xfoil 6.99, one process per polar.",
        f"Inputs: {len(foils)} real training airfoils (every 100th of the database), alpha -5..15 deg (21 angles), "
        "Ncrit 9, 160 panels, ITER 100.",
        "",
        "**Wrapper overhead** (same contour file and script; serial, interleaved; seconds per 21-angle polar at Re 1e6):",
        "",
        "| | median | min | max |",
        "|---|---|---|---|",
        f"| raw `xfoil < script` | {statistics.median(raw_t):.3f} | {min(raw_t):.3f} | {max(raw_t):.3f} |",
        f"| phenograd `run_polar` | {statistics.median(wrap_t):.3f} | {min(wrap_t):.3f} | {max(wrap_t):.3f} |",
        "",
        f"Overhead ratio wrapper/raw: median of per-polar ratios {statistics.median(ratios):.3f} "
        f"(ratio of medians {statistics.median(wrap_t) / statistics.median(raw_t):.3f}; n = {len(ratios)}). "
        f"Left out of the comparison: {len(hung)} shape(s) on which bare XFOIL was still running after "
        f"{RAW_LIMIT_S:.0f} s ({', '.join(sorted(hung)) or 'none'}); phenograd's per-angle watchdog ends such runs.",
        "",
        f"**Throughput** ({len(tasks)} polars: each shape at Re 2e5, 1e6, 5e6):",
        "",
        "| workers | wall [s] | polars/s | polars/s per core | CPU use |",
        "|---|---|---|---|---|",
    ]
    for workers, (_, wall, cpu) in runs.items():
        rate = len(tasks) / wall
        lines.append(f"| {workers} | {wall:.1f} | {rate:.2f} | {rate / workers:.2f} | {cpu / (wall * workers):.0%} |")
    lines += [
        "",
        "**Convergence rate by Reynolds number** (points converged / points asked, this benchmark's serial run):",
        "",
        "| Re | converged | rate |",
        "|---|---|---|",
        *band_rows,
    ]
    release = Path(__file__).resolve().parents[1] / "data" / "airfoil_v1.db"
    if release.exists():
        info = dataset_info(release)
        lines += [
            "",
            f"From the data release `data/airfoil_v1.db` as it stood ({info['polars']} polars, "
            f"{info['points']} points; sampled and real shapes, Re log-uniform in 1e5-1e7):",
            "",
            "| Re band | converged | rate |",
            "|---|---|---|",
            *(f"| {b['band']} | {b['converged']}/{b['points']} | {b['rate']:.1%} |" for b in info["convergence_by_re"]),
        ]
    write_section("XFOIL simulator", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
