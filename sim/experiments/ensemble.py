"""Answers over an ensemble of plausible parameter sets (``--ensemble FILE --sets N``).

An ensemble file (``calibration/ensemble_2016.csv``, written by history matching) has one row
per parameter set: ``set_id`` and a column per uncertain parameter (other columns, such as
the patterns each set reproduces, are carried along and not applied). Each scenario runs on
every set, with its own policy on top: the fields in which it differs from the baseline keep
the scenario's values, every other uncertain parameter takes the set's. Every run uses the
same replication seeds (common random numbers across scenarios and sets), so the change a
policy makes is paired within each set, and the spread of the changes across sets is the
parameter uncertainty of the answer. ``ensemble_changes`` splits the spread into parameter
uncertainty and Monte Carlo noise (a one-way random-effects analysis of variance).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import OptionError, ScenarioError
from sim.experiments.batch import Batch, BatchResult, run_batch
from sim.experiments.execution import ExecutionOptions
from sim.experiments.intervention import policy_changes
from sim.model.metrics import METRIC_NAMES
from sim.scenario import Scenario, all_fields, bound_violation, is_int_field

SET_COLUMN = "set_id"
LOW_Q, HIGH_Q = 0.05, 0.95  # the range over parameter sets reported (90% of the sets)


def load_ensemble(path: str | Path, sets: int | None = None) -> pd.DataFrame:
    """Read an ensemble file: ``set_id`` and the parameter columns (the first ``sets`` rows).

    Raises:
        ScenarioError: the file is missing, not a CSV with ``set_id`` and at least one
            numeric scenario field, or holds a value outside a field's range.
        OptionError: ``sets`` is more than the file holds.
    """
    source = str(path)
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(source, "", "ensemble file not found")
    try:
        table = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScenarioError(source, "", f"is not a CSV file ({detail})") from None
    if SET_COLUMN not in table:
        raise ScenarioError(source, "", f"has no '{SET_COLUMN}' column")
    ids = table[SET_COLUMN]
    if not pd.api.types.is_integer_dtype(ids) or ids.duplicated().any() or len(ids) == 0:
        raise ScenarioError(source, SET_COLUMN, "must hold distinct whole numbers, one per set")
    params = parameter_columns(table)
    if not params:
        raise ScenarioError(
            source, "", "names no scenario parameter (columns such as platform.detection_rate)"
        )
    for name in params:
        values = pd.to_numeric(table[name], errors="coerce")
        if not np.isfinite(values).all():
            raise ScenarioError(source, name, "every set needs a finite number")
        violation = bound_violation(name, values)
        if violation:
            raise ScenarioError(source, name, violation)
    if sets is not None:
        if sets > len(table):
            raise OptionError("--sets", "", f"{sets} sets asked for, {path} holds {len(table)}")
        table = table.head(sets)
    return table[[SET_COLUMN, *params]].reset_index(drop=True)


def ensemble_digest(ensemble: pd.DataFrame) -> str:
    """The SHA-256 of an ensemble table, recorded in the batches run on it."""
    return hashlib.sha256(ensemble.to_csv(index=False).encode()).hexdigest()


def parameter_columns(table: pd.DataFrame) -> list[str]:
    """The columns of an ensemble table that are numeric scenario fields."""
    fields = set(all_fields())
    return [c for c in table.columns if c in fields and "." in c]


def policy_of(scenario: Scenario, baseline: Scenario) -> dict[str, Any]:
    """What makes ``scenario`` a policy of ``baseline``: the fields in which they differ.

    Raises:
        OptionError: they differ in the population, weeks, burn-in or seed (not a policy).
    """
    for key in ("weeks", "burn_in_weeks", "seed", "replications"):
        if getattr(scenario, key) != getattr(baseline, key):
            raise OptionError(
                "--ensemble",
                "",
                f"'{scenario.name}' and '{baseline.name}' differ in {key}; over an ensemble "
                "scenarios differ only in their policy",
            )
    return policy_changes(baseline, scenario)


def ensemble_points(
    scenarios: list[Scenario], baseline: Scenario, ensemble: pd.DataFrame
) -> list[tuple[str, dict[str, Any]]]:
    """The batch points: each scenario on each set (the scenario's own fields win)."""
    params = parameter_columns(ensemble)
    points = []
    for scenario in scenarios:
        policy = policy_of(scenario, baseline)
        schedule = [c.model_dump(mode="json", exclude_none=True) for c in scenario.schedule]
        for row in ensemble.to_dict("records"):
            changes: dict[str, Any] = {}
            for name in params:
                if name not in policy:
                    value = float(row[name])
                    changes[name] = round(value) if is_int_field(name) else value
            changes |= policy
            changes["schedule"] = schedule
            points.append((f"{scenario.name}/set-{int(row[SET_COLUMN])}", changes))
    return points


@dataclass
class EnsembleComparison:
    """Scenarios compared with a baseline on every set of an ensemble."""

    batch: BatchResult
    baseline: str
    scenarios: list[str]
    ensemble: pd.DataFrame
    summary: pd.DataFrame
    table: pd.DataFrame
    source: str = ""  # the ensemble file


def compare_on_ensemble(
    scenarios: list[Scenario],
    ensemble: pd.DataFrame,
    out: Path,
    options: ExecutionOptions,
    *,
    metrics: list[str] | None = None,
    ensemble_source: str = "",
    force: bool = False,
    resume: bool = False,
    on_runs: Callable[[int, int], None] | None = None,
    reuse: Path | None = None,
) -> EnsembleComparison:
    """Run every scenario on every set (the first scenario is the baseline) and compare.

    Args:
        scenarios: The baseline first, then the policies.
        ensemble: ``load_ensemble`` output.
        out: The batch folder (its runs; the caller writes the tables).
        options: How to execute the runs.
        metrics: Metrics compared [all].
        ensemble_source: The ensemble file, recorded in the batch.
        force: Replace a batch the folder holds.
        resume: Finish the same batch in the folder.
        on_runs: Progress (runs finished, in all).
        reuse: Another batch folder whose identical runs are taken instead of run again.

    Raises:
        OptionError: the scenarios differ in more than their policy.
    """
    baseline = scenarios[0]
    points = ensemble_points(scenarios, baseline, ensemble)
    digest = ensemble_digest(ensemble)
    definition = {
        "ensemble": ensemble_source,
        "ensemble_sha256": digest,
        "scenarios": [s.name for s in scenarios],
    }
    result = run_points(
        points, baseline, out, "ensemble", definition, options,
        resume=resume, force=force, on_runs=on_runs, reuse=reuse,
    )  # fmt: skip
    summary = result.batch.replication_summaries()
    labels = [label for label, _ in points]
    summary["scenario"] = [labels[p].partition("/")[0] for p in summary.point]
    summary[SET_COLUMN] = [int(labels[p].rpartition("-")[2]) for p in summary.point]
    table = ensemble_changes(summary, baseline.name, metrics)
    names = [s.name for s in scenarios]
    return EnsembleComparison(
        result, baseline.name, names, ensemble, summary, table, ensemble_source
    )


def ensemble_changes(
    summary: pd.DataFrame, baseline: str, metrics: list[str] | None = None
) -> pd.DataFrame:
    """Per scenario and metric: the change over the ensemble and where its spread comes from.

    Within each set the change is paired by replication: ``c_k = mean B_k / mean A_k - 1``
    (the ratio of the set's paired means). Reported: the median of ``c_k`` over the sets and
    the range of 90% of them. The spread splits by a one-way random-effects analysis of
    variance of the per-replication changes ``d_ki = (B_ki - A_ki) / mean A_k``: ``W`` the
    mean variance within a set (Monte Carlo noise), ``V`` the variance of the sets' means;
    the parameter variance is ``max(V - W / n, 0)``, and ``share_parameter`` its share of
    ``V`` (undefined with one replication, where noise and parameters cannot be told apart).

    Returns:
        One row per (scenario other than the baseline, metric): ``scenario, baseline, metric,
        sets, replications, baseline_median, median, change_pct, change_pct_low,
        change_pct_high, share_parameter, share_monte_carlo``.
    """
    names = metrics or list(METRIC_NAMES)
    base = summary[summary.scenario == baseline].set_index([SET_COLUMN, "replication"])
    rows = []
    for scenario, group in summary.groupby("scenario", sort=False):
        if scenario == baseline:
            continue
        other = group.set_index([SET_COLUMN, "replication"]).reindex(base.index)
        for metric in names:
            a, b = base[metric], other[metric]
            a_mean = a.groupby(level=0).mean()
            b_mean = b.groupby(level=0).mean()
            with np.errstate(divide="ignore", invalid="ignore"):
                change = (b_mean / a_mean - 1).replace([np.inf, -np.inf], np.nan)
                relative = (b - a) / a_mean.reindex(a.index, level=0)
            n = int(a.groupby(level=0).size().min())
            share = _parameter_share(relative, n)
            valid = change.dropna()
            rows.append(
                {
                    "scenario": scenario,
                    "baseline": baseline,
                    "metric": metric,
                    "sets": len(a_mean),
                    "replications": n,
                    "baseline_median": float(a_mean.median()),
                    "median": float(b_mean.median()),
                    "change_pct": 100 * float(valid.median()) if len(valid) else math.nan,
                    "change_pct_low": 100 * float(valid.quantile(LOW_Q))
                    if len(valid)
                    else math.nan,
                    "change_pct_high": 100 * float(valid.quantile(HIGH_Q))
                    if len(valid)
                    else math.nan,
                    "share_parameter": share,
                    "share_monte_carlo": 1 - share if math.isfinite(share) else math.nan,
                }
            )
    return pd.DataFrame(rows)


def _parameter_share(relative: pd.Series, n: int) -> float:
    """The share of the variance of the sets' mean changes due to the parameters."""
    relative = relative.replace([np.inf, -np.inf], np.nan).dropna()
    if n < 2 or relative.empty:
        return math.nan
    by_set = relative.groupby(level=0)
    within = float(by_set.var(ddof=1).mean())
    between = float(by_set.mean().var(ddof=1))
    if not math.isfinite(between) or between <= 0:
        return math.nan if not math.isfinite(within) else 0.0
    return max(between - within / n, 0.0) / between


# -- any batch experiment over an ensemble ---------------------------------------------------


@dataclass
class SetLayout:
    """An experiment's points repeated on every set of an ensemble, in one batch.

    ``points`` are the batch's points: for each set in turn, the experiment's own points built
    on the set's scenario (the base with the set's values), labelled ``set-K/label``, the
    experiment's changes winning over the set's. ``spans`` give per set its id, the index of
    its first point and its scenario; ``local`` its own points as the experiment built them.
    """

    points: list[tuple[str, dict[str, Any]]]
    spans: list[tuple[int, int, Scenario]]
    local: list[list[tuple[str, dict[str, Any]]]]
    digest: str
    set_of_point: list[int]  # the set id of each batch point, in order

    def per_set(
        self, summary: pd.DataFrame, table: Callable[[pd.DataFrame, list, Scenario], pd.DataFrame]
    ) -> pd.DataFrame:
        """The experiment's table on each set, with ``set_id`` first.

        ``table(summary, points, scenario)`` gets the set's rows of the summary, ``point``
        renumbered as the experiment's own points.
        """
        frames = []
        for (set_id, first, scenario), own in zip(self.spans, self.local, strict=True):
            part = summary[summary.point.between(first, first + len(own) - 1)]
            if part.empty:
                continue
            result = table(part.assign(point=part.point - first), own, scenario)
            if result is not None and len(result):
                frames.append(result.assign(**{SET_COLUMN: set_id}))
        if not frames:
            return pd.DataFrame()
        out = pd.concat(frames, ignore_index=True)
        return out[[SET_COLUMN, *[c for c in out.columns if c != SET_COLUMN]]]


def set_layout(
    base: Scenario,
    ensemble: pd.DataFrame,
    build: Callable[[Scenario], list[tuple[str, dict[str, Any]]]],
) -> SetLayout:
    """Lay out an experiment (``build(scenario)`` gives its points) on every set.

    Raises:
        ScenarioError: a set's values do not make a valid scenario.
    """
    from sim.scenario import apply_changes

    params = parameter_columns(ensemble)
    points, spans, local, set_of_point = [], [], [], []
    for row in ensemble.to_dict("records"):
        set_id = int(row[SET_COLUMN])
        changes = {
            name: round(float(row[name])) if is_int_field(name) else float(row[name])
            for name in params
        }
        scenario = apply_changes(base, changes, source=f"ensemble set {set_id}")
        own = build(scenario)
        spans.append((set_id, len(points), scenario))
        local.append(own)
        points += [(f"set-{set_id}/{label}", changes | extra) for label, extra in own]
        set_of_point += [set_id] * len(own)
    digest = ensemble_digest(ensemble)
    return SetLayout(points, spans, local, digest, set_of_point)


def over_sets(
    table: pd.DataFrame, keys: list[str], value: str, se: str | None = None
) -> pd.DataFrame:
    """Per ``keys``: the median of ``value`` over the sets and the range of 90% of them.

    With ``se`` (each set's Monte Carlo standard error of ``value``), ``share_parameter`` is
    the share of the variance over the sets not explained by the noise within them.

    Returns:
        One row per key: the keys, ``sets``, ``{value}`` (median), ``{value}_low``,
        ``{value}_high``, ``share_parameter``.
    """
    rows = []
    for key, group in table.groupby(keys, sort=False):
        values = group[value].astype(float).dropna()
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        between = float(values.var(ddof=1)) if len(values) > 1 else math.nan
        share = math.nan
        if se is not None and math.isfinite(between) and between > 0:
            within = float((group[se].astype(float) ** 2).mean())
            share = max(between - within, 0.0) / between if math.isfinite(within) else math.nan
        row |= {
            "sets": len(values),
            value: float(values.median()) if len(values) else math.nan,
            f"{value}_low": float(values.quantile(LOW_Q)) if len(values) else math.nan,
            f"{value}_high": float(values.quantile(HIGH_Q)) if len(values) else math.nan,
            "share_parameter": share,
        }
        rows.append(row)
    return pd.DataFrame(rows)


def metric_means(summary: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of ``by`` and metric: the mean over the replications and its standard error.

    Returns:
        The ``by`` columns, ``metric``, ``mean``, ``se`` (NaN with one replication).
    """
    rows = []
    for key, group in summary.groupby(by, sort=False):
        keys = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        for metric in METRIC_NAMES:
            values = group[metric].astype(float)
            n = len(values)
            se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
            rows.append(keys | {"metric": metric, "mean": float(values.mean()), "se": se})
    return pd.DataFrame(rows)


def run_points(
    points: list[tuple[str, dict[str, Any]]],
    base: Scenario,
    out: Path,
    kind: str,
    definition: dict[str, Any],
    options: ExecutionOptions,
    *,
    resume: bool = False,
    force: bool = False,
    on_runs: Callable[[int, int], None] | None = None,
    reuse: Path | None = None,
) -> BatchResult:
    """Run the points of an experiment over an ensemble as one batch in ``out``.

    Resumable, on every backend; the tables are the caller's.

    Raises:
        OptionError: runs failed (the run index names them).
    """
    batch = Batch(out, kind, base, points, base.replications, definition, options.engine)
    result = run_batch(
        batch,
        options,
        lambda b, i: None,
        resume=resume,
        force=force,
        on_done=on_runs,
        reuse=reuse,
    )
    failed = result.index[result.index.status != "ok"]
    if len(failed):
        raise OptionError("--ensemble", "", f"{len(failed)} run(s) failed; see {out}/run_index.csv")
    return result


def run_layout(
    layout: SetLayout,
    base: Scenario,
    out: Path,
    kind: str,
    definition: dict[str, Any],
    options: ExecutionOptions,
    **keywords: Any,
) -> BatchResult:
    """Run a ``set_layout`` as one batch in ``out``.

    ``run_points`` with the layout's points; ``keywords`` (``resume``, ``force``, ``on_runs``)
    are passed on.
    """
    definition = definition | {"ensemble_sha256": layout.digest}
    return run_points(layout.points, base, out, kind, definition, options, **keywords)


def scenario_over_sets(
    base: Scenario,
    ensemble: pd.DataFrame,
    out: Path,
    options: ExecutionOptions,
    *,
    resume: bool = False,
    force: bool = False,
    on_runs: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``run --ensemble``: the scenario on every set; each metric over the sets.

    Returns:
        ``(per_set, table)``: per set and metric the mean over the replications and its
        standard error; per metric the median over the sets, the range of 90% of them and
        the parameter share of the spread (``over_sets``).
    """
    layout = set_layout(base, ensemble, lambda s: [("run", {})])
    result = run_layout(
        layout, base, out, "ensemble-run", {"scenario": base.name}, options,
        resume=resume, force=force, on_runs=on_runs,
    )  # fmt: skip
    summary = result.batch.replication_summaries()
    summary[SET_COLUMN] = summary.point.map(layout.set_of_point.__getitem__)
    per_set = metric_means(summary, [SET_COLUMN])
    table = over_sets(per_set, ["metric"], "mean", se="se" if base.replications > 1 else None)
    return per_set, table


def intervention_over_sets(
    base: Scenario,
    treated: Scenario,
    ensemble: pd.DataFrame,
    windows: list[tuple[str, int, int]],
    metrics: list[str],
    out: Path,
    options: ExecutionOptions,
    *,
    force: bool = False,
    on_runs: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """``intervention --ensemble``: baseline and treated runs on every set, change per window.

    Args:
        base: The baseline.
        treated: The treated scenario (``intervention_scenario`` of ``base``): its schedule
            runs on every set (the policy's own values win over the set's from its week).
        ensemble: ``load_ensemble`` output.
        windows: ``year_windows`` output.
        metrics: Metrics reported.
        out: The batch folder.
        options: How to execute the runs.
        force: Replace a batch the folder holds.
        on_runs: Progress (runs finished, in all).

    Returns:
        Per window and metric, ``ensemble_changes``' columns (the treated against the
        baseline over the sets) after ``window, first_week, end_week``.
    """
    from sim.experiments.intervention import window_summary

    schedule = [c.model_dump(mode="json", exclude_none=True) for c in treated.schedule]
    layout = set_layout(
        base, ensemble, lambda s: [("baseline", {}), ("treated", {"schedule": schedule})]
    )
    result = run_layout(
        layout, base, out, "ensemble-intervention", {"windows": windows}, options,
        force=force, on_runs=on_runs,
    )  # fmt: skip
    timeseries = result.batch.timeseries()
    labels = [label for label, _ in layout.points]
    timeseries["scenario"] = [labels[p].rpartition("/")[2] for p in timeseries.point]
    timeseries[SET_COLUMN] = timeseries.point.map(layout.set_of_point.__getitem__)
    parts = []
    for window, first, end in windows:
        pieces = []
        for (scenario, set_id), rows in timeseries.groupby(["scenario", SET_COLUMN], sort=False):
            summary = window_summary(rows.drop(columns=["run_id", "point", SET_COLUMN]), first, end)
            pieces.append(summary.assign(scenario=scenario, **{SET_COLUMN: set_id}))
        changes = ensemble_changes(pd.concat(pieces, ignore_index=True), "baseline", metrics)
        changes.insert(0, "window", window)
        changes.insert(1, "first_week", first)
        changes.insert(2, "end_week", end)
        parts.append(changes)
    return pd.concat(parts, ignore_index=True)
