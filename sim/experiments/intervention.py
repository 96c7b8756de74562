"""A policy introduced during a baseline run, measured year by year (``deter-sim intervention``).

The treated run is the baseline with the parameters in which the policy differs from it set
at a given week (and, optionally, reverted); both share seeds, so the change in each year
after the policy is paired replication by replication. The figure is drawn by
``sim.reporting.figures``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import OptionError, ScenarioError
from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import clear
from sim.experiments.runner import Results, run_scenario
from sim.experiments.statistics import paired_differences, summarise_replications
from sim.experiments.store import write_table
from sim.model.metrics import check_metrics
from sim.model.rules import WEEKS_PER_YEAR
from sim.scenario import PolicyChange, Scenario, schedulable_fields

OUTPUT_FILES = ("intervention.csv", "intervention.png")


_NOT_POLICY = {
    "name",
    "description",
    "label",
    "extends",
    "seed",
    "replications",
    "weeks",
    "burn_in_weeks",
}


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
        ScenarioError: the policy changes nothing, or changes a field that cannot be scheduled
            (such as the population).
        OptionError: the weeks do not fit in the run.
    """
    changes = policy_changes(baseline, policy)
    if not changes and not policy.schedule:
        raise ScenarioError(policy.name, "", f"does not differ from '{baseline.name}'")
    if not changes:
        first = min(change.week for change in policy.schedule)
        if at != first:
            raise OptionError(
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
        raise OptionError("--at", "", f"week {at} is outside the run (1 to {baseline.weeks - 1})")
    if until is not None and not at < until <= baseline.weeks:
        raise OptionError(
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
    policy: str
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
    options: ExecutionOptions,
    on_start: Callable[[Scenario], Callable[[int], None] | None] | None = None,
) -> Intervention:
    """Run the baseline and the baseline with ``policy`` from week ``at``; compare by year.

    Writes ``out/<baseline>/`` and ``out/<treated>/`` (result folders of ``run``) and
    ``intervention.csv``.

    Raises:
        OptionError: less than a year of the run follows ``at``, or a metric is unknown.
        ScenarioError: the policy cannot be introduced (``intervention_scenario``).
    """
    check_metrics(metrics)
    treated_scenario = intervention_scenario(baseline, policy, at, until)
    check_year_after(at, baseline.weeks)
    started = time.perf_counter()
    clear(out, OUTPUT_FILES)
    results = []
    for scenario in (baseline, treated_scenario):
        progress = on_start(scenario) if on_start else None
        result = run_scenario(scenario, on_done=progress, options=options)
        result.save(out / scenario.name)
        results.append(result)
    table = intervention_table(results[0], results[1], at, years, metrics)
    write_table(out / "intervention.csv", table)
    return Intervention(
        results[0], results[1], table, policy.name, at, until, out, time.perf_counter() - started
    )


def check_year_after(at: int, weeks: int) -> None:
    """Refuse a policy week that leaves less than a year of the run to measure.

    Raises:
        OptionError: ``at + 52 > weeks``.
    """
    if at + WEEKS_PER_YEAR > weeks:
        raise OptionError(
            "--at", "", f"week {at} leaves less than a year of the {weeks}-week run after it"
        )
