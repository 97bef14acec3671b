"""Errors every layer raises and the command line reports in one line.

Lives in the shared core, below the four layers, so that every layer raises the same types.
"""

import re

#: Control characters (line breaks, tabs, terminal escapes) that a message may quote from a file name or a value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class PhenogradError(Exception):
    """Base class: the message is a complete, user-facing sentence."""


class InputError(PhenogradError, ValueError):
    """The user's input (a file, a value, an option) is malformed or out of range.

    Args:
        message: one complete sentence naming the problem (control characters in it are shown escaped).
        parameter: the name (or names) of the function parameters or settings the message speaks of, as the
            message writes them ("top must be at least 1, got 0"); the command line shows its own option for
            each name it has one for ("--top must be at least 1, got 0"). Library messages never quote CLI flags.
    """

    def __init__(self, message: str = "", parameter: str | tuple[str, ...] | None = None):
        # One line whatever the message quotes: a file name with a line break or a terminal escape shows escaped.
        super().__init__(_CONTROL.sub(lambda m: repr(m.group())[1:-1], str(message)))
        self.parameter = parameter


class SimulatorUnavailable(PhenogradError, RuntimeError):
    """A simulator binary or library needed for the request is missing."""


def one_line(exc: BaseException) -> str:
    """A library exception's message on one line, for an InputError that quotes it (sqlite, for one,
    quotes a damaged schema with its line breaks)."""
    return " ".join(str(exc).split())
