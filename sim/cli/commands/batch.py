"""Batches of runs over parameter values: ``sweep`` and ``sensitivity``; and how batches end."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.cli.app import (
    EnsembleOpt,
    ForceOpt,
    MetricsOpt,
    ResumeOpt,
    ScenarioArg,
    SetsOpt,
    app,
    check_memory,
    console,
    err_console,
    execution_options,
    metric_list,
    progress,
    scenario_overrides,
)
from sim.experiments.execution import ExecutionOptions


class Method(StrEnum):
    """Sensitivity-analysis method."""

    sobol = "sobol"
    morris = "morris"


def check_batch_memory(base: Any, points: list[tuple[str, dict]], execution: Any) -> None:
    """``check_memory`` for the point of a batch with the most sellers."""
    from sim.scenario import apply_changes

    largest = max(
        (apply_changes(base, changes) for _, changes in points),
        key=lambda s: s.population.sellers,
    )
    check_memory([largest], execution)


def run_batch(call: Callable[[Callable[[int, int], None]], Any]) -> Any:
    """Run a batch with a progress bar of its runs; a write failure says how to resume."""
    with progress(rate=True) as bars:
        task = bars.add_task("runs", total=None)
        try:
            return call(lambda done, total: bars.update(task, completed=done, total=total))
        except OSError as exc:  # the batch's own tables (sim.experiments.store names the file)
            bars.stop()
            where = Path(exc.filename).parent if exc.filename else "the results folder"
            from sim.cli.app import fail

            fail(
                f"{where}: cannot write the results ({exc.strerror or exc}); the runs finished "
                "are kept: the same command with --resume writes the tables"
            )


def batch_end(result: Any, files: str) -> None:
    """Say where the results are; exit 1 (naming a failed run) if any run failed."""
    resumed = int(result.index.resumed.sum())
    console.print(
        f"{len(result.index)} runs ({resumed} resumed from an earlier invocation), wall time "
        f"{result.wall_seconds:.1f} s; results in [bold]{result.out}/[/] ({files}, "
        "run_index.csv)"
    )
    if result.failed:
        failed = result.index[result.index.status != "ok"]
        first = failed.iloc[0]
        err_console.print(
            f"[bold red]{result.failed} run(s) failed[/] (run_index.csv has each error), e.g. "
            f"run {first.run_id} (point {first.point}, replication {first.replication}): "
            f"{first.error}",
            highlight=False,
        )
        raise typer.Exit(1)


@app.command()
@execution_options
@scenario_overrides()
def sweep(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    grid: Annotated[
        list[str],
        typer.Option(
            "--grid",
            help="A swept field: field=lo:hi:n (n even steps) or field=v1,v2,... (repeatable; "
            "the grid is their product).",
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [results/<name>_sweep].")
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    ensemble: EnsembleOpt = None,
    sets: SetsOpt = None,
) -> None:
    """Run every point of a parameter grid, plus the scenario itself as the reference.

    Writes sweep.csv (one row per point: mean and 95% interval of each metric), sweep_stats.csv,
    heatmap.png (change of active sellers against the reference, with the contour where it is
    halved), the runs (runs/, partitioned Parquet) and run_index.csv. With --ensemble every
    point runs on every parameter set: sweep_sets.csv per set, sweep.csv per point and metric
    the median over the sets and the range of 90% of them (no heat map).
    """
    from sim.cli.views import sweep_table
    from sim.experiments.folders import default_folder
    from sim.experiments.sweep import grid_points, parse_grid, run_sweep
    from sim.reporting.figures import sweep_figure
    from sim.scenario import load_scenario

    resolved = load_scenario(scenario, overrides)
    axes = [parse_grid(text) for text in grid]
    cells = grid_points(resolved, axes)
    table, on_sets = None, ""
    if ensemble is not None:
        from sim.experiments.ensemble import load_ensemble

        table = load_ensemble(ensemble, sets)
        on_sets = f" on each of {len(table)} parameter sets of {ensemble}"
    check_batch_memory(resolved, cells, execution)
    out_dir = out if out is not None else default_folder(resolved.name, "sweep")
    runs = len(cells) * resolved.replications * (1 if table is None else len(table))
    console.print(
        f"[bold]{resolved.name}[/] sweep: {len(cells)} points (reference included){on_sets} x "
        f"{resolved.replications} replications = {runs} runs of "
        f"{resolved.weeks} weeks, {resolved.population.sellers:,} sellers; "
        f"{execution.describe()}"
    )
    result = run_batch(
        lambda on_done: run_sweep(
            resolved, axes, out_dir, execution, resume, force, on_done, ensemble=table
        )
    )
    if result.table is not None and table is not None:
        from sim.cli.views import ensemble_sweep_table

        console.print(ensemble_sweep_table(result.table, resolved.name))
        batch_end(result, "sweep.csv, sweep_sets.csv")
        return
    if result.table is not None:
        sweep_figure(result)
        console.print(sweep_table(result.table, resolved.name))
    batch_end(result, "sweep.csv, heatmap.png")


@app.command()
@execution_options
@scenario_overrides()
def sensitivity(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    param: Annotated[
        list[str],
        typer.Option("--param", help="A varied field and its range: field=lo:hi (repeatable)."),
    ],
    method: Annotated[
        Method, typer.Option("--method", help="sobol (first and total order) or morris.")
    ] = Method.sobol,
    samples: Annotated[
        int,
        typer.Option(
            "--samples",
            min=2,
            max=100_000,
            help="Sobol: base samples N, a power of two (N x (params + 2) points); Morris: "
            "trajectories (N x (params + 1) points).",
        ),
    ] = 64,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_sensitivity]."),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Global sensitivity analysis with SALib: which parameters the metrics depend on most.

    Writes sensitivity.csv (each index with its 95% confidence interval), sensitivity.png (bars
    per parameter), points.csv (the design), the runs and run_index.csv.
    """
    from sim.cli.views import sensitivity_table
    from sim.experiments.folders import default_folder
    from sim.experiments.sensitivity import (
        design,
        parse_param,
        run_sensitivity,
        sample_points,
        sample_warnings,
    )
    from sim.reporting.figures import sensitivity_figure
    from sim.scenario import load_scenario

    resolved = load_scenario(scenario, overrides)
    chosen = metric_list(metrics)
    params = [parse_param(text) for text in param]
    problem, matrix = design(params, method.value, samples, resolved.seed)
    check_batch_memory(resolved, sample_points(resolved, problem, matrix), execution)
    out_dir = out if out is not None else default_folder(resolved.name, "sensitivity")
    console.print(
        f"[bold]{resolved.name}[/] {method.value} sensitivity: {len(params)} parameters, "
        f"{len(matrix)} points x {resolved.replications} replications = "
        f"{len(matrix) * resolved.replications} runs; {execution.describe()}"
    )
    result = run_batch(
        lambda on_done: run_sensitivity(
            resolved,
            params,
            method.value,
            samples,
            chosen,
            out_dir,
            execution,
            resume,
            force,
            on_done,
        )
    )
    if result.table is not None:
        sensitivity_figure(result)
        console.print(sensitivity_table(result.table))
        for warning in sample_warnings(method.value, samples, result.table):
            err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    batch_end(result, "sensitivity.csv, sensitivity.png")
