"""Cost of one CHGNet relaxation step as phenograd calls it, beside CHGNet's own default task (issue 32).

    .venv/bin/python -m benchmarks.chgnet_step [--reps 7] [--no-write]

CHGNet's ASE calculator computes energy, forces, stress and magnetic moments ("efsm") on every call; phenograd's
(simulators/calculators.py) asks for energy and forces only ("ef") unless stress or moments are requested, as in a
fixed-cell relaxation. Both variants evaluate the same structures (O in the fcc hollow of a Pt(111) 3x3x4 slab, the
v2 protocol's cell size), alternately, one torch thread; medians of --reps calls after a warm-up, and one whole BFGS
relaxation (fmax 0.05 eV/Å) with each. Writes the section "CHGNet relaxation cost" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from benchmarks.hotspots import side_by_side
from benchmarks.report import machine, publish, today


def slab():
    from ase.build import add_adsorbate, fcc111
    from ase.constraints import FixAtoms

    atoms = fcc111("Pt", (3, 3, 4), vacuum=7.0)
    z = atoms.positions[:, 2]
    atoms.set_constraint(FixAtoms(indices=np.nonzero(z < z.min() + 2.5)[0]))
    add_adsorbate(atoms, "O", 1.6, "fcc")
    return atoms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    import torch
    from ase.optimize import BFGS

    from phenograd.simulators.calculators import chgnet

    torch.set_num_threads(1)
    atoms = slab()
    calc = chgnet()
    tasks = {"phenograd (energy and forces)": None, "CHGNet default (efsm)": "efsm"}

    def call(task):
        return lambda: calc.calculate(atoms.copy(), ["energy", "forces"], task=task)

    cases = {name: call(task) for name, task in tasks.items()}
    for case in cases.values():
        case()
    per_call = side_by_side(cases, args.reps)
    relax = {}
    for name, task in tasks.items():
        work = atoms.copy()
        work.calc = chgnet()
        if task is not None:
            base = work.calc.calculate
            work.calc.calculate = lambda a=None, p=None, s=None, base=base: base(a, p, s, task="efsm")
        opt = BFGS(work, logfile=None)
        t0 = time.perf_counter()
        opt.run(fmax=0.05, steps=300)
        relax[name] = (time.perf_counter() - t0, opt.nsteps, float(work.get_potential_energy()))
    ours, peer = list(tasks)
    lines = [
        f"Command: `python -m benchmarks.chgnet_step --reps {args.reps}`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}; one torch thread.  ",
        "Structure: O in the fcc hollow of Pt(111) 3x3x4 (37 atoms, bottom two layers fixed); CHGNet 0.3.0 weights.",
        "",
        "| variant | one call (median) | BFGS relaxation | steps | final energy (eV) |",
        "|---|---|---|---|---|",
    ]
    for name in tasks:
        t, steps, energy = relax[name]
        lines.append(f"| {name} | {per_call[name] * 1000:.0f} ms | {t:.2f} s | {steps} | {energy:.6f} |")
    lines += [
        "",
        f"Per call phenograd's takes {per_call[ours] / per_call[peer]:.2f}x the time of CHGNet's default; the whole "
        f"relaxation {relax[ours][0] / relax[peer][0]:.2f}x. Energies and forces are the same to the bit "
        "(tests/test_calculators.py), so the relaxations take the same steps to the same energy.",
    ]
    publish("CHGNet relaxation cost", "\n".join(lines) + "\n", write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
