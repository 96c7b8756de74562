"""The ``deter-sim`` command line: ``app`` (the Typer app), ``main``, and ``commands``."""
