"""The ``deter-sim`` command line: parses arguments and calls the library."""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sim import __version__
from sim.errors import ScenarioError
from sim.metrics import METRICS
from sim.runner import run_scenario
from sim.scenario import bundled_scenarios, json_schema, load_scenario

app = typer.Typer(
    help="deter-sim: agent-based simulation of counterfeit-deterrence policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Tables are wider than 80 columns: use 120 when the output is not a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


class TableFormat(StrEnum):
    """Format of the time-series table."""

    parquet = "parquet"
    csv = "csv"


class Engine(StrEnum):
    """Engine that steps the counterfeiters (``sim.model.ENGINES``)."""

    vector = "vector"
    agents = "agents"


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


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


@app.command()
def run(
    scenario: Annotated[
        str, typer.Argument(help="Scenario YAML file, or a bundled scenario's name.")
    ],
    replications: Annotated[
        int | None, typer.Option("--replications", "-r", help="Replications (overrides the file).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Root seed (overrides the file).")
    ] = None,
    weeks: Annotated[
        int | None, typer.Option("--weeks", help="Weeks to simulate (overrides the file).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a field: section.field=value (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [results/<name>].")
    ] = None,
    table_format: Annotated[
        TableFormat, typer.Option("--format", help="Format of the time-series table.")
    ] = TableFormat.parquet,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, max=256, help="Worker processes [CPU count]."),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="vector: sellers as arrays (fast); agents: one Mesa agent per seller (slow, "
            "for inspection); both compute the same model.",
        ),
    ] = Engine.vector,
) -> None:
    """Run a scenario's replications and write its tables under results/<name>/."""
    overrides = list(set_ or [])
    for key, value in (("replications", replications), ("seed", seed), ("weeks", weeks)):
        if value is not None:
            overrides.append(f"{key}={value}")
    try:
        resolved = load_scenario(scenario, overrides)
    except ScenarioError as exc:
        _fail(str(exc))
        return
    out_dir = out if out is not None else Path("results") / resolved.name
    workers = min(workers or os.cpu_count() or 1, resolved.replications)
    console.print(
        f"[bold]{resolved.name}[/]: {resolved.replications} replication(s) of "
        f"{resolved.weeks} weeks, {resolved.population.sellers:,} sellers, "
        f"seed {resolved.seed}, {workers} worker(s), {engine.value} engine"
    )
    with _progress() as progress:
        task = progress.add_task("replications", total=resolved.replications)
        results = run_scenario(
            resolved,
            workers=workers,
            on_done=lambda done: progress.update(task, completed=done),
            engine=engine.value,
        )
    results.save(out_dir, table_format.value)
    console.print(_summary_table(results.summary_stats, resolved.name))
    console.print(
        f"wall time {results.manifest['wall_time_seconds']:.1f} s; results in [bold]{out_dir}/[/]"
    )


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Scenario YAML files.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: section.field=value.")
    ] = None,
) -> None:
    """Check scenario files (and overrides) without running them."""
    for name in files:
        try:
            scenario = load_scenario(name, list(set_ or []))
        except ScenarioError as exc:
            _fail(str(exc))
            return
        console.print(f"[green]ok[/] {name}: scenario '{scenario.name}'", highlight=False)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of the scenario format (for editors)."""
    text = json.dumps(json_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"schema written to {output}")


@app.command()
def scenarios() -> None:
    """List the bundled scenarios with their descriptions."""
    table = Table(title="Bundled scenarios", show_lines=False)
    table.add_column("file")
    table.add_column("name")
    table.add_column("description")
    for path in bundled_scenarios():
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            table.add_row(path.name, "[red]invalid[/]", str(exc))
            continue
        table.add_row(f"scenarios/{path.name}", scenario.name, scenario.description.strip())
    console.print(table)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


def _summary_table(stats, name: str) -> Table:
    table = Table(title=f"{name}: per year after burn-in (flows) or mean level (stocks)")
    table.add_column("metric", no_wrap=True)
    table.add_column("mean", justify="right")
    table.add_column("95% CI of mean", justify="right")
    table.add_column("5%-95% of runs", justify="right")
    table.add_column("unit")
    units = {m.name: m.unit + (" / year" if m.kind == "flow" else "") for m in METRICS}
    for row in stats.itertuples():
        table.add_row(
            row.metric,
            _fmt(row.mean),
            f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)}" if row.n > 1 else "n/a",
            f"{_fmt(row.q05)} to {_fmt(row.q95)}",
            units[row.metric],
        )
    return table


def _fmt(value: float) -> str:
    """Three significant digits with a k/M/G suffix, e.g. ``7.38M``."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    for threshold, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if magnitude >= threshold:
            return f"{value / scale:.3g}{suffix}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:,.4g}"
    return f"{value:.3g}"


def main() -> None:
    """Entry point of the ``deter-sim`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
