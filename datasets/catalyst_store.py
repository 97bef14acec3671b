"""One ase.db (SQLite) file per catalyst dataset, browsable with ``ase db FILE``.

Rows are of two kinds (key ``kind``): ``slab`` (a clean slab, relaxed once and
reused by every adsorbate placed on it) and ``adslab`` (a labelled structure).
A row's atoms are the *initial* structure with OC20 tags and FixAtoms on tag 0;
labels and metadata are key-value pairs (``e_ads``, ``status``, ``split``, ...);
the relaxed positions (N, 3) Å are in the row's data under ``relaxed_positions``.

Every row carries ``uid``, a content hash of its initial structure, the
calculator and the relaxation settings, so a killed run restarts where it
stopped: a slab with its placements is written in one transaction (present
entirely or not at all) and restarted runs skip uids already present. Failures
are rows too (``status`` = "failed: reason" or "timeout"). Only one process
(the writer) opens the file; workers never touch it.

The database's metadata (``ase.db`` metadata JSON) holds the kind marker,
format version, calculators' gas references and lattice constants, the
protocol, the split definition and every request made.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
from ase import Atoms

from phenograd.core.errors import InputError, one_line
from phenograd.simulators.adsorption import (
    ANOMALIES,
    ANOMALY_CHECKS_VERSION,
    TAG_ADSORBATE,
    AdsorptionResult,
    RelaxSettings,
    SlabResult,
    detect_anomalies,
)

from .output_file import check_integrity, check_output_file, sqlite_writes

KIND = "phenograd-catalyst-adsorption"
FORMAT_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"


def structure_uid(atoms: Atoms, calculator: str, settings: RelaxSettings, prefix: str) -> str:
    """Content hash of a structure (numbers, tags, positions to 1e-4 Å, cell, pbc) plus
    everything that changes its relaxed energy; prefix 'a' (adslab) or 's' (slab)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(atoms.numbers, "<i4").tobytes())
    h.update(np.ascontiguousarray(atoms.get_tags(), "<i4").tobytes())
    h.update(np.ascontiguousarray(np.round(atoms.positions * 1e4), "<i8").tobytes())
    h.update(np.ascontiguousarray(np.round(atoms.cell[:] * 1e4), "<i8").tobytes())
    h.update(bytes(atoms.pbc.astype(np.uint8)))
    h.update(
        json.dumps(
            {"calc": calculator, "fmax": settings.fmax, "steps": settings.steps, "maxstep": settings.maxstep},
            sort_keys=True,
        ).encode()
    )
    return prefix + h.hexdigest()[:23]


def is_catalyst_file(path: str | os.PathLike) -> bool:
    """True for an SQLite file in ase.db layout (a 'systems' table), the kind this module writes."""
    p = Path(path)
    if not p.is_file() or p.stat().st_size < 100:
        return False
    with open(p, "rb") as f:
        if f.read(16) != _SQLITE_HEADER:
            return False
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            return (
                conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='systems'").fetchone() is not None
            )
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False


class CatalystStore:
    """A catalyst dataset file. :meth:`open` for writing (single writer), :meth:`open_readonly` to read."""

    def __init__(self, db, path: Path):
        self.db = db
        self.path = path

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike) -> "CatalystStore":
        """Open or create a dataset for writing; InputError for a file that is not one."""
        from ase.db import connect

        p = Path(path)
        if p.suffix != ".db":
            raise InputError(f"{p}: a catalyst dataset is an ase.db file and must end in .db")
        check_output_file(p)
        if p.exists() and p.stat().st_size > 0:
            cls._check_existing(p)
        store = cls(connect(str(p), type="db", append=True, use_lock_file=False), p)
        try:
            meta = store.db.metadata
            if not meta.get("kind"):
                store.db.metadata = {"kind": KIND, "format_version": FORMAT_VERSION, **meta}
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{p}: not a usable ase.db file ({one_line(exc)})") from None
        return store

    @classmethod
    def open_readonly(cls, path: str | os.PathLike) -> "CatalystStore":
        from ase.db import connect

        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: no such dataset file")
        cls._check_existing(p)
        return cls(connect(str(p), type="db", append=True, use_lock_file=False), p)

    @staticmethod
    def _check_existing(p: Path) -> None:
        with open(p, "rb") as f:
            if f.read(16) != _SQLITE_HEADER:
                raise InputError(f"{p}: not an SQLite dataset file (bad header; truncated or overwritten?)")
        try:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
            try:
                tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if "meta" in tables and "polars" in tables:
                    raise InputError(f"{p}: is an airfoil polar dataset, not a catalyst dataset")
                if tables and "systems" not in tables:
                    raise InputError(f"{p}: an SQLite file but not an ase.db dataset")
                if "information" in tables:
                    row = conn.execute("SELECT value FROM information WHERE name='metadata'").fetchone()
                    meta = json.loads(row[0]) if row else {}
                    if meta.get("kind", KIND) != KIND:
                        raise InputError(
                            f"{p}: an ase.db file of kind {meta.get('kind')!r}, not a phenograd catalyst dataset"
                        )
                    if int(meta.get("format_version", FORMAT_VERSION)) > FORMAT_VERSION:
                        raise InputError(
                            f"{p}: dataset format version {meta['format_version']} is newer than this phenograd"
                        )
                check_integrity(conn, p, "ase.db file")
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{p}: not a usable ase.db file ({one_line(exc)})") from None

    def close(self) -> None:
        pass  # ase.db opens a connection per operation

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ metadata
    def meta(self) -> dict:
        return dict(self.db.metadata)

    def update_meta(self, **entries) -> None:
        """Merge entries into the metadata (dicts are merged one level deep)."""
        meta = self.meta()
        for k, v in entries.items():
            meta[k] = {**meta.get(k, {}), **v} if isinstance(v, dict) and isinstance(meta.get(k), dict) else v
        with sqlite_writes(self.path):
            self.db.metadata = meta

    def record_request(self, request: dict) -> None:
        requests = self.meta().get("requests", [])
        if request not in requests:
            self.update_meta(requests=requests + [request])

    # ------------------------------------------------------------ reading
    def _query(self, sql: str, args=()) -> list:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return conn.execute(sql, args).fetchall() if "text_key_values" in tables else []
        finally:
            conn.close()

    def complete_systems(self) -> dict[tuple[int, str], int]:
        """{(slab_index, adsorbate): rows} for every planned system (v2 protocol labels) whose stored rows number
        its n_placements label: all its placements are in, whatever their status."""
        numbers: dict[int, dict] = {}
        for row_id, key, value in self._query(
            "SELECT id, key, value FROM number_key_values WHERE key IN ('slab_index', 'n_placements')"
        ):
            numbers.setdefault(row_id, {})[key] = int(value)
        rows: Counter = Counter()
        for row_id, adsorbate in self._query("SELECT id, value FROM text_key_values WHERE key = 'adsorbate'"):
            labels = numbers.get(row_id, {})
            if "slab_index" in labels and "n_placements" in labels:
                rows[(labels["slab_index"], str(adsorbate), labels["n_placements"])] += 1
        return {(i, a): c for (i, a, n), c in rows.items() if c == n}

    def existing_uids(self, among=None) -> set[str]:
        """uids of the stored rows (slabs and adslabs), all or those among the given ones."""
        if among is None:
            return {v for (v,) in self._query("SELECT value FROM text_key_values WHERE key='uid'")}
        among = list(among)
        marks = ",".join("?" * len(among))
        return {
            v
            for (v,) in self._query(f"SELECT value FROM text_key_values WHERE key='uid' AND value IN ({marks})", among)
        }

    def slab_result(self, uid: str) -> SlabResult | None:
        """The stored relaxed clean slab of uid when it relaxed fine, else None."""
        for row in self.db.select(uid=uid, kind="slab"):
            if row.status == "ok":
                return SlabResult(
                    "ok", row.e_slab, np.asarray(row.data["relaxed_positions"]), bool(row.converged), row.steps
                )
        return None

    def count(self, **filters) -> int:
        return self.db.count(**filters)

    # ------------------------------------------------------------ writing
    def write_slab_task(self, slab_row: dict | None, adslab_rows: list[dict]) -> int:
        """Write a clean slab row (when given and new) and adslab rows in one transaction.

        Each row dict: atoms, key_value_pairs, data. Returns how many adslab rows were new.
        """
        uids = [r["key_value_pairs"]["uid"] for r in adslab_rows] + (
            [slab_row["key_value_pairs"]["uid"]] if slab_row else []
        )
        present = self.existing_uids(among=uids)
        written = 0
        with sqlite_writes(self.path), self.db:
            if slab_row is not None and slab_row["key_value_pairs"]["uid"] not in present:
                self.db.write(slab_row["atoms"], key_value_pairs=slab_row["key_value_pairs"], data=slab_row["data"])
            for row in adslab_rows:
                if row["key_value_pairs"]["uid"] in present:
                    continue
                self.db.write(row["atoms"], key_value_pairs=row["key_value_pairs"], data=row["data"])
                present.add(row["key_value_pairs"]["uid"])
                written += 1
        return written


def slab_row(atoms: Atoms, uid: str, result: SlabResult, labels: dict) -> dict:
    """Row dict of a clean slab: initial atoms, key-value pairs, relaxed positions in data."""
    kvp = {"kind": "slab", "uid": uid, "status": result.status, **labels}
    data = {}
    if result.ok:
        kvp.update(e_slab=float(result.energy), converged=bool(result.converged), steps=int(result.steps))
        data["relaxed_positions"] = np.asarray(result.positions, float)
    kvp["wall_s"] = round(float(result.wall_s), 4)
    return {"atoms": atoms, "key_value_pairs": kvp, "data": data}


def adslab_row(uid: str, slab_uid: str, result: AdsorptionResult, labels: dict) -> dict:
    """Row dict of a labelled structure (the failure reason, if any, is its status)."""
    kvp = {
        "kind": "adslab",
        "uid": uid,
        "slab_uid": slab_uid,
        "status": result.status,
        "steps": int(result.steps),
        "converged": bool(result.converged),
        **labels,
    }
    data = {}
    if result.ok:
        kvp.update(
            e_ads=float(result.e_ads),
            e_adslab=float(result.e_adslab),
            e_slab=float(result.e_slab),
            e_reference=float(result.e_reference),
            site_final=result.site_final,
            anomalies=",".join(result.anomalies) or "none",
            anomaly_checks=ANOMALY_CHECKS_VERSION,
        )
        kvp.update({name: name in result.anomalies for name in ANOMALIES})
        data["relaxed_positions"] = np.asarray(result.relaxed.positions, float)
    kvp["wall_s"] = round(float(result.wall_s), 4)
    return {"atoms": result.initial, "key_value_pairs": kvp, "data": data}


def recheck_anomalies(store: CatalystStore) -> int:
    """Re-derive the anomaly flags of every stored placement from its initial and relaxed positions and its
    relaxed clean slab (simulators.adsorption.detect_anomalies), so that a sharpened check also covers rows
    labelled before it. Energies are untouched; only ``anomalies``, the per-flag columns and ``anomaly_checks``
    (the version of the checks a row has seen; rows at the current one are skipped) change.
    Idempotent; returns how many rows' flags changed."""
    slabs = {
        r.uid: np.asarray(r.data["relaxed_positions"], float)
        for r in store.db.select(kind="slab", status="ok")
        if "relaxed_positions" in r.data
    }
    changes = []
    for r in store.db.select(kind="adslab", status="ok"):
        if r.get("anomaly_checks") == ANOMALY_CHECKS_VERSION:
            continue
        if "relaxed_positions" not in r.data or r.get("slab_uid") not in slabs:
            continue
        initial = r.toatoms()
        final = initial.copy()
        final.positions = np.asarray(r.data["relaxed_positions"], float)
        clean = initial[initial.get_tags() != TAG_ADSORBATE]
        if len(clean) != len(slabs[r.slab_uid]):
            continue
        clean.positions = slabs[r.slab_uid]
        flags = detect_anomalies(initial, final, clean)
        anomalies = ",".join(flags) or "none"
        kvp = {"anomaly_checks": ANOMALY_CHECKS_VERSION}
        if anomalies != r.get("anomalies"):
            kvp.update(anomalies=anomalies, **{name: name in flags for name in ANOMALIES})
        changes.append((r.id, kvp))
    if changes:
        with sqlite_writes(store.path), store.db:
            for row_id, kvp in changes:
                store.db.update(row_id, **kvp)
    return sum(1 for _, kvp in changes if "anomalies" in kvp)
