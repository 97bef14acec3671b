"""How right is the DFT label set's basis? Its LCAO adsorption energies against plane waves at the same geometries.

    .venv/bin/python -m benchmarks.dft_basis [--dft data/catalyst_dft_v1.db] [--split test] [--ids 379 377 ...]
        [--ecut 800] [--budget-s S] [--no-write]

The label set (data/catalyst_dft_v1.md) is GPAW in LCAO mode with the dzp basis, chosen so that a single point
takes minutes on one core. Here the same systems are recomputed with GPAW's plane waves (``DFTSettings(mode="pw")``)
at a cutoff --ecut, every other setting the label set's (PBE, its PAW setups, k-points, smearing, dipole
correction, spin rules, gas box): the adslab, its clean slab and the gas references, at the label set's
CHGNet-relaxed geometries. The difference is the basis alone. CHGNet's own E_ads of the same geometry is shown
against both.

Rows: --ids, or every row of --split, taken slab by slab, the slabs whose LCAO single points were cheapest first
(so a run stopped by --budget-s has covered the most rows). Every single point is cached in
benchmarks/results/dft_basis/pw_ECUT.json by its content hash (simulators.dft.single_point_uid), written after each
one: a killed run resumes without computing anything twice. Writes the section "DFT label set: LCAO against plane
waves" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase.db import connect
from scipy.stats import spearmanr

from benchmarks.report import machine, publish, today
from phenograd.core.atomic import write_text_atomic
from phenograd.core.errors import InputError
from phenograd.simulators.dft import (
    DFTSettings,
    adsorbate_reference,
    chemical_potentials,
    gas_molecule,
    single_point,
    single_point_uid,
    split_adslab,
)

RESULTS = Path(__file__).resolve().parent / "results" / "dft_basis"
TITLE = "DFT label set: LCAO against plane waves"
GASES = ("H2", "H2O", "N2", "CO")


class EnergyCache:
    """{single_point_uid: energy eV or None (failed)} in a JSON file, rewritten atomically after every entry."""

    def __init__(self, path: Path):
        self.path = path
        self.values = json.loads(path.read_text()) if path.exists() else {}

    def energy(self, atoms, settings: DFTSettings) -> float | None:
        uid = single_point_uid(atoms, settings)
        if uid not in self.values:
            result = single_point(atoms, settings)
            self.values[uid] = result.energy if result.ok else None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.values, indent=0, sort_keys=True))
        return self.values[uid]


def label_set_settings(db) -> DFTSettings:
    settings = (db.metadata.get("dft") or {}).get("settings")
    if not settings:
        raise InputError("the DFT label set records no settings in its metadata")
    return DFTSettings(**settings)


def chosen_rows(db, split: str, ids: list[int] | None) -> list:
    """The rows to recompute, grouped by clean slab, cheapest slab (LCAO wall time) first."""
    rows = [db.get(id=i) for i in ids] if ids else list(db.select(kind="adslab", split=split))
    rows = [r for r in rows if r.get("kind") == "adslab" and r.get("status") == "ok" and r.get("e_ads") is not None]
    if not rows:
        raise InputError("no adsorption energies to recompute among the rows asked for")
    slab_cost = {}
    for r in rows:
        slab_cost[r.slab_uid] = slab_cost.get(r.slab_uid, 0.0) + float(r.get("wall_s", 0.0))
    return sorted(rows, key=lambda r: (slab_cost[r.slab_uid], r.slab_uid, r.id))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dft", default="data/catalyst_dft_v1.db")
    ap.add_argument("--split", default="test")
    ap.add_argument("--ids", type=int, nargs="*", help="row ids of adsorption energies (default: the whole split)")
    ap.add_argument("--ecut", type=float, default=800.0, help="plane-wave cutoff, eV")
    ap.add_argument("--budget-s", type=float, default=None, help="start no new system after this many seconds")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not Path(args.dft).is_file():
        raise SystemExit(f"error: {args.dft} not found (unpack it: python -m phenograd.datasets.release unpack)")
    db = connect(args.dft)
    lcao = label_set_settings(db)
    pw = replace(lcao, mode="pw", ecut=args.ecut, timeout_s=7200.0)
    pw.validate()
    cache = EnergyCache(RESULTS / f"pw_{args.ecut:g}.json")
    t0 = time.perf_counter()
    gas = {name: cache.energy(gas_molecule(name, pw.gas_box), pw) for name in GASES}
    if any(v is None for v in gas.values()):
        raise SystemExit(f"error: a gas reference failed in plane waves: {gas}")
    mu = chemical_potentials(gas)
    done = []
    for row in chosen_rows(db, args.split, args.ids):
        if args.budget_s is not None and time.perf_counter() - t0 > args.budget_s:
            break
        slab = db.get(kind="slab", uid=row.slab_uid).toatoms()
        adslab = row.toatoms()
        _, adsorbate = split_adslab(adslab)
        e_slab, e_adslab = cache.energy(slab, pw), cache.energy(adslab, pw)
        if e_slab is None or e_adslab is None:
            print(f"row {row.id}: a plane-wave single point failed; left out", flush=True)
            continue
        e_pw = e_adslab - e_slab - adsorbate_reference(adsorbate, mu)
        done.append((row, e_pw))
        print(
            f"row {row.id} {row.adsorbate} on {row.metals} {row.facet}: LCAO {row.e_ads:+.2f} PW {e_pw:+.2f}",
            flush=True,
        )
    if not done:
        raise SystemExit("error: no system finished within the budget")

    lcao_e = np.array([r.e_ads for r, _ in done])
    pw_e = np.array([e for _, e in done])
    chg = np.array([r.e_ads_potential for r, _ in done])
    lines = [
        f"Command: `python -m benchmarks.dft_basis --dft {args.dft} "
        + (f"--ids {' '.join(str(r.id) for r, _ in done)}" if args.ids else f"--split {args.split}")
        + f" --ecut {args.ecut:g}`  ",
        f"Date: {today()}  ",
        f"Machine: {machine()}  ",
        f"LCAO: the label set's settings ({(db.metadata.get('dft') or {}).get('describe', '')}). Plane waves: the same "
        f"with GPAW's PW mode at {args.ecut:g} eV (grid from the cutoff). Gas references in plane waves (eV): "
        + ", ".join(f"{k} {v:.3f}" for k, v in gas.items())
        + ".",
        "",
        "| row | system | facet | split | LCAO (label set) | plane waves | LCAO - PW | CHGNet | CHGNet - PW |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (row, e), a, c in zip(done, lcao_e, chg):
        lines.append(
            f"| {row.id} | {row.adsorbate} on {row.metals} | {row.facet} | {row.split} | {a:+.2f} | {e:+.2f} | "
            f"{a - e:+.2f} | {c:+.2f} | {c - e:+.2f} |"
        )
    n = len(done)
    rho_lcao = spearmanr(lcao_e, pw_e).statistic if n > 2 else float("nan")
    rho_chg = spearmanr(chg, pw_e).statistic if n > 2 else float("nan")
    lines += [
        "",
        f"Over {n} rows: LCAO against plane waves MAE {np.mean(np.abs(lcao_e - pw_e)):.2f} eV, mean signed "
        f"{np.mean(lcao_e - pw_e):+.2f}, median absolute {np.median(np.abs(lcao_e - pw_e)):.2f}, Spearman "
        f"{rho_lcao:+.2f}; CHGNet against plane waves MAE {np.mean(np.abs(chg - pw_e)):.2f} eV (Spearman "
        f"{rho_chg:+.2f}), against LCAO {np.mean(np.abs(chg - lcao_e)):.2f} eV.",
    ]
    publish(TITLE, "\n".join(lines), write=not args.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
