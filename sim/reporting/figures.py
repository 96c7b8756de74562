"""The figure files of experiments: drawn from their results, saved beside their tables.

The experiments (``sim.experiments``) write tables only; the command line calls these
functions after them, and a notebook can too. Each returns the path written, or None when
the result cannot give the figure (runs failed, or a sweep of more than two parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from sim._version import __version__
from sim.experiments.batch import Batch, BatchResult
from sim.experiments.history import HistoryMatching
from sim.experiments.hysteresis import Hysteresis, hysteresis_path
from sim.experiments.intervention import Intervention
from sim.experiments.patterns import PatternSet
from sim.experiments.robust import Robust
from sim.experiments.sweep import swept_parameters
from sim.reporting.batch_plots import (
    plot_elasticities,
    plot_heatmap,
    plot_hysteresis,
    plot_intervention,
    plot_lever_map,
    plot_parameter_ranges,
    plot_robust,
    plot_sensitivity,
    plot_space_left,
)
from sim.reporting.canvas import save_figure, subplots
from sim.reporting.plots import plot_timeseries


def batch_footer(batch: Batch, what: str) -> str:
    """Provenance line of a batch's figures."""
    return (
        f"deter-sim {__version__} | {what} of scenario {batch.base.name} | "
        f"{batch.replications} replication(s) per point, root seed {batch.base.seed} | "
        f"{len(batch.points)} points"
    )


def sweep_figure(result: BatchResult, metric: str = "active_sellers") -> Path | None:
    """``heatmap.png`` of a sweep of one or two parameters whose runs all finished."""
    table = result.table
    if table is None or not result.complete or not 1 <= len(swept_parameters(table)) <= 2:
        return None
    figure, axes = subplots(1, 1)
    plot_heatmap(table, metric, ax=axes[0])
    return save_figure(figure, result.out / "heatmap.png", batch_footer(result.batch, "sweep"))


def sensitivity_figure(result: BatchResult) -> Path | None:
    """``sensitivity.png``: one panel of bars per metric analysed."""
    definition = result.batch.definition
    what = f"{definition['method']}, {definition['samples']} base samples"
    return _panels(result, definition, plot_sensitivity, "sensitivity.png", what)


def elasticity_figure(result: BatchResult) -> Path | None:
    """``elasticities.png``: one panel per metric, the literature's ranges shaded."""
    definition = result.batch.definition["elasticity"]
    what = f"arc elasticities, step {definition['step']:.0%}"
    return _panels(result, definition, plot_elasticities, "elasticities.png", what)


def _panels(
    result: BatchResult,
    definition: dict,
    plot: Callable,
    name: str,
    what: str,
    rows: int | None = None,
) -> Path | None:
    """One panel per metric of the batch's definition, drawn by ``plot(table, metric, ax)``."""
    if result.table is None:
        return None
    metrics = list(definition["metrics"])
    size = rows if rows is not None else len(definition["params"])
    figure, axes = subplots(len(metrics), size)
    for ax, metric in zip(axes, metrics, strict=True):
        plot(result.table, metric, ax=ax)
    return save_figure(figure, result.out / name, batch_footer(result.batch, what))


def lever_map_figure(result: BatchResult) -> Path | None:
    """``lever_map.png``: one panel per metric (``plot_lever_map``)."""
    definition = result.batch.definition["lever_map"]
    what = f"lever map, step {definition['step']:.0%}"
    figure = _panels(
        result, definition, plot_lever_map, "lever_map.png", what, rows=len(definition["grid"])
    )
    return figure


def intervention_figure(result: Intervention, metric: str = "active_sellers") -> Path:
    """``intervention.png``: the metric week by week with and without the policy."""
    figure, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    both = pd.concat([result.baseline.timeseries, result.treated.timeseries])
    plot_intervention(both, metric, result.at, result.until, ax=ax)
    baseline = result.baseline.scenario
    until = f" to {result.until}" if result.until else ""
    footer = (
        f"{result.policy} from week {result.at}{until} against {baseline.name} | "
        f"{baseline.replications} paired replication(s), root seed {baseline.seed}"
    )
    return save_figure(figure, result.out / "intervention.png", footer)


def hysteresis_figure(result: Hysteresis, metric: str = "active_sellers") -> Path:
    """``hysteresis.png``: levels up and down, and the metric week by week along the path."""
    figure, axes = plt.subplots(1, 2, figsize=(13, 5.5), layout="constrained")
    plot_hysteresis(result.table, result.field, metric, ax=axes[0])
    start, hold = result.start, result.hold
    plot_timeseries(result.results.timeseries, metric, start, ax=axes[1], warm_up=True)
    path = hysteresis_path(result.values)
    for i, value in enumerate(path):
        if i:
            axes[1].axvline(start + i * hold, color="0.6", linewidth=0.8)
        axes[1].text(
            start + (i + 0.5) * hold,
            0.02,
            f"{value:g}",
            transform=axes[1].get_xaxis_transform(),
            ha="center",
            fontsize=8,
            color="0.3",
        )
    short = result.field.rpartition(".")[2].replace("_", " ")
    noun = metric.replace("_cny", "").replace("_", " ").capitalize()
    axes[1].set_title(f"{noun} per week as {short} steps up and down")
    base = result.results.scenario
    footer = (
        f"{result.field} stepped {', '.join(f'{v:g}' for v in path)} (each {hold} weeks) in "
        f"{base.name.removesuffix('_hysteresis')} | {base.replications} replication(s), "
        f"root seed {base.seed}"
    )
    return save_figure(figure, result.out / "hysteresis.png", footer)


def history_matching_figure(result: HistoryMatching, patterns: PatternSet) -> Path:
    """``nroy.png``: the share of the space left after each wave, and where it lies."""
    figure, axes = plt.subplots(
        1,
        2,
        figsize=(14, 3.2 + 0.4 * len(patterns.parameters)),
        layout="constrained",
        width_ratios=(1, 2),
    )
    plot_space_left(result.waves, ax=axes[0])
    plot_parameter_ranges(result.space, result.ensemble, patterns.dimensions, ax=axes[1])
    footer = (
        f"history matching to '{patterns.name}' | {len(result.waves)} wave(s), "
        f"{len(result.ensemble)} parameter sets confirmed"
    )
    return save_figure(figure, result.out / "nroy.png", footer)


def robust_figure(result: Robust, path: Path) -> Path:
    """``robust.png``: each policy's effect and cost per CNY averted on every parameter set."""
    policies = result.ranking.shape[0]
    figure, axes = plt.subplots(
        1, 2, figsize=(12, 2.8 + 0.7 * policies), layout="constrained", sharey=False
    )
    plot_robust(result.sets, result.goal, axes)
    comparison = result.comparison
    footer = (
        f"deter-sim {__version__} | {', '.join(comparison.scenarios)} on "
        f"{len(comparison.ensemble)} parameter sets | {comparison.summary.replication.nunique()} "
        "paired replication(s) per set"
    )
    return save_figure(figure, path, footer)
