"""Errors every layer raises and the command line reports in one line.

Lives in the lowest layer so that datasets, surrogate and optimize can raise the
same types without importing "up".
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
