"""Which lever deters more, and how that depends on perception (``deter-sim lever-map``).

At every cell of a grid of pass-through parameters (how perceptions form: law awareness,
threshold awareness, the weights of own experience, contacts and publicity), the arc
elasticities of the metrics to each lever (by default the prosecution rate, the conviction
rate and the maximum sentence), all on common seeds. The table says where certainty beats
severity and where the scenario's own setting sits; the map is drawn by
``sim.reporting.figures``. The runs are one batch (``sim.experiments.batch``), so a stopped
map resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import OptionError
from sim.experiments.batch import Batch, BatchResult, run_batch
from sim.experiments.elasticity import LEVER_KIND, elasticity_points, elasticity_table
from sim.experiments.execution import ExecutionOptions
from sim.experiments.store import write_table
from sim.experiments.sweep import grid_points
from sim.model.metrics import check_metrics
from sim.scenario import Scenario, apply_changes, field_value

LEVERS: tuple[str, ...] = (
    "enforcement.prosecution_rate",
    "enforcement.conviction_rate",
    "enforcement.max_sentence_years",
)
OUTPUT_FILE = "lever_map.csv"


def map_points(
    base: Scenario, axes: list[tuple[str, list[Any]]], levers: list[str], step: float
) -> tuple[list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """The batch's points: for every cell, the reference and each lever lowered and raised.

    Returns:
        The points (label, changes) and, per cell, its values of the axes.

    Raises:
        OptionError: no axis, an axis of a lever, or a lever that cannot move.
    """
    if not axes:
        raise OptionError("--grid", "", "give at least one pass-through parameter to map")
    for name, _ in axes:
        if name in levers:
            raise OptionError("--grid", name, "is a lever; map over how perceptions form")
    points: list[tuple[str, dict[str, Any]]] = []
    cells = []
    for label, changes in grid_points(base, axes)[1:]:  # the cells, without the reference
        cell = apply_changes(base, changes, source=f"--grid ({label})")
        for point_label, lever_changes in elasticity_points(cell, levers, step):
            points.append((f"{label} | {point_label}", {**changes, **lever_changes}))
        cells.append(changes)
    return points, cells


def lever_table(
    summary: pd.DataFrame,
    points: list[tuple[str, dict[str, Any]]],
    cells: list[dict[str, Any]],
    base: Scenario,
    levers: list[str],
    metrics: list[str],
) -> pd.DataFrame:
    """Per cell, lever and metric: the elasticity and its interval, with the cell's values.

    Args:
        summary: Per point and replication the post-burn-in yearly values.
        points: ``map_points`` output.
        cells: ``map_points`` output.
        base: The scenario.
        levers: The levers.
        metrics: The metrics.

    Returns:
        ``cell``, the axes' fields, ``parameter, kind, metric, elasticity, ci_low, ci_high,
        n`` and ``at_scenario`` (whether the cell holds the scenario's own values).
    """
    per_cell = 1 + 2 * len(levers)
    parts = []
    for c, changes in enumerate(cells):
        first = c * per_cell
        rows = summary[(summary.point >= first) & (summary.point < first + per_cell)]
        local = rows.assign(point=rows.point - first)
        cell = apply_changes(base, changes, source="lever map")
        cell_points = [("reference", {})] + [
            (label.split(" | ", 1)[1], {k: v for k, v in ch.items() if k not in changes})
            for label, ch in points[first + 1 : first + per_cell]
        ]
        table = elasticity_table(local, cell_points, cell, metrics)
        table = table[["parameter", "kind", "metric", "elasticity", "ci_low", "ci_high", "n"]]
        at_scenario = all(field_value(base, k) == v for k, v in changes.items())
        table.insert(0, "cell", c)
        for k, (name, value) in enumerate(changes.items()):
            table.insert(1 + k, name, value)
        parts.append(table.assign(at_scenario=at_scenario))
    return pd.concat(parts, ignore_index=True)


def ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell and metric: the strongest certainty and severity levers, and which deters more.

    A lever deters more when its elasticity is more negative.
    """
    kinds = table.assign(kind=table.parameter.map(LEVER_KIND).fillna(table.kind))
    keys = [c for c in table.columns if c == "cell" or "." in c] + ["metric", "at_scenario"]
    rows = []
    for key, group in kinds.groupby(keys, sort=False):
        row = dict(zip(keys, key, strict=True))
        for kind in ("certainty", "severity"):
            part = group[group.kind == kind]
            best = part.loc[part.elasticity.idxmin()] if len(part) else None
            row[f"{kind}_lever"] = best.parameter if best is not None else ""
            row[f"{kind}_elasticity"] = float(best.elasticity) if best is not None else 0.0
        row["stronger"] = (
            "certainty" if row["certainty_elasticity"] < row["severity_elasticity"] else "severity"
        )
        rows.append(row)
    return pd.DataFrame(rows)


def run_lever_map(
    base: Scenario,
    axes: list[tuple[str, list[Any]]],
    levers: list[str],
    step: float,
    metrics: list[str],
    out: Path,
    options: ExecutionOptions,
    resume: bool = False,
    force: bool = False,
    on_done: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Run the map and write ``lever_map.csv`` (and ``lever_ranking.csv``).

    Raises:
        OptionError: a metric, an axis or a lever cannot be used.
    """
    check_metrics(metrics)
    points, cells = map_points(base, axes, levers, step)
    definition = {
        "lever_map": {
            "grid": {name: values for name, values in axes},
            "levers": levers,
            "step": step,
            "metrics": metrics,
        }
    }
    batch = Batch(out, "lever_map", base, points, base.replications, definition, options.engine)

    def outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame | None:
        if index.status.ne("ok").any():
            return None  # a cell would miss its pairs
        summaries = batch.replication_summaries()
        table = lever_table(summaries, points, cells, base, levers, metrics)
        write_table(batch.out / OUTPUT_FILE, table)
        write_table(batch.out / "lever_ranking.csv", ranking(table))
        return table

    return run_batch(batch, options, outputs, resume, force, on_done)
