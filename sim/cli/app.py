"""The Typer app, its consoles, and what every command shares: options, errors, progress.

The commands live in ``sim.cli.commands`` (one module per group) and register themselves on
``app``; ``sim.cli.main`` imports them and runs the app. Nothing here imports the model, pandas
or matplotlib, so ``deter-sim --help`` starts fast: commands import the library when they run.
The library raises ``sim.errors.DeterSimError`` for anything a user can cause; ``main`` prints
it as one line (exit code 2), so commands need not catch it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from typer.core import TyperGroup

from sim._version import __version__
from sim.errors import DeterSimError
from sim.experiments.execution import Backend, ExecutionOptions, default_workers

# Tables are wider than 80 columns: use 120 when the output is not a terminal.
console = Console(width=None if sys.stdout.isatty() else 120, emoji=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120, emoji=False)


class Commands(TyperGroup):
    """The group of commands: turns the errors a user can cause into one line, exit code 2.

    A ``DeterSimError`` (bad scenario, option, folder, a run too large) is printed as it is;
    an ``OSError`` is a result that cannot be written (a full disk, a folder that vanished):
    the folder is named, never the hidden temporary file that was being written.
    """

    def invoke(self, ctx: Any) -> Any:
        """Invoke the command, reporting user errors in one line."""
        try:
            return super().invoke(ctx)
        except DeterSimError as exc:
            fail(str(exc))
        except OSError as exc:
            place = ""
            if exc.filename:  # the folder of the file, without hidden staging folders
                parts = [p for p in Path(exc.filename).parts if not p.startswith(".") or p == ".."]
                place = f"{Path(*parts).parent}: " if parts else ""
            fail(
                f"{place}cannot write the results ({exc.strerror or exc}); nothing complete "
                "was left there"
            )


app = typer.Typer(
    cls=Commands,
    help="deter-sim: agent-based simulation of counterfeit-deterrence policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help text is shown as written: "[default]" in brackets is not console markup.
    rich_markup_mode=None,
)


class TableFormat(StrEnum):
    """Format of the time-series table."""

    parquet = "parquet"
    csv = "csv"


class Engine(StrEnum):
    """Engine that steps the counterfeiters (``sim.model.model.ENGINES``)."""

    vector = "vector"
    agents = "agents"


# -- options shared by several commands -----------------------------------------------------------
ScenarioArg = Annotated[
    str, typer.Argument(help="Scenario YAML file, or a bundled scenario's name.")
]
ReplicationsOpt = Annotated[
    int | None, typer.Option("--replications", "-r", help="Replications (overrides the file).")
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Root seed (overrides the file).")]
WeeksOpt = Annotated[
    int | None, typer.Option("--weeks", help="Weeks to simulate (overrides the file).")
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a field: section.field=value (repeatable)."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option("--workers", "-w", min=1, max=1024, help="Worker processes [CPUs available]."),
]
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="vector: sellers as arrays (fast); agents: one Mesa agent per seller (slow, "
        "for inspection); both compute the same model.",
    ),
]
BackendOpt = Annotated[
    Backend,
    typer.Option(
        "--backend",
        help="serial: in this process; process: a local process pool; dask: a Dask cluster "
        "(--address, or a local one).",
    ),
]
AddressOpt = Annotated[
    str | None,
    typer.Option("--address", help="Dask scheduler to use, tcp://HOST:PORT (with --backend dask)."),
]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Finish an interrupted batch in --out, skipping done runs.")
]
EnsembleOpt = Annotated[
    Path | None,
    typer.Option(
        "--ensemble",
        help="Ensemble file (CSV of parameter sets, e.g. calibration/ensemble_2016.csv): run "
        "every scenario on every set.",
    ),
]
SetsOpt = Annotated[
    int | None, typer.Option("--sets", min=1, help="Use the first N sets of --ensemble [all].")
]


ForceOpt = Annotated[bool, typer.Option("--force", help="Replace what --out holds.")]
MetricsOpt = Annotated[str, typer.Option("--metrics", help="Comma-separated metrics reported.")]


def bundle_options(
    command: Callable[..., Any],
    given: str,
    added: dict[str, tuple[Any, Any]],
    build: Callable[..., Any],
) -> Callable[..., Any]:
    """``command`` with its parameter ``given`` replaced by the options ``added``.

    Typer reads a command's options from its signature: the returned function declares the
    command's own parameters and ``added`` (name: (annotation, default)), and calls ``command``
    with ``given=build(**added values)``.
    """
    own = inspect.signature(command, eval_str=True)
    parameters = [p for p in own.parameters.values() if p.name != given]
    for name, (annotation, default) in added.items():
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )

    def wrapper(**kwargs: Any) -> Any:
        extra = {name: kwargs.pop(name) for name in added}
        return command(**kwargs, **{given: build(**extra)})

    wrapper.__name__, wrapper.__doc__ = command.__name__, command.__doc__
    wrapper.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {}
    return wrapper


def execution_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--workers``, ``--engine``, ``--backend`` and ``--address``.

    The command receives them as one ``execution: ExecutionOptions`` parameter.
    """
    return bundle_options(
        command,
        "execution",
        {
            "workers": (WorkersOpt, None),
            "engine": (EngineOpt, Engine.vector),
            "backend": (BackendOpt, Backend.process),
            "address": (AddressOpt, None),
        },
        lambda workers, engine, backend, address: ExecutionOptions(
            backend.value,
            1 if backend is Backend.serial else (workers or default_workers()),
            address,
            engine.value,
        ),
    )


def scenario_overrides(
    replications: Any = ReplicationsOpt, weeks: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command ``--replications``, ``--seed``, (``--weeks``,) and ``--set``.

    The command receives them as one ``overrides: list[str]`` parameter of ``--set`` strings.

    Args:
        replications: The annotation of ``--replications`` (a command may bound it).
        weeks: Whether the command takes ``--weeks``.
    """
    added = {"replications": (replications, None), "seed": (SeedOpt, None)}
    if weeks:
        added["weeks"] = (WeeksOpt, None)
    added["set_"] = (SetOpt, None)

    def build(set_: list[str] | None = None, **values: int | None) -> list[str]:
        overrides = list(set_ or [])
        overrides += [f"{key}={value}" for key, value in values.items() if value is not None]
        return overrides

    return lambda command: bundle_options(command, "overrides", added, build)


# -- output ---------------------------------------------------------------------------------------
def plain(text: str) -> str:
    """User-given text made safe to print: no console markup, no control characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escape(shown)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` on one line and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {plain(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def metric_list(text: str, option: str = "--metrics") -> list[str]:
    """The metrics named in a comma-separated option, checked."""
    from sim.model.metrics import check_metrics

    return check_metrics([m.strip() for m in text.split(",") if m.strip()], option)


class RateColumn(ProgressColumn):
    """Runs finished per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        """The task's rate, e.g. ``2.41 runs/s``."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} runs/s" if speed else "")


def progress(rate: bool = False) -> Progress:
    """A progress display on standard error (bar, count, elapsed, remaining)."""
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(RateColumn())
    columns += [TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*columns, console=err_console, transient=False)


def per_scenario(bars: Progress) -> Callable[[Any], Callable[[int], None]]:
    """An ``on_start`` callback that adds a bar per scenario run."""

    def on_start(scenario: Any) -> Callable[[int], None]:
        task = bars.add_task(scenario.name, total=scenario.replications)
        return lambda done: bars.update(task, completed=done)

    return on_start


def check_memory(scenarios: list[Any], execution: ExecutionOptions) -> None:
    """Refuse up front what would not fit in this machine's memory (not on a remote cluster)."""
    from sim.experiments.provenance import check_memory as check

    if execution.remote:
        return
    for scenario in scenarios:
        check(scenario, execution.at_most(scenario.replications).workers, execution.engine)


def output_folder(out: Path | None, default: Path, force: bool) -> Path:
    """The folder a result is written to (``sim.experiments.folders.claim_folder``)."""
    from sim.experiments.folders import claim_folder

    return claim_folder(out, default, force)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"deter-sim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """deter-sim: agent-based simulation of counterfeit-deterrence policy."""
