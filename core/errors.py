"""Errors every layer raises and the command line reports in one line.

Lives in the shared core, below the four layers, so that every layer raises the same types.
"""


class PhenogradError(Exception):
    """Base class: the message is a complete, user-facing sentence."""


class InputError(PhenogradError, ValueError):
    """The user's input (a file, a value, an option) is malformed or out of range."""


class SimulatorUnavailable(PhenogradError, RuntimeError):
    """A simulator binary or library needed for the request is missing."""


def one_line(exc: BaseException) -> str:
    """A library exception's message on one line, for an InputError that quotes it (sqlite, for one,
    quotes a damaged schema with its line breaks)."""
    return " ".join(str(exc).split())
