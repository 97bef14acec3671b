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


#: Library parameter names whose option has another name (the option's dest otherwise equals the parameter).
PARAMETER_OPTIONS = {"out_dir": "out", "n_sampled": "sampled"}


def option_flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """{dest: its long option} over a parser and all its subcommands (the first one seen wins)."""
    flags: dict[str, str] = {}
    parsers = [parser]
    while parsers:
        for action in parsers.pop(0)._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            elif action.dest not in flags and action.dest != "help":
                long = [o for o in action.option_strings if o.startswith("--")]
                if long:
                    flags[action.dest] = long[0]
    return flags


def as_flags(exc: BaseException, parser: argparse.ArgumentParser) -> str:
    """An error's message with the parameters it names (InputError.parameter) written as this command line's
    options: the library says "top must be at least 1", the command line "--top must be at least 1"."""
    import re

    message = str(exc)
    names = getattr(exc, "parameter", None)
    if not names:
        return message
    flags = option_flags(parser)
    for name in (names,) if isinstance(names, str) else names:
        flag = flags.get(PARAMETER_OPTIONS.get(name, name))
        if flag:
            message = re.sub(rf"(?<![\w/.-]){re.escape(name)}(?![\w/.-])", flag, message)  # not in a path
    return message
