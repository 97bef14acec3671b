"""Command-line options shared by several `phenograd` commands."""

from __future__ import annotations

import argparse


def add_parallel_options(parser: argparse.ArgumentParser) -> None:
    """--workers K | --scheduler ADDRESS, and --no-progress."""
    par = parser.add_mutually_exclusive_group()
    par.add_argument("--workers", type=int, default=None, help="local worker processes (default: all CPUs)")
    par.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT or scheduler file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def comma_names(values: list[str] | None) -> list[str] | None:
    """['Pt,Cu', 'Ni'] -> ['Pt', 'Cu', 'Ni'] (space- or comma-separated lists); None stays None."""
    if values is None:
        return None
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def surface_size(text: str) -> tuple[int, int]:
    """argparse type for a surface cell written NxM, e.g. 3x3."""
    try:
        nx, ny = (int(v) for v in text.lower().split("x"))
        return nx, ny
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: write it as 3x3") from None


def seed_value(text: str) -> int:
    """argparse type for --seed: a non-negative integer (NumPy's SeedSequence takes no negative entropy)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad seed {text!r}: give a whole number, 0 or more") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"bad seed {value}: give a whole number, 0 or more")
    return value
