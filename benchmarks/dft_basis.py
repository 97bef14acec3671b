"""How right is the DFT label set's basis? Its LCAO adsorption energies against plane waves at the same geometries.

    .venv/bin/python -m benchmarks.dft_basis [--dft data/catalyst_dft_v1.db] [--split test] [--ids 379 377 ...]
        [--ecut 600] [--shard K/N] [--budget-s S] [--no-write]

The label set (data/catalyst_dft_v1.md) is GPAW in LCAO mode with the dzp basis, chosen so that a single point
takes minutes on one core. Here the same systems are recomputed with GPAW's plane waves (``DFTSettings(mode="pw")``)
at a cutoff --ecut, every other setting the label set's (PBE, its PAW setups, k-points, smearing, dipole
correction, spin rules, gas box): the adslab, its clean slab and the gas references, at the label set's
CHGNet-relaxed geometries. The difference is the basis alone. CHGNet's own E_ads of the same geometry is shown
against both.

Rows: --ids, or every row of --split, taken slab by slab, the slabs whose LCAO single points were cheapest first
(so a run stopped by --budget-s has covered the most rows). Every single point is cached in
benchmarks/results/dft_basis/pw_ECUT.json by its content hash (simulators.dft.single_point_uid), written after each
one: a killed run resumes without computing anything twice. With --shard K/N, N processes take every N-th slab
and share the cache (run them with --no-write); then --cached-only, which computes nothing, publishes every row the
cache holds. Writes the section "DFT label set: LCAO against plane
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
    """{single_point_uid: energy eV or None (failed)} in a JSON file, rewritten atomically after every entry,
    merged with what the file holds then (so that two shards' processes may share it)."""

    def __init__(self, path: Path):
        self.path = path
        self.values = json.loads(path.read_text()) if path.exists() else {}

    def has(self, atoms, settings: DFTSettings) -> bool:
        return single_point_uid(atoms, settings) in self.values

    def energy(self, atoms, settings: DFTSettings) -> float | None:
        uid = single_point_uid(atoms, settings)
        if uid not in self.values:
            result = single_point(atoms, settings)
            self.values[uid] = result.energy if result.ok else None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            on_disk = json.loads(self.path.read_text()) if self.path.exists() else {}
            self.values = on_disk | self.values
            write_text_atomic(self.path, json.dumps(self.values, indent=0, sort_keys=True))
        return self.values[uid]


def label_set_settings(db) -> DFTSettings:
    settings = (db.metadata.get("dft") or {}).get("settings")
    if not settings:
        raise InputError("the DFT label set records no settings in its metadata")
    return DFTSettings(**settings)


def plane_wave_settings(db, ecut: float) -> DFTSettings:
    """The label set's settings with plane waves at ecut (eV) instead of its basis."""
    pw = replace(label_set_settings(db), mode="pw", ecut=ecut, timeout_s=7200.0)
    pw.validate()
    return pw


def cache_file(ecut: float) -> Path:
    return RESULTS / f"pw_{ecut:g}.json"


def row_e_ads(row, db, pw: DFTSettings, cache: EnergyCache, mu: dict, compute: bool = True) -> float | None:
    """Plane-wave E_ads (eV) of one label-set row: its adslab and clean slab at pw, minus the gas references mu.
    None when a single point failed, or (compute False) when the cache lacks one."""
    slab, adslab = db.get(kind="slab", uid=row.slab_uid).toatoms(), row.toatoms()
    if not compute and not (cache.has(slab, pw) and cache.has(adslab, pw)):
        return None
    e_slab, e_adslab = cache.energy(slab, pw), cache.energy(adslab, pw)
    if e_slab is None or e_adslab is None:
        return None
    return e_adslab - e_slab - adsorbate_reference(split_adslab(adslab)[1], mu)


def cached_plane_wave_labels(db, ecut: float) -> dict[int, float]:
    """{row id: plane-wave E_ads (eV)} of the label set's adsorption energies whose single points and gas
    references the cache at ecut holds (benchmarks.catalyst_ladder scores against them); computes nothing."""
    pw, cache = plane_wave_settings(db, ecut), EnergyCache(cache_file(ecut))
    gases = [gas_molecule(name, pw.gas_box) for name in GASES]
    if not all(cache.has(g, pw) for g in gases) or any(cache.energy(g, pw) is None for g in gases):
        return {}
    mu = chemical_potentials({name: cache.energy(g, pw) for name, g in zip(GASES, gases)})
    out = {}
    for row in db.select(kind="adslab", status="ok"):
        e = row_e_ads(row, db, pw, cache, mu, compute=False)
        if e is not None:
            out[row.id] = e
    return out


def chosen_rows(db, split: str, ids: list[int] | None, shard: tuple[int, int] = (0, 1)) -> list:
    """The rows to recompute, grouped by clean slab, cheapest slab (LCAO wall time) first; with shard (k, n) only
    the k-th of every n slabs in that order."""
    rows = [db.get(id=i) for i in ids] if ids else list(db.select(kind="adslab", split=split))
    rows = [r for r in rows if r.get("kind") == "adslab" and r.get("status") == "ok" and r.get("e_ads") is not None]
    if not rows:
        raise InputError("no adsorption energies to recompute among the rows asked for")
    slab_cost = {}
    for r in rows:
        slab_cost[r.slab_uid] = slab_cost.get(r.slab_uid, 0.0) + float(r.get("wall_s", 0.0))
    slabs = sorted(slab_cost, key=lambda uid: (slab_cost[uid], uid))
    mine = set(slabs[shard[0] :: shard[1]])
    return sorted((r for r in rows if r.slab_uid in mine), key=lambda r: (slab_cost[r.slab_uid], r.slab_uid, r.id))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dft", default="data/catalyst_dft_v1.db")
    ap.add_argument("--split", default="test")
    ap.add_argument("--ids", type=int, nargs="*", help="row ids of adsorption energies (default: the whole split)")
    ap.add_argument("--ecut", type=float, default=600.0, help="plane-wave cutoff, eV")
    ap.add_argument(
        "--shard", default="0/1", help="K/N: only the K-th of every N slabs (N processes share the cache; default 0/1)"
    )
    ap.add_argument("--budget-s", type=float, default=None, help="start no new system after this many seconds")
    ap.add_argument("--cached-only", action="store_true", help="compute nothing: the rows the cache already holds")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if not Path(args.dft).is_file():
        raise SystemExit(f"error: {args.dft} not found (unpack it: python -m phenograd.datasets.release unpack)")
    try:
        k, n = (int(x) for x in args.shard.split("/"))
        if not 0 <= k < n:
            raise ValueError
    except ValueError:
        raise SystemExit(f"error: --shard {args.shard!r}: use K/N with 0 <= K < N") from None
    db = connect(args.dft)
    pw = plane_wave_settings(db, args.ecut)
    cache = EnergyCache(cache_file(args.ecut))
    t0 = time.perf_counter()
    gas = {name: cache.energy(gas_molecule(name, pw.gas_box), pw) for name in GASES}  # seconds each
    if any(v is None for v in gas.values()):
        raise SystemExit(f"error: a gas reference failed in plane waves: {gas}")
    mu = chemical_potentials(gas)
    done = []
    for row in chosen_rows(db, args.split, args.ids, (k, n)):
        if args.budget_s is not None and time.perf_counter() - t0 > args.budget_s:
            break
        e_pw = row_e_ads(row, db, pw, cache, mu, compute=not args.cached_only)
        if e_pw is None:
            if not args.cached_only:
                print(f"row {row.id}: a plane-wave single point failed; left out", flush=True)
            continue
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
