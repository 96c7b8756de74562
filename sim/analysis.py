"""Reduce replications to summaries: pure functions, DataFrame in, DataFrame out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.metrics import FLOWS, METRICS, STOCKS
from sim.rules import WEEKS_PER_YEAR


def summarise_replications(timeseries: pd.DataFrame, burn_in_weeks: int) -> pd.DataFrame:
    """One row per replication: each flow per year and each stock's mean, after burn-in.

    Args:
        timeseries: Weekly rows with ``scenario, replication, seed, week`` and metric columns.
        burn_in_weeks: Weeks excluded from the start.

    Returns:
        ``scenario, replication, seed, weeks`` then one column per metric.
    """
    post = timeseries[timeseries["week"] >= burn_in_weeks]
    keys = ["scenario", "replication", "seed"]
    grouped = post.groupby(keys, sort=True)
    weeks = grouped["week"].count().rename("weeks")
    flows = grouped[list(FLOWS)].sum().mul(WEEKS_PER_YEAR).div(weeks, axis=0)
    stocks = grouped[list(STOCKS)].mean()
    ordered = [m.name for m in METRICS]
    summary = pd.concat([weeks, flows, stocks], axis=1)[["weeks", *ordered]]
    return summary.reset_index()


def metric_statistics(summary: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per scenario and metric: mean, s.d., median, 5%/95% quantiles and a t-interval of the mean.

    Args:
        summary: Output of ``summarise_replications`` (one row per replication).
        confidence: Confidence level of the interval of the mean.

    Returns:
        One row per scenario and metric with columns ``scenario, metric, kind, unit, n, mean,
        sd, median, q05, q95, ci_low, ci_high``. With one replication the interval is NaN.
    """
    rows = []
    for scenario, group in summary.groupby("scenario", sort=False):
        for metric in METRICS:
            values = group[metric.name].to_numpy(dtype=float)
            n = len(values)
            mean = float(values.mean())
            sd = float(values.std(ddof=1)) if n > 1 else float("nan")
            if n > 1:
                half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
            else:
                half = float("nan")
            rows.append(
                {
                    "scenario": scenario,
                    "metric": metric.name,
                    "kind": metric.kind,
                    "unit": metric.unit + (" per year" if metric.kind == "flow" else ""),
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "median": float(np.median(values)),
                    "q05": float(np.quantile(values, 0.05)),
                    "q95": float(np.quantile(values, 0.95)),
                    "ci_low": mean - half,
                    "ci_high": mean + half,
                }
            )
    return pd.DataFrame(rows)


def compare_samples(
    first: pd.DataFrame,
    second: pd.DataFrame,
    metrics: list[str] | None = None,
) -> pd.DataFrame:
    """Two-sample Welch t-tests of each metric, with Holm's correction for multiple tests.

    Used to check that two engines (or two versions of the model) agree in distribution: the
    samples are replications with independent seeds, one row each (``summarise_replications``).

    Args:
        first: One row per replication of the first sample.
        second: One row per replication of the second sample.
        metrics: Metric columns to test [every metric].

    Returns:
        One row per metric: ``metric, mean_first, mean_second, statistic, p_value, p_holm``.
        A metric constant in both samples has p-value 1 if the constants agree, else 0.
    """
    names = metrics or [m.name for m in METRICS]
    rows = []
    for name in names:
        x = first[name].to_numpy(dtype=float)
        y = second[name].to_numpy(dtype=float)
        if np.ptp(x) == 0 and np.ptp(y) == 0:
            statistic, p_value = 0.0, float(x[0] == y[0])
        else:
            result = stats.ttest_ind(x, y, equal_var=False)
            statistic, p_value = float(result.statistic), float(result.pvalue)
        rows.append(
            {
                "metric": name,
                "mean_first": float(x.mean()),
                "mean_second": float(y.mean()),
                "statistic": statistic,
                "p_value": p_value,
            }
        )
    table = pd.DataFrame(rows)
    table["p_holm"] = holm(table["p_value"].to_numpy())
    return table


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control).

    Args:
        p_values: Unadjusted p-values.

    Returns:
        Adjusted p-values, in the input order.
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    result = np.empty(m)
    result[order] = np.minimum(adjusted, 1.0)
    return result
