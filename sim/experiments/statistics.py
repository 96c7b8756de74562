"""Reduce replications to summaries: pure functions, DataFrame in, DataFrame out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.errors import DeterSimError
from sim.model.metrics import FLOWS, METRICS, STOCKS
from sim.model.rules import WEEKS_PER_YEAR


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

    No metric can be below 0 (each is a count, an amount, a probability, a price index or a
    mean of such), so the interval is cut at 0: a t-interval over a few skewed replications
    (a backlog of cases that is empty in most runs) would otherwise reach below 0, and a
    confidence interval intersected with the values its quantity can take keeps its coverage.

    Args:
        summary: Output of ``summarise_replications`` (one row per replication).
        confidence: Confidence level of the interval of the mean.

    Returns:
        One row per scenario and metric with columns ``scenario, metric, kind, unit, n, mean,
        sd, median, q05, q95, ci_low, ci_high``. With one replication the interval is NaN.
    """
    from scipy import stats  # lazily: workers that only run models never need it

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
                    "ci_low": 0.0 if mean - half < 0 else mean - half,  # NaN stays NaN
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
    from scipy import stats  # lazily: workers that only run models never need it

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


class PairingError(DeterSimError):
    """Two sets of replications cannot be paired (different seeds, weeks or burn-in)."""


def percent_change(a: np.ndarray, b: np.ndarray, t: float) -> tuple[float, float, float]:
    """``100 (mean b / mean a - 1)`` and its interval, paired by replication.

    For quantities that cannot be negative (every metric) the interval is taken on the log of
    the ratio, ``log R ± t se``, with the delta method's
    ``se^2 = [var(b) / mean_b^2 + var(a) / mean_a^2 - 2 cov(a, b) / (mean_a mean_b)] / n``, and
    turned back into percent: it never falls below -100% and is wider above than below, as a
    ratio is. Where a mean is 0 (or a value negative) the delta method on the ratio itself is
    used, clipped at -100% for non-negative quantities.
    """
    n = len(a)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    if mean_a == 0:
        return float("nan"), float("nan"), float("nan")
    ratio = mean_b / mean_a
    pct = 100 * (ratio - 1)
    if n < 2:
        return pct, float("nan"), float("nan")
    cov = np.cov(a, b, ddof=1)
    non_negative = bool((a >= 0).all() and (b >= 0).all())
    if non_negative and mean_b > 0:
        var = cov[1, 1] / mean_b**2 + cov[0, 0] / mean_a**2 - 2 * cov[0, 1] / (mean_a * mean_b)
        half = t * np.sqrt(max(var, 0.0) / n)
        return pct, 100 * (ratio * np.exp(-half) - 1), 100 * (ratio * np.exp(half) - 1)
    var = cov[1, 1] + ratio**2 * cov[0, 0] - 2 * ratio * cov[0, 1]
    half = 100 * t * np.sqrt(max(var, 0.0)) / (np.sqrt(n) * abs(mean_a))
    low = max(pct - half, -100.0) if non_negative else pct - half
    return pct, low, pct + half


def paired_differences(
    summary: pd.DataFrame,
    baseline: str,
    metrics: list[str] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Change of each metric against ``baseline``, paired by replication (common seeds).

    For scenario ``B`` against baseline ``A``, replication ``i`` of both used the same seed, so
    the differences ``d_i = B_i - A_i`` are independent draws of the effect. The absolute
    change is their mean with a t-interval. The percent change is ``100 (mean B / mean A - 1)``;
    its interval is ``percent_change``'s: on the log of the ratio of paired means (delta
    method, a t quantile of ``n - 1`` degrees of freedom), so that it respects the bound of
    -100% (undefined when the baseline mean is 0).

    Args:
        summary: One row per scenario and replication (``summarise_replications`` output, or
            several concatenated): ``scenario, replication, seed`` and metric columns.
        baseline: The scenario the others are compared with.
        metrics: Metrics to compare [all].
        confidence: Level of the intervals.

    Returns:
        One row per (scenario other than the baseline, metric): ``scenario, baseline, metric,
        n, baseline_mean, mean, change, change_ci_low, change_ci_high, change_pct,
        change_pct_ci_low, change_pct_ci_high``.

    Raises:
        PairingError: the baseline is missing, or a scenario's replications do not have the
            baseline's seeds.
    """
    from scipy import stats  # lazily: workers that only run models never need it

    names = metrics or [m.name for m in METRICS]
    if baseline not in set(summary["scenario"]):
        raise PairingError(f"baseline '{baseline}' is not among the scenarios compared")
    base = summary[summary["scenario"] == baseline].set_index("replication").sort_index()
    rows = []
    for scenario, group in summary.groupby("scenario", sort=False):
        if scenario == baseline:
            continue
        other = group.set_index("replication").sort_index()
        if (
            list(other.index) != list(base.index)
            or not (other["seed"].to_numpy() == base["seed"].to_numpy()).all()
        ):
            raise PairingError(
                f"'{scenario}' and '{baseline}' were not run on the same seeds (replications "
                f"{len(other)} and {len(base)}); run both with the same seed and replications"
            )
        n = len(other)
        t = stats.t.ppf(0.5 + confidence / 2, n - 1) if n > 1 else float("nan")
        for name in names:
            a = base[name].to_numpy(dtype=float)
            b = other[name].to_numpy(dtype=float)
            d = b - a
            change = float(d.mean())
            half = t * float(d.std(ddof=1)) / np.sqrt(n) if n > 1 else float("nan")
            mean_a, mean_b = float(a.mean()), float(b.mean())
            pct, pct_low, pct_high = percent_change(a, b, t)
            rows.append(
                {
                    "scenario": scenario,
                    "baseline": baseline,
                    "metric": name,
                    "n": n,
                    "baseline_mean": mean_a,
                    "mean": mean_b,
                    "change": change,
                    "change_ci_low": change - half,
                    "change_ci_high": change + half,
                    "change_pct": pct,
                    "change_pct_ci_low": pct_low,
                    "change_pct_ci_high": pct_high,
                }
            )
    return pd.DataFrame(rows)


# A summary window whose second half differs from its first by more than this share (and
# beyond the noise between replications) is flagged: its yearly figures average over a level
# that is still moving. 5% between the halves is about 10% from start to end of the window;
# `strict` at full scale drifts by 6.6% (active sellers, 56,000 to 48,000 over two years).
DRIFT_SHARE = 0.05


def window_drift(
    timeseries: pd.DataFrame, burn_in_weeks: int, metrics: list[str], alpha: float = 0.05
) -> pd.DataFrame:
    """Whether each scenario's metrics still move inside the summary window.

    The window after the burn-in is cut in two halves; per replication, the mean weekly value
    of each half. The change from the first half to the second is paired by replication and
    tested with a t-test; a metric *drifts* when the change is beyond noise (``p < alpha``)
    and larger than ``DRIFT_SHARE`` of the first half.

    Returns:
        One row per scenario and metric: ``scenario, metric, second_from`` (the first week of
        the second half), ``first_half, second_half, change_pct, p_value, drifts``.
    """
    from scipy import stats  # lazily: workers that only run models never need it

    post = timeseries[timeseries.week >= burn_in_weeks]
    end = int(post.week.max()) + 1 if len(post) else burn_in_weeks
    middle = burn_in_weeks + (end - burn_in_weeks) // 2
    half = np.where(post.week < middle, "first", "second")
    means = post.assign(half=half).groupby(["scenario", "replication", "half"])[metrics].mean()
    rows = []
    for scenario in dict.fromkeys(post.scenario):
        table = means.loc[scenario]
        for metric in metrics:
            first = table.xs("first", level="half")[metric]
            second = table.xs("second", level="half")[metric].reindex(first.index)
            mean_first, mean_second = float(first.mean()), float(second.mean())
            change = (mean_second / mean_first - 1) if mean_first else np.nan
            differences = (second - first).to_numpy(dtype=float)
            if len(differences) > 1 and np.std(differences) > 0:
                p = float(stats.ttest_1samp(differences, 0.0).pvalue)
            else:
                p = 0.0 if len(differences) > 1 and differences.mean() != 0 else 1.0
            drifts = bool(p < alpha and np.isfinite(change) and abs(change) > DRIFT_SHARE)
            rows.append(
                {
                    "scenario": scenario,
                    "metric": metric,
                    "second_from": middle,
                    "first_half": mean_first,
                    "second_half": mean_second,
                    "change_pct": 100 * change,
                    "p_value": p,
                    "drifts": drifts,
                }
            )
    return pd.DataFrame(rows)
