"""Validation experiments: elasticities, a policy introduced mid-run, and hysteresis.

Each experiment runs through the execution layer (``sim.batch``, ``sim.runner``) on common
random numbers, so that every comparison is paired replication by replication, and reduces the
runs with ``sim.analysis``. The model reaches its answers through its mechanisms; nothing here
adjusts them.

* ``run_elasticities``: arc elasticities of metrics with respect to parameters, from runs at
  the parameter lowered and raised by a step (same seeds), with t-intervals over replications,
  set beside the ranges reported in the literature.
* ``intervention_scenario`` / ``run_intervention``: a baseline run in which a policy's
  parameters take effect at a given week (and, optionally, end), against the baseline itself;
  the change of each metric in each year after the change.
* ``hysteresis_scenario`` / ``run_hysteresis``: one parameter stepped up through a list of
  values and back down again within each run; the level of each metric at each value on the
  way up and on the way down, and their paired difference.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.analysis import paired_differences, summarise_replications
from sim.batch import Batch
from sim.errors import ScenarioError
from sim.runner import Results, run_scenario
from sim.scenario import (
    PolicyChange,
    Scenario,
    apply_changes,
    field_value,
    schedulable_fields,
)
from sim.sweep import SweepResult, _finish, _is_int_field

WEEKS_PER_YEAR = 52

# Levers of the elasticity table and what the literature measures for each kind of lever.
ELASTICITY_PARAMS: tuple[str, ...] = (
    "enforcement.prosecution_rate",
    "enforcement.conviction_rate",
    "platform.detection_rate",
    "enforcement.max_sentence_years",
    "enforcement.fine_multiple",
)
LEVER_KIND: dict[str, str] = {
    "enforcement.prosecution_rate": "certainty",
    "enforcement.conviction_rate": "certainty",
    "platform.detection_rate": "certainty",
    "platform.referral_rate": "certainty",
    "enforcement.capacity_per_week": "certainty",
    "enforcement.max_sentence_years": "severity",
    "enforcement.fine_multiple": "severity",
    "enforcement.tier2_min_sentence_years": "severity",
}
# (low, high, sources): elasticity of crime with respect to the lever.
LITERATURE: dict[str, tuple[float, float, str]] = {
    "certainty": (
        -0.3,
        -0.1,
        "certainty of punishment: -0.1 to -0.3 (arrest probability, NSW BOCSAR 2012; police "
        "numbers, Chalfin & McCrary 2017)",
    ),
    "severity": (
        -0.13,
        0.0,
        "sentence length: 0 to -0.13 (BOCSAR 2012; Lee & McCrary 2017)",
    ),
}
ELASTICITY_METRICS: tuple[str, ...] = ("active_sellers", "counterfeit_sales_cny")


def _upper_bound(name: str) -> float:
    """The largest value the schema allows for a dotted field (``inf`` when unbounded)."""
    from sim.scenario import SECTIONS

    section, _, field = name.rpartition(".")
    info = SECTIONS[section].model_fields[field]
    bound = math.inf
    for meta in info.metadata:
        for attr in ("le", "lt"):
            value = getattr(meta, attr, None)
            if value is not None:
                bound = min(bound, float(value))
    return bound


# -- elasticities --------------------------------------------------------------------------------
def elasticity_points(
    base: Scenario, params: list[str], step: float
) -> list[tuple[str, dict[str, Any]]]:
    """The reference point, then each parameter lowered and raised by ``step`` (a share).

    A raised value is capped at the field's upper bound (a probability at 1); the arc formula
    uses the values actually run.

    Raises:
        ScenarioError: a parameter is not a numeric field, is 0 at the scenario (no relative
            change exists), or cannot move.
    """
    if not 0 < step < 1:
        raise ScenarioError("--step", "", f"value {step} is invalid; allowed: 0 < step < 1")
    points: list[tuple[str, dict[str, Any]]] = [("reference", {})]
    for name in params:
        if "." not in name:
            raise ScenarioError(
                "--param",
                name,
                "is not a model parameter (section.field, e.g. enforcement.prosecution_rate)",
            )
        try:
            value = field_value(base, name)
        except (AttributeError, KeyError, ValueError):
            raise ScenarioError("--param", name, "unknown field") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError("--param", name, "is not a numeric field")
        if value <= 0:
            raise ScenarioError(
                "--param", name, f"is {value} in the scenario; an elasticity needs a value above 0"
            )
        low, high = value * (1 - step), min(value * (1 + step), _upper_bound(name))
        if _is_int_field(name):
            low, high = math.floor(low), math.ceil(high)
        if not high > value > low:
            raise ScenarioError(
                "--param", name, f"cannot be moved around {value} by {step:.0%} within its bounds"
            )
        points.append((f"{name} low", {name: low}))
        points.append((f"{name} high", {name: high}))
    return points


def elasticity_table(
    summary: pd.DataFrame,
    points: list[tuple[str, dict[str, Any]]],
    base: Scenario,
    metrics: list[str],
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Arc elasticities from paired low/high runs.

    For replication ``i`` (the same seed at both points), the arc (midpoint) elasticity is
    ``E_i = ((Q_hi - Q_lo) / ((Q_hi + Q_lo) / 2)) / ((P_hi - P_lo) / ((P_hi + P_lo) / 2))``;
    the table gives the mean of ``E_i`` with a t-interval over replications.

    Args:
        summary: Per point and replication the post-burn-in yearly values (``point``,
            ``replication`` and metric columns).
        points: ``elasticity_points`` output.
        base: The scenario.
        metrics: Metrics to report.
        confidence: Level of the intervals.

    Returns:
        One row per parameter and metric: ``parameter, kind, metric, value, low, high,
        mean_low, mean_high, elasticity, ci_low, ci_high, n, literature_low, literature_high,
        against_literature``.
    """
    by_point = {
        int(p): g.set_index("replication").sort_index() for p, g in summary.groupby("point")
    }
    rows = []
    for k in range(1, len(points), 2):
        (_, low_changes), (_, high_changes) = points[k], points[k + 1]
        name = next(iter(low_changes))
        p_lo, p_hi = float(low_changes[name]), float(high_changes[name])
        lo_rows, hi_rows = by_point.get(k), by_point.get(k + 1)
        if lo_rows is None or hi_rows is None:
            continue
        common = lo_rows.index.intersection(hi_rows.index)
        dp = (p_hi - p_lo) / ((p_hi + p_lo) / 2)
        kind = LEVER_KIND.get(name, "")
        lit = LITERATURE.get(kind)
        for metric in metrics:
            q_lo = lo_rows.loc[common, metric].to_numpy(float)
            q_hi = hi_rows.loc[common, metric].to_numpy(float)
            mid = (q_hi + q_lo) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                e = np.where(mid > 0, (q_hi - q_lo) / mid / dp, 0.0)
            n = len(e)
            estimate = float(e.mean()) if n else math.nan
            if n > 1:
                half = stats.t.ppf(0.5 + confidence / 2, n - 1) * e.std(ddof=1) / math.sqrt(n)
            else:
                half = math.nan
            low_ci, high_ci = estimate - half, estimate + half
            rows.append(
                {
                    "parameter": name,
                    "kind": kind,
                    "metric": metric,
                    "value": float(field_value(base, name)),
                    "low": p_lo,
                    "high": p_hi,
                    "mean_low": float(q_lo.mean()),
                    "mean_high": float(q_hi.mean()),
                    "elasticity": estimate,
                    "ci_low": low_ci,
                    "ci_high": high_ci,
                    "n": n,
                    "literature_low": lit[0] if lit else math.nan,
                    "literature_high": lit[1] if lit else math.nan,
                    "against_literature": _against(low_ci, high_ci, lit),
                }
            )
    return pd.DataFrame(rows)


def _against(low: float, high: float, lit: tuple[float, float, str] | None) -> str:
    """How an interval ``[low, high]`` sits against a literature range."""
    if lit is None or math.isnan(low):
        return ""
    lit_low, lit_high = lit[0], lit[1]
    if high < lit_low:
        return "stronger"
    if low > lit_high:
        return "opposite sign" if low > 0 else "weaker"
    return "overlaps"


def run_elasticities(
    base: Scenario,
    params: list[str],
    step: float,
    metrics: list[str],
    out: Path,
    pool_options: dict[str, Any],
    resume: bool = False,
    force: bool = False,
    engine: str = "vector",
    on_done: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run the elasticity design and write ``elasticities.csv`` and ``elasticities.png``."""
    points = elasticity_points(base, params, step)
    definition = {"elasticity": {"params": params, "step": step, "metrics": metrics}}
    batch = Batch(out, "elasticity", base, points, base.replications, definition, engine)

    def outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame | None:
        from sim.plots import plot_elasticities, save_figure
        from sim.store import write_table
        from sim.sweep import footer, plt_subplots

        frame = batch.timeseries()
        if frame.empty:
            return None
        parts = []
        for point, rows in frame.groupby("point"):
            s = summarise_replications(rows.drop(columns=["run_id", "point"]), base.burn_in_weeks)
            parts.append(s.assign(point=int(point)))
        table = elasticity_table(pd.concat(parts), points, base, metrics)
        write_table(batch.out / "elasticities.csv", table)
        figure, axes = plt_subplots(len(metrics), len(params))
        for ax, metric in zip(axes, metrics, strict=True):
            plot_elasticities(table, metric, ax=ax)
        save_figure(
            figure,
            batch.out / "elasticities.png",
            footer(batch, f"arc elasticities, step {step:.0%}"),
        )
        return table

    return _finish(batch, pool_options, resume, force, on_done, outputs)


# -- a policy introduced during a run ------------------------------------------------------------
_NOT_POLICY = {"name", "description", "extends", "seed", "replications", "weeks", "burn_in_weeks"}


def policy_changes(baseline: Scenario, policy: Scenario) -> dict[str, Any]:
    """The dotted fields whose values differ between two scenarios (schedules aside)."""
    a = baseline.model_dump(mode="python", exclude={"schedule", *_NOT_POLICY})
    b = policy.model_dump(mode="python", exclude={"schedule", *_NOT_POLICY})
    changes = {}
    for section, fields in b.items():
        for field, value in fields.items():
            if a[section][field] != value:
                changes[f"{section}.{field}"] = value
    return changes


def intervention_scenario(
    baseline: Scenario, policy: Scenario, at: int, until: int | None = None
) -> Scenario:
    """The baseline with ``policy``'s parameters in force from week ``at`` (to ``until``).

    The policy's own schedule is kept. The result has the baseline's seed, replications,
    weeks and burn-in, so it pairs with the baseline run by run.

    Raises:
        ScenarioError: the policy changes nothing, changes a field that cannot be scheduled
            (such as the population), or the weeks do not fit in the run.
    """
    changes = policy_changes(baseline, policy)
    if not changes and not policy.schedule:
        raise ScenarioError(policy.name, "", f"does not differ from '{baseline.name}'")
    if not changes:
        first = min(change.week for change in policy.schedule)
        if at != first:
            raise ScenarioError(
                "--at",
                "",
                f"'{policy.name}' differs from '{baseline.name}' only by its schedule, which "
                f"starts at week {first}; use --at {first}",
            )
    fixed = sorted(set(changes) - set(schedulable_fields()))
    if fixed:
        raise ScenarioError(
            policy.name,
            fixed[0],
            "differs from the baseline but cannot change during a run; only enforcement, "
            "platform, economics and beliefs fields can",
        )
    if not 0 < at < baseline.weeks:
        raise ScenarioError("--at", "", f"week {at} is outside the run (1 to {baseline.weeks - 1})")
    if until is not None and not at < until <= baseline.weeks:
        raise ScenarioError(
            "--until", "", f"week {until} must be after --at {at} and at most {baseline.weeks}"
        )
    schedule = list(policy.schedule)
    if changes:
        label = f"{policy.name} from week {at}" + (f" to {until}" if until else "")
        schedule.append(PolicyChange(week=at, until_week=until, label=label, set=changes))
    schedule.sort(key=lambda change: change.week)
    name = f"{policy.name}_at_week_{at}"
    return baseline.model_copy(update={"name": name[:64], "schedule": schedule})


def year_windows(at: int, years: int, weeks: int) -> list[tuple[str, int, int]]:
    """``(label, first week, end week)`` of the year before ``at`` and of each year after it."""
    windows = []
    if at >= WEEKS_PER_YEAR:
        windows.append(("year before", at - WEEKS_PER_YEAR, at))
    for k in range(1, years + 1):
        first, end = at + (k - 1) * WEEKS_PER_YEAR, at + k * WEEKS_PER_YEAR
        if end > weeks:
            break
        windows.append((f"year {k} after", first, end))
    return windows


def window_summary(timeseries: pd.DataFrame, first: int, end: int) -> pd.DataFrame:
    """Per scenario and replication, the yearly value of each metric over weeks [first, end)."""
    rows = timeseries[(timeseries.week >= first) & (timeseries.week < end)]
    return summarise_replications(rows, first)


def intervention_table(
    baseline: Results, treated: Results, at: int, years: int, metrics: list[str]
) -> pd.DataFrame:
    """Change of each metric in each year window, treated against baseline (paired)."""
    both = pd.concat([baseline.timeseries, treated.timeseries], ignore_index=True)
    parts = []
    for label, first, end in year_windows(at, years, baseline.scenario.weeks):
        summary = window_summary(both, first, end)
        diff = paired_differences(summary, baseline.scenario.name, metrics)
        diff.insert(0, "window", label)
        diff.insert(1, "first_week", first)
        diff.insert(2, "end_week", end)
        parts.append(diff)
    return pd.concat(parts, ignore_index=True)


@dataclass
class Intervention:
    """A policy introduced during a run, against the baseline."""

    baseline: Results
    treated: Results
    table: pd.DataFrame
    at: int
    until: int | None
    out: Path
    wall_seconds: float


def run_intervention(
    baseline: Scenario,
    policy: Scenario,
    at: int,
    until: int | None,
    years: int,
    metrics: list[str],
    out: Path,
    run_options: dict[str, Any],
    on_start: Callable[[Scenario], Callable[[int], None] | None] | None = None,
) -> Intervention:
    """Run the baseline and the baseline with ``policy`` from week ``at``; compare by year.

    Writes ``out/<baseline>/`` and ``out/<treated>/`` (result folders of ``run``),
    ``intervention.csv`` and ``intervention.png``.
    """
    from sim.plots import plot_intervention, save_figure
    from sim.store import write_table

    started = time.perf_counter()
    treated_scenario = intervention_scenario(baseline, policy, at, until)
    results = []
    for scenario in (baseline, treated_scenario):
        progress = on_start(scenario) if on_start else None
        result = run_scenario(scenario, on_done=progress, **run_options)
        result.save(out / scenario.name)
        results.append(result)
    table = intervention_table(results[0], results[1], at, years, metrics)
    write_table(out / "intervention.csv", table)
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    plot_intervention(
        pd.concat([results[0].timeseries, results[1].timeseries]),
        "active_sellers",
        at,
        until,
        ax=ax,
    )
    reps = baseline.replications
    save_figure(
        figure,
        out / "intervention.png",
        f"{policy.name} from week {at}{f' to {until}' if until else ''} against "
        f"{baseline.name} | {reps} paired replication(s), root seed {baseline.seed}",
    )
    return Intervention(
        results[0], results[1], table, at, until, out, time.perf_counter() - started
    )


# -- hysteresis ----------------------------------------------------------------------------------
def hysteresis_path(values: list[float]) -> list[float]:
    """Up through ``values`` (sorted), then back down: [a, b, c] -> [a, b, c, b, a]."""
    up = sorted(values)
    return up + up[-2::-1]


def hysteresis_scenario(base: Scenario, field: str, values: list[float], hold: int) -> Scenario:
    """``base`` with ``field`` stepped along ``hysteresis_path``, each value held ``hold`` weeks.

    The lowest value is in force from the start through the burn-in and its hold.

    Raises:
        ScenarioError: the field cannot be scheduled, fewer than two values, or too many weeks.
    """
    if field not in schedulable_fields():
        raise ScenarioError("--param", field, "cannot change during a run")
    if len(set(values)) < 2:
        raise ScenarioError("--values", "", "give at least two different values")
    if hold < 2:
        raise ScenarioError("--hold", "", f"value {hold} is invalid; allowed: at least 2 weeks")
    path = hysteresis_path(values)
    start = base.burn_in_weeks
    weeks = start + len(path) * hold
    if weeks > 5200:
        raise ScenarioError(
            "--hold",
            "",
            f"{len(path)} levels of {hold} weeks after the burn-in make {weeks} "
            "weeks; at most 5200",
        )
    scenario = apply_changes(base, {field: path[0], "weeks": weeks}, source="hysteresis")
    schedule = [
        PolicyChange(week=start + i * hold, label=f"{field} = {v:g}", set={field: v})
        for i, v in enumerate(path)
        if i > 0
    ]
    name = f"{base.name}_hysteresis"[:64]
    return scenario.model_copy(update={"name": name, "schedule": schedule})


def hysteresis_table(
    timeseries: pd.DataFrame,
    values: list[float],
    hold: int,
    start: int,
    metrics: list[str],
    settle: float = 0.5,
) -> pd.DataFrame:
    """Each metric at each level of the path, and the change from the way up to the way down.

    A level's value is the metric's mean over the last ``1 - settle`` of its hold; for each
    value visited twice, the change is paired by replication (the same run).

    Returns:
        One row per level and metric: ``level, value, leg, metric, mean, ci_low, ci_high,
        n`` and, on the way down, ``up_mean, change_pct, change_pct_ci_low,
        change_pct_ci_high`` (down against up at the same value, paired by replication).
    """
    from sim.analysis import metric_statistics

    path = hysteresis_path(values)
    top = len(sorted(values)) - 1
    summaries = {}
    rows = []
    for level, value in enumerate(path):
        first = start + level * hold + int(settle * hold)
        end = start + (level + 1) * hold
        summary = window_summary(timeseries, first, end)
        leg = "up" if level < top else ("top" if level == top else "down")
        summaries[level] = summary
        stats_ = metric_statistics(summary).set_index("metric")
        for metric in metrics:
            s = stats_.loc[metric]
            row = {
                "level": level,
                "value": value,
                "leg": leg,
                "first_week": first,
                "end_week": end,
                "metric": metric,
                "mean": s["mean"],
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
                "n": int(s["n"]),
            }
            if leg == "down":
                twin = 2 * top - level
                paired = pd.concat(
                    [
                        summaries[twin].assign(scenario="up"),
                        summary.assign(scenario="down"),
                    ]
                )
                diff = paired_differences(paired, "up", [metric]).iloc[0]
                row |= {
                    "up_mean": diff["baseline_mean"],
                    "change_pct": diff["change_pct"],
                    "change_pct_ci_low": diff["change_pct_ci_low"],
                    "change_pct_ci_high": diff["change_pct_ci_high"],
                }
            rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class Hysteresis:
    """A parameter swept up and down within each run."""

    results: Results
    table: pd.DataFrame
    field: str
    out: Path
    wall_seconds: float


def run_hysteresis(
    base: Scenario,
    field: str,
    values: list[float],
    hold: int,
    metrics: list[str],
    out: Path,
    run_options: dict[str, Any],
    on_done: Callable[[int], None] | None = None,
) -> Hysteresis:
    """Run the up-and-down path and write ``hysteresis.csv`` and ``hysteresis.png``."""
    from sim.plots import plot_hysteresis, save_figure
    from sim.store import write_table

    started = time.perf_counter()
    scenario = hysteresis_scenario(base, field, values, hold)
    results = run_scenario(scenario, on_done=on_done, **run_options)
    results.save(out / scenario.name)
    table = hysteresis_table(results.timeseries, values, hold, base.burn_in_weeks, metrics)
    write_table(out / "hysteresis.csv", table)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
    plot_hysteresis(table, field, "active_sellers", ax=axes[0])
    from sim.plots import plot_timeseries

    plot_timeseries(results.timeseries, "active_sellers", base.burn_in_weeks, ax=axes[1])
    for i, value in enumerate(hysteresis_path(values)):
        if i:
            axes[1].axvline(base.burn_in_weeks + i * hold, color="0.6", linewidth=0.8)
        axes[1].text(
            base.burn_in_weeks + (i + 0.5) * hold,
            0.02,
            f"{value:g}",
            transform=axes[1].get_xaxis_transform(),
            ha="center",
            fontsize=8,
            color="0.3",
        )
    short = field.rpartition(".")[2].replace("_", " ")
    axes[1].set_title(f"Active sellers per week as {short} steps up and down")
    save_figure(
        figure,
        out / "hysteresis.png",
        f"{field} stepped {', '.join(f'{v:g}' for v in hysteresis_path(values))} "
        f"(each {hold} weeks) in {base.name} | {base.replications} replication(s), "
        f"root seed {base.seed}",
    )
    return Hysteresis(results, table, field, out, time.perf_counter() - started)
