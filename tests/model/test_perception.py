"""Sellers perceive the sanctions they are exposed to, through one machinery (ODD 4.2, 4.4).

Tests of the science, each able to fail: exposure switches the chain off, a new maximum
reaches beliefs only through the channels, no conviction means no prison cost, known answers
for the chain, the verdict discounting and the suspended share, announcements decay with
their half-life, and both engines follow one path with announcements and suspensions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import CLOSED

from sim.model import beliefs, rules
from sim.model.model import DeterrenceModel
from sim.scenario import PolicyChange, apply_changes, load_scenario
from sim.scenario.schema import EnforcementParams

SMALL = ["population.sellers=3000", "weeks=60", "burn_in_weeks=10", "replications=1"]
# The perception tests run on the closed model (ODD 4.6 to 4.9 off), so that no displacement,
# entry or price response blurs what perception alone does; the open model's own tests are
# in test_open_model.py.
SMALL += [f"{key}={value}" for key, value in CLOSED.items()]


def scenario(*overrides: str):
    return load_scenario("baseline_2016", [*SMALL, *overrides])


def run(sc, seed: int = 3, engine: str = "vector"):
    model = DeterrenceModel(sc, seed, engine)
    frame = model.run()
    model.release()
    return model, frame


def test_a_longer_maximum_changes_no_decision_when_no_seller_can_reach_the_threshold():
    unreachable = "platform.criminal_threshold_cny=10000000000"
    _, short = run(scenario(unreachable, "enforcement.max_sentence_years=7"))
    _, long = run(scenario(unreachable, "enforcement.max_sentence_years=14"))
    assert short.referrals.sum() == 0
    np.testing.assert_array_equal(short.active_sellers, long.active_sellers)
    np.testing.assert_array_equal(short.mean_perceived_sanction_cny, 0.0)


def test_the_same_maximum_deters_when_sellers_can_reach_the_threshold():
    # The test above is not vacuous: with a reachable threshold the maximum does matter.
    # The effect is small (prison is far off and discounted): on each seed sellers perceive a
    # larger sanction, and over four seeds fewer are active (one seed alone is within noise).
    reachable = "platform.criminal_threshold_cny=1000"
    active = {1: 0.0, 50: 0.0}
    for seed in (1, 2, 3, 4):
        _, short = run(scenario(reachable, "enforcement.max_sentence_years=1"), seed)
        _, long = run(scenario(reachable, "enforcement.max_sentence_years=50"), seed)
        assert long.mean_perceived_sanction_cny.mean() > short.mean_perceived_sanction_cny.mean()
        assert (
            long.mean_perceived_sentence_years.iloc[-1]
            > short.mean_perceived_sentence_years.iloc[-1]
        )
        active[1] += short.active_sellers.sum()
        active[50] += long.active_sellers.sum()
    assert active[50] < active[1]


def test_a_new_maximum_leaves_perceived_sentences_unchanged_without_announcement_or_sentences():
    base = scenario("beliefs.announcement_weight=0", "enforcement.conviction_rate=0")
    change = PolicyChange(week=5, set={"enforcement.max_sentence_years": 15}, announce=True)
    changed = base.model_copy(update={"schedule": [change]})
    before, _ = run(base)
    after, _ = run(changed)
    for column in ("sentence1", "sentence2", "fine_multiple"):
        np.testing.assert_array_equal(
            before.population.column(column), after.population.column(column)
        )


def test_an_announced_maximum_moves_the_perceived_sentence_while_it_lasts():
    base = scenario("enforcement.conviction_rate=0", "beliefs.announcement_weight=0.5")
    change = PolicyChange(week=40, set={"enforcement.max_sentence_years": 15}, announce=True)
    _, quiet = run(base)
    _, loud = run(base.model_copy(update={"schedule": [change]}))
    assert (
        loud.mean_perceived_sentence_years[40:] > quiet.mean_perceived_sentence_years[40:]
    ).all()
    np.testing.assert_array_equal(
        loud.mean_perceived_sentence_years[:40], quiet.mean_perceived_sentence_years[:40]
    )


def test_no_perceived_conviction_means_no_prison_cost():
    common = dict(
        hazard=np.float32(0.05),
        exposure_weight=np.float32(1.0),
        p_referral=np.float32(0.3),
        p_pursuit=np.float32(0.4),
        p_conviction=np.float32(0.0),
        proceedings=np.float32(8000.0),
        fine=np.float32(50_000.0),
        weekly_discount=0.99,
        verdict_weeks=26,
    )
    cheap = rules.criminal_cost(
        **common, prison_year_cost=np.float32(1.0), custodial_years=np.float32(1.0)
    )
    harsh = rules.criminal_cost(
        **common, prison_year_cost=np.float32(1e6), custodial_years=np.float32(20.0)
    )
    assert cheap == harsh == pytest.approx(0.05 * 0.3 * 0.4 * 8000.0, rel=1e-6)


def test_the_chain_has_a_known_answer():
    h, e, rho, pi, kappa = 0.02, 1.0, 0.5, 0.25, 0.1
    proceedings, fine, c, years, delta, weeks = 10_000.0, 40_000.0, 60_000.0, 2.0, 0.99, 26
    d = (1 - delta ** (52 * years)) / (52 * (1 - delta))
    expected = h * e * rho * pi * (proceedings + kappa * delta**weeks * (fine + c * d))
    got = rules.criminal_cost(h, e, rho, pi, kappa, proceedings, fine, c, years, delta, weeks)
    assert got == pytest.approx(expected, rel=1e-9)


def test_prison_is_discounted_from_the_verdict_not_from_the_decision():
    args = (1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1000.0, 1.0, 0.98)
    now, later = rules.criminal_cost(*args, 0), rules.criminal_cost(*args, 26)
    assert later == pytest.approx(now * 0.98**26, rel=1e-12)


def test_exposure_is_zero_below_the_reach_of_the_threshold_to_the_degree_it_is_known():
    sales, horizon, threshold = np.float32(100.0), 26.0, 50_000.0
    assert rules.exposure(np.float32(47_400), sales, horizon, threshold, 1.0) == 1.0
    assert rules.exposure(np.float32(47_300), sales, horizon, threshold, 1.0) == 0.0
    assert rules.exposure(np.float32(0), sales, horizon, threshold, 0.25) == 0.75


@pytest.mark.parametrize(
    ("tier2", "tier1", "tier2_min", "maximum", "expected"),
    [
        (False, (0.5, 3.0), 3.0, 7.0, 1.75),
        (True, (0.5, 3.0), 3.0, 7.0, 5.0),
        (True, (0.5, 3.0), 3.0, 2.0, 2.0),
        # Capped tier 1: E[min(U(0, 2), 1)] = 0.25 + 0.5 = 0.75.
        (False, (0.0, 2.0), 3.0, 1.0, 0.75),
    ],
)
def test_expected_sentences_have_known_answers(tier2, tier1, tier2_min, maximum, expected):
    assert rules.expected_sentence(tier2, tier1, tier2_min, maximum) == pytest.approx(expected)


def test_the_perceived_prison_term_counts_suspended_sentences_as_no_prison():
    sc = scenario("enforcement.suspended_share=0.7")
    values = beliefs.sanction_values(sc)
    assert values["sentence2"][0] == pytest.approx(0.3 * 5.0, rel=1e-6)


@pytest.mark.parametrize(("share", "jailed"), [(1.0, False), (0.0, True)])
def test_a_suspended_share_of_one_sends_nobody_to_prison(share, jailed):
    strict = load_scenario("strict", [*SMALL, f"enforcement.suspended_share={share}"])
    _, frame = run(strict)
    assert frame.convictions.sum() > 0
    assert bool(frame.jailed.sum() > 0) == jailed


def test_the_suspended_share_of_convictions_is_as_set():
    strict = load_scenario(
        "strict", [*SMALL, "population.sellers=8000", "enforcement.suspended_share=0.5"]
    )
    model = DeterrenceModel(strict, 5, "vector")
    custodial = convictions = 0
    for _ in range(strict.weeks):
        model.step()
        verdicts = model.current_week.verdict_parts
        for _, _, years, _ in verdicts:
            custodial += int(np.count_nonzero(years > 0))
            convictions += len(years)
    model.release()
    share = custodial / convictions
    half_width = 3 * math.sqrt(0.25 / convictions)
    assert convictions > 100 and abs(share - 0.5) < half_width


def test_an_announcement_decays_with_its_half_life():
    weight, half_life = 0.4, 8.0
    sc = scenario(
        f"beliefs.announcement_weight={weight}", f"beliefs.announcement_half_life_weeks={half_life}"
    )
    change = PolicyChange(
        week=20, set={"enforcement.prosecution_rate": 0.9}, announce=True, reach=0.5
    )
    model = DeterrenceModel(sc.model_copy(update={"schedule": [change]}), 1, "vector")
    pulls = {}
    for _ in range(45):
        model.step()
        active = model.current_week.pulls.get("pursuit", [])
        pulls[model.week - 1] = active[0][1] if active else 0.0
    model.release()
    assert pulls[19] == 0.0
    assert pulls[20] == pytest.approx(weight * 0.5)
    assert pulls[28] == pytest.approx(pulls[20] / 2)
    assert pulls[36] == pytest.approx(pulls[20] / 4)
    announced = model.announcements[0].values["pursuit"]
    leniency = np.asarray(sc.enforcement.regional_leniency)
    np.testing.assert_allclose(announced, 0.9 * leniency, rtol=1e-6)


def test_an_unannounced_change_sets_no_pull():
    change = PolicyChange(week=5, set={"enforcement.prosecution_rate": 0.9})
    model = DeterrenceModel(scenario().model_copy(update={"schedule": [change]}), 1, "vector")
    for _ in range(10):
        model.step()
    assert model.announcements == [] and model.current_week.pulls == {}
    model.release()


def test_priors_lie_between_the_2016_sanctions_and_the_scenarios_by_law_awareness():
    for awareness in (0.0, 0.5, 1.0):
        sc = scenario("enforcement.prosecution_rate=0.9", f"beliefs.law_awareness={awareness}")
        model = DeterrenceModel(sc, 1, "vector")
        leniency = np.asarray(sc.enforcement.regional_leniency)
        before = EnforcementParams().prosecution_rate  # the 2016 rate: the schema's default
        expected = leniency * (before + awareness * (0.9 - before))
        np.testing.assert_allclose(model.priors.mean["pursuit"], expected, rtol=1e-5)
        model.release()


def test_own_pursuit_raises_the_perceived_chance_of_pursuit_more_than_a_contacts():
    sc = load_scenario("strict", SMALL)
    model = DeterrenceModel(sc, 2, "vector")
    pop = model.population
    before = None
    for _ in range(sc.weeks):
        model.step()
        pursued = np.flatnonzero(pop.events & beliefs.STEP_BITS["pursuit"][1])
        if len(pursued):
            before = pursued
            break
    assert before is not None
    mean = rules.belief_mean(pop.alpha[1], pop.beta[1])
    # Row i of the contact matrix lists whom seller i observes.
    watched = np.zeros(pop.n, dtype=np.float32)
    watched[before] = 1.0
    observers = np.flatnonzero(pop.contacts @ watched)
    contacts = np.setdiff1d(observers, before)
    others = np.setdiff1d(np.arange(pop.n), np.r_[before, contacts])
    # Within each region (priors differ by region's leniency): a seller's perceived chance
    # above that of the sellers of its region who saw no pursuit.
    region = pop.region
    base = np.array([mean[others][region[others] == r].mean() for r in range(region.max() + 1)])
    own = (mean[before] - base[region[before]]).mean()
    contact = (mean[contacts] - base[region[contacts]]).mean()
    assert own > contact > 0
    model.release()


def test_both_engines_follow_one_path_with_announcements_and_suspended_sentences():
    sc = load_scenario(
        "strict", ["population.sellers=600", "weeks=70", "burn_in_weeks=10", "replications=1"]
    )
    schedule = [
        PolicyChange(week=20, set={"enforcement.max_sentence_years": 5.0}, announce=True),
        PolicyChange(
            week=30,
            until_week=50,
            set={"enforcement.prosecution_rate": 0.5, "enforcement.fine_multiple": 2.0},
            announce=True,
            reach=0.6,
        ),
    ]
    sc = apply_changes(sc, {"enforcement.suspended_share": 0.5}).model_copy(
        update={"schedule": schedule}
    )
    _, vector = run(sc, 11, "vector")
    _, agents = run(sc, 11, "agents")
    assert vector.convictions.sum() > 0
    np.testing.assert_allclose(vector.to_numpy(), agents.to_numpy(), rtol=1e-5, atol=1e-6)
