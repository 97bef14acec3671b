"""Data releases: pack a live SQLite file into <file>.xz and restore it where the .db is missing or empty."""

from __future__ import annotations

import sqlite3

from phenograd.datasets.release import pack, unpack


def _rows(path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT k, v FROM t ORDER BY k").fetchall()
    finally:
        conn.close()


def test_pack_then_unpack_restores_missing_or_empty_files_and_leaves_others(tmp_path):
    db = tmp_path / "set.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i}") for i in range(50)])
    conn.commit()
    conn.close()
    archive = pack(db)
    assert archive == tmp_path / "set.db.xz" and archive.stat().st_size > 0
    db.unlink()
    assert unpack(db) == db and _rows(db) == [(i, f"row {i}") for i in range(50)]
    db.write_bytes(b"")  # a command that stopped before writing leaves an empty file: it holds nothing
    assert unpack(db) == db and len(_rows(db)) == 50
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO t VALUES (50, 'grown since the pack')")
    conn.commit()
    conn.close()
    assert unpack(db) == db and len(_rows(db)) == 51  # a grown file is never overwritten by the older archive
    assert unpack(tmp_path / "other.db") is None
