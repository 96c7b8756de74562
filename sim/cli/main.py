"""Entry point of the ``deter-sim`` console script.

This module imports nothing at first, so that a Ctrl-C while the command line is still being
loaded is caught like any other (``interrupted``, exit code 130) instead of printing a
traceback. ``load_app`` imports the app and registers the command modules on it.
"""

from __future__ import annotations

import sys
from typing import Any

COMMAND_MODULES = ("run", "batch", "compare", "validation", "explore")


def load_app() -> Any:
    """The ``deter-sim`` Typer app with every command registered."""
    import importlib

    from sim.cli.app import app

    for name in COMMAND_MODULES:
        importlib.import_module(f"sim.cli.commands.{name}")
    return app


def main() -> None:
    """Run ``deter-sim`` with the arguments of this process."""
    try:
        load_app()()
    except KeyboardInterrupt:
        interrupted()
    except SystemExit as exc:
        # Typer turns a KeyboardInterrupt in a command into a silent SystemExit(130).
        if exc.code == 130:
            interrupted()
        raise


def interrupted() -> None:
    """Say ``interrupted`` on one line and exit with 130, as a shell does for Ctrl-C."""
    sys.stderr.write("interrupted\n")
    sys.exit(130)
