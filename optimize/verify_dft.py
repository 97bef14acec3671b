"""DFT as the top verification fidelity of a screen: GPAW single points of the best verified candidates.

After the potential (or EMT) has relaxed the selected candidates of a screen (``verify``), the best K of
them by the objective, among those verified without anomaly, get DFT single points at the relaxed geometry
(adslab and its relaxed clean slab; gas molecules once per settings, cached in the results file's
metadata): the AdsorbML protocol. Each finished candidate is one row update (``e_dft``, ``dft_status``,
``dft_key``), so a killed run resumes without computing anything twice; the candidates' single points
run on local processes or a Dask cluster like every simulator.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from phenograd.core.errors import InputError
from phenograd.simulators.dft import (
    DFTSettings,
    SinglePoint,
    adsorbate_reference,
    chemical_potentials,
    gas_molecule,
    gpaw_version,
    single_point,
)
from phenograd.simulators.gas_thermochemistry import implausible_adsorption

#: The gas molecules each adsorbate element's chemical potential needs (OC20 scheme).
GAS_NEEDED = {"H": ("H2",), "O": ("H2", "H2O"), "N": ("N2",), "C": ("H2", "H2O", "CO")}


@dataclass
class DFTTask:
    """One candidate's DFT work: index, relaxed adslab (N,) and relaxed clean slab (M,) with tags, settings."""

    index: int
    adslab: Atoms
    clean: Atoms
    settings: DFTSettings


def run_dft_task(task: DFTTask) -> tuple[int, SinglePoint, SinglePoint]:
    """Worker entry point: single points of the clean slab and the adslab (never raises for SCF trouble)."""
    slab = single_point(task.clean, task.settings)
    adslab = single_point(task.adslab, task.settings) if slab.ok else SinglePoint("failed: clean slab not computed")
    return task.index, slab, adslab


def settings_key(settings: DFTSettings) -> str:
    return hashlib.sha256(json.dumps(settings.key(), sort_keys=True).encode()).hexdigest()[:16]


def gas_energies(db, out: Path, settings: DFTSettings, names) -> dict[str, float]:
    """E (eV) of the gas molecules named, from the file's metadata or computed now and recorded there."""
    from phenograd.datasets.output_file import sqlite_writes

    key = settings_key(settings)
    meta = dict(db.metadata)
    cached = dict(meta.get("dft_gas", {}).get(key, {}))
    for name in names:
        if name in cached:
            continue
        sp = single_point(gas_molecule(name, settings.gas_box), settings)
        if not sp.ok:
            raise InputError(f"DFT gas reference {name} failed ({sp.status}); check the DFT settings")
        cached[name] = float(sp.energy)
        meta = dict(db.metadata)
        meta["dft_gas"] = {**meta.get("dft_gas", {}), key: cached}
        with sqlite_writes(out):
            db.metadata = meta
    return cached


def best_verified(final_score: np.ndarray, rows: dict, k: int) -> list[int]:
    """Indices of the k best candidates by final score among those verified ok without anomaly."""
    ok = [
        i
        for i, (_, kv) in rows.items()
        if kv.get("verify_status") == "ok" and kv.get("anomalies", "none") == "none" and np.isfinite(final_score[i])
    ]
    return sorted(ok, key=lambda i: (final_score[i], i))[:k]


def verify_with_dft(
    out: Path,
    enum,
    rows: dict,
    final_score: np.ndarray,
    k: int,
    settings: DFTSettings,
    workers: int | None = None,
    scheduler: str | None = None,
) -> int:
    """DFT single points of the best k verified candidates not yet computed at these settings.

    Args:
        out: the screen's results file (ase.db).
        enum: the screen's enumeration (candidates and their structures).
        rows: {candidate index: (row id, key-value pairs)} of out.
        final_score: (C,) the screen's final scores (verified where available).
        k: candidates to compute.
        settings: GPAW settings.
        workers, scheduler: where the single points run (local processes or a Dask cluster).
    Returns how many candidates were computed now.
    """
    from ase.db import connect

    from phenograd.datasets.output_file import sqlite_writes
    from phenograd.simulators.parallel import run_unordered

    if k < 1:
        return 0
    settings.validate()
    key = settings_key(settings)
    db = connect(str(out), type="db", append=True, use_lock_file=False)
    chosen = best_verified(final_score, rows, k)
    todo, symbols = [], {}
    for i in chosen:
        row_id, kv = rows[i]
        if kv.get("dft_key") == key:
            continue
        data = db.get(id=row_id).data
        if "relaxed_positions" not in data or "clean_positions" not in data:
            with sqlite_writes(out), db:
                db.update(
                    row_id,
                    dft_key=key,
                    dft_status="not run: no relaxed geometry stored (verified by an older "
                    "phenograd; delete the file to verify again)",
                )
            continue
        adslab = enum.atoms(enum.candidates[i])
        adslab.set_constraint()
        adslab.positions = np.asarray(data["relaxed_positions"], float)
        tags = adslab.get_tags()
        clean = adslab[tags != 2]
        clean.positions = np.asarray(data["clean_positions"], float)
        symbols[i] = adslab[tags == 2].get_chemical_symbols()
        todo.append(DFTTask(i, adslab, clean, settings))
    if not todo:
        return 0
    gpaw_version()  # SimulatorUnavailable naming make setup-dft, before any single point
    gas = gas_energies(db, out, settings, sorted({g for s in symbols.values() for x in s for g in GAS_NEEDED[x]}))
    mu = chemical_potentials({**{n: float("nan") for n in ("H2", "H2O", "N2", "CO")}, **gas})
    done = 0
    for _, (i, slab, adslab) in run_unordered(run_dft_task, todo, workers=workers, scheduler=scheduler):
        kvp = {"dft_key": key, "dft_status": adslab.status if slab.ok else f"clean slab {slab.status}"}
        if slab.ok and adslab.ok:
            kvp["e_dft"] = float(adslab.energy) - float(slab.energy) - adsorbate_reference(symbols[i], mu)
            kvp["dft_status"] = implausible_adsorption(symbols[i], kvp["e_dft"]) or "ok"
        with sqlite_writes(out), db:
            db.update(rows[i][0], **kvp)
        done += 1
    return done


def dft_verified_designs(
    verified: list[dict],
    geometries: list,
    k: int,
    target: float,
    settings: DFTSettings | None = None,
    workers: int | None = 1,
    scheduler: str | None = None,
) -> None:
    """GPAW single points of the k verified designs whose E_ads lies closest to target (eV), at their relaxed
    geometries; each chosen entry of verified gains ``e_dft`` (eV) and ``dft_status`` in place.

    verified, geometries: as optimize.composition.verify_designs returns and fills them.
    """
    from phenograd.simulators.parallel import run_unordered

    settings = settings or DFTSettings()
    settings.validate()
    ok = [
        i
        for i, v in enumerate(verified)
        if v.get("e_verified") is not None and geometries[i] is not None and not v.get("anomalies")
    ]
    chosen = sorted(ok, key=lambda i: (abs(verified[i]["e_verified"] - target), i))[:k]
    if not chosen:
        return
    gpaw_version()
    symbols = {i: geometries[i][0][geometries[i][0].get_tags() == 2].get_chemical_symbols() for i in chosen}
    gas = {}
    for name in sorted({g for s in symbols.values() for x in s for g in GAS_NEEDED[x]}):
        sp = single_point(gas_molecule(name, settings.gas_box), settings)
        if not sp.ok:
            raise InputError(f"DFT gas reference {name} failed ({sp.status}); check the DFT settings")
        gas[name] = float(sp.energy)
    mu = chemical_potentials({**{n: float("nan") for n in ("H2", "H2O", "N2", "CO")}, **gas})
    tasks = [DFTTask(i, geometries[i][0], geometries[i][1], settings) for i in chosen]
    for _, (i, slab, adslab) in run_unordered(run_dft_task, tasks, workers=workers, scheduler=scheduler):
        verified[i]["dft_status"] = adslab.status if slab.ok else f"clean slab {slab.status}"
        if slab.ok and adslab.ok:
            verified[i]["e_dft"] = float(adslab.energy) - float(slab.energy) - adsorbate_reference(symbols[i], mu)
            verified[i]["dft_status"] = implausible_adsorption(symbols[i], verified[i]["e_dft"]) or "ok"
