"""Atomic file writes: write a temporary file in the target's folder, then rename it over the target
(os.replace), so that no reader and no crash ever sees a half-written file where a good one stood."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _folder(p: Path) -> Path:
    return p.parent if str(p.parent) else Path(".")


def remove_stale_temps(path: str | os.PathLike, suffix: str = ".tmp") -> None:
    """Delete the temporary files an atomic write of `path` left beside it when a kill came between its
    write and its rename (`.NAME.XXXX<suffix>`). Only for a path with one writer at a time: a relaunched
    run owns them."""
    p = Path(path)
    for stale in _folder(p).glob(f".{glob.escape(p.name)}.*{glob.escape(suffix)}"):
        stale.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp", mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside `path` for a writer that needs a file name; renamed over `path` when the
    block ends normally, removed when it raises.

    Args:
        path: the file to write.
        suffix: the temporary file's name ends with it (`.NAME.XXXX<suffix>`); give the target's suffix
            to writers that choose the format by name (matplotlib, ase.io, numpy's savez).
        mode: permission bits set before the rename (the temporary file is created 0600).

    The temporary file exists (empty) when the block starts; a writer that must create it itself
    (a database) may delete it first.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=_folder(p), prefix=f".{p.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_file(path: str | os.PathLike, binary: bool = True, suffix: str = ".tmp") -> Iterator:
    """An open file (binary, or text when binary is False) whose contents replace `path` when the block
    ends normally; on an exception `path` is untouched and the temporary file removed."""
    with atomic_path(path, suffix) as tmp, open(tmp, "wb" if binary else "w") as f:
        yield f


def write_bytes_atomic(path: str | os.PathLike, data: bytes, suffix: str = ".tmp") -> None:
    """Write `data` to `path` atomically."""
    with atomic_file(path, True, suffix) as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike, text: str, suffix: str = ".tmp") -> None:
    """Write `text` to `path` atomically."""
    with atomic_file(path, False, suffix) as f:
        f.write(text)
