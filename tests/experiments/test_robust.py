"""Policies ranked over an ensemble, and where each fails (sim.experiments.robust, robust)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
from helpers import deter_sim

from sim.errors import OptionError
from sim.experiments.ensemble import SET_COLUMN
from sim.experiments.robust import (
    COST,
    SALES,
    Goal,
    failure_boxes,
    parse_goal,
    per_set,
    ranking,
)


@pytest.mark.parametrize(
    ("text", "metric", "change"),
    [
        ("counterfeit_sales_cny=-50%", SALES, -0.5),
        (" active_sellers = -12.5 % ", "active_sellers", -0.125),
        ("convictions=+20%", "convictions", 0.2),
    ],
)
def test_a_goal_is_a_metric_and_a_relative_change(text, metric, change):
    goal = parse_goal(text)
    assert goal.metric == metric and goal.change == pytest.approx(change)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("counterfeit_sales_cny<-50%", "e.g. counterfeit_sales_cny=-50%"),
        ("counterfeit_sales_cny=-0.5", "e.g. counterfeit_sales_cny=-50%"),
        ("sales=-50%", "unknown metric 'sales'"),
        ("active_sellers=0%", "not 0%"),
        ("active_sellers=-100%", "above -100%"),
    ],
)
def test_a_bad_goal_names_the_option_and_what_is_allowed(text, said):
    with pytest.raises(OptionError, match="--goal") as caught:
        parse_goal(text)
    assert said in str(caught.value)


def test_a_goal_is_met_at_its_bound_and_beyond_and_never_by_an_unknown_change():
    fall, rise = Goal(SALES, -0.5), Goal("convictions", 0.2)
    assert fall.met(-0.5) and fall.met(-0.8) and not fall.met(-0.49)
    assert rise.met(0.2) and not rise.met(0.1) and not fall.met(math.nan)


def _summary() -> pd.DataFrame:
    """Three sets, two replications; sales and costs chosen so that every answer is known."""
    rows = []
    # (scenario, set): (sales per replication, enforcement cost per replication)
    values = {
        ("base", 0): ([100, 100], [10, 10]),
        ("base", 1): ([200, 200], [10, 10]),
        ("base", 2): ([100, 100], [10, 10]),
        ("a", 0): ([40, 40], [40, 40]),  # -60%, 30 for 60 averted: 0.5
        ("a", 1): ([150, 150], [60, 60]),  # -25%, 50 for 50: 1.0
        ("a", 2): ([99.5, 99.5], [11, 11]),  # -0.5%: averts too little to price
        ("b", 0): ([50, 50], [20, 20]),  # -50%, 10 for 50: 0.2 (meets, cheapest)
        ("b", 1): ([180, 180], [10, 10]),  # -10%, 0 for 20: 0
        ("b", 2): ([120, 120], [5, 5]),  # +20%: averts none
    }
    for (scenario, set_id), (sales, cost) in values.items():
        for r in range(2):
            rows.append(
                {
                    "scenario": scenario,
                    SET_COLUMN: set_id,
                    "replication": r,
                    SALES: sales[r],
                    COST: cost[r],
                }
            )
    return pd.DataFrame(rows)


def test_effect_goal_and_cost_per_cny_averted_per_set_are_the_known_answers():
    sets = per_set(_summary(), "base", Goal(SALES, -0.5)).set_index(["scenario", SET_COLUMN])
    assert sets.change.to_dict() == pytest.approx(
        {("a", 0): -0.6, ("a", 1): -0.25, ("a", 2): -0.005,
         ("b", 0): -0.5, ("b", 1): -0.1, ("b", 2): 0.2}
    )  # fmt: skip
    assert sets.meets_goal.to_dict() == {
        ("a", 0): True, ("a", 1): False, ("a", 2): False,
        ("b", 0): True, ("b", 1): False, ("b", 2): False,
    }  # fmt: skip
    value = sets.cny_per_cny_averted
    assert value[("a", 0)] == pytest.approx(0.5) and value[("a", 1)] == pytest.approx(1.0)
    assert value[("b", 0)] == pytest.approx(0.2) and value[("b", 1)] == pytest.approx(0.0)
    assert math.isnan(value[("a", 2)]) and math.isnan(value[("b", 2)])
    # The most effective per set: a, a, a; the best value among those meeting the goal: b, -, -.
    assert list(sets.best_effect) == [True, True, True, False, False, False]
    assert list(sets.best_value) == [False, False, False, True, False, False]


def test_the_ranking_gives_medians_shares_and_ranks_over_the_sets():
    goal = Goal(SALES, -0.5)
    table = ranking(per_set(_summary(), "base", goal), goal).set_index("scenario")
    assert list(table.index) == ["a", "b"]  # a's median fall (-25%) beats b's (-10%)
    assert table.loc["a", "change_pct"] == pytest.approx(-25.0)
    assert table.loc["b", "change_pct"] == pytest.approx(-10.0)
    assert table.loc["a", "share_meets_goal"] == pytest.approx(1 / 3)
    assert table.loc["a", "share_best_effect"] == pytest.approx(1.0)
    assert table.loc["b", "share_best_value"] == pytest.approx(1 / 3)
    assert table.loc["a", "cny_per_cny_averted"] == pytest.approx(0.75)  # median of 0.5 and 1
    assert table.loc["b", "cny_per_cny_averted"] == pytest.approx(0.1)  # median of 0.2 and 0
    assert list(table.rank_effect) == [1, 2] and list(table.rank_value) == [2, 1]


def _failing_below(threshold: float, n: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An ensemble of three parameters; policy 'p' fails wherever demand elasticity < threshold."""
    rng = np.random.default_rng(7)
    ensemble = pd.DataFrame(
        {
            SET_COLUMN: range(n),
            "market.demand_elasticity": rng.uniform(0.5, 4.0, n),
            "beliefs.w_own": rng.uniform(1.0, 50.0, n),
            "economics.weekly_discount": rng.uniform(0.97, 0.999, n),
        }
    )
    fails = ensemble["market.demand_elasticity"] < threshold
    sets = pd.DataFrame({"scenario": "p", SET_COLUMN: ensemble[SET_COLUMN], "meets_goal": ~fails})
    return sets, ensemble


@pytest.mark.integration
def test_prim_finds_the_region_where_a_policy_fails_and_no_other():
    pytest.importorskip("ema_workbench")
    sets, ensemble = _failing_below(1.5)
    (box,) = failure_boxes(sets, ensemble)
    limits = box.limits.set_index("parameter")
    assert list(limits.index) == ["market.demand_elasticity"]  # the true region's only edge
    assert 1.3 <= limits.loc["market.demand_elasticity", "upper"] <= 1.8
    assert box.coverage >= 0.9 and box.density >= 0.9
    sentence = box.sentence(Goal(SALES, -0.5))
    assert sentence.startswith("p fails to cut counterfeit sales by at least 50% when ")
    assert "market.demand_elasticity <= 1." in sentence


@pytest.mark.integration
def test_prim_keeps_only_the_significant_edges_of_a_box_found_in_few_noisy_sets():
    pytest.importorskip("ema_workbench")
    from sim.experiments.robust import prim_limits

    rng = np.random.default_rng(1)  # 50 sets, 12 parameters, one matters; a tenth mislabelled
    x = pd.DataFrame({f"p{i}": rng.uniform(0, 1, 50) for i in range(12)})
    cases = ((x.p0 < 0.4) ^ (rng.uniform(size=50) < 0.1)).to_numpy()
    limits, coverage, density = prim_limits(x, cases)
    assert list(limits.parameter) == ["p0"]  # peeling alone also cut along four others
    assert 0.3 <= limits.upper.iloc[0] <= 0.5 and limits.lower.iloc[0] == limits.low_end.iloc[0]
    assert coverage >= 0.85 and density >= 0.85


def test_drivers_name_the_parameter_a_policy_s_effect_follows_and_correct_for_many():
    from sim.experiments.robust import driver_sentence, drivers

    sets, ensemble = _failing_below(1.5, n=60)
    rng = np.random.default_rng(3)  # the effect deepens with demand elasticity, plus noise
    sets["change"] = -0.2 * ensemble["market.demand_elasticity"] + rng.normal(0, 0.1, 60)
    table = drivers(sets, ensemble, Goal(SALES, -0.5)).set_index("parameter")
    first = table.loc["market.demand_elasticity"]
    assert first.rho < -0.8 and first.better_where == "higher" and first.p_holm < 1e-6
    assert table.index[0] == "market.demand_elasticity"  # sorted by p-value
    # Holm: the k-th smallest p-value times the parameters left, never below an earlier one
    p = table.p_value.to_numpy()
    expected = np.maximum.accumulate(np.minimum(1, p * np.arange(len(p), 0, -1)))
    np.testing.assert_allclose(table.p_holm, expected)
    assert (table.drop(index="market.demand_elasticity").p_holm > 0.05).all()
    sentence = driver_sentence(table.reset_index(), "p", Goal(SALES, -0.5))
    assert "where market.demand_elasticity is higher (rank correlation -0.8" in sentence
    assert "w_own" not in sentence
    # for a goal that is a rise the same correlation makes the policy better where it is lower
    rise = drivers(sets, ensemble, Goal(SALES, 0.1)).set_index("parameter")
    assert rise.loc["market.demand_elasticity", "better_where"] == "lower"


def test_a_policy_that_always_or_never_fails_needs_no_box():
    sets, ensemble = _failing_below(10.0)  # fails everywhere
    (always,) = failure_boxes(sets, ensemble)
    sets, ensemble = _failing_below(0.0)  # never fails
    (never,) = failure_boxes(sets, ensemble)
    goal = Goal(SALES, -0.5)
    assert always.sentence(goal).endswith("in every setting") and always.failing == 200
    assert (
        never.sentence(goal)
        == "p meets the goal (cut counterfeit sales by at least 50%) in every setting"
    )


def test_without_ema_workbench_the_box_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ema_workbench", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "ema_workbench.analysis", None)
    sets, ensemble = _failing_below(1.5)
    (box,) = failure_boxes(sets, ensemble)
    assert not box.searched
    assert "pip install 'deter-sim[ema]'" in box.sentence(Goal(SALES, -0.5))


def test_robust_ranks_policies_over_an_ensemble_and_writes_its_tables(tmp_path):
    ensemble = pd.DataFrame(
        {SET_COLUMN: [0, 1], "beliefs.w_own": [2.0, 20.0], "market.demand_elasticity": [1.0, 3.0]}
    )
    path = tmp_path / "ensemble.csv"
    ensemble.to_csv(path, index=False)
    out = tmp_path / "robust"
    done = deter_sim(
        "robust", "baseline_2016", "strict", "certainty_only", "--ensemble", str(path),
        "--goal", "counterfeit_sales_cny=-99%", "--set", "population.sellers=2000",
        "--weeks", "60", "--set", "burn_in_weeks=20", "--replications", "1",
        "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Policies over 2 parameter sets" in done.stdout
    assert "strict fails to cut counterfeit sales by at least 99% in every setting" in (
        " ".join(done.stdout.split())
    )
    table = pd.read_csv(out / "robust.csv")
    assert set(table.scenario) == {"strict", "certainty_only"} and (table.sets == 2).all()
    assert (table.share_meets_goal == 0).all()
    assert len(pd.read_csv(out / "robust_sets.csv")) == 4
    assert (out / "robust.png").stat().st_size > 10_000
    assert (out / "failure_boxes.csv").exists() and (out / "compare.csv").exists()
    assert (out / "drivers.csv").exists()
    compared = pd.read_csv(out / "compare.csv")  # every metric, as compare writes it
    assert {"active_sellers", "price_index", SALES}.issubset(set(compared.metric))


def test_robust_refuses_a_bad_goal_in_one_line_before_running(tmp_path):
    done = deter_sim(
        "robust", "baseline_2016", "strict", "--ensemble", "calibration/nothing.csv",
        "--goal", "sales=-50%", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown metric 'sales'" in done.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # about 40 s: four small scenarios, then each on two parameter sets
def test_a_brief_over_an_ensemble_says_how_sure_it_is(tmp_path):
    from pypdf import PdfReader

    ensemble = pd.DataFrame({SET_COLUMN: [0, 1], "beliefs.w_own": [2.0, 20.0]})
    path = tmp_path / "ensemble.csv"
    ensemble.to_csv(path, index=False)
    target = tmp_path / "brief.pdf"
    done = deter_sim(
        "brief", "baseline_2016", "strict", "certainty_only", "--ensemble", str(path),
        "--goal", "counterfeit_sales_cny=-20%", "--set", "population.sellers=2000",
        "--weeks", "60", "--set", "burn_in_weeks=20", "--replications", "2",
        "--out", str(tmp_path / "runs"), "-o", str(target),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = [" ".join(page.extract_text().split()) for page in PdfReader(target).pages]
    assert len(pages) == 11  # the nine pages, and 'How sure are we' with its chart
    sure = pages[2]
    assert sure.startswith("How sure are we: across 2 plausible settings of the model")
    assert "Across 2 plausible settings of the model, strict" in sure
    assert "(90% of settings:" in sure and "cut counterfeit sales by at least 20%" in sure
    assert "on 2 parameter sets of" in pages[3]  # the chart's own footer
    robust = pd.read_csv(tmp_path / "runs" / "robust" / "robust.csv")
    assert set(robust.scenario) == {"strict", "certainty_only"}
