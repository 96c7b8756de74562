"""Parameter sweeps and sensitivity analysis over a scenario (``deter-sim sweep``/``sensitivity``).

Both are batches of runs (``sim.batch``): a sweep's points are the cells of a grid, plus the
scenario itself as the reference (point 0); a sensitivity analysis's points are the samples of
SALib's Sobol or Morris design. Every point uses the same replication seeds (common random
numbers), so differences between points are not blurred by different draws.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import __version__
from sim.batch import Batch, wide_statistics
from sim.errors import ScenarioError
from sim.execution import executor
from sim.plots import plot_heatmap, plot_sensitivity, save_figure, sweep_parameters
from sim.runner import code_provenance
from sim.scenario import SECTIONS, Scenario, apply_changes, parse_override
from sim.store import write_json, write_table

REFERENCE = "reference"


def parse_grid(text: str) -> tuple[str, list[Any]]:
    """Parse one ``--grid`` axis: ``name=lo:hi:n`` (n evenly spaced values) or ``name=a,b,c``.

    Args:
        text: The option's value.

    Returns:
        The dotted field and its values.

    Raises:
        ScenarioError: the text is malformed or names an unknown field.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not raw.strip():
        raise ScenarioError(
            "--grid",
            text,
            "expected field=lo:hi:n or field=v1,v2,..., e.g. "
            "enforcement.prosecution_rate=0.1:1.0:10",
        )
    _check_field("--grid", name)
    if raw.count(":") == 2:
        parts = raw.split(":")
        try:
            lo, hi, n = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ScenarioError(
                "--grid", name, f"'{raw}' is not lo:hi:n with numbers lo, hi and a count n"
            ) from None
        if n < 1 or n > 1000:
            raise ScenarioError("--grid", name, f"count {n} must be between 1 and 1000")
        values = [float(f"{v:.10g}") for v in np.linspace(lo, hi, n)]
        if _is_int_field(name):
            values = sorted({round(v) for v in values})
        return name, values
    try:
        values = [parse_override(f"{name}={item}")[1] for item in raw.split(",") if item.strip()]
    except ScenarioError as exc:
        raise ScenarioError("--grid", exc.field, exc.detail) from None
    if not values:
        raise ScenarioError("--grid", name, "no values given")
    return name, values


def _check_field(option: str, name: str) -> None:
    """Refuse an unknown field, with a suggestion, in the name of ``option``."""
    try:
        parse_override(f"{name}=0")
    except ScenarioError as exc:
        raise ScenarioError(option, exc.field, exc.detail) from None
    if name in ("seed", "replications", "schedule", "name", "description"):
        raise ScenarioError(option, name, "is a run setting, not a parameter that can vary")


def _is_int_field(name: str) -> bool:
    section, _, field = name.rpartition(".")
    model = SECTIONS[section] if section else Scenario
    annotation = model.model_fields[field].annotation
    return annotation is int


def grid_points(base: Scenario, axes: list[tuple[str, list[Any]]]) -> list[tuple[str, dict]]:
    """The reference (the scenario unchanged) and every cell of the grid, validated.

    Args:
        base: The scenario swept.
        axes: ``parse_grid`` results.

    Returns:
        ``(label, changes)`` per point; point 0 is the reference.

    Raises:
        ScenarioError: a field appears twice, or a cell gives an invalid scenario.
    """
    names = [name for name, _ in axes]
    if len(set(names)) != len(names):
        raise ScenarioError("--grid", ", ".join(names), "each field may be swept once")
    points: list[tuple[str, dict]] = [(REFERENCE, {})]
    for values in itertools.product(*(v for _, v in axes)):
        changes = dict(zip(names, values, strict=True))
        label = ", ".join(f"{name.rsplit('.', 1)[-1]}={value}" for name, value in changes.items())
        apply_changes(base, changes, source=f"--grid ({label})")
        points.append((label, changes))
    return points


# -- sensitivity ---------------------------------------------------------------------------------
METHODS = ("sobol", "morris")


def parse_param(text: str) -> tuple[str, float, float]:
    """Parse one ``--param name=lo:hi`` of a sensitivity analysis.

    Raises:
        ScenarioError: malformed, unknown field, or ``lo >= hi``.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    parts = raw.split(":")
    if not sep or len(parts) != 2:
        raise ScenarioError(
            "--param", text, "expected field=lo:hi, e.g. platform.detection_rate=0.1:0.3"
        )
    _check_field("--param", name)
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ScenarioError("--param", name, f"'{raw}' is not lo:hi with two numbers") from None
    if not lo < hi:
        raise ScenarioError("--param", name, f"lower bound {lo} must be below upper bound {hi}")
    return name, lo, hi


def design(
    params: list[tuple[str, float, float]], method: str, samples: int, seed: int
) -> tuple[dict[str, Any], np.ndarray]:
    """The SALib problem and its sample matrix (one row per model evaluation).

    Sobol (Saltelli's scheme, first and total order): ``samples * (D + 2)`` rows, ``samples`` a
    power of two. Morris: ``samples`` trajectories of ``D + 1`` rows on 4 levels.
    """
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    problem = {
        "num_vars": len(params),
        "names": [name for name, _, _ in params],
        "bounds": [[lo, hi] for _, lo, hi in params],
    }
    if method == "sobol":
        if samples < 2 or samples & (samples - 1):
            raise ScenarioError("--samples", str(samples), "Sobol needs a power of two (e.g. 64)")
        matrix = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    elif method == "morris":
        matrix = morris_sample.sample(problem, samples, num_levels=4, seed=seed)
    else:
        raise ScenarioError("--method", method, f"allowed: {', '.join(METHODS)}")
    return problem, matrix


def sample_points(base: Scenario, problem: dict[str, Any], matrix: np.ndarray) -> list[tuple]:
    """One point per row of the design; integer fields are rounded. Validated."""
    points = []
    for row, values in enumerate(matrix):
        changes = {}
        for name, value in zip(problem["names"], values, strict=True):
            changes[name] = round(float(value)) if _is_int_field(name) else float(value)
        label = f"sample {row}"
        apply_changes(base, changes, source=f"--param ({label})")
        points.append((label, changes))
    return points


def analyse(
    method: str,
    problem: dict[str, Any],
    matrix: np.ndarray,
    outputs: pd.DataFrame,
    seed: int,
) -> pd.DataFrame:
    """Sensitivity indices with 95% confidence intervals, one row per metric, parameter, index.

    Args:
        method: ``sobol`` or ``morris``.
        problem: The SALib problem.
        matrix: The design.
        outputs: One row per design row (in order), one column per metric: the mean over
            replications of the metric's post-burn-in yearly value.
        seed: Seed of the bootstrap of the confidence intervals.

    Returns:
        ``metric, parameter, index, value, conf, ci_low, ci_high``.
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    rows = []
    for metric in outputs.columns:
        y = outputs[metric].to_numpy(dtype=float)
        if method == "sobol":
            result = sobol_analyze.analyze(
                problem, y, calc_second_order=False, conf_level=0.95, seed=seed
            )
            indices = (("S1", "S1_conf"), ("ST", "ST_conf"))
        else:
            result = morris_analyze.analyze(
                problem, matrix, y, conf_level=0.95, num_levels=4, seed=seed
            )
            indices = (("mu_star", "mu_star_conf"), ("sigma", None))
        for k, name in enumerate(problem["names"]):
            for index, conf_key in indices:
                value = float(result[index][k])
                conf = float(result[conf_key][k]) if conf_key else math.nan
                rows.append(
                    {
                        "metric": metric,
                        "parameter": name,
                        "index": index,
                        "value": value,
                        "conf": conf,
                        "ci_low": value - conf,
                        "ci_high": value + conf,
                    }
                )
    return pd.DataFrame(rows)


# -- running them --------------------------------------------------------------------------------
def run_sweep(
    base: Scenario,
    axes: list[tuple[str, list[Any]]],
    out: Path,
    pool_options: dict[str, Any],
    resume: bool = False,
    force: bool = False,
    engine: str = "vector",
    on_done: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run a grid sweep of ``base`` and write its tables and heat map to ``out``.

    Args:
        base: The scenario (its ``replications`` and ``seed`` are used for every point).
        axes: ``parse_grid`` results.
        out: The results folder.
        pool_options: ``backend``, ``workers``, ``address`` for ``sim.execution.executor``.
        resume: Finish an interrupted sweep in ``out``.
        force: Replace what ``out`` holds.
        engine: ``vector`` or ``agents``.
        on_done: Progress callback (runs finished, runs in all).

    Returns:
        The sweep table, the run index and the folder.
    """
    points = grid_points(base, axes)
    definition = {"grid": {name: values for name, values in axes}}
    batch = Batch(out, "sweep", base, points, base.replications, definition, engine)
    return _finish(batch, pool_options, resume, force, on_done, _sweep_outputs)


def run_sensitivity(
    base: Scenario,
    params: list[tuple[str, float, float]],
    method: str,
    samples: int,
    metrics: list[str],
    out: Path,
    pool_options: dict[str, Any],
    resume: bool = False,
    force: bool = False,
    engine: str = "vector",
    on_done: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Run a Sobol or Morris sensitivity analysis of ``metrics`` over ``params``.

    Each design row is one point, run ``base.replications`` times on common seeds; the output
    of a point is the mean over its replications of each metric's post-burn-in yearly value.

    Returns:
        The index table (``sensitivity.csv``), the run index and the folder.
    """
    problem, matrix = design(params, method, samples, base.seed)
    points = sample_points(base, problem, matrix)
    definition = {
        "method": method,
        "samples": samples,
        "params": [list(p) for p in params],
        "metrics": metrics,
    }
    batch = Batch(out, "sensitivity", base, points, base.replications, definition, engine)

    def outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame:
        if index.status.ne("ok").any():
            return None  # the design is incomplete: no indices until the runs are redone
        stats = batch.point_statistics()
        means = stats.pivot(index="point", columns="metric", values="mean")[metrics]
        table = analyse(method, problem, matrix, means.sort_index(), base.seed)
        write_table(batch.out / "sensitivity.csv", table)
        figure_path = batch.out / "sensitivity.png"
        nrows = len(metrics)
        figure, axes_ = plt_subplots(nrows, len(params))
        for ax, metric in zip(axes_, metrics, strict=True):
            plot_sensitivity(table, metric, ax=ax)
        save_figure(figure, figure_path, footer(batch, f"{method}, {samples} base samples"))
        return table

    return _finish(batch, pool_options, resume, force, on_done, outputs)


@dataclass
class SweepResult:
    """What a sweep or sensitivity analysis produced."""

    table: pd.DataFrame | None
    index: pd.DataFrame
    out: Path
    wall_seconds: float

    @property
    def failed(self) -> int:
        """Number of runs that failed."""
        return int(self.index.status.ne("ok").sum())


def _finish(batch, pool_options, resume, force, on_done, outputs) -> SweepResult:
    started = time.perf_counter()
    batch.prepare(resume=resume, force=force)
    with executor(**pool_options) as pool:
        index = batch.execute(pool, on_done)
    table = outputs(batch, index)
    wall = time.perf_counter() - started
    write_json(
        batch.out / "manifest.json",
        {
            "deter_sim_version": __version__,
            **code_provenance(),
            "kind": batch.kind,
            "scenario": batch.base.name,
            "root_seed": batch.base.seed,
            "replication_seeds": batch.seeds,
            "points": len(batch.points),
            "runs": len(index),
            "runs_failed": int(index.status.ne("ok").sum()),
            "runs_resumed": int(index.resumed.sum()),
            "engine": batch.engine,
            "backend": str(pool_options.get("backend")),
            "workers": pool_options.get("workers"),
            "wall_time_seconds": round(wall, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return SweepResult(table, index, batch.out, wall)


def _sweep_outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame | None:
    stats = batch.point_statistics()
    if stats.empty:
        return None
    write_table(batch.out / "sweep_stats.csv", stats)
    table = wide_statistics(stats, batch.points_table())
    write_table(batch.out / "sweep.csv", table)
    if 1 <= len(sweep_parameters(table)) <= 2 and index.status.eq("ok").all():
        figure, ax = plt_subplots(1, 1)
        plot_heatmap(table, "active_sellers", ax=ax[0])
        save_figure(figure, batch.out / "heatmap.png", footer(batch, "sweep"))
    return table


def footer(batch: Batch, what: str) -> str:
    """Provenance line of a batch's figures."""
    return (
        f"deter-sim {__version__} | {what} of scenario {batch.base.name} | "
        f"{batch.replications} replication(s) per point, root seed {batch.base.seed} | "
        f"{len(batch.points)} points"
    )


def plt_subplots(rows: int, params: int):
    """A figure with ``rows`` stacked axes sized for slides."""
    import matplotlib.pyplot as plt

    height = 5.5 if params <= 2 else 1.5 + 0.6 * params
    figure, axes = plt.subplots(rows, 1, figsize=(8, height * rows), layout="constrained")
    return figure, np.atleast_1d(axes)
