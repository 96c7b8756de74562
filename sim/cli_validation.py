"""Commands that calibrate and validate the model, registered on ``sim.cli.app``.

``targets``, ``calibrate``, ``elasticity``, ``intervention`` and ``hysteresis``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.calibrate import DEFAULT_PARAMS, DEFAULT_TARGETS, load_targets, target_table
from sim.cli import (
    AddressOpt,
    Backend,
    BackendOpt,
    Engine,
    EngineOpt,
    ForceOpt,
    ReplicationsOpt,
    ResumeOpt,
    ScenarioArg,
    SeedOpt,
    SetOpt,
    WeeksOpt,
    WorkersOpt,
    _batch_end,
    _check_batch_memory,
    _check_memory,
    _fail,
    _load,
    _output_folder,
    _overrides,
    _pool_options,
    _progress,
    _run_batch,
    _run_options,
    app,
    console,
    err_console,
)
from sim.errors import ScenarioError
from sim.metrics import short_number as _fmt

TargetsOpt = Annotated[
    Path,
    typer.Option("--targets", help="Targets file (YAML) [calibration/targets_2016.yaml]."),
]


def _forget(folder: Path, names: list[str]) -> None:
    """Remove the derived tables of a result being replaced (--force) before the new runs.

    An interrupted rerun then never leaves an old table beside new runs.
    """
    for name in names:
        (folder / name).unlink(missing_ok=True)


def _targets(path: Path):
    try:
        return load_targets(path)
    except ScenarioError as exc:
        _fail(str(exc))


def _run(resolved, pool: dict, engine: Engine, address: str | None):
    """Run a scenario's replications with a progress bar (``sim.runner.run_scenario``)."""
    from sim.runner import run_scenario

    workers = min(pool["workers"], resolved.replications)
    _check_memory([resolved], workers, engine, address)
    with _progress() as progress:
        task = progress.add_task(resolved.name, total=resolved.replications)
        return run_scenario(
            resolved,
            workers=workers,
            on_done=lambda done: progress.update(task, completed=done),
            engine=engine.value,
            backend=pool["backend"],
            address=address,
        )


@app.command()
def targets(
    scenario: Annotated[
        str,
        typer.Argument(help="Scenario file or bundled name (run here), or a result folder."),
    ],
    targets_file: TargetsOpt = DEFAULT_TARGETS,
    replications: Annotated[
        int | None,
        typer.Option(
            "--replications", "-r", min=2, help="Replications of a scenario run here [20]."
        ),
    ] = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for the runs and targets.csv [results/<name>]."),
    ] = None,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Set the model's mean yearly figures beside the observed targets, with 95% intervals.

    A scenario is run with --replications (20 by default) and saved with targets.csv; a result
    folder of `run` is read as it is. Fitted targets are marked within or outside their
    tolerance (relative error); out-of-sample and context figures are shown, never fitted.
    """
    from sim.runner import Results

    goals = _targets(targets_file)
    folder = Path(scenario)
    if folder.is_dir():
        try:
            results = Results.load(folder)
        except ScenarioError as exc:
            _fail(str(exc))
        out_dir = folder
    else:
        if replications is None and not any(
            s.partition("=")[0].strip() == "replications" for s in set_ or []
        ):
            replications = 20
        overrides = _overrides(set_, replications, seed, weeks)
        resolved = _load(scenario, overrides)
        pool = _pool_options(backend, workers, address)
        out_dir = _output_folder(out, Path("results") / resolved.name, force)
        _forget(out_dir, ["targets.csv"])
        results = _run(resolved, pool, engine, address)
        try:
            results.save(out_dir)
        except OSError as exc:
            _fail(f"{out_dir}: cannot write the results ({exc.strerror or exc})")
    table = target_table(results.summary_stats, goals)
    from sim.store import write_table

    try:
        write_table(out_dir / "targets.csv", table)
    except OSError as exc:
        _fail(f"{out_dir}: cannot write targets.csv ({exc.strerror or exc})")
    console.print(_targets_table(table, results.scenario.name, goals.name))
    fit = table[table.use == "fit"]
    outside = fit[~fit.within.astype(bool)]
    verdict = (
        f"all {len(fit)} fitted targets within their tolerance"
        if outside.empty
        else f"{len(outside)} of {len(fit)} fitted targets outside their tolerance: "
        + ", ".join(outside.id)
    )
    console.print(f"{verdict}; table in [bold]{out_dir / 'targets.csv'}[/]")


def _targets_table(table, name: str, goals: str) -> Table:
    reps = int(table.replications.max())
    out = Table(
        title=f"{name} against the targets '{goals}' (model: mean yearly value after the "
        f"burn-in over {reps} replications)"
    )
    for column, justify in (
        ("target", "left"),
        ("use", "left"),
        ("observed", "right"),
        ("model mean", "right"),
        ("95% CI", "right"),
        ("rel. error", "right"),
        ("", "left"),
    ):
        out.add_column(column, justify=justify, no_wrap=column != "target")
    for row in table.itertuples():
        has_model = row.mean == row.mean
        mark = ""
        if row.use == "fit":
            mark = "ok" if row.within else "[red]outside[/]"
        elif row.use == "check":
            mark = "out of sample"
        else:
            mark = "context only"
        out.add_row(
            f"{row.figure} ({row.period})" if row.period else row.figure,
            row.use,
            f"{row.target:,.0f}",
            _fmt(row.mean) if has_model else "-",
            f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)}" if has_model else "-",
            f"{row.relative_error:+.1%}" if has_model else "-",
            mark,
        )
    return out


@app.command()
def calibrate(
    scenario: ScenarioArg,
    targets_file: TargetsOpt = DEFAULT_TARGETS,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            help="A fitted field and its search bounds, field=lo:hi (repeatable) [detection, "
            "strike, referral, prosecution and conviction rates].",
        ),
    ] = None,
    replications: Annotated[
        int | None,
        typer.Option("--replications", "-r", min=1, help="Replications per trial point."),
    ] = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
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
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Fit parameters that no source fixes to the targets (simulated method of moments).

    Writes calibrated.yaml (the scenario with the fitted values), targets.csv (the fit),
    calibration_history.csv (every trial point) and evaluations/ (their runs; --resume
    reuses them). Only parameters move; outputs are never rescaled.
    """
    from sim.calibrate import calibrate as fit
    from sim.sweep import parse_param

    goals = _targets(targets_file)
    resolved = _load(scenario, _overrides(set_, replications, seed, weeks))
    try:
        params = [parse_param(text) for text in param] if param else list(DEFAULT_PARAMS)
    except ScenarioError as exc:
        _fail(str(exc))
    for name, lo, _ in params:
        if lo <= 0:
            _fail(f"--param: {name}: the lower bound must be above 0 (the search is over logs)")
    pool = _pool_options(backend, workers, address)
    _check_batch_memory(resolved, [("", {})], pool, engine, address)
    out_dir = out if out is not None else Path("results") / f"{resolved.name}_calibration"
    fitted = goals.fitted
    console.print(
        f"[bold]{resolved.name}[/]: fitting {len(params)} parameters to {len(fitted)} targets "
        f"of '{goals.name}', {resolved.replications} replications per trial point "
        f"({resolved.population.sellers:,} sellers, {resolved.weeks} weeks); "
        f"{pool['workers']} worker(s), {backend.value} backend"
    )
    names = [name for name, _, _ in params]

    def show(record: dict) -> None:
        values = ", ".join(f"{n.split('.')[-1]}={record[n]:.4g}" for n in names)
        errors = ", ".join(f"{t.metric} {record[f'error_{t.id}']:+.1%}" for t in fitted)
        err_console.print(
            f"  {record['evaluation']:>3} {record['kind']:<8} {values} | {errors}",
            highlight=False,
        )

    try:
        result = fit(
            resolved,
            goals,
            params,
            out_dir,
            pool,
            tolerance=tolerance,
            max_evaluations=max_evaluations,
            step=step,
            resume=resume,
            force=force,
            engine=engine.value,
            on_evaluation=show,
        )
    except ScenarioError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{out_dir}: cannot write the calibration ({exc.strerror or exc})")
    console.print(_targets_table(result.table, resolved.name, goals.name))
    fitted_text = ", ".join(f"{k} = {v:.5g}" for k, v in result.fitted.items())
    console.print(
        f"{'converged' if result.converged else 'stopped before the tolerance'}: "
        f"{result.message}; "
        f"{result.evaluations} points evaluated in {result.wall_seconds:.0f} s\n"
        f"fitted: {fitted_text}\nscenario with the fitted values: "
        f"[bold]{out_dir / 'calibrated.yaml'}[/]"
    )


MetricsOpt = Annotated[
    str,
    typer.Option("--metrics", help="Comma-separated metrics reported."),
]


def _pct(value: float) -> str:
    """A percent change; rises of 100% or more as multiples (x2.5)."""
    if value != value:
        return "n/a"
    return f"x{1 + value / 100:.3g}" if value >= 100 else f"{value:+.1f}%"


def _metrics(text: str) -> list[str]:
    from sim.metrics import METRIC_NAMES

    chosen = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METRIC_NAMES]
    if unknown or not chosen:
        _fail(
            f"--metrics: unknown metric {unknown[0] if unknown else text!r}; allowed: "
            f"{', '.join(METRIC_NAMES)}"
        )
    return chosen


@app.command()
def elasticity(
    scenario: ScenarioArg,
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
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_elasticity]."),
    ] = None,
    resume: ResumeOpt = False,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Arc elasticities of metrics to policy levers at a scenario, beside the literature.

    Each lever is lowered and raised by --step on the same seeds as the scenario; per
    replication the arc (midpoint) elasticity, then its mean and 95% t-interval. Writes
    elasticities.csv and elasticities.png (with the literature's ranges shaded).
    """
    from sim.validation import ELASTICITY_PARAMS, LITERATURE, elasticity_points, run_elasticities

    resolved = _load(scenario, _overrides(set_, replications, seed, weeks))
    chosen = _metrics(metrics)
    params = list(param) if param else list(ELASTICITY_PARAMS)
    try:
        points = elasticity_points(resolved, params, step)
    except ScenarioError as exc:
        _fail(str(exc))
    pool = _pool_options(backend, workers, address)
    _check_batch_memory(resolved, points, pool, engine, address)
    out_dir = out if out is not None else Path("results") / f"{resolved.name}_elasticity"
    console.print(
        f"[bold]{resolved.name}[/] elasticities: {len(params)} levers x 2 + reference = "
        f"{len(points)} points x {resolved.replications} replications; {pool['workers']} "
        f"worker(s), {backend.value} backend"
    )
    result = _run_batch(
        lambda on_done: run_elasticities(
            resolved, params, step, chosen, out_dir, pool, resume, force, engine.value, on_done
        )
    )
    if result.table is not None:
        console.print(_elasticity_table(result.table, resolved.name))
        for *_, text in LITERATURE.values():
            console.print(f"literature: {text}", highlight=False)
    _batch_end(result, "elasticities.csv, elasticities.png")


def _elasticity_table(table, name: str) -> Table:
    out = Table(title=f"{name}: arc elasticities (paired runs, 95% t-interval)")
    for column in ("lever", "at", "runs at", "metric", "elasticity", "95% CI", "literature", ""):
        out.add_column(column, justify="left" if column in ("lever", "metric", "") else "right")
    for row in table.itertuples():
        has_lit = row.literature_low == row.literature_low
        out.add_row(
            row.parameter.rpartition(".")[2],
            f"{row.value:g}",
            f"{row.low:.3g}, {row.high:.3g}",
            row.metric.replace("_cny", "").replace("_", " "),
            f"{row.elasticity:+.3f}",
            f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
            f"{row.literature_low:+.2f} to {row.literature_high:+.2f}" if has_lit else "-",
            row.against_literature,
        )
    return out


@app.command()
def intervention(
    baseline: Annotated[str, typer.Argument(help="The baseline scenario (file or name).")],
    policy: Annotated[
        str, typer.Argument(help="The policy scenario whose parameters take effect at --at.")
    ],
    at: Annotated[int, typer.Option("--at", help="Week the policy takes effect.")] = 52,
    until: Annotated[
        int | None, typer.Option("--until", help="Week the policy ends [never].")
    ] = None,
    years: Annotated[
        int, typer.Option("--years", min=1, max=50, help="Years after --at reported.")
    ] = 2,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny,convictions",
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    weeks: WeeksOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<policy>_at_week_<at>]."),
    ] = None,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Introduce a policy during a baseline run and measure the change year by year.

    The treated run is the baseline with the parameters in which POLICY differs from it set
    at week --at (until --until), plus POLICY's own schedule; both runs share seeds, so the
    change in each year after --at is paired replication by replication (the year before
    --at shows no change by construction). Writes intervention.csv, intervention.png and
    both runs' folders.
    """
    from sim.validation import intervention_scenario, run_intervention

    overrides = _overrides(set_, replications, seed, weeks)
    base = _load(baseline, overrides)
    pol = _load(policy, overrides)
    chosen = _metrics(metrics)
    try:
        treated = intervention_scenario(base, pol, at, until)
    except ScenarioError as exc:
        _fail(str(exc))
    if at + 52 > base.weeks:
        _fail(f"--at: week {at} leaves less than a year of the {base.weeks}-week run after it")
    pool = _pool_options(backend, workers, address)
    out_dir = _output_folder(out, Path("results") / treated.name, force)
    _forget(out_dir, ["intervention.csv", "intervention.png"])
    workers_ = min(pool["workers"], base.replications)
    _check_memory([base], workers_, engine, address)
    console.print(
        f"[bold]{pol.name}[/] introduced at week {at}"
        f"{f' until week {until}' if until else ''} of [bold]{base.name}[/]: 2 x "
        f"{base.replications} paired replications of {base.weeks} weeks, "
        f"{base.population.sellers:,} sellers"
    )
    options = _run_options(pool, engine, workers_)
    with _progress() as progress:

        def on_start(scenario):
            task = progress.add_task(scenario.name, total=scenario.replications)
            return lambda done: progress.update(task, completed=done)

        try:
            result = run_intervention(
                base, pol, at, until, years, chosen, out_dir, options, on_start
            )
        except ScenarioError as exc:
            progress.stop()
            _fail(str(exc))
    console.print(_intervention_table(result.table, pol.name, base.name, at))
    console.print(
        f"wall time {result.wall_seconds:.1f} s; results in [bold]{out_dir}/[/] "
        "(intervention.csv, intervention.png, the two runs)"
    )


def _intervention_table(table, policy: str, baseline: str, at: int) -> Table:
    out = Table(
        title=f"{policy} from week {at} against {baseline}: change per year window (paired, 95% CI)"
    )
    for column in ("window", "weeks", "metric", "baseline", "with policy", "change", "95% CI"):
        out.add_column(column, justify="right" if column not in ("window", "metric") else "left")
    for row in table.itertuples():
        out.add_row(
            row.window,
            f"{row.first_week}-{row.end_week - 1}",
            row.metric,
            _fmt(row.baseline_mean),
            _fmt(row.mean),
            _pct(row.change_pct),
            f"{_pct(row.change_pct_ci_low)} to {_pct(row.change_pct_ci_high)}",
        )
    return out


@app.command()
def hysteresis(
    scenario: ScenarioArg,
    param: Annotated[
        str, typer.Option("--param", help="The stepped field.")
    ] = "enforcement.capacity_per_week",
    values: Annotated[
        str, typer.Option("--values", help="Comma-separated values, visited up then down.")
    ] = "1,3,6,12,24",
    hold: Annotated[int, typer.Option("--hold", help="Weeks each value is held.")] = 104,
    metrics: MetricsOpt = "active_sellers,counterfeit_sales_cny,true_risk,case_backlog",
    replications: ReplicationsOpt = None,
    seed: SeedOpt = None,
    set_: SetOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder [results/<name>_hysteresis]."),
    ] = None,
    force: ForceOpt = False,
    workers: WorkersOpt = None,
    engine: EngineOpt = Engine.vector,
    backend: BackendOpt = Backend.process,
    address: AddressOpt = None,
) -> None:
    """Step a parameter up through values and back down within each run: does it remember?

    Each value is held --hold weeks after the burn-in; a level is the mean over the second
    half of its hold. At each value visited twice the change from the way up to the way down
    is paired by replication. Writes hysteresis.csv, hysteresis.png and the run's folder.
    """
    from sim.validation import hysteresis_path, hysteresis_scenario, run_hysteresis

    base = _load(scenario, _overrides(set_, replications, seed, None))
    chosen = _metrics(metrics)
    try:
        numbers = [float(v) for v in values.split(",") if v.strip()]
    except ValueError:
        _fail(f"--values: {values!r} is not a comma-separated list of numbers")
    try:
        path_scenario = hysteresis_scenario(base, param, numbers, hold)
        for value in set(numbers):
            from sim.scenario import apply_changes

            apply_changes(base, {param: value}, source="--values")
    except ScenarioError as exc:
        _fail(str(exc))
    pool = _pool_options(backend, workers, address)
    out_dir = _output_folder(out, Path("results") / f"{base.name}_hysteresis", force)
    _forget(out_dir, ["hysteresis.csv", "hysteresis.png"])
    workers_ = min(pool["workers"], base.replications)
    _check_memory([path_scenario], workers_, engine, address)
    path = ", ".join(f"{v:g}" for v in hysteresis_path(numbers))
    console.print(
        f"[bold]{base.name}[/]: {param} stepped {path}, {hold} weeks each after a "
        f"{base.burn_in_weeks}-week burn-in ({path_scenario.weeks} weeks), "
        f"{base.replications} replications"
    )
    options = _run_options(pool, engine, workers_)
    with _progress() as progress:
        task = progress.add_task(path_scenario.name, total=base.replications)
        try:
            result = run_hysteresis(
                base,
                param,
                numbers,
                hold,
                chosen,
                out_dir,
                options,
                lambda done: progress.update(task, completed=done),
            )
        except ScenarioError as exc:
            progress.stop()
            _fail(str(exc))
    console.print(_hysteresis_table(result.table, param))
    console.print(
        f"wall time {result.wall_seconds:.1f} s; results in [bold]{out_dir}/[/] "
        "(hysteresis.csv, hysteresis.png, the run)"
    )


def _hysteresis_table(table, field: str) -> Table:
    out = Table(title=f"Levels as {field} goes up then down (mean of the second half of each hold)")
    for column in ("level", "value", "leg", "metric", "mean", "95% CI", "down vs up", "95% CI "):
        out.add_column(column, justify="left" if column in ("leg", "metric") else "right")
    for row in table.itertuples():
        down = row.leg == "down"
        out.add_row(
            str(row.level),
            f"{row.value:g}",
            row.leg,
            row.metric,
            _fmt(row.mean),
            f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)}",
            _pct(row.change_pct) if down else "",
            f"{_pct(row.change_pct_ci_low)} to {_pct(row.change_pct_ci_high)}" if down else "",
        )
    return out
