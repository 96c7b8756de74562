"""Hysteresis: a parameter stepped up and back down within each run (``deter-sim hysteresis``).

The level of each metric at each value on the way up and on the way down, and their paired
difference: does the system remember where it came from? The figure is drawn by
``sim.reporting.figures``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sim.errors import OptionError
from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import clear
from sim.experiments.intervention import window_summary
from sim.experiments.runner import Results, run_scenario
from sim.experiments.statistics import metric_statistics, paired_differences
from sim.experiments.store import write_table
from sim.model.metrics import check_metrics
from sim.scenario import PolicyChange, Scenario, apply_changes, schedulable_fields

OUTPUT_FILES = ("hysteresis.csv", "hysteresis.png")


def hysteresis_path(values: list[float]) -> list[float]:
    """Up through ``values`` (sorted), then back down: [a, b, c] -> [a, b, c, b, a]."""
    up = sorted(values)
    return up + up[-2::-1]


def hysteresis_scenario(base: Scenario, field: str, values: list[float], hold: int) -> Scenario:
    """``base`` with ``field`` stepped along ``hysteresis_path``, each value held ``hold`` weeks.

    The lowest value is in force from the start through the burn-in and its hold.

    Raises:
        OptionError: the field cannot be scheduled, fewer than two values, or too many weeks.
        ScenarioError: a value is not allowed for the field.
    """
    if field not in schedulable_fields():
        raise OptionError("--param", field, "cannot change during a run")
    if len(set(values)) < 2:
        raise OptionError("--values", "", "give at least two different values")
    if hold < 2:
        raise OptionError("--hold", "", f"value {hold} is invalid; allowed: at least 2 weeks")
    path = hysteresis_path(values)
    start = base.burn_in_weeks
    weeks = start + len(path) * hold
    if weeks > 5200:
        raise OptionError(
            "--hold",
            "",
            f"{len(path)} levels of {hold} weeks after the burn-in make {weeks} "
            "weeks; at most 5200",
        )
    for value in sorted(set(values)):
        apply_changes(base, {field: value}, source="--values")
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
    values: list[float]
    hold: int
    start: int
    out: Path
    wall_seconds: float


def run_hysteresis(
    base: Scenario,
    field: str,
    values: list[float],
    hold: int,
    metrics: list[str],
    out: Path,
    options: ExecutionOptions,
    on_done: Callable[[int], None] | None = None,
) -> Hysteresis:
    """Run the up-and-down path; write the run's folder and ``hysteresis.csv``.

    Raises:
        OptionError: a metric, the field, the values or the hold cannot be used.
    """
    check_metrics(metrics)
    scenario = hysteresis_scenario(base, field, values, hold)
    started = time.perf_counter()
    clear(out, OUTPUT_FILES)
    results = run_scenario(scenario, on_done=on_done, options=options)
    results.save(out / scenario.name)
    table = hysteresis_table(results.timeseries, values, hold, base.burn_in_weeks, metrics)
    write_table(out / "hysteresis.csv", table)
    return Hysteresis(
        results, table, field, values, hold, base.burn_in_weeks, out, time.perf_counter() - started
    )
