"""Commands that calibrate and validate the model.

``targets``, ``calibrate``, ``elasticity``, ``intervention`` and ``hysteresis``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    output_folder,
    per_scenario,
    progress,
    scenario_overrides,
)
from sim.cli.commands.batch import batch_end, check_batch_memory, run_batch
from sim.cli.commands.matching import MatchingOptions, Method, matching_options
from sim.experiments.execution import ExecutionOptions

TargetsOpt = Annotated[
    Path | None,
    typer.Option("--targets", help="Targets file (YAML) [calibration/targets_2016.yaml]."),
]


def read_targets(path: Path | None):
    """The targets file given, or the bundled 2016 targets."""
    from sim.experiments.targets import load_targets
    from sim.scenario.bundled import calibration_file

    return load_targets(path if path is not None else calibration_file("targets_2016.yaml"))


@app.command()
@execution_options
@scenario_overrides(
    Annotated[
        int | None,
        typer.Option(
            "--replications", "-r", min=2, help="Replications of a scenario run here [20]."
        ),
    ]
)
def targets(
    scenario: Annotated[
        str,
        typer.Argument(help="Scenario file or bundled name (run here), or a result folder."),
    ],
    overrides: list[str],
    execution: ExecutionOptions,
    targets_file: TargetsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the runs and targets.csv [results/<name>]."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Set the model's mean yearly figures beside the observed targets, with 95% intervals.

    A scenario is run with --replications (20 by default) and saved with targets.csv; a result
    folder of `run` is read as it is. Fitted targets are marked within or outside their
    tolerance (relative error); out-of-sample and context figures are shown, never fitted.
    """
    from sim.cli.views import targets_table
    from sim.experiments.folders import default_folder
    from sim.experiments.runner import Results
    from sim.experiments.targets import run_targets, targets_scenario, write_targets

    goals = read_targets(targets_file)
    folder = Path(scenario)
    if folder.is_dir():
        results = Results.load(folder)
        out_dir = folder
        table = write_targets(results, goals, out_dir)
    else:
        resolved = targets_scenario(scenario, overrides)
        out_dir = output_folder(out, default_folder(resolved.name), force)
        execution = execution.at_most(resolved.replications)
        check_memory([resolved], execution)
        with progress() as bars:
            on_done = per_scenario(bars)(resolved)
            results, table = run_targets(resolved, goals, out_dir, execution, on_done)
    console.print(targets_table(table, results.scenario.name, goals.name))
    fit = table[table.use == "fit"]
    outside = fit[~fit.within.astype(bool)]
    verdict = (
        f"all {len(fit)} fitted targets within their tolerance"
        if outside.empty
        else f"{len(outside)} of {len(fit)} fitted targets outside their tolerance: "
        + ", ".join(outside.id)
    )
    console.print(f"{verdict}; table in [bold]{out_dir / 'targets.csv'}[/]")


@app.command()
@execution_options
@matching_options
@scenario_overrides(
    Annotated[
        int | None,
        typer.Option("--replications", "-r", min=1, help="Replications per trial point."),
    ]
)
def calibrate(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    targets_file: TargetsOpt = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A fitted field and its search bounds, field=lo:hi (repeatable) [detection, "
            "strike, referral, prosecution and conviction rates].",
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            min=1e-6,
            max=1.0,
            help="Stop when every fitted target is within this relative error.",
        ),
    ] = 0.02,
    step: Annotated[
        float,
        typer.Option(
            "--step",
            min=0.001,
            max=1.0,
            help="Forward-difference step of the Jacobian, in log parameters (0.1: 10%).",
        ),
    ] = 0.1,
    max_evaluations: Annotated[
        int, typer.Option("--max-evaluations", min=1, help="Most trial points of the solver.")
    ] = 40,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Calibration folder [results/<name>_calibration]."),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            help="least-squares: one best point for the targets (--targets, --param, "
            "--tolerance, --step, --max-evaluations). history-matching: an ensemble of every "
            "setting that reproduces the patterns (--patterns and the options below).",
        ),
    ] = Method.least_squares,
    matching: MatchingOptions = None,
) -> None:
    """Fit parameters that no source fixes to observed figures; only parameters move.

    least-squares (simulated method of moments) writes calibrated.yaml (the scenario with the
    fitted values), targets.csv (the fit), calibration_history.csv (every trial point) and
    evaluations/ (their runs). history-matching writes ensemble.csv (the parameter sets that
    reproduce every pattern), waves/, design.csv, diagnostics.csv, waves.csv,
    confirmation.csv (every candidate and refinement round), refine.csv (with --refine),
    recheck.csv (with --recheck) and nroy.png (the space left after each wave). --resume
    reuses every run already made.
    """
    if method is Method.history_matching:
        from sim.cli.commands.matching import history_matching

        history_matching(scenario, overrides, execution, matching, out, resume, force)
        return
    from sim.cli.views import targets_table
    from sim.experiments.calibrate import DEFAULT_PARAMS, calibrate, check_params
    from sim.experiments.folders import default_folder
    from sim.experiments.sensitivity import parse_param
    from sim.scenario import load_scenario

    goals = read_targets(targets_file)
    resolved = load_scenario(scenario, overrides)
    params = [parse_param(text) for text in param] if param else list(DEFAULT_PARAMS)
    check_params(resolved, goals, params)
    check_batch_memory(resolved, [("", {})], execution)
    out_dir = out if out is not None else default_folder(resolved.name, "calibration")
    fitted = goals.fitted
    console.print(
        f"[bold]{resolved.name}[/]: fitting {len(params)} parameters to {len(fitted)} targets "
        f"of '{goals.name}', {resolved.replications} replications per trial point "
        f"({resolved.population.sellers:,} sellers, {resolved.weeks} weeks); "
        f"{execution.describe()}"
    )
    names = [name for name, _, _ in params]

    def show(record: dict) -> None:
        values = ", ".join(f"{n.split('.')[-1]}={record[n]:.4g}" for n in names)
        errors = ", ".join(f"{t.metric} {record[f'error_{t.id}']:+.1%}" for t in fitted)
        err_console.print(
            f"  {record['evaluation']:>3} {record['kind']:<8} {values} | {errors}",
            highlight=False,
        )

    result = calibrate(
        resolved,
        goals,
        params,
        out_dir,
        execution,
        tolerance=tolerance,
        max_evaluations=max_evaluations,
        step=step,
        resume=resume,
        force=force,
        on_evaluation=show,
    )
    console.print(targets_table(result.table, resolved.name, goals.name))
    fitted_text = ", ".join(f"{k} = {v:.5g}" for k, v in result.fitted.items())
    console.print(
        f"{'converged' if result.converged else 'stopped before the tolerance'}: "
        f"{result.message}; "
        f"{result.evaluations} points evaluated in {result.wall_seconds:.0f} s\n"
        f"fitted: {fitted_text}\nscenario with the fitted values: "
        f"[bold]{out_dir / 'calibrated.yaml'}[/]"
    )


@app.command()
@execution_options
@scenario_overrides()
def elasticity(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A lever (dotted field; repeatable) [prosecution, conviction and detection "
            "rates, maximum sentence, fine multiple].",
        ),
    ] = None,
    step: Annotated[
        float,
        typer.Option("--step", help="Relative change down and up (0.25: -25% and +25%)."),
    ] = 0.25,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_elasticity]."),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    ensemble: EnsembleOpt = None,
    sets: SetsOpt = None,
) -> None:
    """Arc elasticities of metrics to policy levers at a scenario, beside the literature.

    Each lever is lowered and raised by --step on the same seeds as the scenario; per
    replication the arc (midpoint) elasticity, then its mean and 95% t-interval. Writes
    elasticities.csv and elasticities.png (with the literature's ranges shaded). With
    --ensemble the design runs on every parameter set (each lever moved around the set's own
    value): elasticities_sets.csv holds each set's, elasticities.csv their median and the
    range of 90% of the sets, with the share of sets inside the literature's range.
    """
    from sim.cli.views import elasticity_table
    from sim.experiments.elasticity import (
        ELASTICITY_PARAMS,
        LITERATURE,
        elasticity_points,
        run_elasticities,
    )
    from sim.experiments.folders import default_folder
    from sim.reporting.figures import elasticity_figure
    from sim.scenario import load_scenario

    resolved = load_scenario(scenario, overrides)
    chosen = metric_list(metrics)
    params = list(param) if param else list(ELASTICITY_PARAMS)
    points = elasticity_points(resolved, params, step)
    table = None
    sets_said = ""
    if ensemble is not None:
        from sim.experiments.ensemble import load_ensemble, set_layout

        table = load_ensemble(ensemble, sets)
        points = set_layout(resolved, table, lambda s: elasticity_points(s, params, step)).points
        sets_said = f" on {len(table)} parameter sets of {ensemble}"
    check_batch_memory(resolved, points, execution)
    out_dir = out if out is not None else default_folder(resolved.name, "elasticity")
    console.print(
        f"[bold]{resolved.name}[/] elasticities: {len(params)} levers x 2 + reference"
        f"{sets_said} = {len(points)} points x {resolved.replications} replications; "
        f"{execution.describe()}"
    )
    result = run_batch(
        lambda on_done: run_elasticities(
            resolved, params, step, chosen, out_dir, execution, resume, force, on_done, table
        )
    )
    if result.table is not None:
        elasticity_figure(result)
        console.print(elasticity_table(result.table, resolved.name))
        for *_, text in LITERATURE.values():
            console.print(f"literature: {text}", highlight=False)
    batch_end(result, "elasticities.csv, elasticities.png")


@app.command()
@execution_options
@scenario_overrides()
def intervention(
    baseline: Annotated[str, typer.Argument(help="The baseline scenario (file or name).")],
    policy: Annotated[
        str, typer.Argument(help="The policy scenario whose parameters take effect at --at.")
    ],
    overrides: list[str],
    execution: ExecutionOptions,
    at: Annotated[int, typer.Option("--at", help="Week the policy takes effect.")] = 52,
    until: Annotated[
        int | None, typer.Option("--until", help="Week the policy ends [never].")
    ] = None,
    years: Annotated[
        int, typer.Option("--years", min=1, max=50, help="Years after --at reported.")
    ] = 2,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny,convictions",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<policy>_at_week_<at>]."),
    ] = None,
    force: ForceOpt = False,
    ensemble: EnsembleOpt = None,
    sets: SetsOpt = None,
) -> None:
    """Introduce a policy during a baseline run and measure the change year by year.

    The treated run is the baseline with the parameters in which POLICY differs from it set
    at week --at (until --until), plus POLICY's own schedule; both runs share seeds, so the
    change in each year after --at is paired replication by replication (the year before
    --at shows no change by construction). Writes intervention.csv, intervention.png and
    both runs' folders. With --ensemble both run on every parameter set (the policy's values
    winning from --at): intervention.csv gives each window's change as the median over the
    sets with the range of 90% of them.
    """
    from sim.cli.views import intervention_table
    from sim.experiments.folders import default_folder
    from sim.experiments.intervention import (
        check_year_after,
        intervention_scenario,
        run_intervention,
    )
    from sim.reporting.figures import intervention_figure
    from sim.scenario import load_scenario

    base = load_scenario(baseline, overrides)
    pol = load_scenario(policy, overrides)
    chosen = metric_list(metrics)
    treated = intervention_scenario(base, pol, at, until)
    check_year_after(at, base.weeks)
    out_dir = output_folder(out, default_folder(treated.name), force)
    if ensemble is not None:
        intervention_over_ensemble(
            base, treated, pol.name, at, years, chosen, ensemble, sets, out_dir, force, execution
        )
        return
    execution = execution.at_most(base.replications)
    check_memory([base], execution)
    console.print(
        f"[bold]{pol.name}[/] introduced at week {at}"
        f"{f' until week {until}' if until else ''} of [bold]{base.name}[/]: 2 x "
        f"{base.replications} paired replications of {base.weeks} weeks, "
        f"{base.population.sellers:,} sellers"
    )
    with progress() as bars:
        result = run_intervention(
            base, pol, at, until, years, chosen, out_dir, execution, per_scenario(bars)
        )
    intervention_figure(result)
    console.print(intervention_table(result.table, pol.name, base.name, at))
    console.print(
        f"wall time {result.wall_seconds:.1f} s; results in [bold]{out_dir}/[/] "
        "(intervention.csv, intervention.png, the two runs)"
    )


def intervention_over_ensemble(
    base, treated, policy: str, at: int, years: int, metrics: list[str], ensemble: Path,
    sets: int | None, out_dir: Path, force: bool, execution: ExecutionOptions,
) -> None:  # fmt: skip
    """``intervention --ensemble``: baseline and treated runs on every parameter set."""
    from sim.cli.views import ensemble_table
    from sim.experiments.ensemble import intervention_over_sets, load_ensemble
    from sim.experiments.intervention import year_windows
    from sim.experiments.store import write_table

    table = load_ensemble(ensemble, sets)
    check_memory([base], execution)
    windows = year_windows(at, years, base.weeks)
    console.print(
        f"[bold]{policy}[/] introduced at week {at} of [bold]{base.name}[/] on {len(table)} "
        f"parameter sets of {ensemble}: 2 x {base.replications} paired replication(s) each "
        f"({2 * len(table) * base.replications} runs); {execution.describe()}"
    )
    result = run_batch(
        lambda on_runs: intervention_over_sets(
            base,
            treated,
            table,
            windows,
            metrics,
            out_dir,
            execution,
            force=force,
            on_runs=on_runs,
        )
    )
    write_table(out_dir / "intervention.csv", result)
    for window, rows in result.groupby("window", sort=False):
        shown = rows.assign(scenario=f"{policy} ({window})", baseline=base.name)
        console.print(ensemble_table(shown))
    console.print(f"results in [bold]{out_dir}/[/] (intervention.csv, the runs)")


@app.command()
@execution_options
@scenario_overrides(weeks=False)
def hysteresis(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    param: Annotated[
        str, typer.Option("--param", help="The stepped field.")
    ] = "enforcement.capacity_per_week",
    values: Annotated[
        str, typer.Option("--values", help="Comma-separated values, visited up then down.")
    ] = "1,3,6,12,24",
    hold: Annotated[int, typer.Option("--hold", help="Weeks each value is held.")] = 104,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny,true_risk,case_backlog",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_hysteresis]."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Step a parameter up through values and back down within each run: does it remember?

    Each value is held --hold weeks after the burn-in; a level is the mean over the second
    half of its hold. At each value visited twice the change from the way up to the way down
    is paired by replication. Writes hysteresis.csv, hysteresis.png and the run's folder.
    """
    from sim.cli.views import hysteresis_table
    from sim.errors import OptionError
    from sim.experiments.folders import default_folder
    from sim.experiments.hysteresis import hysteresis_path, hysteresis_scenario, run_hysteresis
    from sim.reporting.figures import hysteresis_figure
    from sim.scenario import load_scenario

    base = load_scenario(scenario, overrides)
    chosen = metric_list(metrics)
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        raise OptionError(
            "--values", "", f"{values!r} is not a comma-separated list of numbers"
        ) from None
    path_scenario = hysteresis_scenario(base, param, numbers, hold)
    out_dir = output_folder(out, default_folder(base.name, "hysteresis"), force)
    execution = execution.at_most(base.replications)
    check_memory([path_scenario], execution)
    path = ", ".join(f"{v:g}" for v in hysteresis_path(numbers))
    console.print(
        f"[bold]{base.name}[/]: {param} stepped {path}, {hold} weeks each after a "
        f"{base.burn_in_weeks}-week burn-in ({path_scenario.weeks} weeks), "
        f"{base.replications} replications"
    )
    with progress() as bars:
        task = bars.add_task(path_scenario.name, total=base.replications)
        result = run_hysteresis(
            base,
            param,
            numbers,
            hold,
            chosen,
            out_dir,
            execution,
            lambda done: bars.update(task, completed=done),
        )
    hysteresis_figure(result)
    console.print(hysteresis_table(result.table, param))
    console.print(
        f"wall time {result.wall_seconds:.1f} s; results in [bold]{out_dir}/[/] "
        "(hysteresis.csv, hysteresis.png, the run)"
    )


@app.command(name="lever-map")
@execution_options
@scenario_overrides()
def lever_map(
    scenario: ScenarioArg,
    overrides: list[str],
    execution: ExecutionOptions,
    grid: Annotated[
        list[str],
        typer.Option(
            "--grid",
            help="A pass-through parameter and its values, field=lo:hi:n or field=v1,v2,... "
            "(one or two; e.g. beliefs.law_awareness=0,0.5,1).",
        ),
    ],
    lever: Annotated[
        list[str] | None,
        typer.Option(
            "--lever",
            help="A lever (repeatable) [prosecution rate, conviction rate, maximum sentence].",
        ),
    ] = None,
    step: Annotated[
        float,
        typer.Option("--step", help="Relative change of each lever down and up (0.25: ±25%)."),
    ] = 0.25,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_lever_map]."),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
) -> None:
    """Which lever deters more, across how perceptions form: a map of elasticities.

    At each cell of the grid (one or two pass-through parameters, such as law awareness or the
    weight of publicity) the arc elasticities of the metrics to each lever, on common seeds.
    Writes lever_map.csv (every elasticity with its interval), lever_ranking.csv (per cell,
    whether certainty or severity deters more) and lever_map.png.
    """
    from sim.cli.views import lever_table
    from sim.experiments.folders import default_folder
    from sim.experiments.levers import LEVERS, map_points, run_lever_map
    from sim.experiments.sweep import parse_grid
    from sim.reporting.figures import lever_map_figure
    from sim.scenario import load_scenario

    resolved = load_scenario(scenario, overrides)
    chosen = metric_list(metrics)
    axes = [parse_grid(text) for text in grid]
    levers = list(lever) if lever else list(LEVERS)
    points, cells = map_points(resolved, axes, levers, step)
    check_batch_memory(resolved, points, execution)
    out_dir = out if out is not None else default_folder(resolved.name, "lever_map")
    console.print(
        f"[bold]{resolved.name}[/] lever map: {len(cells)} cells x ({len(levers)} levers x 2 + "
        f"reference) = {len(points)} points x {resolved.replications} replications; "
        f"{execution.describe()}"
    )
    result = run_batch(
        lambda on_done: run_lever_map(
            resolved, axes, levers, step, chosen, out_dir, execution, resume, force, on_done
        )
    )
    if result.table is not None:
        lever_map_figure(result)
        console.print(lever_table(result.table))
    batch_end(result, "lever_map.csv, lever_ranking.csv, lever_map.png")
