"""Catalyst simulator benchmark: relaxations per second per core, overhead against bare ASE,
E_ads distribution per adsorbate.

    .venv/bin/python -m benchmarks.adsorption_throughput [--structures 40] [--seed 0] [--release data/catalyst_v1.db]

Inputs: the first `structures` adslabs of the reference-protocol plan (3x3 cell,
4 layers, (111) and (100), EMT's seven metals, H O N C OH) for the seed.
1. Bare ASE vs phenograd, serial in this process, one BLAS thread, interleaved:
   (a) bare: ase.optimize.BFGS + EMT on the adslab and on its clean slab, fmax
   0.05 eV/Å, 300 steps, then E_ads from the gas references;
   (b) phenograd.simulators.adsorption.adsorption_energy on the same structure
   (checks, guarded relaxations of slab and adslab, site kinds, AdsorbML anomalies).
   CPU seconds per structure (process time) are the robust figure on a shared
   machine; relaxations per second per core = relaxations / CPU seconds.
2. The dataset pipeline: `generate` with 1 worker into a fresh ase.db (plan,
   relax, anomaly checks, one transaction per slab), CPU seconds per stored structure.
3. E_ads distribution per adsorbate (rows without anomaly) of the release file.
Writes the section "Catalyst simulator" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase.calculators.emt import EMT
from ase.optimize import BFGS
from threadpoolctl import threadpool_limits

from benchmarks.report import machine, today, write_section
from phenograd.datasets.catalyst_generate import CatalystRequest, generate, iter_plan
from phenograd.datasets.catalyst_info import dataset_info
from phenograd.simulators.adsorption import (
    RelaxSettings,
    adsorption_energy,
    calculator_spec,
    clean_slab_of,
    gas_references,
    with_protocol_constraints,
)


def bare_ase(adslab, refs) -> tuple[float, int]:
    """E_ads (eV) and force calls with nothing but ASE: BFGS + EMT on adslab and clean slab."""
    energies, calls = [], 0
    for atoms in (with_protocol_constraints(adslab), clean_slab_of(adslab)):
        atoms.calc = EMT()
        opt = BFGS(atoms, logfile=None)
        opt.run(fmax=0.05, steps=300)
        energies.append(atoms.get_potential_energy())
        calls += opt.nsteps + 1
    symbols = adslab[adslab.get_tags() == 2].get_chemical_symbols()
    return energies[0] - energies[1] - sum(refs.mu[s] for s in symbols), calls


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--structures", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--release", default="data/catalyst_v1.db")
    args = ap.parse_args(argv)
    host = machine()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    spec, settings = calculator_spec(None), RelaxSettings()
    refs = gas_references(spec, settings)
    request = CatalystRequest(n=args.structures, seed=args.seed)
    placements = [p for *_, ps in iter_plan(request, spec, settings) for p in ps]

    # 1. bare ASE vs phenograd, interleaved
    cpu = {"bare": 0.0, "phenograd": 0.0}
    wall = {"bare": 0.0, "phenograd": 0.0}
    steps, calls, diffs = [], 0, []
    with threadpool_limits(limits=1, user_api="blas"):
        for p in placements:
            for name in ("bare", "phenograd"):
                c0, w0 = time.process_time(), time.perf_counter()
                if name == "bare":
                    e_bare, n_calls = bare_ase(p.atoms, refs)
                    calls += n_calls
                else:
                    r = adsorption_energy(p.atoms, spec, settings, refs)
                    steps.append(r.steps)
                cpu[name] += time.process_time() - c0
                wall[name] += time.perf_counter() - w0
            diffs.append(abs(r.e_ads - e_bare))
    n = len(placements)
    relax_per_cpu_s = {k: 2 * n / v for k, v in cpu.items()}  # adslab + clean slab per structure
    overhead = cpu["phenograd"] / cpu["bare"] - 1

    # 2. pipeline: plan + relax + store, 1 worker
    with tempfile.TemporaryDirectory() as tmp:
        c0, w0 = time.process_time(), time.perf_counter()
        summary = generate(Path(tmp) / "bench.db", request, workers=1, progress=False)
        pipe_cpu, pipe_wall = time.process_time() - c0, time.perf_counter() - w0

    # 3. E_ads distribution of the release
    release = Path(args.release)
    dist = ""
    if release.exists():
        info = dataset_info(release)
        dist = (
            f"From `{release}` at the time of the run ({info['labelled_ok']} labelled rows, "
            f"{info['ok_without_anomaly']} without anomaly; anomalies: "
            + ", ".join(f"{k} {v}" for k, v in info["anomalies"].items())
            + "):\n\n"
            "| adsorbate | n | mean | std | p5 | median | p95 | min | max |\n|---|---|---|---|---|---|---|---|---|\n"
        )
        for ads, s in info["e_ads_by_adsorbate"].items():
            if s["n"]:
                dist += (
                    f"| {ads} | {s['n']} | {s['mean']:+.3f} | {s['std']:.3f} | {s['p5']:+.3f} | {s['median']:+.3f} "
                    f"| {s['p95']:+.3f} | {s['min']:+.3f} | {s['max']:+.3f} |\n"
                )
        dist += "\nE_ads in eV against the gas references mu_X; EMT's H, C, N, O parameters are toys, so these are not chemistry."

    body = f"""Command: `.venv/bin/python -m benchmarks.adsorption_throughput --structures {args.structures} --seed {args.seed}`
Date: {today()}. Machine: {host}; `nproc` = {nproc}. The machine is shared with other jobs (the load
average above), so wall times are noisy: CPU seconds (process time) are the figures to trust.

**Protocol**: ASE {__import__("ase").__version__} EMT, BFGS fmax 0.05 eV/Å, 300 steps, 3x3 cell (4x4 for ordered
prototypes), 4 layers, bottom two fixed; the first {n} structures of the seed-{args.seed} plan (mean
{np.mean(steps):.1f} BFGS steps per adslab, {calls / (2 * n):.1f} force calls per relaxation in bare ASE).

| | CPU s per structure (adslab + clean slab) | relaxations / s / core | wall s per structure |
|---|---|---|---|
| bare ASE (BFGS + EMT) | {cpu["bare"] / n:.3f} | {relax_per_cpu_s["bare"]:.2f} | {wall["bare"] / n:.3f} |
| phenograd `adsorption_energy` | {cpu["phenograd"] / n:.3f} | {relax_per_cpu_s["phenograd"]:.2f} | {wall["phenograd"] / n:.3f} |
| phenograd `data catalyst` pipeline, 1 worker (clean slab once per slab) | {pipe_cpu / max(summary.written, 1):.3f} | | {pipe_wall / max(summary.written, 1):.3f} |

Overhead of phenograd over bare ASE: {overhead:+.1%} CPU (structure checks, the blow-up guard at every
step, site kinds, AdsorbML connectivity checks). Largest |E_ads(phenograd) - E_ads(bare ASE)|: {max(diffs):.2e} eV.
The pipeline reuses each clean slab for its {request.per_slab} placements, which is why it is cheaper per
structure than calling `adsorption_energy` once per structure.

Measured on the way: with numpy's default threaded OpenBLAS on this busy 2-core machine, BFGS's
eigendecomposition of the 3N x 3N Hessian took 8x the CPU of a one-thread BLAS (1.6 s vs 0.2 s for O on Pt(111));
every phenograd relaxation therefore runs under `threadpool_limits(1)`.

{dist}
"""
    write_section("Catalyst simulator", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
