"""Commands about single scenarios: ``run``, ``validate``, ``schema`` and ``scenarios``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.cli.app import (
    EnsembleOpt,
    ScenarioArg,
    SetsOpt,
    TableFormat,
    app,
    check_memory,
    console,
    execution_options,
    output_folder,
    plain,
    progress,
    scenario_overrides,
)
from sim.cli.commands.batch import run_batch
from sim.experiments.execution import ExecutionOptions


@app.command()
@execution_options
@scenario_overrides()
def run(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [results/<name>].")
    ] = None,
    table_format: Annotated[
        TableFormat, typer.Option("--format", help="Format of the time-series table.")
    ] = TableFormat.parquet,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the results already in the output folder.")
    ] = False,
    ensemble: EnsembleOpt = None,
    sets: SetsOpt = None,
) -> None:
    """Run a scenario's replications and write its tables under results/<name>/.

    An output folder that already holds results is never overwritten silently: without --out
    the run goes to a new folder (results/<name>-2, -3, ...); with --out it is refused unless
    --force is given. With --ensemble the scenario runs on every parameter set (default
    folder results/<name>_ensemble): summary_sets.csv holds each set's means, summary.csv each
    metric's median over the sets and the range of 90% of them.
    """
    from sim.cli.views import summary_table
    from sim.experiments.folders import default_folder
    from sim.experiments.runner import run_scenario
    from sim.scenario import load_scenario

    resolved = load_scenario(scenario, overrides)
    if ensemble is not None:
        run_over_ensemble(resolved, ensemble, sets, out, force, execution)
        return
    out_dir = output_folder(out, default_folder(resolved.name), force)
    execution = execution.at_most(resolved.replications)
    check_memory([resolved], execution)
    console.print(
        f"[bold]{resolved.name}[/]: {resolved.replications} replication(s) of "
        f"{resolved.weeks} weeks, {resolved.population.sellers:,} sellers, "
        f"seed {resolved.seed}, {execution.describe()}, {execution.engine} engine"
    )
    with progress() as bars:
        task = bars.add_task("replications", total=resolved.replications)
        results = run_scenario(
            resolved,
            on_done=lambda done: bars.update(task, completed=done),
            options=execution,
        )
    results.save(out_dir, table_format.value)
    console.print(summary_table(results.summary_stats, resolved.name))
    console.print(
        f"wall time {results.manifest['wall_time_seconds']:.1f} s; results in [bold]{out_dir}/[/]"
    )


def run_over_ensemble(
    resolved, ensemble: Path, sets: int | None, out: Path | None, force: bool, execution
) -> None:
    """``run --ensemble``: the scenario on every parameter set."""
    from sim.cli.views import ensemble_summary_table
    from sim.experiments.ensemble import load_ensemble, scenario_over_sets
    from sim.experiments.folders import default_folder
    from sim.experiments.store import write_table

    table = load_ensemble(ensemble, sets)
    out_dir = output_folder(out, default_folder(resolved.name, "ensemble"), force)
    check_memory([resolved], execution)
    runs = len(table) * resolved.replications
    console.print(
        f"[bold]{resolved.name}[/] on {len(table)} parameter sets of {ensemble}: "
        f"{resolved.replications} replication(s) each ({runs} runs) of {resolved.weeks} weeks, "
        f"{resolved.population.sellers:,} sellers; {execution.describe()}"
    )
    per_set, summary = run_batch(
        lambda on_runs: scenario_over_sets(
            resolved,
            table,
            out_dir,
            execution,
            force=force,
            on_runs=on_runs,
        )
    )
    write_table(out_dir / "summary_sets.csv", per_set)
    write_table(out_dir / "summary.csv", summary)
    console.print(ensemble_summary_table(summary, resolved.name))
    console.print(f"results in [bold]{out_dir}/[/] (summary.csv, summary_sets.csv, the runs)")


@app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Scenario YAML files.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a field: section.field=value.")
    ] = None,
) -> None:
    """Check scenario files (and overrides) without running them."""
    from sim.scenario import load_scenario

    for name in files:
        scenario = load_scenario(name, list(set_ or []))
        console.print(f"[green]ok[/] {plain(name)}: scenario '{scenario.name}'", highlight=False)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of the scenario format (for editors)."""
    from sim.scenario import json_schema

    text = json.dumps(json_schema(), indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        console.print(f"schema written to {output}")


@app.command()
def scenarios() -> None:
    """List the bundled scenarios with their descriptions."""
    from sim.errors import ScenarioError
    from sim.scenario import bundled_scenarios, load_scenario
    from sim.scenario.bundled import scenario_folder

    folder = scenario_folder()
    if folder.resolve().is_relative_to(Path.cwd().resolve()):
        folder = folder.resolve().relative_to(Path.cwd().resolve())
    table = Table(
        title="Bundled scenarios",
        caption=f"files in {folder}/; any runs by name from any folder, e.g. deter-sim run strict",
        show_lines=False,
    )
    table.add_column("file")
    table.add_column("name")
    table.add_column("label")
    table.add_column("description")
    for path in bundled_scenarios():
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            table.add_row(path.name, "[red]invalid[/]", "", str(exc))
            continue
        table.add_row(path.name, scenario.name, scenario.label, scenario.description.strip())
    console.print(table)
