"""Pack and unpack committed data releases: a dataset file <-> <file>.xz.

`pack` copies the live SQLite file consistently (VACUUM INTO, so a generator may
still be writing), compresses it with xz and renames it into place, so the
committed archive is never half-written. `unpack` restores the .db from the
archive when the .db is missing, so a fresh clone can resume generation.

    python -m phenograd.datasets.release pack data/airfoil_v1.db
    python -m phenograd.datasets.release unpack data/airfoil_v1.db
"""

from __future__ import annotations

import lzma
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

from phenograd.core.atomic import atomic_file


def pack(db: str | os.PathLike) -> Path:
    """Write <db>.xz from a consistent snapshot of db; returns the archive path."""
    src = Path(db)
    archive = src.with_name(src.name + ".xz")
    with tempfile.TemporaryDirectory(dir=src.parent) as tmp:
        snapshot = Path(tmp) / "snapshot.db"
        conn = sqlite3.connect(src)
        try:
            conn.execute("VACUUM INTO ?", (str(snapshot),))
        finally:
            conn.close()
        with open(snapshot, "rb") as fin, atomic_file(archive) as raw:
            with lzma.open(raw, "wb", preset=9 | lzma.PRESET_EXTREME) as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    return archive


def unpack(db: str | os.PathLike) -> Path | None:
    """Restore db from <db>.xz if db does not exist or is empty; returns db's path or None if no archive."""
    dst = Path(db)
    archive = dst.with_name(dst.name + ".xz")
    if dst.exists() and dst.stat().st_size > 0:  # an empty file (a command that stopped before writing) holds nothing
        return dst
    if not archive.exists():
        return None
    with atomic_file(dst) as fout, lzma.open(archive, "rb") as fin:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return dst


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("pack", "unpack"):
        print("usage: python -m phenograd.datasets.release pack|unpack FILE.db", file=sys.stderr)
        return 2
    path = (pack if argv[0] == "pack" else unpack)(argv[1])
    print(path if path else f"no archive for {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
