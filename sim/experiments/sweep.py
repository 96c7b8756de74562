"""Parameter sweeps over a scenario (``deter-sim sweep``).

A sweep is a batch of runs (``sim.experiments.batch``): its points are the cells of a grid,
plus the scenario itself as the reference (point 0). Every point uses the same replication
seeds (common random numbers), so differences between points are not blurred by different
draws. The heat map is drawn by ``sim.reporting.figures`` from the table written here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import OptionError, ScenarioError
from sim.experiments.batch import Batch, BatchResult, run_batch, wide_statistics
from sim.experiments.execution import ExecutionOptions
from sim.experiments.store import write_table
from sim.scenario import Scenario, apply_changes, field_value, is_int_field, parse_override

REFERENCE = "reference"


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """Parse one ``--grid`` axis: ``name=lo:hi:n`` (n evenly spaced values) or ``name=a,b,c``.

    Args:
        text: The option's value.

    Returns:
        The dotted field and its values.

    Raises:
        OptionError: the text is malformed or names an unknown field.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not raw.strip():
        raise OptionError(
            "--grid",
            text,
            "expected field=lo:hi:n or field=v1,v2,..., e.g. "
            "enforcement.prosecution_rate=0.1:1.0:10",
        )
    check_field("--grid", name)
    if raw.count(":") == 2:
        parts = raw.split(":")
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise OptionError(
                "--grid", name, f"'{raw}' is not lo:hi:n with numbers lo, hi and a count n"
            ) from None
        if n < 1 or n > 1000:
            raise OptionError("--grid", name, f"count {n} must be between 1 and 1000")
        values = [float(f"{v:.10g}") for v in np.linspace(lo, hi, n)]
        if is_int_field(name):
            values = sorted({round(v) for v in values})
        return name, values
    try:
        values = [parse_override(f"{name}={item}")[1] for item in raw.split(",") if item.strip()]
    except ScenarioError as exc:
        raise OptionError("--grid", exc.field, exc.detail) from None
    if not values:
        raise OptionError("--grid", name, "no values given")
    return name, values


def check_field(option: str, name: str) -> None:
    """Refuse an unknown field (with a suggestion) or a run setting, in the name of ``option``.

    Raises:
        OptionError: ``name`` is not a parameter that can vary.
    """
    try:
        parse_override(f"{name}=0")
    except ScenarioError as exc:
        raise OptionError(option, exc.field, exc.detail) from None
    if name in ("seed", "replications", "schedule", "name", "description", "label"):
        raise OptionError(option, name, "is a run setting, not a parameter that can vary")


def grid_points(base: Scenario, axes: list[tuple[str, list[Any]]]) -> list[tuple[str, dict]]:
    """The reference (the scenario unchanged) and every cell of the grid, validated.

    Args:
        base: The scenario swept.
        axes: ``parse_grid`` results.

    Returns:
        ``(label, changes)`` per point; point 0 is the reference.

    Raises:
        OptionError: a field appears twice.
        ScenarioError: a cell gives an invalid scenario.
    """
    names = [name for name, _ in axes]
    if len(set(names)) != len(names):
        raise OptionError("--grid", ", ".join(names), "each field may be swept once")
    points: list[tuple[str, dict]] = [(REFERENCE, {})]
    for values in itertools.product(*(v for _, v in axes)):
        changes = dict(zip(names, values, strict=True))
        label = ", ".join(f"{name.rsplit('.', 1)[-1]}={value}" for name, value in changes.items())
        apply_changes(base, changes, source=f"--grid ({label})")
        points.append((label, changes))
    return points


# -- running it --------------------------------------------------------------------------------
def run_sweep(
    base: Scenario,
    axes: list[tuple[str, list[Any]]],
    out: Path,
    options: ExecutionOptions,
    resume: bool = False,
    force: bool = False,
    on_done: Callable[[int, int], None] | None = None,
    ensemble: pd.DataFrame | None = None,
) -> BatchResult:
    """Run a grid sweep of ``base`` and write its tables to ``out``.

    With ``ensemble`` every point runs on every parameter set (the grid's values winning over
    the set's); ``sweep_over_sets`` writes the tables.

    Writes ``sweep.csv`` (one row per point: mean and 95% interval of each metric) and
    ``sweep_stats.csv`` (long form, with the median and 5%/95% quantiles).

    Args:
        base: The scenario (its ``replications`` and ``seed`` are used for every point).
        axes: ``parse_grid`` results.
        out: The results folder.
        options: How to execute the runs.
        resume: Finish an interrupted sweep in ``out``.
        force: Replace what ``out`` holds.
        on_done: Progress callback (runs finished, runs in all).
        ensemble: Parameter sets (``load_ensemble``) to run every point on [none].

    Returns:
        The sweep table, the run index and the folder.
    """
    definition: dict[str, Any] = {"grid": {name: values for name, values in axes}}
    if ensemble is None:
        points = grid_points(base, axes)
        outputs = sweep_outputs
    else:
        from sim.experiments.ensemble import set_layout

        layout = set_layout(base, ensemble, lambda s: grid_points(s, axes))
        points = layout.points
        definition["ensemble_sha256"] = layout.digest
        fields = [name for name, _ in axes]

        def outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame | None:
            return sweep_over_sets(batch, layout, fields)

    batch = Batch(out, "sweep", base, points, base.replications, definition, options.engine)
    return run_batch(batch, options, outputs, resume, force, on_done)


def sweep_over_sets(batch: Batch, layout: Any, fields: list[str]) -> pd.DataFrame | None:
    """Write the tables of a sweep over an ensemble; return ``sweep.csv``'s.

    ``sweep_sets.csv``: per set, point and metric, the mean over the replications and its
    standard error; ``sweep.csv``: per point and metric, the median over the sets, the range
    of 90% of them and the parameter share of the spread.
    """
    from sim.experiments.ensemble import metric_means, over_sets

    summaries = batch.replication_summaries()
    if summaries.empty:
        return None

    def means(part: pd.DataFrame, own: list, scenario: Any) -> pd.DataFrame:
        table = metric_means(part.sort_values("point", kind="stable"), ["point"])
        for name in fields:
            table.insert(table.columns.get_loc("metric"), name, [
                own[p][1].get(name, field_value(scenario, name)) for p in table.point
            ])  # fmt: skip
        table.insert(0, "label", [own[p][0] for p in table.point])
        return table.drop(columns="point")

    per_set = layout.per_set(summaries, means)
    write_table(batch.out / "sweep_sets.csv", per_set)
    table = over_sets(per_set, ["label", "metric"], "mean", se="se")
    # A swept field that is also a parameter of the ensemble takes each set's own value at the
    # reference point: the point's value is then the median over the sets.
    values = per_set.groupby("label", sort=False)[fields].median()
    table = table.join(values, on="label")
    table = table[["label", *fields, *[c for c in table.columns if c not in ("label", *fields)]]]
    write_table(batch.out / "sweep.csv", table)
    return table


def sweep_outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame | None:
    """Write ``sweep_stats.csv`` and ``sweep.csv`` from the finished runs; return the table."""
    stats = batch.point_statistics()
    if stats.empty:
        return None
    write_table(batch.out / "sweep_stats.csv", stats)
    table = wide_statistics(stats, batch.points_table())
    write_table(batch.out / "sweep.csv", table)
    return table


def swept_parameters(table: pd.DataFrame) -> list[str]:
    """The swept parameters of a ``sweep.csv`` table (dotted names), in grid order."""
    return [c for c in table.columns if "." in c and c not in ("label",)]
