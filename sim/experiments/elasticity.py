"""Elasticities of metrics to policy levers, beside the literature (``deter-sim elasticity``).

Arc elasticities from runs at each lever lowered and raised by a step, on the same seeds as
the scenario, with t-intervals over replications. The runs are a batch
(``sim.experiments.batch``); the figure is drawn by ``sim.reporting.figures``. The model
reaches its answers through its mechanisms; nothing here adjusts them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from sim.errors import OptionError
from sim.experiments.batch import Batch, BatchResult, run_batch
from sim.experiments.execution import ExecutionOptions
from sim.experiments.store import write_table
from sim.model.metrics import check_metrics
from sim.scenario import SECTIONS, Scenario, field_value, is_int_field

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


def upper_bound(name: str) -> float:
    """The largest value the schema allows for a dotted field (``inf`` when unbounded)."""
    section, _, field = name.rpartition(".")
    info = SECTIONS[section].model_fields[field]
    bound = math.inf
    for meta in info.metadata:
        for attr in ("le", "lt"):
            value = getattr(meta, attr, None)
            if value is not None:
                bound = min(bound, float(value))
    return bound


def elasticity_points(
    base: Scenario, params: list[str], step: float
) -> list[tuple[str, dict[str, Any]]]:
    """The reference point, then each parameter lowered and raised by ``step`` (a share).

    A raised value is capped at the field's upper bound (a probability at 1); the arc formula
    uses the values actually run.

    Raises:
        OptionError: a parameter is not a numeric field, is 0 at the scenario (no relative
            change exists), or cannot move.
    """
    if not 0 < step < 1:
        raise OptionError("--step", "", f"value {step} is invalid; allowed: 0 < step < 1")
    points: list[tuple[str, dict[str, Any]]] = [("reference", {})]
    for name in params:
        if "." not in name:
            raise OptionError(
                "--param",
                name,
                "is not a model parameter (section.field, e.g. enforcement.prosecution_rate)",
            )
        try:
            value = field_value(base, name)
        except (AttributeError, KeyError, ValueError):
            raise OptionError("--param", name, "unknown field") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OptionError("--param", name, "is not a numeric field")
        if value <= 0:
            raise OptionError(
                "--param", name, f"is {value} in the scenario; an elasticity needs a value above 0"
            )
        low, high = value * (1 - step), min(value * (1 + step), upper_bound(name))
        if is_int_field(name):
            low, high = math.floor(low), math.ceil(high)
        if not high > value > low:
            raise OptionError(
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
        mean_low, mean_high, elasticity, se, ci_low, ci_high, n, literature_low,
        literature_high, against_literature``.
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
            se = e.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
            half = stats.t.ppf(0.5 + confidence / 2, n - 1) * se if n > 1 else math.nan
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
                    "se": float(se),
                    "ci_low": low_ci,
                    "ci_high": high_ci,
                    "n": n,
                    "literature_low": lit[0] if lit else math.nan,
                    "literature_high": lit[1] if lit else math.nan,
                    "against_literature": against_literature(low_ci, high_ci, lit),
                }
            )
    return pd.DataFrame(rows)


def against_literature(low: float, high: float, lit: tuple[float, float, str] | None) -> str:
    """How an interval ``[low, high]`` sits against a literature range."""
    if lit is None or math.isnan(low):
        return ""
    lit_low, lit_high = lit[0], lit[1]
    if high < lit_low:
        return "stronger"
    if low > lit_high:
        return "opposite sign" if low > 0 else "weaker"
    return "overlaps"


def elasticities_over_sets(per_set: pd.DataFrame) -> pd.DataFrame:
    """The elasticities of every set (``elasticity_table`` rows with ``set_id``) summarised.

    The columns of ``elasticity_table``, where ``elasticity`` is the median over the sets and
    ``ci_low``/``ci_high`` the range of 90% of them (``interval`` says so); ``value``,
    ``low`` and ``high`` are the medians of the sets' own lever values; ``n`` is the number of
    sets; ``share_parameter`` the share of the spread over the sets that their Monte Carlo
    noise does not explain, and ``share_in_literature`` the share of sets whose elasticity
    lies in the literature's range.
    """
    from sim.experiments.ensemble import over_sets

    keys = ["parameter", "kind", "metric"]
    spread = over_sets(per_set, keys, "elasticity", se="se").set_index(keys)
    rows = []
    for key, group in per_set.groupby(keys, sort=False):
        lit = LITERATURE.get(key[1])
        middle = group[["value", "low", "high", "mean_low", "mean_high"]].median()
        s = spread.loc[key]
        inside = float(group.elasticity.between(lit[0], lit[1]).mean()) if lit else math.nan
        rows.append(
            dict(zip(keys, key, strict=True))
            | middle.to_dict()
            | {
                "elasticity": s.elasticity,
                "se": math.nan,
                "ci_low": s.elasticity_low,
                "ci_high": s.elasticity_high,
                "n": int(s.sets),
                "literature_low": lit[0] if lit else math.nan,
                "literature_high": lit[1] if lit else math.nan,
                "against_literature": against_literature(s.elasticity_low, s.elasticity_high, lit),
                "interval": "90% of sets",
                "share_parameter": s.share_parameter,
                "share_in_literature": inside,
            }
        )
    return pd.DataFrame(rows)


def run_elasticities(
    base: Scenario,
    params: list[str],
    step: float,
    metrics: list[str],
    out: Path,
    options: ExecutionOptions,
    resume: bool = False,
    force: bool = False,
    on_done: Callable[[int, int], None] | None = None,
    ensemble: pd.DataFrame | None = None,
) -> BatchResult:
    """Run the elasticity design and write ``elasticities.csv``.

    With ``ensemble`` the design runs on every parameter set (each lever moved around the
    set's own value); ``elasticities_sets.csv`` holds each set's elasticities and
    ``elasticities.csv`` their median and range over the sets (``elasticities_over_sets``).

    Raises:
        OptionError: a metric or a lever cannot be used.
    """
    check_metrics(metrics)
    definition: dict[str, Any] = {
        "elasticity": {"params": params, "step": step, "metrics": metrics}
    }
    layout = None
    if ensemble is None:
        points = elasticity_points(base, params, step)
    else:
        from sim.experiments.ensemble import set_layout

        layout = set_layout(base, ensemble, lambda s: elasticity_points(s, params, step))
        points = layout.points
        definition["ensemble_sha256"] = layout.digest
    batch = Batch(out, "elasticity", base, points, base.replications, definition, options.engine)

    def outputs(batch: Batch, index: pd.DataFrame) -> pd.DataFrame | None:
        summaries = batch.replication_summaries()
        if summaries.empty:
            return None
        if layout is None:
            table = elasticity_table(summaries, points, base, metrics)
        else:
            per_set = layout.per_set(
                summaries, lambda part, own, s: elasticity_table(part, own, s, metrics)
            )
            if per_set.empty:
                return None
            write_table(batch.out / "elasticities_sets.csv", per_set)
            table = elasticities_over_sets(per_set)
        write_table(batch.out / "elasticities.csv", table)
        return table

    return run_batch(batch, options, outputs, resume, force, on_done)
