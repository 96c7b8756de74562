"""Commands that set scenarios side by side: ``compare``, ``brief`` and ``plot``."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.cli.app import (
    EnsembleOpt,
    ForceOpt,
    ResumeOpt,
    SetsOpt,
    app,
    console,
    err_console,
    execution_options,
    fail,
    metric_list,
    per_scenario,
    progress,
    scenario_overrides,
)
from sim.cli.commands.batch import run_batch
from sim.experiments.execution import ExecutionOptions

InputsArg = Annotated[
    list[str],
    typer.Argument(help="Scenario files or names (run here), or result folders of `run`."),
]
BaselineOpt = Annotated[
    str | None, typer.Option("--baseline", help="Scenario compared against [the first].")
]
AllowDifferentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-different",
        help="A field outside the platform and enforcement sections that may differ between "
        "the scenarios compared (repeatable); by default only policy levers may.",
    ),
]


ReuseOpt = Annotated[
    Path | None,
    typer.Option(
        "--reuse-runs",
        help="With --ensemble: an earlier result folder over an ensemble whose runs of the same "
        "scenario, parameter set and seed are taken instead of run again (after the ensemble "
        "file changed).",
    ),
]


def reuse_folder(path: Path | None) -> Path | None:
    """The batch folder of ``--reuse-runs`` (a result folder's ``ensemble/``, or itself)."""
    if path is None:
        return None
    for folder in (path / "ensemble", path):
        if (folder / "batch.json").is_file() and (folder / "run_index.csv").is_file():
            return folder
    fail(f"--reuse-runs: {path} holds no finished runs over an ensemble (no batch.json)")
    return None


class PlotKind(StrEnum):
    """Figures ``deter-sim plot`` draws."""

    timeseries = "timeseries"
    change = "change"
    funnel = "funnel"
    beliefs = "beliefs"
    heatmap = "heatmap"
    sensitivity = "sensitivity"


def comparison(
    inputs: list[str],
    baseline: str | None,
    metrics: list[str] | None,
    overrides: list[str],
    out: Path | None,
    force: bool,
    files: list[str],
    execution: ExecutionOptions,
    allow_different: list[str] | None = None,
) -> tuple[Any, Path]:
    """Read or run the inputs (with progress bars) and pair them with the baseline."""
    from sim.experiments.compare import compare, comparison_folder, gather, read_inputs

    items = read_inputs(inputs, overrides)  # every input is checked before anything is created
    folder = comparison_folder(items, out, force, files)
    with progress() as bars:
        results = gather(items, folder, execution, per_scenario(bars))
    return compare(results, baseline, metrics, allow_different), folder


def compare_over_ensemble(
    inputs: list[str],
    ensemble: Path,
    sets: int | None,
    baseline: str | None,
    metrics: list[str] | None,
    overrides: list[str],
    out: Path | None,
    force: bool,
    execution: ExecutionOptions,
    resume: bool = False,
    reuse: Path | None = None,
) -> None:
    """``compare --ensemble``: every scenario on every set; the changes over the ensemble."""
    from sim.cli.views import ensemble_table
    from sim.experiments.compare import DEFAULT_FOLDER, comparison_folder
    from sim.experiments.ensemble import compare_on_ensemble, load_ensemble
    from sim.experiments.store import write_table

    table = load_ensemble(ensemble, sets)
    items = _ensemble_scenarios(inputs, overrides, baseline)
    reuse = reuse_folder(reuse)
    if resume:
        folder = out if out is not None else DEFAULT_FOLDER
    else:
        folder = comparison_folder([], out, force, ["compare.csv", "ensemble"])
    runs = len(items) * len(table) * items[0].replications
    console.print(
        f"{len(items)} scenarios on {len(table)} parameter sets of {ensemble}, "
        f"{items[0].replications} replication(s) each ({runs} runs); {execution.describe()}"
    )
    result = run_batch(
        lambda on_runs: compare_on_ensemble(
            items,
            table,
            folder / "ensemble",
            execution,
            metrics=metrics,
            ensemble_source=str(ensemble),
            force=force,
            resume=resume,
            on_runs=on_runs,
            reuse=reuse,
        )
    )
    for name in result.scenarios[1:]:
        console.print(ensemble_table(result.table[result.table.scenario == name]))
    write_table(folder / "compare.csv", result.table)
    console.print(f"comparison over the ensemble written to [bold]{folder / 'compare.csv'}[/]")


@app.command(name="compare")
@execution_options
@scenario_overrides()
def compare_command(
    inputs: InputsArg,
    overrides: list[str],
    execution: ExecutionOptions,
    baseline: BaselineOpt = None,
    metrics: Annotated[
        str | None, typer.Option("--metrics", help="Comma-separated metrics [all].")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for compare.csv and the runs [results/compare]."),
    ] = None,
    force: ForceOpt = False,
    ensemble: EnsembleOpt = None,
    sets: SetsOpt = None,
    allow_different: AllowDifferentOpt = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="With --ensemble: finish an interrupted batch in --out, reusing its runs.",
        ),
    ] = False,
    reuse: ReuseOpt = None,
) -> None:
    """Compare scenarios with a baseline, paired on common seeds; write compare.csv.

    Scenarios that are run are saved under --out/<name>. Earlier results there are never
    replaced silently: without --out a new folder is used (results/compare-2, ...); with --out
    it is refused unless --force is given. With --ensemble every scenario runs on every
    parameter set of the ensemble (its own policy on top), and the changes are given as the
    median over the sets with the range of 90% of them.
    """
    from sim.cli.views import compare_table
    from sim.experiments.store import write_table

    chosen = metric_list(metrics) if metrics else None
    if ensemble is not None:
        compare_over_ensemble(
            inputs,
            ensemble,
            sets,
            baseline,
            chosen,
            overrides,
            out,
            force,
            execution,
            resume,
            reuse,
        )
        return
    if resume:
        fail("--resume: only a comparison over an ensemble (--ensemble) is a resumable batch")
    if reuse is not None:
        fail("--reuse-runs: only a comparison over an ensemble (--ensemble) reuses runs")
    result, folder = comparison(
        inputs,
        baseline,
        chosen,
        overrides,
        out,
        force,
        ["compare.csv"],
        execution,
        allow_different,
    )
    for name in [r.scenario.name for r in result.results if r.scenario.name != result.baseline]:
        console.print(compare_table(result.table[result.table.scenario == name]))
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    write_table(folder / "compare.csv", result.table)
    console.print(f"comparison written to [bold]{folder / 'compare.csv'}[/]")


def _ensemble_scenarios(inputs: list[str], overrides: list[str], baseline: str | None) -> list:
    """The scenarios of an ensemble command, the baseline first."""
    from sim.scenario import load_scenario

    items = [load_scenario(item, overrides) for item in inputs]
    if baseline is not None:
        named = [s for s in items if s.name == baseline]
        if not named:
            fail(f"--baseline: '{baseline}' is not one of {', '.join(s.name for s in items)}")
        items = named + [s for s in items if s.name != baseline]
    if len({s.name for s in items}) != len(items):
        fail("a scenario name is given twice")
    return items


GoalOpt = Annotated[
    str,
    typer.Option(
        "--goal",
        help="What a policy must achieve against the baseline over the ensemble: a metric and "
        "its change, e.g. counterfeit_sales_cny=-50%.",
    ),
]
ROBUST_FILES = [
    "robust.csv",
    "robust_sets.csv",
    "failure_boxes.csv",
    "drivers.csv",
    "compare.csv",
    "robust.png",
]


@app.command(name="robust")
@execution_options
@scenario_overrides()
def robust_command(
    inputs: Annotated[
        list[str], typer.Argument(help="Scenario files or names: the baseline, then the policies.")
    ],
    overrides: list[str],
    execution: ExecutionOptions,
    ensemble: Annotated[
        Path,
        typer.Option(
            "--ensemble",
            help="Ensemble file (CSV of parameter sets, e.g. calibration/ensemble_2016.csv).",
        ),
    ],
    goal: GoalOpt = "counterfeit_sales_cny=-50%",
    sets: SetsOpt = None,
    baseline: BaselineOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Folder for the tables, the figure and the runs [results/robust]."
        ),
    ] = None,
    force: ForceOpt = False,
    resume: ResumeOpt = False,
    reuse: ReuseOpt = None,
) -> None:
    """Rank policies over an ensemble of plausible settings, and find where each fails.

    Every scenario runs on every parameter set (its own policy on top; replications on common
    seeds). Policies are ranked by their effect on the goal's metric and by the enforcement
    CNY they add per CNY of counterfeit sales averted, with the share of settings in which each
    is best; PRIM (EMA Workbench, the ema extra) finds the parameter box in which each fails
    the goal, and drivers.csv which parameters each policy's effect follows (rank correlations).
    Writes robust.csv (the ranking), robust_sets.csv (each policy on each set),
    failure_boxes.csv, drivers.csv, compare.csv (every metric compared) and robust.png.
    """
    from sim.cli.views import robust_table
    from sim.experiments.compare import DEFAULT_FOLDER
    from sim.experiments.ensemble import load_ensemble
    from sim.experiments.folders import claim_folder
    from sim.experiments.robust import parse_goal, robust_over_ensemble
    from sim.reporting.figures import robust_figure

    wanted = parse_goal(goal)
    table = load_ensemble(ensemble, sets)
    reuse = reuse_folder(reuse)
    items = _ensemble_scenarios(inputs, overrides, baseline)
    if len(items) < 2:
        fail("robust: give the baseline and at least one policy")
    default = DEFAULT_FOLDER.with_name("robust")
    if resume:
        folder = out if out is not None else default
    else:
        folder = claim_folder(
            out,
            default,
            force,
            lambda f: [n for n in [*ROBUST_FILES, "ensemble"] if (f / n).exists()],
        )
    runs = len(items) * len(table) * items[0].replications
    console.print(
        f"{len(items)} scenarios on {len(table)} parameter sets of {ensemble}, "
        f"{items[0].replications} replication(s) each ({runs} runs); goal: "
        f"{wanted.words()}; {execution.describe()}"
    )
    result = run_batch(
        lambda on_runs: robust_over_ensemble(
            items,
            table,
            wanted,
            folder / "ensemble",
            execution,
            ensemble_source=str(ensemble),
            force=force,
            resume=resume,
            on_runs=on_runs,
            reuse=reuse,
        )
    )
    console.print(robust_table(result.ranking, len(table)))
    for line in result.findings()[len(result.ranking) :]:
        console.print(line, highlight=False)
    result.write(folder)
    robust_figure(result, folder / "robust.png")
    console.print(f"robust ranking written to [bold]{folder / 'robust.csv'}[/] and robust.png")


WarmUpOpt = Annotated[
    bool,
    typer.Option(
        "--warm-up",
        help="Time series and beliefs: show the warm-up (burn-in) too, shaded; by default they "
        "start where the summaries do.",
    ),
]


def _robust_for_brief(
    result: Any,
    table: Any,
    goal: Any,
    source: Path,
    replications: int,
    folder: Path,
    force: bool,
    execution: ExecutionOptions,
) -> Any:
    """The scenarios of a briefing over the ensemble (``robust``), tables in folder/robust."""
    from sim.experiments.robust import robust_over_ensemble

    by_name = {r.scenario.name: r.scenario for r in result.results}
    order = [result.baseline, *(n for n in by_name if n != result.baseline)]
    scenarios = [by_name[n].model_copy(update={"replications": replications}) for n in order]
    runs = len(scenarios) * len(table) * replications
    console.print(
        f"over the ensemble: {len(scenarios)} scenarios on {len(table)} parameter sets of "
        f"{source}, {replications} replication(s) each ({runs} runs)"
    )
    out = folder / "robust"
    robust = run_batch(
        lambda on_runs: robust_over_ensemble(
            scenarios,
            table,
            goal,
            out / "ensemble",
            execution,
            ensemble_source=str(source),
            force=force,
            resume=not force,  # runs already there (the same batch) are reused
            on_runs=on_runs,
        )
    )
    robust.write(out)
    return robust


@app.command()
@execution_options
@scenario_overrides()
def brief(
    inputs: InputsArg,
    overrides: list[str],
    execution: ExecutionOptions,
    output: Annotated[Path, typer.Option("--output", "-o", help="The PDF to write.")] = Path(
        "brief.pdf"
    ),
    baseline: BaselineOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the runs of scenario files [results/compare]."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing --output and results in --out."),
    ] = False,
    allow_different: AllowDifferentOpt = None,
    warm_up: WarmUpOpt = False,
    ensemble: EnsembleOpt = None,
    sets: SetsOpt = None,
    goal: GoalOpt = "counterfeit_sales_cny=-50%",
    ensemble_replications: Annotated[
        int,
        typer.Option(
            "--ensemble-replications",
            min=1,
            help="Replications of each scenario on each set of --ensemble.",
        ),
    ] = 1,
) -> None:
    """Write a PDF briefing: key findings, comparison table, charts, assumptions, provenance.

    An existing --output file, and earlier runs under --out/<name>, are only replaced with
    --force (without --out, runs go to a new folder results/compare-2, ...). With --ensemble
    every scenario also runs on each parameter set (--sets, --ensemble-replications), and the
    briefing adds 'How sure are we': the changes over the sets, the policies ranked against
    --goal, and where each fails (as deter-sim robust; its tables go to --out/robust/, and
    runs of the same batch already in --out/robust/ensemble/, e.g. from `compare --ensemble
    --out <out>/robust`, are reused unless --force).
    """
    from sim.reporting.brief import write_brief

    table = wanted = None
    if ensemble is not None:  # checked before anything runs
        from sim.experiments.ensemble import load_ensemble
        from sim.experiments.robust import parse_goal

        wanted = parse_goal(goal)
        table = load_ensemble(ensemble, sets)

    if output.suffix.lower() != ".pdf":
        fail(f"--output: {output}: the briefing is a PDF; use a .pdf file name")
    if output.exists() and not force:
        fail(
            f"--output: {output} already exists; add --force to replace it, or choose another "
            "file name"
        )
    result, folder = comparison(
        inputs, baseline, None, overrides, out, force, [], execution, allow_different
    )
    robust = None
    if table is not None:
        robust = _robust_for_brief(
            result, table, wanted, ensemble, ensemble_replications, folder, force, execution
        )
    write_brief(result, output, warm_up, robust)
    ran = [r.scenario.name for r in result.results if (folder / r.scenario.name).is_dir()]
    saved = f"; the runs of {', '.join(ran)} are in [bold]{folder}/[/]" if ran else ""
    console.print(f"briefing written to [bold]{output}[/]{saved}")


@app.command()
def plot(
    results: Annotated[
        list[Path],
        typer.Argument(
            help="Result folders: of `run` (several) or of `compare` (its runs), or of a sweep "
            "or sensitivity."
        ),
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
    allow_different: AllowDifferentOpt = None,
    warm_up: WarmUpOpt = False,
) -> None:
    """Draw a figure from results on disk; the format follows the file suffix."""
    import matplotlib.pyplot as plt

    from sim.reporting.canvas import FORMATS, save_figure

    metric_list(metric, "--metric")
    if kind in (PlotKind.heatmap, PlotKind.sensitivity):
        target = output or results[0] / f"{kind.value}_{metric}.png"
    else:
        target = output or Path("results") / f"{kind.value}_{metric}.png"
    if target.suffix.lower() not in FORMATS:
        fail(f"--output: {target}: unsupported format; use {', '.join(FORMATS)}")
    figure, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    if kind in (PlotKind.heatmap, PlotKind.sensitivity):
        footer = draw_batch_figure(results[0], kind, metric, ax)
    else:
        footer = draw_comparison_figure(
            results, kind, metric, baseline, ax, allow_different, warm_up
        )
    save_figure(figure, target, footer)
    console.print(f"figure written to [bold]{target}[/]")


def draw_batch_figure(folder: Path, kind: PlotKind, metric: str, ax: Any) -> str:
    """Draw the heat map of a sweep folder or the bars of a sensitivity folder."""
    import pandas as pd

    from sim.reporting.batch_plots import plot_heatmap, plot_sensitivity

    table_file = folder / ("sweep.csv" if kind is PlotKind.heatmap else "sensitivity.csv")
    if not table_file.is_file():
        command = "sweep" if kind is PlotKind.heatmap else "sensitivity"
        fail(f"{folder}: no {table_file.name} here; run `deter-sim {command}` first")
    table = pd.read_csv(table_file)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    try:
        if kind is PlotKind.heatmap:
            plot_heatmap(table, metric, ax=ax)
        else:
            if metric not in set(table.metric):
                analysed = ", ".join(sorted(set(table.metric)))
                fail(f"--metric: '{metric}' was not analysed; analysed: {analysed}")
            plot_sensitivity(table, metric, ax=ax)
    except ValueError as exc:
        fail(f"{folder}: {exc}")
    return (
        f"deter-sim {manifest.get('deter_sim_version')} | {manifest.get('kind')} of scenario "
        f"{manifest.get('scenario')} | {manifest.get('points')} points, root seed "
        f"{manifest.get('root_seed')}, {len(manifest.get('replication_seeds', []))} replications"
    )


def draw_comparison_figure(
    folders: list[Path],
    kind: PlotKind,
    metric: str,
    baseline: str | None,
    ax: Any,
    allow_different: list[str] | None = None,
    warm_up: bool = False,
) -> str:
    """Draw a comparison figure of run folders; return its provenance line.

    Only ``change`` pairs the runs (and so needs the same seeds and the same model); a time
    series, the funnel and the beliefs are drawn side by side as they are.
    """
    import pandas as pd

    from sim.experiments.compare import Comparison, compare, run_folders
    from sim.experiments.runner import Results
    from sim.reporting.findings import KEY_METRICS, provenance
    from sim.reporting.plots import plot_beliefs, plot_change, plot_funnel, plot_timeseries

    loaded = [Results.load(folder) for folder in run_folders(folders)]
    if kind is PlotKind.change:
        result = compare(loaded, baseline, None, allow_different)
    else:
        names = [r.scenario.name for r in loaded]
        if len(set(names)) != len(names):
            fail(f"two result folders hold the same scenario name ({', '.join(names)})")
        result = Comparison(loaded, baseline or names[0], pd.DataFrame())
    if kind is PlotKind.timeseries:
        plot_timeseries(result.timeseries, metric, result.burn_in_weeks, ax=ax, warm_up=warm_up)
    elif kind is PlotKind.change:
        if len(loaded) < 2:
            fail("--kind change needs at least two result folders (a baseline and another)")
        plot_change(result.table, list(dict.fromkeys([metric, *KEY_METRICS])), ax=ax)
    elif kind is PlotKind.funnel:
        plot_funnel(result.summary_stats, ax=ax)
    else:
        plot_beliefs(result.timeseries, result.burn_in_weeks, ax=ax, warm_up=warm_up)
    return provenance(result)
