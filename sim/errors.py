"""Errors that the command line reports as one clear line (exit code 2)."""

from __future__ import annotations


class ScenarioError(ValueError):
    """A scenario file or override that cannot be used.

    The message names the file (or ``--set``), the field, the bad value and what is allowed,
    so that the command line can print it as a single line without a traceback.

    Attributes:
        source: The file or ``--set`` option the problem comes from.
        field: Dotted name of the field at fault, or ``""`` for the whole file.
        detail: What is wrong and what is allowed.
    """

    def __init__(self, source: str, field: str, detail: str) -> None:
        self.source = source
        self.field = field
        self.detail = detail
        where = f"{source}: {field}: " if field else f"{source}: "
        super().__init__(where + detail)
