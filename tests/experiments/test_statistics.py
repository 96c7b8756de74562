"""Known-answer tests of the summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import small
from scipy import stats

from sim.experiments.runner import run_replication
from sim.experiments.statistics import (
    PairingError,
    metric_statistics,
    paired_differences,
    summarise_replications,
)
from sim.model.metrics import FLOWS, METRIC_NAMES, STOCKS


def weekly(values_by_rep: dict[int, list[float]]) -> pd.DataFrame:
    rows = []
    for rep, values in values_by_rep.items():
        for week, value in enumerate(values):
            row = {"scenario": "s", "replication": rep, "seed": 100 + rep, "week": week}
            row.update(dict.fromkeys(METRIC_NAMES, value))
            rows.append(row)
    return pd.DataFrame(rows)


def test_flows_are_totals_per_year_and_stocks_are_means_after_burn_in():
    # 4 weeks: burn-in 2 drops the first two; the rest is [3, 5] over 2 weeks.
    summary = summarise_replications(weekly({0: [100, 100, 3, 5]}), burn_in_weeks=2)
    row = summary.iloc[0]
    for flow in FLOWS:
        assert row[flow] == pytest.approx((3 + 5) * 52 / 2)
    for stock in STOCKS:
        assert row[stock] == pytest.approx(4.0)
    assert row["weeks"] == 2


def test_statistics_of_constructed_data():
    # Stocks constant per replication: 1, 2, 3, 4, 5 -> mean 3, sd sqrt(2.5).
    timeseries = weekly({rep: [rep + 1.0] * 3 for rep in range(5)})
    stats = metric_statistics(summarise_replications(timeseries, 0))
    row = stats.set_index("metric").loc["active_sellers"]
    sd = np.sqrt(2.5)
    half = 2.7764451051977987 * sd / np.sqrt(5)  # t(0.975, 4)
    assert row["n"] == 5
    assert row["mean"] == pytest.approx(3.0)
    assert row["sd"] == pytest.approx(sd)
    assert row["median"] == pytest.approx(3.0)
    assert row["q05"] == pytest.approx(1.2)
    assert row["q95"] == pytest.approx(4.8)
    assert row["ci_low"] == pytest.approx(3.0 - half)
    assert row["ci_high"] == pytest.approx(3.0 + half)


def test_the_interval_of_the_mean_stops_at_zero():
    # A backlog empty in three runs of four: mean 7.5, sd 15; the t-interval would reach
    # 7.5 - 23.9 < 0, and no metric can be below 0. The upper end is the t-interval's.
    timeseries = weekly({0: [0.0], 1: [0.0], 2: [0.0], 3: [30.0]})
    stats = metric_statistics(summarise_replications(timeseries, 0)).set_index("metric")
    row = stats.loc["case_backlog"]
    half = 3.182446305284263 * 15.0 / 2.0  # t(0.975, 3) sd / sqrt(4)
    assert row["mean"] == pytest.approx(7.5) and row["ci_low"] == 0.0
    assert row["ci_high"] == pytest.approx(7.5 + half)
    assert (stats.ci_low >= 0).all()


def test_every_metric_of_a_run_is_at_least_zero():
    # What lets the intervals of the mean stop at 0: no weekly value of any metric is negative.
    for name in ("baseline_2016", "strict"):
        frame = run_replication(small(name), 0, 11, "vector")
        assert (frame[list(METRIC_NAMES)] >= 0).all().all(), name


def test_one_replication_has_no_interval():
    stats = metric_statistics(summarise_replications(weekly({0: [1.0, 2.0]}), 0))
    assert stats["ci_low"].isna().all() and stats["ci_high"].isna().all()


def _pairs(base, other):
    rows = []
    for name, values in (("a", base), ("b", other)):
        for i, v in enumerate(values):
            rows.append({"scenario": name, "replication": i, "seed": 100 + i, "active_sellers": v})
    return pd.DataFrame(rows)


def test_paired_differences_known_answer():
    # Differences 1, 2, 3: mean 2, s.d. 1, t(0.975, 2) = 4.303 -> 2 +- 4.303 / sqrt(3).
    table = paired_differences(_pairs([10, 20, 30], [11, 22, 33]), "a", ["active_sellers"])
    row = table.iloc[0]
    assert row.change == pytest.approx(2.0)
    half = stats.t.ppf(0.975, 2) / np.sqrt(3)
    assert row.change_ci_low == pytest.approx(2 - half)
    assert row.change_ci_high == pytest.approx(2 + half)
    # B is exactly 1.1 A: the ratio is 1.1 in every pair, so the interval has zero width.
    assert row.change_pct == pytest.approx(10.0)
    assert row.change_pct_ci_low == pytest.approx(10.0) and row.change_pct_ci_high == pytest.approx(
        10.0
    )


def test_paired_percent_interval_known_answer():
    # A = 9, 10, 11 (mean 10, var 1) and B = 3.5, 5, 6.5 (mean 5, var 2.25), cov 1.5: the ratio
    # R is 0.5, a change of -50%. On the log of the ratio the delta method's variance is
    # [2.25 / 25 + 1 / 100 - 2 x 1.5 / 50] / 3 = 0.04 / 3, so the interval is
    # 0.5 exp(-+ t(0.975, 2) sqrt(0.04 / 3)) - 1 = -69.58% to -17.83%.
    row = paired_differences(_pairs([9, 10, 11], [3.5, 5, 6.5]), "a", ["active_sellers"]).iloc[0]
    half = 4.302652729749462 * np.sqrt(0.04 / 3)
    assert row.change_pct == pytest.approx(-50.0)
    assert row.change_pct_ci_low == pytest.approx(100 * (0.5 * np.exp(-half) - 1))
    assert row.change_pct_ci_high == pytest.approx(100 * (0.5 * np.exp(half) - 1))
    assert row.change_pct_ci_low == pytest.approx(-69.577, abs=1e-3)
    # Differences -5.5, -5, -4.5: mean -5, s.d. 0.5, half-width 4.302652729749462 x 0.5 / sqrt(3).
    assert row.change == pytest.approx(-5.0)
    assert row.change_ci_high - row.change == pytest.approx(1.2420688558751648)


def test_a_percent_interval_of_a_count_never_falls_below_minus_100():
    # A noisy twentyfold rise: the interval is wide but stays above -100% and above 0.
    rise = paired_differences(_pairs([1, 3, 2, 0.5], [20, 70, 30, 20]), "a", ["active_sellers"])
    row = rise.iloc[0]
    assert row.change_pct == pytest.approx(100 * (140 / 6.5 - 1))
    assert row.change_pct_ci_low > 0 and row.change_pct_ci_high > row.change_pct
    # A fall to nothing in most replications: the lower end is -100% at the least.
    fall = paired_differences(_pairs([10, 12, 9], [0, 0, 3]), "a", ["active_sellers"]).iloc[0]
    assert -100 <= fall.change_pct_ci_low < fall.change_pct < fall.change_pct_ci_high


def test_pairing_refuses_different_seeds():
    frame = _pairs([1, 2], [3, 4])
    frame.loc[frame.scenario == "b", "seed"] += 1
    with pytest.raises(PairingError, match="same seeds"):
        paired_differences(frame, "a", ["active_sellers"])
    with pytest.raises(PairingError, match="not among"):
        paired_differences(frame, "zzz", ["active_sellers"])


def test_a_level_still_moving_inside_the_window_is_flagged():
    from sim.experiments.statistics import window_drift

    rows = []
    for replication in range(4):
        for week in range(40):
            noise = 0.5 * ((week * 7 + replication * 3) % 5 - 2)
            moving = 100 + 5 * max(week - 20, 0) + noise  # rises through the window
            rows.append({"scenario": "a", "replication": replication, "week": week, "x": moving})
            rows.append(
                {"scenario": "b", "replication": replication, "week": week, "x": 100 + noise}
            )
    table = window_drift(pd.DataFrame(rows), 20, ["x"]).set_index("scenario")
    assert table.loc["a", "drifts"] and table.loc["a", "change_pct"] > 10
    assert not table.loc["b", "drifts"]
