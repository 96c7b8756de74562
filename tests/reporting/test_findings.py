"""Findings: the sentences of the briefing, written from the numbers of a comparison."""

from __future__ import annotations

import pandas as pd

from sim.reporting.findings import displacement, finding, honest_harm


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
        "Active sellers fall by 58.0% (95% CI 55.0-61.0%) under strict compared with baseline_2016."
    )
    # The same decimals for a small change and its interval; money says its currency.
    small = row.copy()
    small["change_pct"], small["change_pct_ci_low"], small["change_pct_ci_high"] = -7.4, -8, -7
    assert "by 7.4% (95% CI 7.0-8.0%)" in finding(small)
    cost = row.copy()
    cost["metric"], cost["baseline_mean"], cost["mean"] = "enforcement_cost_cny", 47.2e6, 558e6
    cost["change_pct"], cost["change_pct_ci_low"], cost["change_pct_ci_high"] = 1082, 1070, 1094
    assert "from 47.2 million CNY to 558 million CNY a year" in finding(cost)
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


def _rows(**means: tuple[float, float]) -> pd.DataFrame:
    """Comparison rows of strict against the baseline: metric -> (baseline mean, mean)."""
    return pd.DataFrame(
        [
            {
                "scenario": "strict",
                "baseline": "baseline_2016",
                "metric": metric,
                "baseline_mean": before,
                "mean": after,
            }
            for metric, (before, after) in means.items()
        ]
    )


def test_the_displacement_finding_says_what_share_of_the_lost_sales_moved_off_the_platform():
    rows = _rows(
        platform_sales_cny=(200e6, 100e6),
        offplatform_sales_cny=(40e6, 65e6),
        price_index=(1.0, 1.6),
    )
    assert displacement(rows) == (
        "Of the 100 million CNY of counterfeit sales a year that left the platform under "
        "strict, 25% moved off it (social commerce, offline); the price of counterfeits went "
        "from 1.00 to 1.60 times the 2016 price."
    )


def test_no_displacement_finding_when_platform_sales_did_not_fall():
    rows = _rows(platform_sales_cny=(100e6, 120e6), offplatform_sales_cny=(40e6, 30e6))
    assert displacement(rows) is None


def test_the_harm_to_honest_sellers_is_stated_against_the_baseline():
    rows = _rows(legit_sales_lost_cny=(2e7, 5e7))
    assert honest_harm(rows) == (
        "Honest sellers lose 50 million CNY of sales a year to wrongful takedowns and closures "
        "under strict, against 20 million under baseline_2016."
    )


def test_the_headline_sets_what_a_policy_buys_against_what_it_costs():
    from sim.reporting.findings import headline

    rows = _rows(
        active_sellers=(142_000, 51_000),
        counterfeit_sales_cny=(3.47e9, 2.15e9),
        enforcement_cost_cny=(47e6, 557e6),
    )
    rows["change_pct"] = 100 * (rows["mean"] / rows.baseline_mean - 1)
    rows["change_pct_ci_low"] = rows.change_pct - 1
    rows["change_pct_ci_high"] = rows.change_pct + 1
    said = headline(rows)
    assert said.startswith("strict: 91,000 fewer active sellers (-64.1%)")
    # 510 million CNY for 91,000 sellers and 1.32 billion CNY of sales.
    assert "5,600 CNY per seller deterred and 0.39 CNY per CNY" in said, said
    free = rows.copy()
    free.loc[free.metric == "enforcement_cost_cny", "mean"] = 40e6
    assert headline(free).endswith("with no more spent on enforcement beyond the noise.")
