"""Checks on a dataset file a command is about to create or extend."""

from __future__ import annotations

import os
from pathlib import Path

from phenograd.simulators.errors import InputError


def check_output_file(p: Path) -> None:
    """Raise InputError unless p can be created or written: a file (not a folder), in an
    existing folder, writable."""
    if p.exists() and not p.is_file():
        raise InputError(f"{p}: exists and is not a file")
    if not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist")
    if not os.access(p.parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{p}: not writable")
