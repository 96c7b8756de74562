"""The model's science and bookkeeping, on small populations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import small

from sim.experiments.runner import run_replication
from sim.model.agents import SellerState
from sim.model.model import DeterrenceModel
from sim.model.streams import replication_seeds
from sim.scenario import apply_changes

SEEDS = replication_seeds(7, 4)


def step_all(model: DeterrenceModel):
    """Step through every week, yielding the model after each."""
    while model.week < model.scenario.weeks:
        model.step()
        yield model


@pytest.mark.parametrize("name", ["baseline_2016", "strict", "surge", "platform_only"])
def test_states_partition_the_population_every_week(name):
    model = DeterrenceModel(small(name), SEEDS[0])
    for _ in step_all(model):
        counts = np.bincount(model.population.state, minlength=len(SellerState))
        assert counts.sum() == model.population.n
        assert len(counts) == len(SellerState)
        frame = model.timeseries().iloc[-1]
        assert frame.jailed == counts[SellerState.JAILED]
        assert frame.prosecuted == counts[SellerState.PROSECUTED]
        assert frame.suspended == counts[SellerState.SUSPENDED]


@pytest.mark.parametrize("name", ["baseline_2016", "strict"])
def test_cumulative_convictions_within_pursued_within_referrals(name):
    # A high conviction rate so that a few thousand sellers give convictions to count.
    frame = run_replication(small(name, **{"enforcement.conviction_rate": 0.5}), 0, SEEDS[1])
    convictions = frame.convictions.cumsum()
    pursued = frame.cases_pursued.cumsum()
    # Cases come from the platform's referrals and from police leads off the platform.
    referrals = (frame.referrals + frame.offplatform_cases).cumsum()
    assert (convictions <= pursued).all()
    assert (pursued <= referrals).all()
    assert referrals.iloc[-1] > 0 and convictions.iloc[-1] > 0


def test_every_referral_is_accounted_for(small_strict):
    # Cases handed over (referred by the platform or found by police leads off it) are
    # pursued, declined, dropped, or still waiting.
    frame = run_replication(small_strict, 0, SEEDS[0])
    handled = frame.cases_pursued + frame.cases_declined + frame.cases_dropped
    backlog = frame.case_backlog
    cases = frame.referrals + frame.offplatform_cases
    assert frame.offplatform_cases.sum() > 0
    assert cases.cumsum().iloc[-1] == handled.cumsum().iloc[-1] + backlog.iloc[-1]


def test_prison_terms_never_exceed_the_maximum_sentence():
    scenario = small("strict", **{"enforcement.max_sentence_years": 0.5})
    model = DeterrenceModel(scenario, SEEDS[0])
    jailed_any = False
    for _ in step_all(model):
        pop = model.population
        jailed = pop.state == SellerState.JAILED
        jailed_any |= bool(jailed.any())
        assert (pop.weeks_left[jailed] <= round(0.5 * 52) + 1).all()
    assert jailed_any


def test_zero_detection_gives_no_takedowns_closures_or_referrals():
    scenario = small(
        "baseline_2016", **{"platform.detection_rate": 0.0, "platform.lawsuits_per_year": 0}
    )
    frame = run_replication(scenario, 0, SEEDS[0])
    assert frame.active_sellers.sum() > 0
    assert frame.listings_removed.sum() == 0
    assert frame.stores_closed.sum() == 0
    assert frame.referrals.sum() == 0


def test_zero_prosecution_gives_no_convictions():
    scenario = small("strict", **{"enforcement.prosecution_rate": 0.0})
    frame = run_replication(scenario, 0, SEEDS[0])
    assert frame.referrals.sum() > 0
    assert frame.cases_pursued.sum() == 0
    assert frame.convictions.sum() == 0
    assert frame.jailed.sum() == 0


def test_removing_the_states_response_raises_counterfeiting():
    with_state = small("strict")
    without = apply_changes(with_state, {"enforcement.prosecution_rate": 0.0})
    burn_in = with_state.burn_in_weeks
    for seed in SEEDS[:3]:
        kept = run_replication(with_state, 0, seed)
        removed = run_replication(without, 0, seed)
        kept, removed = kept[kept.week >= burn_in], removed[removed.week >= burn_in]
        assert removed.active_sellers.mean() > kept.active_sellers.mean()
        assert removed.counterfeit_sales_cny.sum() > kept.counterfeit_sales_cny.sum()


def test_same_seed_gives_identical_output(small_baseline):
    first = run_replication(small_baseline, 0, SEEDS[2])
    second = run_replication(small_baseline, 0, SEEDS[2])
    pd.testing.assert_frame_equal(first, second)


def test_different_seeds_give_different_output(small_baseline):
    first = run_replication(small_baseline, 0, SEEDS[0])
    second = run_replication(small_baseline, 0, SEEDS[1])
    assert not first.equals(second)


def _trace(scenario, seed):
    model = DeterrenceModel(scenario, seed)
    decisions, detections, enforcement = [], [], []
    for _ in step_all(model):
        decisions.append(model.population.active.copy())
        detections.append(model.population.detections.copy())
        row = model.timeseries().iloc[-1]
        enforcement.append((row.cases_pursued, row.cases_declined, row.convictions))
    return decisions, detections, enforcement


def test_common_random_numbers_keep_decisions_identical_until_enforcement_differs():
    # Two scenarios that differ only in enforcement: same decisions and detections up to and
    # including the first week in which their enforcement outcomes differ.
    # With law awareness 0 both start from the 2016 priors (ODD 4.4), so only the enforcers'
    # decisions can set them apart.
    base = small("baseline_2016", **{"beliefs.law_awareness": 0.0})
    other = apply_changes(base, {"enforcement.prosecution_rate": 0.9})
    dec_a, det_a, enf_a = _trace(base, SEEDS[3])
    dec_b, det_b, enf_b = _trace(other, SEEDS[3])
    differing = [week for week, (a, b) in enumerate(zip(enf_a, enf_b, strict=True)) if a != b]
    assert differing, "the two enforcement regimes never differed: the test shows nothing"
    first = differing[0]
    for week in range(first + 1):
        assert np.array_equal(dec_a[week], dec_b[week]), f"decisions differ in week {week}"
        assert np.array_equal(det_a[week], det_b[week]), f"detections differ in week {week}"
    later = range(first + 1, len(dec_a))
    assert any(not np.array_equal(dec_a[w], dec_b[w]) for w in later)


def test_scheduled_change_applies_and_reverts():
    scenario = small("surge", weeks=120)
    model = DeterrenceModel(scenario, SEEDS[0])
    rates = {}
    for _ in step_all(model):
        rates[model.week - 1] = model.params.enforcement.prosecution_rate
    before = scenario.enforcement.prosecution_rate
    assert before != 0.9
    assert rates[51] == pytest.approx(before)
    assert rates[52] == pytest.approx(0.9)
    assert rates[103] == pytest.approx(0.9)
    assert rates[104] == pytest.approx(before)


def test_suspension_keeps_a_seller_out_for_exactly_the_delay():
    scenario = small("baseline_2016", **{"platform.reentry_delay_weeks": 3})
    model = DeterrenceModel(scenario, SEEDS[0])
    watched, closed_week = None, None
    for _ in step_all(model):
        state = model.population.state
        if watched is None:
            closed = np.flatnonzero(state == SellerState.SUSPENDED)
            if len(closed):
                watched, closed_week = closed[0], model.week - 1
        elif state[watched] != SellerState.SUSPENDED:
            # Out of the decisions of weeks closed_week+1 .. closed_week+3, back at +4.
            assert model.week - 1 == closed_week + 3
            break
    assert watched is not None
