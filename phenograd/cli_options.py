"""Command-line options shared by several `phenograd` commands."""

from __future__ import annotations

import argparse


def add_parallel_options(parser: argparse.ArgumentParser) -> None:
    """--workers K | --scheduler ADDRESS, and --no-progress."""
    par = parser.add_mutually_exclusive_group()
    par.add_argument("--workers", type=int, default=None, help="local worker processes (default: all CPUs)")
    par.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://HOST:PORT or scheduler file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
