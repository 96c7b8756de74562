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


# Commands whose finished runs survive an interruption and are reused with --resume.
RESUMABLE = ("sweep", "sensitivity", "calibrate", "elasticity", "lever-map")
RESUME_HINT = "; the runs already finished are kept: the same command with --resume goes on"


def interrupted() -> None:
    """Say ``interrupted`` on one line and exit with 130, as a shell does for Ctrl-C.

    After a command that can resume, the line says how.
    """
    words = [word for word in sys.argv[1:] if not word.startswith("-")]
    hint = RESUME_HINT if words and words[0] in RESUMABLE else ""
    sys.stderr.write(f"interrupted{hint}\n")
    sys.exit(130)
