"""Is one DFT label right? The checks that tell a wrong SCF, setup, geometry or basis apart, for one row.

    .venv/bin/python -m benchmarks.dft_row_check --id 379 [--dft data/catalyst_dft_v1.db] [--cutoffs 400 600 800]
        [--no-write]

For an adsorption energy of the DFT label set (data/catalyst_dft_v1.md), recomputed at its CHGNet-relaxed geometry
with the label set's clean slab and gas references unless a variant changes them:
- the label set's settings again (a single point is deterministic: the same number, or the row is stale);
- the damped density mixer of the set's retries, and spin polarisation from 1 Bohr magneton on every atom (another
  SCF path, another magnetic state: a different energy means the SCF found a state that is not the ground state);
- GPAW's standard PAW setups instead of the reduced-valence ones (adslab and clean slab);
- the adsorbate moved rigidly along z by --shifts Å (a geometry far from LCAO's own minimum lowers E on one side);
- plane waves at --cutoffs eV, adslab, clean slab and gas references (the basis; simulators.dft pw mode).
Writes the section "DFT row check: ROW" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ase.db import connect

from benchmarks.dft_basis import GASES, label_set_settings, plane_wave_settings
from benchmarks.report import machine, publish, today
from phenograd.simulators.adsorption import TAG_ADSORBATE
from phenograd.simulators.dft import (
    DAMPED_MIXER,
    adsorbate_reference,
    chemical_potentials,
    gas_molecule,
    run_job,
    single_point,
    split_adslab,
    worker_job,
)


def energy(atoms, settings, **job_changes) -> float:
    """GPAW energy (eV) of atoms at settings, with the worker job's settings updated by job_changes."""
    job = worker_job(atoms, settings)
    magmoms = job_changes.pop("magmoms", None)
    if magmoms is not None:
        job["magmoms"] = magmoms
    job["settings"] = {**job["settings"], **job_changes}
    result = run_job(job, settings)
    if not result.ok:
        raise SystemExit(f"error: a single point failed: {result.status}")
    return result.energy


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dft", default="data/catalyst_dft_v1.db")
    ap.add_argument("--id", type=int, required=True, help="row id of an adsorption energy")
    ap.add_argument("--shifts", type=float, nargs="*", default=[0.3, -0.15], help="adsorbate moved along z, Å")
    ap.add_argument("--cutoffs", type=float, nargs="*", default=[400.0, 600.0, 800.0], help="plane waves, eV")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not Path(args.dft).is_file():
        raise SystemExit(f"error: {args.dft} not found (unpack it: python -m phenograd.datasets.release unpack)")
    db = connect(args.dft)
    try:
        row = db.get(id=args.id)
    except KeyError:
        raise SystemExit(f"error: no row {args.id} in {args.dft}") from None
    if row.get("kind") != "adslab" or row.get("e_ads") is None:
        raise SystemExit(f"error: row {args.id} is not an adsorption energy")
    settings = label_set_settings(db)
    adslab, slab = row.toatoms(), db.get(kind="slab", uid=row.slab_uid).toatoms()
    reference, e_slab = row.e_reference, row.e_slab
    results = [("the label set's value", row.e_ads)]

    def e_ads(e_adslab: float, slab_energy: float = e_slab, ref: float = reference) -> float:
        return e_adslab - slab_energy - ref

    results.append(("the same settings again", e_ads(single_point(adslab, settings).energy)))
    results.append(("damped density mixer", e_ads(energy(adslab, settings, mixer=DAMPED_MIXER))))
    results.append(
        (
            "spin-polarised, 1 Bohr magneton per atom",
            e_ads(energy(adslab, settings, spin=True, magmoms=[1.0] * len(adslab))),
        )
    )
    standard = replace(settings, setups="standard")
    results.append(
        (
            "GPAW's standard setups (adslab and clean slab)",
            e_ads(single_point(adslab, standard).energy, single_point(slab, standard).energy),
        )
    )
    moved = adslab.get_tags() == TAG_ADSORBATE
    for dz in args.shifts:
        shifted = adslab.copy()
        shifted.positions[moved, 2] += dz
        results.append((f"adsorbate moved {dz:+.2f} Å along z", e_ads(single_point(shifted, settings).energy)))
    adsorbate = split_adslab(adslab)[1]
    for ecut in args.cutoffs:
        pw = plane_wave_settings(db, ecut)
        mu = chemical_potentials({name: single_point(gas_molecule(name, pw.gas_box), pw).energy for name in GASES})
        results.append(
            (
                f"plane waves at {ecut:g} eV (adslab, clean slab, gas references)",
                e_ads(
                    single_point(adslab, pw).energy, single_point(slab, pw).energy, adsorbate_reference(adsorbate, mu)
                ),
            )
        )
    name = f"{row.adsorbate} on {row.metals} {row.facet} (row {row.id})"
    lines = [
        f"Command: `python -m benchmarks.dft_row_check --dft {args.dft} --id {args.id} --shifts "
        + " ".join(f"{x:g}" for x in args.shifts)
        + " --cutoffs "
        + " ".join(f"{x:g}" for x in args.cutoffs)
        + "`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}  ",
        f"Row: {name}, split {row.split}; CHGNet's E_ads at this geometry {row.e_ads_potential:+.2f} eV.",
        "",
        "| variant | E_ads (eV) | minus the label set's |",
        "|---|---|---|",
        *(f"| {label} | {value:+.3f} | {value - row.e_ads:+.3f} |" for label, value in results),
    ]
    publish(f"DFT row check: {name}", "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
