"""Known-answer tests of the summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

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
    # A = 9, 10, 11 (mean 10) and B = 3.5, 5, 6.5 (mean 5): the ratio R is 0.5, a change of
    # -50%. The delta method's standard error of R is sd(B - R A) / (sqrt(n) mean A); here
    # B - R A = -1, 0, 1, whose s.d. is 1, so se = 1 / (10 sqrt(3)), and the half-width of
    # the interval is 100 t(0.975, 2) se = 10 x 4.302652729749462 / sqrt(3) = 24.84137711750.
    row = paired_differences(_pairs([9, 10, 11], [3.5, 5, 6.5]), "a", ["active_sellers"]).iloc[0]
    assert row.change_pct == pytest.approx(-50.0)
    assert row.change_pct_ci_low == pytest.approx(-50.0 - 24.8413771175033)
    assert row.change_pct_ci_high == pytest.approx(-50.0 + 24.8413771175033)
    # Differences -5.5, -5, -4.5: mean -5, s.d. 0.5, half-width 4.302652729749462 x 0.5 / sqrt(3).
    assert row.change == pytest.approx(-5.0)
    assert row.change_ci_high - row.change == pytest.approx(1.2420688558751648)


def test_pairing_refuses_different_seeds():
    frame = _pairs([1, 2], [3, 4])
    frame.loc[frame.scenario == "b", "seed"] += 1
    with pytest.raises(PairingError, match="same seeds"):
        paired_differences(frame, "a", ["active_sellers"])
    with pytest.raises(PairingError, match="not among"):
        paired_differences(frame, "zzz", ["active_sellers"])
