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
