"""Where phenograd keeps files it builds or derives once per machine."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$PHENOGRAD_CACHE_DIR, else $XDG_CACHE_HOME/phenograd, else ~/.cache/phenograd."""
    root = os.environ.get("PHENOGRAD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "phenograd"
    )
    return Path(root)
