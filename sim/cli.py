"""The ``deter-sim`` command line: parses arguments and calls the library."""

from __future__ import annotations

import json
import sys
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
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
from rich.table import Table
from rich.text import Text

from sim import __version__
from sim.errors import ScenarioError
from sim.execution import Backend, default_workers
from sim.metrics import METRIC_NAMES, METRICS
from sim.metrics import short_number as _fmt
from sim.runner import run_scenario
from sim.scenario import apply_changes, bundled_scenarios, json_schema, load_scenario

app = typer.Typer(
    help="deter-sim: agent-based simulation of counterfeit-deterrence policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Tables are wider than 80 columns: use 120 when the output is not a terminal.
console = Console(width=None if sys.stdout.isatty() else 120, emoji=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120, emoji=False)


class TableFormat(StrEnum):
    """Format of the time-series table."""

    parquet = "parquet"
    csv = "csv"


class Method(StrEnum):
    """Sensitivity-analysis method."""

    sobol = "sobol"
    morris = "morris"


class PlotKind(StrEnum):
    """Figures ``deter-sim plot`` draws."""

    timeseries = "timeseries"
    change = "change"
    funnel = "funnel"
    beliefs = "beliefs"
    heatmap = "heatmap"
    sensitivity = "sensitivity"


class Engine(StrEnum):
    """Engine that steps the counterfeiters (``sim.model.ENGINES``)."""

    vector = "vector"
    agents = "agents"


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
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace what --out holds.")]


def _overrides(
    set_: list[str] | None, replications: int | None, seed: int | None, weeks: int | None
) -> list[str]:
    overrides = list(set_ or [])
    for key, value in (("replications", replications), ("seed", seed), ("weeks", weeks)):
        if value is not None:
            overrides.append(f"{key}={value}")
    return overrides


def _output_folder(out: Path | None, default: Path, force: bool) -> Path:
    """The folder a run writes to, checked to be writable before the run starts."""
    chosen = out if out is not None else default
    if not force and chosen.exists() and any(chosen.iterdir()):
        if out is not None:
            _fail(
                f"{out}: already holds results; add --force to replace them, or choose another "
                "--out"
            )
        number = 2
        while (chosen := default.with_name(f"{default.name}-{number}")).exists():
            number += 1
    try:
        chosen.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=chosen, prefix=".write-test-"):
            pass
    except OSError as exc:
        _fail(f"{chosen}: cannot write the results here ({exc.strerror or exc})")
    return chosen


def _check_memory(scenarios, workers: int, engine, address: str | None) -> None:
    """Refuse up front what would not fit in this machine's memory (not for a remote cluster)."""
    if address:
        return
    from sim.runner import check_memory

    for scenario in scenarios:
        try:
            check_memory(scenario, workers, getattr(engine, "value", engine))
        except ScenarioError as exc:
            _fail(str(exc))


def _check_batch_memory(resolved, points, pool: dict, engine, address: str | None) -> None:
    """``_check_memory`` for the point of a batch with the most sellers."""
    largest = max(
        (apply_changes(resolved, changes) for _, changes in points),
        key=lambda s: s.population.sellers,
    )
    _check_memory([largest], pool["workers"], engine, address)


def _pool_options(backend: Backend, workers: int | None, address: str | None) -> dict:
    if address and backend is not Backend.dask:
        _fail("--address needs --backend dask")
    if backend is Backend.serial:
        workers = 1
    return {"backend": backend.value, "workers": workers or default_workers(), "address": address}


def _plain(text: str) -> str:
    """User-given text made safe to print: no console markup, no control characters."""
    from rich.markup import escape

    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return escape(shown)


def _run_options(pool: dict, engine, workers: int | None = None) -> dict:
    """``run_scenario`` keyword arguments from ``_pool_options`` and the engine."""
    return {
        "workers": pool["workers"] if workers is None else workers,
        "backend": pool["backend"],
        "address": pool["address"],
        "engine": engine.value,
    }


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {_plain(message)}", highlight=False, soft_wrap=True)
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


EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="vector: sellers as arrays (fast); agents: one Mesa agent per seller (slow, "
        "for inspection); both compute the same model.",
    ),
]


def _load(scenario: str, overrides: list[str]):
    try:
        return load_scenario(scenario, overrides)
    except ScenarioError as exc:
        _fail(str(exc))


@app.command()
def run(
    scenario: ScenarioArg,
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [results/<name>].")
    ] = None,
    table_format: Annotated[
        TableFormat, typer.Option("--format", help="Format of the time-series table.")
    ] = TableFormat.parquet,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the results already in the output folder.")
    ] = False,
) -> None:
    """Run a scenario's replications and write its tables under results/<name>/.

    An output folder that already holds results is never overwritten silently: without --out
    the run goes to a new folder (results/<name>-2, -3, ...); with --out it is refused unless
    --force is given.
    """
    resolved = _load(scenario, _overrides(set_, replications, seed, weeks))
    pool = _pool_options(backend, workers, address)
    out_dir = _output_folder(out, Path("results") / resolved.name, force)
    workers = min(pool["workers"], resolved.replications)
    _check_memory([resolved], workers, engine, address)
    where = f"Dask at {address}" if address else f"{workers} worker(s), {backend.value} backend"
    console.print(
        f"[bold]{resolved.name}[/]: {resolved.replications} replication(s) of "
        f"{resolved.weeks} weeks, {resolved.population.sellers:,} sellers, "
        f"seed {resolved.seed}, {where}, {engine.value} engine"
    )
    with _progress() as progress:
        task = progress.add_task("replications", total=resolved.replications)
        results = run_scenario(
            resolved,
            workers=workers,
            on_done=lambda done: progress.update(task, completed=done),
            engine=engine.value,
            backend=backend.value,
            address=address,
        )
    try:
        results.save(out_dir, table_format.value)
    except OSError as exc:
        _fail(
            f"{out_dir}: cannot write the results ({exc.strerror or exc}); nothing complete "
            "was left there"
        )
    console.print(_summary_table(results.summary_stats, resolved.name))
    console.print(
        f"wall time {results.manifest['wall_time_seconds']:.1f} s; results in [bold]{out_dir}/[/]"
    )


@app.command()
def sweep(
    scenario: ScenarioArg,
    grid: Annotated[
        list[str],
        typer.Option(
            "--grid",
            help="A swept field: field=lo:hi:n (n even steps) or field=v1,v2,... (repeatable; "
            "the grid is their product).",
        ),
    ],
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [results/<name>_sweep].")
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Run every point of a parameter grid, plus the scenario itself as the reference.

    Writes sweep.csv (one row per point: mean and 95% interval of each metric), sweep_stats.csv,
    heatmap.png (change of active sellers against the reference, with the contour where it is
    halved), the runs (runs/, partitioned Parquet) and run_index.csv.
    """
    from sim.sweep import grid_points, parse_grid, run_sweep

    resolved = _load(scenario, _overrides(set_, replications, seed, weeks))
    try:
        axes = [parse_grid(text) for text in grid]
        cells = grid_points(resolved, axes)
    except ScenarioError as exc:
        _fail(str(exc))
    points = len(cells)
    pool = _pool_options(backend, workers, address)
    _check_batch_memory(resolved, cells, pool, engine, address)
    out_dir = out if out is not None else Path("results") / f"{resolved.name}_sweep"
    console.print(
        f"[bold]{resolved.name}[/] sweep: {points} points (reference included) x "
        f"{resolved.replications} replications = {points * resolved.replications} runs of "
        f"{resolved.weeks} weeks, {resolved.population.sellers:,} sellers; {backend.value} "
        f"backend, {pool['workers']} worker(s)"
    )
    result = _run_batch(
        lambda on_done: run_sweep(
            resolved, axes, out_dir, pool, resume, force, engine.value, on_done
        )
    )
    if result.table is not None:
        console.print(_sweep_table(result.table, resolved.name))
    _batch_end(result, "sweep.csv, heatmap.png")


@app.command()
def sensitivity(
    scenario: ScenarioArg,
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
    metrics: Annotated[
        str,
        typer.Option("--metrics", help="Comma-separated metrics to analyse."),
    ] = "active_sellers,counterfeit_sales_cny",
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_sensitivity]."),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Global sensitivity analysis with SALib: which parameters the metrics depend on most.

    Writes sensitivity.csv (each index with its 95% confidence interval), sensitivity.png (bars
    per parameter), points.csv (the design), the runs and run_index.csv.
    """
    from sim.sweep import design, parse_param, run_sensitivity, sample_points

    resolved = _load(scenario, _overrides(set_, replications, seed, weeks))
    chosen = [m.strip() for m in metrics.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METRIC_NAMES]
    if unknown or not chosen:
        _fail(
            f"--metrics: unknown metric {unknown[0] if unknown else metrics!r}; allowed: "
            f"{', '.join(METRIC_NAMES)}"
        )
    try:
        params = [parse_param(text) for text in param]
        problem, matrix = design(params, method.value, samples, resolved.seed)
        samples_ = sample_points(resolved, problem, matrix)
    except ScenarioError as exc:
        _fail(str(exc))
    pool = _pool_options(backend, workers, address)
    _check_batch_memory(resolved, samples_, pool, engine, address)
    out_dir = out if out is not None else Path("results") / f"{resolved.name}_sensitivity"
    console.print(
        f"[bold]{resolved.name}[/] {method.value} sensitivity: {len(params)} parameters, "
        f"{len(matrix)} points x {resolved.replications} replications = "
        f"{len(matrix) * resolved.replications} runs; {backend.value} backend, "
        f"{pool['workers']} worker(s)"
    )
    result = _run_batch(
        lambda on_done: run_sensitivity(
            resolved,
            params,
            method.value,
            samples,
            chosen,
            out_dir,
            pool,
            resume,
            force,
            engine.value,
            on_done,
        )
    )
    if result.table is not None:
        console.print(_sensitivity_table(result.table))
    _batch_end(result, "sensitivity.csv, sensitivity.png")


@app.command()
def compare(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Scenario files or names (run here), or result folders of `run`."),
    ],
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Scenario compared against [the first].")
    ] = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="Comma-separated metrics [all].")
    ] = None,
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for compare.csv and the runs [results/compare]."),
    ] = None,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Compare scenarios with a baseline, paired on common seeds; write compare.csv.

    Scenarios that are run are saved under --out/<name>. Earlier results there are never
    replaced silently: without --out a new folder is used (results/compare-2, ...); with --out
    it is refused unless --force is given.
    """
    overrides = _overrides(set_, replications, seed, weeks)
    out = _comparison_folder(inputs, overrides, out, force, ["compare.csv"])
    comparison = _comparison(
        inputs,
        baseline,
        metrics,
        overrides,
        out,
        _pool_options(backend, workers, address),
        engine,
    )
    for name in [
        r.scenario.name for r in comparison.results if r.scenario.name != comparison.baseline
    ]:
        console.print(_compare_table(comparison.table[comparison.table.scenario == name]))
    from sim.store import write_table

    write_table(out / "compare.csv", comparison.table)
    console.print(f"comparison written to [bold]{out / 'compare.csv'}[/]")


@app.command()
def brief(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Scenario files or names (run here), or result folders of `run`."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The PDF to write.")] = Path(
        "brief.pdf"
    ),
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Scenario compared against [the first].")
    ] = None,
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the runs of scenario files [results/compare]."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing --output and results in --out."),
    ] = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Write a PDF briefing: key findings, comparison table, charts, assumptions, provenance.

    An existing --output file, and earlier runs under --out/<name>, are only replaced with
    --force (without --out, runs go to a new folder results/compare-2, ...).
    """
    from sim.brief import write_brief

    if output.suffix.lower() != ".pdf":
        _fail(f"--output: {output}: the briefing is a PDF; use a .pdf file name")
    if output.exists() and not force:
        _fail(f"--output: {output} already exists; add --force to replace it, or choose another")
    overrides = _overrides(set_, replications, seed, weeks)
    out = _comparison_folder(inputs, overrides, out, force, [])
    comparison = _comparison(
        inputs,
        baseline,
        None,
        overrides,
        out,
        _pool_options(backend, workers, address),
        engine,
    )
    write_brief(comparison, output)
    console.print(f"briefing written to [bold]{output}[/]")


def _comparison_folder(
    inputs: list[str], overrides: list[str], out: Path | None, force: bool, files: list[str]
) -> Path:
    """The folder ``compare``/``brief`` save runs in, never replacing results silently.

    What would be written there (``files`` and a folder per scenario that is run) must not
    exist yet, unless ``force``; without ``--out`` the next free ``results/compare-N`` is used.
    """
    from sim.runner import Results

    names = [_load(item, overrides).name for item in inputs if not Path(item).is_dir()]
    for item in inputs:  # every input is checked before anything is created
        if Path(item).is_dir():
            try:
                Results.load(item)
            except ScenarioError as exc:
                _fail(str(exc))
    default = Path("results/compare")
    chosen = out if out is not None else default

    def taken(folder: Path) -> list[str]:
        held = [f for f in files if (folder / f).exists()]
        held += [n for n in names if (folder / n).is_dir() and any((folder / n).iterdir())]
        return held

    if not force and (held := taken(chosen)):
        if out is not None:
            _fail(
                f"{out}: already holds {', '.join(held)}; add --force to replace them, or "
                "choose another --out"
            )
        number = 2
        while taken(chosen := default.with_name(f"{default.name}-{number}")):
            number += 1
    if names or files:
        return _output_folder(chosen, chosen, force=True)
    return chosen


def _comparison(inputs, baseline, metrics, overrides, out, pool, engine):
    from sim.analysis import PairingError
    from sim.compare import compare as compare_results
    from sim.compare import gather

    chosen = None
    if metrics:
        chosen = [m.strip() for m in metrics.split(",") if m.strip()]
        unknown = [m for m in chosen if m not in METRIC_NAMES]
        if unknown:
            _fail(f"--metrics: unknown metric '{unknown[0]}'; allowed: {', '.join(METRIC_NAMES)}")
    options = _run_options(pool, engine)
    with _progress() as progress:

        def on_start(scenario):
            task = progress.add_task(scenario.name, total=scenario.replications)
            return lambda done: progress.update(task, completed=done)

        try:
            results = gather(inputs, overrides, out, options, on_start)
            return compare_results(results, baseline, chosen)
        except (ScenarioError, PairingError) as exc:
            progress.stop()
            _fail(str(exc))


def _compare_table(rows) -> Table:
    first = rows.iloc[0]
    table = Table(
        title=f"{first.scenario} against {first.baseline} ({first.n} paired replications)"
    )
    for column in (
        "metric",
        first.baseline,
        first.scenario,
        "change",
        "change %",
        "95% CI of change %",
    ):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows.itertuples(index=False):
        table.add_row(
            row.metric,
            _fmt(row.baseline_mean),
            _fmt(row.mean),
            _fmt(row.change),
            f"{row.change_pct:+.1f}%" if row.change_pct == row.change_pct else "n/a",
            f"{row.change_pct_ci_low:+.1f} to {row.change_pct_ci_high:+.1f}%"
            if row.change_pct_ci_low == row.change_pct_ci_low
            else "n/a",
        )
    return table


@app.command()
def plot(
    results: Annotated[
        list[Path],
        typer.Argument(help="Result folders: of `run` (several), or of a sweep or sensitivity."),
    ],
    kind: Annotated[
        PlotKind,
        typer.Option(
            "--kind",
            help="timeseries, change, funnel, beliefs (of run folders); heatmap (of a sweep); "
            "sensitivity (of a sensitivity analysis).",
        ),
    ] = PlotKind.timeseries,
    metric: Annotated[str, typer.Option("--metric", help="Metric to show.")] = "active_sellers",
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Baseline of --kind change [the first].")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Figure file: .png, .svg or .pdf."),
    ] = None,
) -> None:
    """Draw a figure from results on disk; the format follows the file suffix."""
    import matplotlib.pyplot as plt

    from sim.plots import FORMATS, save_figure

    if metric not in METRIC_NAMES:
        _fail(f"--metric: unknown metric '{metric}'; allowed: {', '.join(METRIC_NAMES)}")
    if kind in (PlotKind.heatmap, PlotKind.sensitivity):
        folder = results[0]
        target = output or folder / f"{kind.value}_{metric}.png"
    else:
        target = output or Path("results") / f"{kind.value}_{metric}.png"
    if target.suffix.lower() not in FORMATS:
        _fail(f"--output: {target}: unsupported format; use {', '.join(FORMATS)}")
    figure, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    if kind in (PlotKind.heatmap, PlotKind.sensitivity):
        footer = _draw_batch_figure(results[0], kind, metric, ax)
    else:
        footer = _draw_comparison_figure(results, kind, metric, baseline, ax)
    save_figure(figure, target, footer)
    console.print(f"figure written to [bold]{target}[/]")


def _draw_batch_figure(folder: Path, kind: PlotKind, metric: str, ax) -> str:
    import pandas as pd

    from sim.plots import plot_heatmap, plot_sensitivity

    table_file = folder / ("sweep.csv" if kind is PlotKind.heatmap else "sensitivity.csv")
    if not table_file.is_file():
        command = "sweep" if kind is PlotKind.heatmap else "sensitivity"
        _fail(f"{folder}: no {table_file.name} here; run `deter-sim {command}` first")
    table = pd.read_csv(table_file)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    try:
        if kind is PlotKind.heatmap:
            plot_heatmap(table, metric, ax=ax)
        else:
            if metric not in set(table.metric):
                analysed = ", ".join(sorted(set(table.metric)))
                _fail(f"--metric: '{metric}' was not analysed; analysed: {analysed}")
            plot_sensitivity(table, metric, ax=ax)
    except ValueError as exc:
        _fail(f"{folder}: {exc}")
    return (
        f"deter-sim {manifest.get('deter_sim_version')} | {manifest.get('kind')} of scenario "
        f"{manifest.get('scenario')} | {manifest.get('points')} points, root seed "
        f"{manifest.get('root_seed')}, {len(manifest.get('replication_seeds', []))} replications"
    )


def _draw_comparison_figure(folders, kind, metric, baseline, ax) -> str:
    from sim.analysis import PairingError
    from sim.compare import compare as compare_results
    from sim.compare import provenance
    from sim.plots import plot_beliefs, plot_change, plot_funnel, plot_timeseries
    from sim.runner import Results

    try:
        loaded = [Results.load(folder) for folder in folders]
        comparison = compare_results(loaded, baseline)
    except (ScenarioError, PairingError) as exc:
        _fail(str(exc))
    if kind is PlotKind.timeseries:
        plot_timeseries(comparison.timeseries, metric, comparison.burn_in_weeks, ax=ax)
    elif kind is PlotKind.change:
        if len(loaded) < 2:
            _fail("--kind change needs at least two result folders (a baseline and another)")
        metrics = list(
            dict.fromkeys(
                [
                    metric,
                    "active_sellers",
                    "counterfeit_sales_cny",
                    "convictions",
                    "enforcement_cost_cny",
                ]
            )
        )
        plot_change(comparison.table, metrics, ax=ax)
    elif kind is PlotKind.funnel:
        plot_funnel(comparison.summary_stats, ax=ax)
    else:
        plot_beliefs(comparison.timeseries, comparison.burn_in_weeks, ax=ax)
    return provenance(comparison)


def _run_batch(call):
    with _progress(rate=True) as progress:
        task = progress.add_task("runs", total=None)

        def on_done(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        try:
            return call(on_done)
        except ScenarioError as exc:
            progress.stop()
            _fail(str(exc))
        except OSError as exc:  # the batch's own tables and figures (sim.store names the file)
            progress.stop()
            where = Path(exc.filename).parent if exc.filename else "the results folder"
            _fail(
                f"{where}: cannot write the results ({exc.strerror or exc}); the runs finished "
                "are kept: the same command with --resume writes the tables"
            )


def _batch_end(result, files: str) -> None:
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


def _sweep_table(table, name: str) -> Table:
    from sim.plots import sweep_parameters

    params = sweep_parameters(table)
    out = Table(title=f"{name} sweep: active sellers and counterfeit sales per point")
    for param in params:
        out.add_column(param.rsplit(".", 1)[-1], justify="right")
    out.add_column("active sellers (95% CI)", justify="right")
    out.add_column("counterfeit sales CNY/yr (95% CI)", justify="right")
    for values in table.to_dict("records"):
        cells = ["reference" if values["label"] == "reference" else _fmt(values[p]) for p in params]
        for metric in ("active_sellers", "counterfeit_sales_cny"):
            cells.append(
                f"{_fmt(values[f'{metric}_mean'])} ({_fmt(values[f'{metric}_ci_low'])} to "
                f"{_fmt(values[f'{metric}_ci_high'])})"
            )
        out.add_row(*cells)
    return out


def _sensitivity_table(table) -> Table:
    out = Table(title="Sensitivity indices (95% confidence interval)")
    for column in ("metric", "parameter", "index", "value", "95% CI"):
        out.add_column(column, justify="right" if column in ("value", "95% CI") else "left")
    for row in table.itertuples(index=False):
        out.add_row(
            row.metric,
            row.parameter,
            row.index,
            f"{row.value:.3g}",
            f"{row.ci_low:.3g} to {row.ci_high:.3g}" if row.conf == row.conf else "n/a",
        )
    return out


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
        console.print(f"[green]ok[/] {_plain(name)}: scenario '{scenario.name}'", highlight=False)


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


class RateColumn(ProgressColumn):
    """Runs finished per second (rich's own speed column counts bytes)."""

    def render(self, task: Task) -> Text:
        """The task's rate, e.g. ``2.41 runs/s``."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} runs/s" if speed else "")


def _progress(rate: bool = False) -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(RateColumn())
    columns += [TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn()]
    return Progress(*columns, console=err_console, transient=False)


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


def main() -> None:
    """Entry point of the ``deter-sim`` console script."""
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as exc:
        # Typer turns a KeyboardInterrupt in a command into a silent SystemExit(130).
        if isinstance(exc, SystemExit) and exc.code != 130:
            raise
        err_console.print("interrupted", highlight=False)
        sys.exit(130)
    except OSError as exc:
        # A result that cannot be written (full disk, a folder that vanished, ...) in a command
        # that does not report it itself: one line, exit 2. Files being written go through a
        # hidden temporary name; the folder is named.
        place = ""
        if exc.filename:  # the folder of the file, without hidden staging folders
            parts = [p for p in Path(exc.filename).parts if not p.startswith(".") or p == ".."]
            place = f"{Path(*parts).parent}: " if parts else ""
        err_console.print(
            f"[bold red]error:[/] {_plain(place)}cannot write the results "
            f"({_plain(exc.strerror or str(exc))}); nothing complete was left there",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)


# Commands of calibration and validation, registered on ``app`` by importing their module.
from sim import cli_validation  # noqa: E402, F401
