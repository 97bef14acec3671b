"""Files of unfinished runs: the `.partial` state a training or pretraining run saves after every epoch
(torch.save zip archives, written atomically) and resumes from."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from .errors import InputError


def damaged_member(data) -> str | None:
    """The first member of a torch.save zip archive (bytes or a path) whose CRC-32 does not match its
    contents, else None. torch.load does not check them: bytes overwritten inside a tensor load silently.
    Something that is not a zip archive gives None (torch.load judges it)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    try:
        with archive:
            return archive.testzip()
    except Exception:  # a damaged local header or compressed stream
        return "the archive"


def load_partial(partial: Path, config: dict, data_hash: str) -> dict | None:
    """The saved state of an unfinished run, or None when there is none.

    Args:
        partial: the run's state file (`<out>.partial`).
        config: the run's settings as a dict (dataclasses.asdict of its config).
        data_hash: the hash of the data it trains on.

    Raises InputError (one line, naming the file) when the file is damaged or was saved by a run with
    other settings or data: resuming it would silently mix two runs.
    """
    import torch

    if not partial.exists():
        return None
    bad = damaged_member(partial)
    if bad:
        raise InputError(f"{partial}: unreadable unfinished run (checksum mismatch in {bad}); delete it to start over")
    try:
        state = torch.load(partial, map_location="cpu", weights_only=True)  # tensors and plain data only, never code
    except Exception as exc:  # a damaged zip/pickle raises several types
        raise InputError(
            f"{partial}: unreadable unfinished run ({type(exc).__name__}); delete it to start over"
        ) from None
    if state.get("config") != config or state.get("data_hash") != data_hash:
        raise InputError(f"{partial}: an unfinished run with other settings or data; delete it to start over")
    return state
