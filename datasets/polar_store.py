"""One SQLite file per airfoil dataset: shapes, polars and their points.

Every polar is keyed by a content hash of its shape and settings, so a run can
be killed at any moment and restarted: each polar is written in one
transaction (present entirely or not at all), and restarted runs skip the keys
already present. Failures are rows too, with their reason. Only one process
(the writer) opens the file for writing; workers never touch it.

Tables
  meta(key, value)                    format version, dataset kind, requests made
  shapes(shape_id, name, source, split, cst, coords_um, n_points)
      coords_um: int32 little-endian micro-chords (x, y) in Selig order, exact
  polars(key, shape_id, reynolds, mach, ncrit, n_panels, max_iter, alphas,
         status, n_converged, wall_s, created)
  points(key, alpha, converged, status, CL, CD, CDp, CM, Top_Xtr, Bot_Xtr)
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from phenograd.core.errors import InputError, one_line
from phenograd.simulators.xfoil import POINT_FIELDS, PolarResult, XfoilSettings

from .output_file import check_integrity, check_output_file, sqlite_writes

FORMAT_VERSION = 1
KIND = "phenograd-airfoil-polars"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shapes (
    shape_id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL, split TEXT NOT NULL,
    cst TEXT, coords_um BLOB NOT NULL, n_points INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS polars (
    key TEXT PRIMARY KEY, shape_id TEXT NOT NULL REFERENCES shapes(shape_id),
    reynolds REAL NOT NULL, mach REAL NOT NULL, ncrit REAL NOT NULL, n_panels INTEGER NOT NULL,
    max_iter INTEGER NOT NULL, alphas TEXT NOT NULL, status TEXT NOT NULL, n_converged INTEGER NOT NULL,
    wall_s REAL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT NOT NULL REFERENCES polars(key), alpha REAL NOT NULL, converged INTEGER NOT NULL,
    status TEXT NOT NULL, CL REAL, CD REAL, CDp REAL, CM REAL, Top_Xtr REAL, Bot_Xtr REAL,
    PRIMARY KEY (key, alpha));
CREATE INDEX IF NOT EXISTS polars_shape ON polars(shape_id);
"""


def quantize(coordinates: np.ndarray) -> np.ndarray:
    """Coordinates rounded to micro-chords, int32 (N, 2): the exact stored geometry."""
    return np.round(np.asarray(coordinates, dtype=float) * 1e6).astype("<i4")


def dequantize(coords_um: np.ndarray) -> np.ndarray:
    return coords_um.astype(float) / 1e6


def shape_id_of(coords_um: np.ndarray) -> str:
    """Content hash of a quantized contour (first 16 hex digits of SHA-256)."""
    return hashlib.sha256(np.ascontiguousarray(coords_um, dtype="<i4").tobytes()).hexdigest()[:16]


def polar_key(shape_id: str, settings: XfoilSettings, alphas: Iterable[float]) -> str:
    """Content hash of a shape plus everything that changes XFOIL's answer."""
    payload = json.dumps(
        {
            "shape": shape_id,
            "re": float(f"{settings.reynolds:.6g}"),
            "mach": round(settings.mach, 6),
            "ncrit": round(settings.ncrit, 6),
            "panels": int(settings.n_panels),
            "iter": int(settings.max_iter),
            "alphas": sorted({round(float(a), 4) for a in alphas}),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass
class ShapeRecord:
    """A contour to simulate, identified by its content hash."""

    name: str
    source: str  # "uiuc", "sobol", "mix", "naca", "user"
    split: str  # "train" or "test"
    coords_um: np.ndarray  # int32 (N, 2)
    cst: np.ndarray | None = None  # (18,) fitted or generating CST vector

    @property
    def shape_id(self) -> str:
        return shape_id_of(self.coords_um)

    @property
    def coordinates(self) -> np.ndarray:
        return dequantize(self.coords_um)


class PolarStore:
    """A dataset file. Open with :meth:`open` (writer) or :meth:`open_readonly`."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path

    # ------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike) -> "PolarStore":
        """Open or create a dataset for writing; InputError for a file that is not one."""
        p = Path(path)
        check_output_file(p)
        existed = p.exists() and p.stat().st_size > 0
        if existed:
            _check_header(p)
        try:
            conn = sqlite3.connect(p, timeout=30)
            if existed:  # before anything is written to it
                check_integrity(conn, p, "dataset file")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if existed:
                cls._check_kind(conn, p)
            with conn:
                conn.executescript(_SCHEMA)
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('kind', ?)", (KIND,))
                conn.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (str(FORMAT_VERSION),))
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{p}: not a usable phenograd dataset ({one_line(exc)})") from None
        return cls(conn, p)

    @classmethod
    def open_readonly(cls, path: str | os.PathLike) -> "PolarStore":
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: no such dataset file")
        _check_header(p)
        try:
            conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=30)
            cls._check_kind(conn, p)
            check_integrity(conn, p, "dataset file")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{p}: not a usable phenograd dataset ({one_line(exc)})") from None
        return cls(conn, p)

    @staticmethod
    def _check_kind(conn: sqlite3.Connection, p: Path) -> None:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='kind'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise  # a damaged or unreadable file (the callers say so), not another kind of file
            row = None
        if row is None or row[0] != KIND:
            raise InputError(f"{p}: not a phenograd airfoil dataset (no '{KIND}' marker)")
        version = conn.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
        if version is None or int(version[0]) > FORMAT_VERSION:
            raise InputError(f"{p}: dataset format version {version and version[0]} is newer than this phenograd")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ writing
    def existing_keys(self) -> set[str]:
        return {k for (k,) in self.conn.execute("SELECT key FROM polars")}

    def record_request(self, request: dict) -> None:
        """Append a generation request (the command's arguments) to meta['requests']."""
        row = self.conn.execute("SELECT value FROM meta WHERE key='requests'").fetchone()
        requests = json.loads(row[0]) if row else []
        if request not in requests:
            requests.append(request)
            with sqlite_writes(self.path), self.conn:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('requests', ?)", (json.dumps(requests),))

    def add_polar(self, shape: ShapeRecord, key: str, result: PolarResult, alphas: Iterable[float]) -> bool:
        """Write one polar (shape if new, polar row, all points) in one transaction.

        Returns False (and writes nothing) if the key is already present.
        """
        s = result.settings
        with sqlite_writes(self.path), self.conn:
            if self.conn.execute("SELECT 1 FROM polars WHERE key=?", (key,)).fetchone():
                return False
            self.conn.execute(
                "INSERT OR IGNORE INTO shapes VALUES (?,?,?,?,?,?,?)",
                (
                    shape.shape_id,
                    shape.name,
                    shape.source,
                    shape.split,
                    None if shape.cst is None else json.dumps([round(float(v), 8) for v in shape.cst]),
                    np.ascontiguousarray(shape.coords_um, dtype="<i4").tobytes(),
                    len(shape.coords_um),
                ),
            )
            self.conn.execute(
                "INSERT INTO polars VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    shape.shape_id,
                    float(s.reynolds),
                    float(s.mach),
                    float(s.ncrit),
                    int(s.n_panels),
                    int(s.max_iter),
                    json.dumps(sorted({round(float(a), 4) for a in alphas})),
                    result.status,
                    result.n_converged,
                    round(result.wall_s, 4),
                    time.time(),
                ),
            )
            self.conn.executemany(
                "INSERT INTO points VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (key, p.alpha, int(p.converged), p.status, *(getattr(p, f) for f in POINT_FIELDS))
                    for p in result.points
                ],
            )
        return True

    # ------------------------------------------------------------ reading
    def count(self, table: str) -> int:
        if table not in ("shapes", "polars", "points"):
            raise ValueError(table)
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def shape(self, shape_id: str) -> ShapeRecord:
        row = self.conn.execute(
            "SELECT name, source, split, cst, coords_um, n_points FROM shapes WHERE shape_id=?", (shape_id,)
        ).fetchone()
        if row is None:
            raise KeyError(shape_id)
        name, source, split, cst, blob, n = row
        coords = np.frombuffer(blob, dtype="<i4").reshape(n, 2)
        return ShapeRecord(name, source, split, coords, None if cst is None else np.array(json.loads(cst)))

    def meta(self) -> dict:
        return {k: v for k, v in self.conn.execute("SELECT key, value FROM meta")}


def _check_header(p: Path) -> None:
    with open(p, "rb") as f:
        head = f.read(16)
    if head != b"SQLite format 3\x00":
        raise InputError(f"{p}: not an SQLite dataset file (bad header; truncated or overwritten?)")
