"""Global sensitivity analysis of a scenario with SALib (``deter-sim sensitivity``).

A sensitivity analysis is a batch of runs (``sim.experiments.batch``) whose points are the
samples of SALib's Sobol (Saltelli's scheme) or Morris design; every point uses the same
replication seeds (common random numbers). The bars are drawn by ``sim.reporting.figures``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import OptionError
from sim.experiments.batch import Batch, BatchResult, run_batch
from sim.experiments.execution import ExecutionOptions
from sim.experiments.store import write_table
from sim.experiments.sweep import check_field
from sim.model.metrics import check_metrics
from sim.scenario import Scenario, apply_changes, is_int_field

METHODS = ("sobol", "morris")


def parse_param(text: str) -> tuple[str, float, float]:
    """Parse one ``--param name=lo:hi`` of a sensitivity analysis.

    Raises:
        OptionError: malformed, unknown field, or ``lo >= hi``.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    parts = raw.split(":")
    if not sep or len(parts) != 2:
        raise OptionError(
            "--param", text, "expected field=lo:hi, e.g. platform.detection_rate=0.1:0.3"
        )
    check_field("--param", name)
    try:
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise OptionError("--param", name, f"'{raw}' is not lo:hi with two numbers") from None
    if not lo < hi:
        raise OptionError("--param", name, f"lower bound {lo} must be below upper bound {hi}")
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
            raise OptionError("--samples", str(samples), "Sobol needs a power of two (e.g. 64)")
        matrix = sobol_sample.sample(problem, samples, calc_second_order=False, seed=seed)
    elif method == "morris":
        matrix = morris_sample.sample(problem, samples, num_levels=4, seed=seed)
    else:
        raise OptionError("--method", method, f"allowed: {', '.join(METHODS)}")
    return problem, matrix


def sample_points(base: Scenario, problem: dict[str, Any], matrix: np.ndarray) -> list[tuple]:
    """One point per row of the design; integer fields are rounded. Validated."""
    points = []
    for row, values in enumerate(matrix):
        changes = {}
        for name, value in zip(problem["names"], values, strict=True):
            changes[name] = round(float(value)) if is_int_field(name) else float(value)
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


# Smallest designs whose indices mean something (Saltelli et al. 2010 use N of 500 to 1,000 for
# Sobol; Morris designs of 10 or more trajectories), and the widest 95% interval of a share of
# the variance that can still be read.
MIN_SOBOL_SAMPLES = 512
MIN_MORRIS_TRAJECTORIES = 10
MAX_SHARE_HALF_WIDTH = 0.1


def sample_warnings(method: str, samples: int, table: pd.DataFrame) -> list[str]:
    """What makes the indices of a sensitivity analysis hard to read: a small design, wide CIs."""
    warnings = []
    if method == "sobol" and samples < MIN_SOBOL_SAMPLES:
        warnings.append(
            f"Sobol indices from {samples} base samples are rough; {MIN_SOBOL_SAMPLES} or more "
            "(--samples) are advised"
        )
    if method == "morris" and samples < MIN_MORRIS_TRAJECTORIES:
        warnings.append(
            f"Morris indices from {samples} trajectories are rough; {MIN_MORRIS_TRAJECTORIES} or "
            "more (--samples) are advised"
        )
    if method == "sobol" and len(table):
        shares = table[table["index"].isin(["S1", "ST"])]
        widest = float(shares.conf.max()) if len(shares) else 0.0
        if widest > MAX_SHARE_HALF_WIDTH:
            warnings.append(
                f"an index's 95% interval reaches +-{widest:.2g} of the variance (more than "
                f"+-{MAX_SHARE_HALF_WIDTH:g}): those indices cannot be told apart; raise --samples"
            )
    return warnings


def run_sensitivity(
    base: Scenario,
    params: list[tuple[str, float, float]],
    method: str,
    samples: int,
    metrics: list[str],
    out: Path,
    options: ExecutionOptions,
    resume: bool = False,
    force: bool = False,
    on_done: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Run a Sobol or Morris sensitivity analysis of ``metrics`` over ``params``.

    Each design row is one point, run ``base.replications`` times on common seeds; the output
    of a point is the mean over its replications of each metric's post-burn-in yearly value.

    Returns:
        The index table (``sensitivity.csv``), the run index and the folder.

    Raises:
        OptionError: a metric is unknown, or the design cannot be made.
    """
    check_metrics(metrics)
    problem, matrix = design(params, method, samples, base.seed)
    points = sample_points(base, problem, matrix)
    definition = {
        "method": method,
        "samples": samples,
        "params": [list(p) for p in params],
        "metrics": metrics,
    }
    batch = Batch(out, "sensitivity", base, points, base.replications, definition, options.engine)

    def outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame:
        if index.status.ne("ok").any():
            return None  # the design is incomplete: no indices until the runs are redone
        stats = batch.point_statistics()
        means = stats.pivot(index="point", columns="metric", values="mean")[metrics]
        table = analyse(method, problem, matrix, means.sort_index(), base.seed)
        write_table(batch.out / "sensitivity.csv", table)
        return table

    return run_batch(batch, options, outputs, resume, force, on_done)
