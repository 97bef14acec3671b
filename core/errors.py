"""Errors every layer raises and the command line reports in one line.

Lives in the shared core, below the four layers, so that every layer raises the same types.
"""


class PhenogradError(Exception):
    """Base class: the message is a complete, user-facing sentence."""


class InputError(PhenogradError, ValueError):
    """The user's input (a file, a value, an option) is malformed or out of range.

    parameter: the name (or names) of the function parameters or settings the message speaks of, as the
    message writes them ("top must be at least 1, got 0"); the command line shows its own option for each
    name it has one for ("--top must be at least 1, got 0"). Library messages never quote CLI flags.
    """

    def __init__(self, message: str = "", parameter: str | tuple[str, ...] | None = None):
        super().__init__(message)
        self.parameter = parameter


class SimulatorUnavailable(PhenogradError, RuntimeError):
    """A simulator binary or library needed for the request is missing."""


def one_line(exc: BaseException) -> str:
    """A library exception's message on one line, for an InputError that quotes it (sqlite, for one,
    quotes a damaged schema with its line breaks)."""
    return " ".join(str(exc).split())
