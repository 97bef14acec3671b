"""A small on-disk cache of NumPy arrays for deterministic, slow-to-derive data.

Entries live in $PHENOGRAD_CACHE_DIR (default ~/.cache/phenograd) as .npz files
named by a hash of the caller's key and of the source files that compute them,
so a code change invalidates them. Writes are atomic; an unreadable entry is
recomputed, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from phenograd.core.atomic import atomic_file
from phenograd.core.paths import cache_dir


def _digest(key: object, sources: list[Path]) -> str:
    h = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode())
    for src in sources:
        h.update(src.read_bytes())
    return h.hexdigest()[:20]


def cached_arrays(tag: str, key: object, sources: list[Path], compute: Callable[[], dict]) -> dict:
    """Arrays from the cache entry for (tag, key, sources), computing and storing them if absent."""
    path = cache_dir() / f"{tag}-{_digest(key, sources)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            pass
    arrays = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as f:
            np.savez(f, **arrays)
    except OSError:
        pass  # a read-only cache directory only costs time
    return arrays
