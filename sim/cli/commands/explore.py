"""The ``explore`` command: serve the explore page (``sim/model/app.py``) on this machine."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from sim.cli.app import app, console, scenario_overrides
from sim.errors import OptionError

EXTRA_HINT = "install the page's extra: pip install 'deter-sim[explore]'"


def page_command(host: str, port: int, open_browser: bool = True) -> list[str]:
    """The command that serves the page: ``solara run`` on ``sim/model/app.py``.

    Raises:
        OptionError: Solara (the ``explore`` extra) is not installed.
    """
    import importlib.util

    if importlib.util.find_spec("solara") is None:
        raise OptionError("explore", "", f"the explore page needs Solara; {EXTRA_HINT}")
    page = importlib.util.find_spec("sim.model.app")
    assert page is not None and page.origin is not None  # a module of this package
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        page.origin,
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-check-version",  # the pins are deliberate (solara-assets): no upgrade advice
        "--open" if open_browser else "--no-open",
    ]


@app.command()
@scenario_overrides()
def explore(
    overrides: list[str],
    scenario: Annotated[
        str, typer.Argument(help="Scenario YAML file, or a bundled scenario's name.")
    ] = "baseline_2016",
    sellers: Annotated[
        int,
        typer.Option(
            "--sellers", min=10, max=1_000_000, help="Sellers of the page's interactive runs."
        ),
    ] = 20_000,
    host: Annotated[
        str, typer.Option("--host", help="Address to serve on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to serve on.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in a web browser.")
    ] = True,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, max=1024, help="Workers of the full-scale run."),
    ] = None,
) -> None:
    """Open a local web page to move the policy levers and watch the model respond.

    The page steps the scenario week by week at an interactive scale (--sellers) beside its
    baseline on the same seed; its full-scale button runs the levers' values through the
    normal runner with the scenario's size (and the --set overrides), like `deter-sim run`.
    """
    from sim.experiments.execution import default_workers
    from sim.scenario import load_scenario

    load_scenario(scenario, overrides)  # a bad scenario or --set: one line, exit code 2
    command = page_command(host, port, open_browser)
    settings = {
        "scenario": scenario,
        "overrides": overrides,
        "sellers": sellers,
        "workers": workers or default_workers(),
    }
    env = {
        **os.environ,
        "DETER_SIM_EXPLORE": json.dumps(settings),
        "SOLARA_CHECK_HOOKS": "off",  # Mesa's own page components trip Solara's hook check
    }
    console.print(
        f"explore page on [bold]http://{host}:{port}[/] ({sellers:,} sellers); Ctrl-C stops it",
        highlight=False,
    )
    sys.stdout.flush()
    sys.stderr.flush()
    # The page's server replaces this process, so that Ctrl-C or a kill reaches it directly
    # (a child process would outlive a killed parent and keep the port).
    os.execve(command[0], command, env)
