"""Robust ranking of policies over an ensemble, and where each fails (``deter-sim robust``).

Every policy runs on every parameter set of an ensemble (``sim.experiments.ensemble``), paired
with the baseline on common seeds within the set. For each set and policy:

- the **effect**: the change of the goal's metric, ``mean B / mean A - 1`` over the set's
  paired replications, and whether it meets the goal (``counterfeit_sales_cny=-50%``: a fall
  of at least 50%);
- the **cost-effectiveness**: the enforcement it adds per CNY of counterfeit sales it averts,
  ``(cost_B - cost_A) / (sales_A - sales_B)`` (yearly means); undefined where it averts less
  than ``MIN_AVERTED`` (1%) of the baseline's counterfeit sales.

Across the sets, each policy gets the median and the range of 90% of the sets of both, the
share of sets in which it meets the goal, and the share in which it is the best policy: by
effect (the most favourable change) and by value (the fewest CNY per CNY averted among the
policies that meet the goal in that set: the cheapest way to the goal; a ratio over a change
within noise means nothing). The ranks order the policies by their medians.

**Scenario discovery.** Where a policy meets the goal in some sets and fails it in others,
PRIM (Friedman & Fisher 1999; EMA Workbench's implementation, the ``ema`` extra) finds the box
of parameter values in which it fails: from the peeling trajectory, the box with the largest
coverage (share of the failing sets inside it) among those with a density (share of the sets
inside it that fail) of at least ``DENSITY``, or the densest box if none reaches it. Its
restrictions that are not significant (quasi-p-value above ``QP_LIMIT``, Bryant & Lempert 2010)
are then dropped one at a time, the least significant first.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import OptionError
from sim.experiments.ema import prim_box
from sim.experiments.ensemble import (
    HIGH_Q,
    LOW_Q,
    SET_COLUMN,
    EnsembleComparison,
    compare_on_ensemble,
    parameter_columns,
)
from sim.experiments.store import write_table
from sim.model.metrics import METRIC_NAMES

COST = "enforcement_cost_cny"
SALES = "counterfeit_sales_cny"
# Sales averted below this share of the baseline's are not priced: a ratio over a change
# within the noise of the paired runs means nothing (assumption).
MIN_AVERTED = 0.01
DENSITY = 0.9  # the density a failure box must reach to be preferred for its coverage
QP_LIMIT = 0.05  # the quasi-p-value above which a restriction of a failure box is dropped
LIMIT_COLUMNS = ["parameter", "lower", "upper", "low_end", "high_end"]  # of a failure box
NO_PRIM = "EMA Workbench's PRIM: pip install 'deter-sim[ema]'"
GOAL_SYNTAX = re.compile(r"^\s*([a-z_]+)\s*=\s*([+-]?\d+(?:\.\d+)?)\s*%\s*$")


@dataclass(frozen=True)
class Goal:
    """What a policy must achieve: a relative change of a metric, such as a fall of 50%."""

    metric: str
    change: float  # relative: -0.5 for a fall of at least 50%, 0.1 for a rise of at least 10%

    def met(self, change: float) -> bool:
        """Whether a relative change meets the goal (an undefined change does not)."""
        if not math.isfinite(change):
            return False
        return change <= self.change if self.change < 0 else change >= self.change

    def words(self) -> str:
        """The goal in words: 'cut counterfeit sales by at least 50%'."""
        verb = "cut" if self.change < 0 else "raise"
        words = self.metric.removesuffix("_cny").replace("_", " ")
        return f"{verb} {words} by at least {abs(self.change):.0%}"


def parse_goal(text: str, option: str = "--goal") -> Goal:
    """``metric=-50%`` as a ``Goal``.

    Raises:
        OptionError: not of the form ``metric=+-N%``, an unknown metric, or a change of 0 or a
            fall of 100% or more.
    """
    found = GOAL_SYNTAX.match(text)
    if not found:
        raise OptionError(
            option,
            text,
            "write the metric and the change it must reach, e.g. counterfeit_sales_cny=-50%",
        )
    metric, percent = found.group(1), float(found.group(2))
    if metric not in METRIC_NAMES:
        raise OptionError(
            option, text, f"unknown metric '{metric}'; allowed: {', '.join(METRIC_NAMES)}"
        )
    if percent == 0 or percent <= -100:
        raise OptionError(option, text, "the change must be a fall above -100% or a rise (not 0%)")
    return Goal(metric, percent / 100)


def per_set(summary: pd.DataFrame, baseline: str, goal: Goal) -> pd.DataFrame:
    """Per policy and set: the effect, whether it meets the goal, the cost per CNY averted.

    Args:
        summary: The ensemble's per-replication summaries (``scenario``, ``set_id``,
            ``replication`` and the metrics), as ``EnsembleComparison.summary``.
        baseline: The baseline scenario's name.
        goal: The goal.

    Returns:
        One row per (policy, set) in the order of the summary: ``scenario, set_id, change,
        meets_goal, cost_added_cny, sales_averted_cny, cny_per_cny_averted, best_effect,
        best_value``.
    """
    means = summary.groupby(["scenario", SET_COLUMN], sort=False)[
        list(dict.fromkeys([goal.metric, COST, SALES]))
    ].mean()
    base = means.loc[baseline]
    rows = []
    for scenario in summary.scenario.drop_duplicates():
        if scenario == baseline:
            continue
        own = means.loc[scenario].reindex(base.index)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = own[goal.metric] / base[goal.metric] - 1
        added = own[COST] - base[COST]
        averted = base[SALES] - own[SALES]
        value = (added / averted).where(averted >= MIN_AVERTED * base[SALES])
        rows.append(
            pd.DataFrame(
                {
                    "scenario": scenario,
                    SET_COLUMN: base.index,
                    "change": change.replace([np.inf, -np.inf], np.nan).to_numpy(),
                    "cost_added_cny": added.to_numpy(),
                    "sales_averted_cny": averted.to_numpy(),
                    "cny_per_cny_averted": value.to_numpy(),
                }
            )
        )
    table = pd.concat(rows, ignore_index=True)
    table.insert(3, "meets_goal", [goal.met(c) for c in table.change])
    sign = -1.0 if goal.change < 0 else 1.0
    favour = (sign * table.change).fillna(-np.inf)
    table["best_effect"] = favour.eq(favour.groupby(table[SET_COLUMN]).transform("max"))
    # The best value: the cheapest way to the goal, among the policies that reach it.
    value = table.cny_per_cny_averted.where(table.meets_goal).fillna(np.inf)
    lowest = value.groupby(table[SET_COLUMN]).transform("min")
    table["best_value"] = value.eq(lowest) & np.isfinite(value)
    return table


def quantile(series: pd.Series, q: float) -> float:
    """The ``q`` quantile of ``series``, NaN when it is empty."""
    return float(series.quantile(q)) if len(series) else math.nan


def ranking(sets: pd.DataFrame, goal: Goal) -> pd.DataFrame:
    """Per policy over the ensemble: effect, goal met, value, and how often it is best.

    Returns:
        One row per policy, best by median effect first: ``scenario, sets, change_pct,
        change_pct_low, change_pct_high, share_meets_goal, cny_per_cny_averted (median over
        the sets where it averts sales), cny_per_cny_low, cny_per_cny_high, share_averting,
        share_best_effect, share_best_value, rank_effect, rank_value``.
    """
    rows = []
    for scenario, group in sets.groupby("scenario", sort=False):
        change = group.change.dropna()
        value = group.cny_per_cny_averted.dropna()
        rows.append(
            {
                "scenario": scenario,
                "goal": goal.words(),
                "sets": len(group),
                "change_pct": 100 * quantile(change, 0.5),
                "change_pct_low": 100 * quantile(change, LOW_Q),
                "change_pct_high": 100 * quantile(change, HIGH_Q),
                "share_meets_goal": float(group.meets_goal.mean()),
                "cny_per_cny_averted": quantile(value, 0.5),
                "cny_per_cny_low": quantile(value, LOW_Q),
                "cny_per_cny_high": quantile(value, HIGH_Q),
                "share_averting": float(group.cny_per_cny_averted.notna().mean()),
                "share_best_effect": float(group.best_effect.mean()),
                "share_best_value": float(group.best_value.mean()),
            }
        )
    table = pd.DataFrame(rows)
    sign = -1.0 if goal.change < 0 else 1.0
    effect = (sign * table.change_pct).fillna(-np.inf)
    table["rank_effect"] = effect.rank(ascending=False, method="min").astype(int)
    # A policy that averts sales in fewer than half the sets has no median value: ranked last.
    value = table.cny_per_cny_averted.where(table.share_averting >= 0.5).fillna(np.inf)
    table["rank_value"] = value.rank(ascending=True, method="min").astype(int)
    return table.sort_values("rank_effect", kind="stable").reset_index(drop=True)


@dataclass
class FailureBox:
    """Where a policy fails its goal in the space of the ensemble's parameters."""

    scenario: str
    failing: int  # sets in which it fails
    sets: int
    limits: pd.DataFrame  # restricted parameters: parameter, lower, upper, low_end, high_end
    coverage: float  # share of the failing sets inside the box
    density: float  # share of the sets inside the box that fail
    searched: bool = True  # False: PRIM was needed and EMA Workbench is not installed

    def sentence(self, goal: Goal) -> str:
        """'strict fails to cut ... when market.demand_elasticity < 1.2 and ...'."""
        fails = f"{self.scenario} fails to {goal.words()}"
        if self.failing == 0:
            return f"{self.scenario} meets the goal ({goal.words()}) in every setting"
        if self.failing == self.sets:
            return f"{fails} in every setting"
        if not self.searched:
            return (
                f"{fails} in {self.failing} of {self.sets} settings (where, PRIM would say: "
                f"{NO_PRIM})"
            )
        if self.limits.empty:
            return (
                f"{fails} in {self.failing} of {self.sets} settings, in no box PRIM can find "
                "with significant edges"
            )
        return (
            f"{fails} when {' and '.join(_condition(r) for r in self.limits.itertuples())} "
            f"({self.coverage:.0%} of the settings where it fails lie in this box; "
            f"{self.density:.0%} of those in the box fail)"
        )


def _condition(row: Any) -> str:
    lower, upper = row.lower > row.low_end, row.upper < row.high_end
    if lower and upper:
        return f"{_g(row.lower)} <= {row.parameter} <= {_g(row.upper)}"
    if upper:
        return f"{row.parameter} <= {_g(row.upper)}"
    return f"{row.parameter} >= {_g(row.lower)}"


def _g(value: float) -> str:
    return f"{value:.3g}"


def failure_boxes(sets: pd.DataFrame, ensemble: pd.DataFrame) -> list[FailureBox]:
    """PRIM's box of the parameter values in which each policy fails its goal.

    Args:
        sets: ``per_set`` output.
        ensemble: The ensemble (``set_id`` and the parameter columns).

    Returns:
        One box per policy; without EMA Workbench, a policy that fails in some sets only gets
        an unsearched box (``searched`` False) that says how to install it.
    """
    params = parameter_columns(ensemble)
    x = ensemble.set_index(SET_COLUMN)[params].astype(float)
    boxes = []
    for scenario, group in sets.groupby("scenario", sort=False):
        fails = ~group.set_index(SET_COLUMN).meets_goal.reindex(x.index).fillna(False)
        failing, total = int(fails.sum()), len(fails)
        empty = pd.DataFrame(columns=LIMIT_COLUMNS)
        if failing in (0, total):
            share = 1.0 if failing else 0.0
            boxes.append(FailureBox(scenario, failing, total, empty, share, share))
            continue
        try:
            limits, coverage, density = prim_limits(x.reset_index(drop=True), fails.to_numpy())
        except OptionError:
            boxes.append(FailureBox(scenario, failing, total, empty, math.nan, math.nan, False))
            continue
        boxes.append(FailureBox(scenario, failing, total, limits, coverage, density))
    return boxes


def prim_limits(x: pd.DataFrame, cases: np.ndarray) -> tuple[pd.DataFrame, float, float]:
    """PRIM's chosen box for ``cases`` over the inputs ``x``: limits, coverage, density.

    The box with the largest coverage among those of the peeling trajectory with a density of
    at least ``DENSITY``; the densest if none reaches it. Limits are given for the restricted
    parameters only.
    """
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import ema_workbench.analysis.prim  # noqa: F401 (only to say it is missing)
    except ImportError:
        raise OptionError("robust", "", f"finding where a policy fails needs {NO_PRIM}") from None
    logging.getLogger("EMA").setLevel(logging.WARNING)
    box = prim_box(x, cases.astype(bool), threshold=DENSITY)
    trajectory = box.peeling_trajectory.reset_index(drop=True)
    dense = trajectory[trajectory.density >= DENSITY]
    chosen = int(dense.coverage.idxmax()) if len(dense) else int(trajectory.density.idxmax())
    chosen = _significant(box, chosen)
    trajectory = box.peeling_trajectory.reset_index(drop=True)
    initial, limits = box.box_lims[0], box.box_lims[chosen]
    rows = []
    for name in x.columns:
        low_end, high_end = float(initial.loc[0, name]), float(initial.loc[1, name])
        lower, upper = float(limits.loc[0, name]), float(limits.loc[1, name])
        if lower > low_end or upper < high_end:
            rows.append(
                {
                    "parameter": name,
                    "lower": lower,
                    "upper": upper,
                    "low_end": low_end,
                    "high_end": high_end,
                }
            )
    return (
        pd.DataFrame(rows, columns=LIMIT_COLUMNS),
        float(trajectory.coverage[chosen]),
        float(trajectory.density[chosen]),
    )


def _significant(box: Any, chosen: int) -> int:
    """Drop the chosen box's restrictions that are not significant; the box left (its index).

    A restriction stays when one of its edges has a quasi-p-value (Bryant & Lempert 2010: a
    one-sided binomial test of the box's density against the box without that edge) of at
    most ``QP_LIMIT``. The least significant restriction is dropped first, then the rest are
    tested again: with a few dozen sets, peeling also cuts along parameters that do not matter.
    """
    if not all(hasattr(box, name) for name in ("select", "drop_restriction", "qp")):
        return chosen  # an EMA Workbench without quasi-p-values: the box as peeled
    box.select(chosen)
    current = chosen
    while True:
        qp = box.qp[current]
        worst, value = None, QP_LIMIT
        for name, (lower, upper) in qp.items():
            edges = [q for q in (lower, upper) if q >= 0]  # -1: that edge is not restricted
            if edges and min(edges) > value:
                worst, value = name, min(edges)
        if worst is None:
            return current
        box.drop_restriction(worst, current)
        current = len(box.box_lims) - 1


def drivers(sets: pd.DataFrame, ensemble: pd.DataFrame, goal: Goal) -> pd.DataFrame:
    """How each policy's effect goes with each parameter across the sets.

    Spearman's rank correlation of the policy's change with each parameter, its p-value, and
    the p-value after Holm's correction over the parameters of that policy. Where a box cannot
    say where a policy fails (its failures spread over several parameters), this says which
    parameters its effect follows.

    Returns:
        One row per policy and parameter: ``scenario, parameter, rho, p_value, p_holm,
        better_where`` (``higher`` or ``lower``: where the parameter makes the change more
        favourable to the goal), sorted by policy then ``p_value``.
    """
    from scipy.stats import spearmanr

    params = parameter_columns(ensemble)
    x = ensemble.set_index(SET_COLUMN)[params].astype(float)
    rows = []
    for scenario, group in sets.groupby("scenario", sort=False):
        change = group.set_index(SET_COLUMN).change.reindex(x.index)
        ok = change.notna()
        found = []
        for name in params:
            values = x.loc[ok, name]
            if values.nunique() < 3 or change[ok].nunique() < 3:
                continue
            rho, p_value = spearmanr(values, change[ok])
            favourable = rho < 0 if goal.change < 0 else rho > 0
            found.append(
                {
                    "scenario": scenario,
                    "parameter": name,
                    "rho": float(rho),
                    "p_value": float(p_value),
                    "better_where": "higher" if favourable else "lower",
                }
            )
        found.sort(key=lambda row: row["p_value"])
        running = 0.0  # Holm: the k-th smallest p times (m - k), never below an earlier one
        for k, row in enumerate(found):
            running = max(running, min(1.0, (len(found) - k) * row["p_value"]))
            row["p_holm"] = running
        rows += found
    columns = ["scenario", "parameter", "rho", "p_value", "p_holm", "better_where"]
    return pd.DataFrame(rows, columns=columns)


def driver_sentence(table: pd.DataFrame, scenario: str, goal: Goal) -> str | None:
    """'strict does better where beliefs.w_public is higher (rank correlation -0.44), ...'."""
    own = table[(table.scenario == scenario) & (table.p_holm <= 0.05)]
    if own.empty:
        return None
    parts = [
        f"{row.parameter} is {row.better_where} (rank correlation {row.rho:+.2f})"
        for row in own.itertuples()
    ]
    return (
        f"{scenario} does better against the goal ({goal.words()}) where "
        f"{', '.join(parts)} (Holm-corrected p at most 0.05 over the parameters)"
    )


def boxes_table(boxes: list[FailureBox], goal: Goal) -> pd.DataFrame:
    """The failure boxes as one table: a row per restricted parameter (or one per policy)."""
    rows = []
    for box in boxes:
        common = {
            "scenario": box.scenario,
            "goal": goal.words(),
            "sets_failing": box.failing,
            "sets": box.sets,
            "coverage": box.coverage,
            "density": box.density,
            "finding": box.sentence(goal),
        }
        if box.limits.empty:
            rows.append(common | {"parameter": "", "lower": math.nan, "upper": math.nan})
        for limit in box.limits.itertuples():
            rows.append(
                common | {"parameter": limit.parameter, "lower": limit.lower, "upper": limit.upper}
            )
    return pd.DataFrame(rows)


@dataclass
class Robust:
    """Policies ranked over an ensemble, and where each fails its goal."""

    comparison: EnsembleComparison
    goal: Goal
    sets: pd.DataFrame  # per_set
    ranking: pd.DataFrame
    boxes: list[FailureBox]
    drivers: pd.DataFrame  # ``drivers``

    def write(self, folder: Path) -> None:
        """Write the ranking, the sets, the failure boxes, the drivers and the comparison."""
        write_table(folder / "robust.csv", self.ranking)
        write_table(folder / "robust_sets.csv", self.sets)
        write_table(folder / "failure_boxes.csv", self.boxes_table)
        write_table(folder / "drivers.csv", self.drivers)
        write_table(folder / "compare.csv", self.comparison.table)

    @property
    def boxes_table(self) -> pd.DataFrame:
        """The failure boxes as a table (``boxes_table``)."""
        return boxes_table(self.boxes, self.goal)

    def findings(self) -> list[str]:
        """The ranking and the failure boxes in sentences, best policy by effect first."""
        lines = []
        settings = f"{self.comparison.ensemble.shape[0]} plausible settings of the model"
        for row in self.ranking.itertuples():
            value = (
                f"{row.cny_per_cny_averted:.2g} CNY of enforcement per CNY of counterfeit "
                f"sales averted (90% of settings: {row.cny_per_cny_low:.2g} to "
                f"{row.cny_per_cny_high:.2g})"
                if math.isfinite(row.cny_per_cny_averted) and row.share_averting >= 0.5
                else f"it averts 1% or more of counterfeit sales in only {row.share_averting:.0%} "
                "of them"
            )
            lines.append(
                f"Across {settings}, {row.scenario} changes "
                f"{self.goal.metric.removesuffix('_cny').replace('_', ' ')} by "
                f"{row.change_pct:+.1f}% (90% of settings: {row.change_pct_low:+.1f} to "
                f"{row.change_pct_high:+.1f}%); it meets the goal in {row.share_meets_goal:.0%} "
                f"of them, is the most effective in {row.share_best_effect:.0%} and the best "
                f"value in {row.share_best_value:.0%}; {value}."
            )
        order = {name: k for k, name in enumerate(self.ranking.scenario)}
        boxes = sorted(self.boxes, key=lambda box: order[box.scenario])
        for box in boxes:
            lines.append(box.sentence(self.goal) + ".")
            if 0 < box.failing < box.sets:
                found = driver_sentence(self.drivers, box.scenario, self.goal)
                lines += [found + "."] if found else []
        return lines


def robust_over_ensemble(
    scenarios: list[Any],
    ensemble: pd.DataFrame,
    goal: Goal,
    out: Any,
    options: Any,
    *,
    ensemble_source: str = "",
    force: bool = False,
    resume: bool = False,
    on_runs: Any = None,
    reuse: Path | None = None,
) -> Robust:
    """Run the baseline and the policies on every set; rank them and find where each fails.

    Args:
        scenarios: The baseline first, then the policies.
        ensemble: ``load_ensemble`` output.
        goal: What a policy must achieve.
        out: The batch folder of the runs.
        options: How to execute the runs.
        ensemble_source: The ensemble file, recorded in the batch.
        force: Replace a batch the folder holds.
        resume: Finish the same batch in the folder.
        on_runs: Progress (runs finished, in all).
        reuse: Another batch folder whose identical runs are taken instead of run again.

    Raises:
        OptionError: fewer than two scenarios, or the scenarios differ in more than their
            policy; PRIM needed and EMA Workbench missing.
    """
    if len(scenarios) < 2:
        raise OptionError("robust", "", "give the baseline and at least one policy")
    comparison = compare_on_ensemble(  # every metric: its compare.csv is compare's
        scenarios,
        ensemble,
        out,
        options,
        ensemble_source=ensemble_source,
        force=force,
        resume=resume,
        on_runs=on_runs,
        reuse=reuse,
    )
    sets = per_set(comparison.summary, comparison.baseline, goal)
    boxes = failure_boxes(sets, ensemble)
    found = drivers(sets, ensemble, goal)
    return Robust(comparison, goal, sets, ranking(sets, goal), boxes, found)
