"""Errors that the command line reports as one clear line (exit code 2).

Every error a user can cause (a bad scenario, an output folder that holds other results, a run
too large for this machine, a bad option) is a ``DeterSimError``; library functions raise them
and the command line prints their message, without a traceback.
"""

from __future__ import annotations


class DeterSimError(ValueError):
    """A request deter-sim cannot carry out, with a message that says why and how to fix it."""


class LocatedError(DeterSimError):
    """An error located in a file or option and a field: ``source: field: detail``.

    Attributes:
        source: The file or option the problem comes from.
        field: Dotted name of the field (or the value) at fault, or ``""``.
        detail: What is wrong and what is allowed.
    """

    def __init__(self, source: str, field: str, detail: str) -> None:
        self.source = source
        self.field = field
        self.detail = detail
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(where + detail)


class ScenarioError(LocatedError):
    """A scenario file or ``--set`` override that cannot be used.

    The message names the file (or ``--set``), the field, the bad value and what is allowed,
    so that the command line can print it as a single line without a traceback.
    """


class FolderError(DeterSimError):
    """A results folder that cannot be used.

    It holds other results, cannot be written, or is not a complete result of the command
    that should have made it.

    Attributes:
        folder: The folder.
        detail: What is wrong and what to do.
    """

    def __init__(self, folder: object, detail: str) -> None:
        self.folder = str(folder)
        self.detail = detail
        super().__init__(f"{folder}: {detail}")


class ResourceError(DeterSimError):
    """A run this machine cannot hold (memory), said before it starts."""


class OptionError(LocatedError):
    """An option of an experiment that it cannot use (a grid, a range, a metric, a window)."""
