"""Findings: the sentences of the briefing, written from the numbers of a comparison."""

from __future__ import annotations

import pandas as pd

from sim.reporting.findings import finding


def test_findings_are_written_from_the_numbers():
    row = pd.Series(
        {
            "scenario": "strict",
            "baseline": "baseline_2016",
            "metric": "active_sellers",
            "baseline_mean": 100.0,
            "mean": 42.0,
            "change_pct": -58.0,
            "change_pct_ci_low": -61.0,
            "change_pct_ci_high": -55.0,
        }
    )
    assert finding(row) == (
        "Active sellers fall by 58% (95% CI 55-61%) under strict compared with baseline_2016."
    )
    row = row.copy()
    row["change_pct_ci_low"], row["change_pct_ci_high"] = -70.0, 3.0
    assert "not distinguishable from no change" in finding(row)
    rise = row.copy()
    rise["metric"], rise["mean"] = "convictions", 330.0
    rise["change_pct"], rise["change_pct_ci_low"], rise["change_pct_ci_high"] = 230, 200, 260
    assert finding(rise) == (
        "Convictions rise from 100 to 330 a year, 3.3 times (95% CI 3.0-3.6), under strict "
        "compared with baseline_2016."
    )
