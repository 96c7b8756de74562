"""Known-answer and property tests of the behavioural formulas (ODD section 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.model import rules


def test_sigmoid_known_values():
    assert rules.sigmoid(0.0) == pytest.approx(0.5)
    assert rules.sigmoid(math.log(3)) == pytest.approx(0.75)
    assert rules.sigmoid(-1e6) == 0.0
    assert rules.sigmoid(1e6) == 1.0


def test_discounted_prison_years_without_discounting_is_the_sentence():
    assert rules.discounted_prison_years(3.0, 1.0) == pytest.approx(3.0)


def test_discounted_prison_years_matches_the_explicit_sum():
    delta, years = 0.99, 2.0
    explicit = sum(delta**t for t in range(104)) / 52
    assert rules.discounted_prison_years(years, delta) == pytest.approx(explicit)


def test_discounted_prison_years_is_bounded_by_the_perpetuity():
    assert rules.discounted_prison_years(1000.0, 0.99) == pytest.approx(1 / (52 * 0.01))


@given(
    st.floats(0, 20),
    st.floats(0.01, 10),
    st.floats(0.9, 0.9999),
)
def test_discounted_prison_years_is_concave(sentence, extra, delta):
    # The extra years added to a longer sentence are worth less: D(S+e) - D(S) <= D(e) - D(0).
    gain_late = rules.discounted_prison_years(sentence + extra, delta) - (
        rules.discounted_prison_years(sentence, delta)
    )
    gain_early = rules.discounted_prison_years(extra, delta)
    assert gain_late <= gain_early + 1e-12


def test_a_perceived_chance_is_the_beta_mean():
    assert rules.belief_mean(1.0, 3.0) == pytest.approx(0.25)
    assert rules.prior_pair(0.25, 20.0) == (5.0, 15.0)


def test_expected_gain_known_answer():
    assert rules.expected_gain(1000, 100, 525) == pytest.approx(375.0)


def test_platform_loss_known_answer():
    # rate 0.1 x 100 listings = 10 takedowns x 2 CNY = 20; hazard 10 x 0.05 / 5 = 0.1 x 1000.
    hazard = rules.closure_hazard(0.1, 100, 0.05, 5)
    assert hazard == pytest.approx(0.1)
    assert rules.platform_loss(0.1, 100, 2.0, hazard, 1000.0) == pytest.approx(20 + 100)


def test_the_closure_hazard_is_at_most_one():
    assert rules.closure_hazard(1.0, 1e9, 1.0, 1) == 1.0


def test_p_active_hard_threshold_when_noise_is_zero():
    probability = rules.p_active(np.array([10.0, 5.0, 0.0]), 5.0, 0.0)
    assert probability.tolist() == [1.0, 0.5, 0.0]


def test_p_active_is_a_logistic_in_the_gain_difference():
    assert rules.p_active(7.0, 5.0, 2.0) == pytest.approx(1 / (1 + math.exp(-1)))


def test_sentence_tiers_known_answers():
    years = rules.sentence_years(
        np.array([60_000.0, 60_000.0, 300_000.0, 300_000.0]),
        huge_amount=250_000,
        tier1_years=(0.5, 3.0),
        tier2_min_years=3.0,
        max_sentence_years=7.0,
        u=np.array([0.0, 1.0, 0.0, 0.5]),
    )
    assert years.tolist() == pytest.approx([0.5, 3.0, 3.0, 5.0])


@given(
    st.floats(0, 1e8),
    st.floats(0, 50),
    st.floats(0, 1, exclude_max=True),
    st.floats(0, 10),
    st.floats(0, 10),
)
def test_sentences_never_exceed_the_maximum(sales, maximum, u, low, width):
    years = rules.sentence_years(sales, 250_000, (low, low + width), 3.0, maximum, u)
    assert 0 <= years <= maximum


def test_fine_is_a_multiple_of_sales():
    assert rules.fine(80_000, 1.5) == pytest.approx(120_000)


def test_forget_moves_towards_the_prior():
    assert rules.forget(10.0, 2.0, 0.5) == pytest.approx(6.0)
    assert rules.forget(10.0, 2.0, 1.0) == pytest.approx(10.0)
    assert rules.forget(10.0, 2.0, 0.0) == pytest.approx(2.0)


def test_observing_weights_each_unit_of_observation():
    # Weight 2 at learning 0.5 pulls by 1 - 0.5^2 = 0.75: 2 + 0.75 * (6 - 2) = 5.
    assert rules.observe(2.0, 6.0, 2.0, 0.5) == pytest.approx(5.0)
    assert rules.observe(2.0, 6.0, 0.0, 0.5) == pytest.approx(2.0)


def test_an_announcement_pulls_and_halves_with_its_half_life():
    assert rules.announced(0.2, 0.8, 0.5) == pytest.approx(0.5)
    assert rules.announcement_pull(0.4, 0.5, 0, 8.0) == pytest.approx(0.2)
    assert rules.announcement_pull(0.4, 0.5, 16, 8.0) == pytest.approx(0.05)


def test_forget_in_place_matches_the_expression():
    value = np.array([10.0, 3.0], dtype=np.float32)
    expected = rules.forget(value.copy(), 2.0, 0.5)
    rules.forget(value, 2.0, 0.5, out=value)
    np.testing.assert_array_equal(value, expected)


def test_rules_keep_single_precision():
    x = np.ones(3, dtype=np.float32)
    assert rules.sigmoid(x).dtype == np.float32
    assert rules.discounted_prison_years(x, 0.99).dtype == np.float32
    assert rules.p_active(x, x, x).dtype == np.float32
    assert rules.belief_mean(x, x).dtype == np.float32
    assert rules.exposure(x, x, 26.0, 10.0, 0.5).dtype == np.float32


def test_closure_cost_and_entry_cost():
    assert rules.closure_cost(100.0, 500.0, 4) == pytest.approx(900.0)
    assert rules.entry_cost_per_week(520.0, 52.0) == pytest.approx(10.0)
    assert rules.update_takedown(0.2, 0.4, 0.75) == pytest.approx(0.25)


def test_a_prior_lies_between_the_2016_value_and_the_scenarios_by_awareness():
    assert rules.regime_prior(0.3, 0.9, 0.5) == pytest.approx(0.6)
    assert rules.regime_prior(0.3, 0.9, 0.0) == pytest.approx(0.3)


def test_rules_accept_arrays_and_scalars_alike():
    args = (0.02, 1.0, 0.5, 0.25, 0.1, 10_000.0, 40_000.0, 60_000.0)
    scalar = rules.criminal_cost(*args, 2.0, 0.99, 26)
    array = rules.criminal_cost(*args, np.array([2.0, 2.0]), 0.99, 26)
    np.testing.assert_allclose(array, float(scalar))


@pytest.mark.parametrize(("trials", "p"), [(200, 1e-5), (40, 0.01), (5, 0.3), (3, 0.9), (0, 0.5)])
def test_binomial_pmf_is_the_binomial_distribution(trials, p):
    from scipy import stats

    np.testing.assert_allclose(
        rules.binomial_pmf(12, trials, p), stats.binom.pmf(np.arange(12), trials, p), rtol=1e-11
    )
    assert list(rules.binomial_pmf(3, 5, 0.0)) == [1.0, 0.0, 0.0]
    assert list(rules.binomial_pmf(3, 2, 1.0)) == [0.0, 0.0, 1.0]
