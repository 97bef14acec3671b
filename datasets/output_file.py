"""Checks on a dataset file a command is about to create or extend."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from pathlib import Path

from phenograd.core.errors import InputError, one_line


def check_output_file(p: Path) -> None:
    """Raise InputError unless p can be created or written: a file (not a folder), in an
    existing folder, writable."""
    if p.exists() and not p.is_file():
        raise InputError(f"{p}: exists and is not a file")
    if not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{p}: not writable")


def check_integrity(conn: sqlite3.Connection, p: Path, what: str) -> None:
    """InputError naming p unless SQLite's quick_check passes. A damaged page that no query of
    the command happens to read (an index, say) answers the check with a row of text instead of
    an exception, and a writer would build on it."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    if rows != [("ok",)]:
        lines = [
            line for row in rows for line in str(row[0]).splitlines() if line.strip() and not line.startswith("***")
        ]
        found = one_line(lines[0])[:100] if lines else "no answer"
        raise InputError(f"{p}: damaged {what} (SQLite integrity check: {found}); restore it from a copy")


@contextlib.contextmanager
def sqlite_writes(p: Path):
    """Turn an SQLite failure while writing p (disk full, a file-size limit, an I/O error) into an
    OSError naming p (one line from the command line). SQLite rolls the failed transaction back,
    so what was committed before stays as it was."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise OSError(
            errno.EIO,
            f"cannot write: {one_line(exc)} (disk full or over a file-size limit?); what was written before is kept",
            str(p),
        ) from None
