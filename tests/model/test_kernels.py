"""The compiled kernels (``sim.model.kernels``): exact draws, the rule as ODD states it, learning.

The engines' agreement (``test_engines.py``) shows the kernels are shared; these tests show
they compute the model's formulas: the binomial draws follow the binomial distribution, the
decision rule gives what the numpy statement of it (``beliefs.perceive`` with the formulas of
``sim.model.rules``) gives, and one pass of learning adds and forgets what ODD 4.4 says.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small
from numba import njit
from scipy import stats

from sim.model import beliefs, draws, kernels, learning, pcg64, rules
from sim.model.model import DeterrenceModel
from sim.scenario import apply_changes


@njit
def _compiled_draws(n, p, stream, count, tables):
    # With tables: ``draws.draw`` (alias tables for the digits of n within them); without:
    # ``draws.binomial``, the exact sampler one draw at a time.
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        if tables is None:
            out[i] = draws.binomial(n, p, stream)
        else:
            out[i] = draws.draw(n, p, stream, tables)
    return out


def _draws(n, p, rng, count, sampler):
    tables = draws.tables(p, n) if sampler == "tables" else None
    return _compiled_draws(n, p, pcg64.take(rng), count, tables)


CASES = [
    (1, 0.3),  # one trial
    (83, 0.006),  # the strikes of a week's takedowns (inversion one at a time)
    (67, 0.149),  # inversion one at a time, just below the switch (n p = 9.98)
    (68, 0.149),  # BTRS, just above it
    (560, 0.1484),  # the takedowns of a median store: two digits, 48 + 8 x 64
    (4_095, 0.1484),  # the largest store of two digits
    (20_000, 0.1484),  # a large store: three digits
    (100, 0.9),  # p above 1/2 (by symmetry one at a time)
    (40, 0.95),
    (50, 0.5),
    (300_000, 0.01),  # beyond the tables: ``draw`` hands it to ``binomial``
]


@pytest.mark.parametrize("sampler", ["tables", "one at a time"])
@pytest.mark.parametrize(("n", "p"), CASES)
def test_binomial_draws_follow_the_binomial_distribution(n, p, sampler):
    draws = _draws(n, p, np.random.default_rng(11), 200_000, sampler)
    assert draws.min() >= 0 and draws.max() <= n
    k = np.arange(n + 1)
    expected = stats.binom.pmf(k, n, p) * len(draws)
    observed = np.bincount(draws, minlength=n + 1)
    # Cells with fewer than 5 expected draws are pooled into one.
    keep = expected >= 5
    cells_observed = np.r_[observed[keep], observed[~keep].sum()]
    cells_expected = np.r_[expected[keep], expected[~keep].sum()]
    chi2 = ((cells_observed - cells_expected) ** 2 / np.maximum(cells_expected, 1e-12)).sum()
    assert stats.chi2.sf(chi2, len(cells_observed) - 1) > 1e-3
    assert draws.mean() == pytest.approx(n * p, abs=5 * np.sqrt(n * p * (1 - p) / len(draws)))


@pytest.mark.parametrize("sampler", ["tables", "one at a time"])
def test_binomial_draws_at_the_limits(sampler):
    rng = np.random.default_rng(1)
    assert (_draws(0, 0.3, rng, 100, sampler) == 0).all()
    assert (_draws(50, 0.0, rng, 100, sampler) == 0).all()
    assert (_draws(50, 1.0, rng, 100, sampler) == 50).all()
    assert (_draws(5_000, 1.0, rng, 100, sampler) == 5_000).all()


def _table_probabilities(accept, outcome, low):
    # What an alias table gives each outcome: its own column's share, and the rest of every
    # column whose alias it is, each column 1 / K likely.
    k = len(accept)
    given = accept.copy()
    np.add.at(given, outcome - low, 1.0 - accept)
    return given / k


@pytest.mark.parametrize(
    ("n", "p"), [(1, 0.3), (48, 0.1484), (8 * 64, 0.1484), (63 * 4_096, 0.1484), (37, 0.006)]
)
def test_each_alias_table_gives_the_binomial_probabilities(n, p):
    # Known answer: the probabilities a table gives its outcomes are scipy's to double
    # precision, and what it leaves out is far below the resolution of a uniform.
    low, probabilities = draws.binomial_pmf(n, p)
    accept, alias = draws.alias_table(probabilities)
    given = _table_probabilities(accept, alias + low, low)
    exact = stats.binom.pmf(np.arange(low, low + len(given)), n, p)
    np.testing.assert_allclose(given, exact, rtol=1e-9, atol=1e-17)
    high = low + len(given) - 1
    assert stats.binom.cdf(low - 1, n, p) + stats.binom.sf(high, n, p) < 1e-17  # left out
    assert ((accept >= 0) & (accept <= 1)).all()


def test_the_tables_cover_each_digit_of_the_largest_store():
    positions, largest, start, low, size, accept, outcome = draws.tables(0.1484, 3_404)
    assert positions == 2 and largest == 3_404 and len(size) == 2 * draws.BASE
    assert draws.tables(0.5, 10**6)[:2] == (3, draws.TABLED - 1)  # beyond: ``binomial``
    # Table j * 64 + d is Binomial(d 64^j, p); a digit 0 has the one outcome 0.
    for j, d in [(0, 0), (0, 37), (0, 63), (1, 0), (1, 53)]:
        t = j * draws.BASE + d
        columns = slice(start[t], start[t + 1])
        given = _table_probabilities(accept[columns], outcome[columns, 0], low[t])
        # Beside each alias, the column's own outcome: the first outcome plus the column.
        np.testing.assert_array_equal(outcome[columns, 1], low[t] + np.arange(size[t]))
        trials = d * draws.BASE**j
        exact = stats.binom.pmf(np.arange(low[t], low[t] + size[t]), trials, 0.1484)
        np.testing.assert_allclose(given, exact, rtol=1e-9, atol=1e-17)
    # Digits of the last position beyond the largest store's (3,404 = 53 x 64 + 12) get a
    # table of one column that no draw reads.
    assert (size[draws.BASE + 54 :] == 1).all()
    assert accept.nbytes + outcome.nbytes < 350_000  # about 0.3 MB for the shipped stores


def test_a_uniform_times_a_table_length_stays_below_it():
    # ``draws._lookup`` picks column int(u k) of a table of k columns with no clamp: the
    # largest uniform numpy gives, 1 - 2^-53, times every length k up to the largest a table
    # can have is below k once rounded, so the column is always within the table.
    largest_uniform = 1.0 - 2.0**-53
    assert largest_uniform == np.nextafter(1.0, 0.0)
    k = np.arange(1, draws.TABLED + 1, dtype=np.float64)
    assert (np.floor(largest_uniform * k) <= k - 1).all()


def _tables(detection_rate, strike_rate, largest):
    return draws.tables(detection_rate, largest), draws.tables(strike_rate, largest)


def test_takedowns_draw_one_store_after_another_on_their_own_streams():
    listings = np.array([560, 3, 0, 12_000, 90], dtype=np.int32)
    args = (listings, 0.15, 0.02)
    tables = _tables(0.15, 0.02, 12_000)
    first = draws.takedowns(*args, *_streams(5), tables)
    again = draws.takedowns(*args, *_streams(5), tables)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[0][2] == 0 and (first[1] <= first[0]).all()
    # The strikes come from their own stream: another strikes stream leaves takedowns alone.
    other = draws.takedowns(*args, _streams(5)[0], _streams(99)[0], tables)
    np.testing.assert_array_equal(other[0], first[0])


@njit
def _one_at_a_time(listings, detection_rate, strike_rate, detection, strike, tables):
    found = np.empty(len(listings), dtype=np.int64)
    struck = np.empty(len(listings), dtype=np.int64)
    for i in range(len(listings)):
        found[i] = draws.draw(listings[i], detection_rate, detection, tables[0])
        struck[i] = draws.draw(found[i], strike_rate, strike, tables[1])
    return found, struck


@pytest.mark.parametrize(("detection_rate", "strike_rate"), [(0.1484, 0.006), (0.7, 0.3)])
@pytest.mark.parametrize("largest", [40_000, 900])
def test_takedowns_are_the_draws_of_one_store_at_a_time(detection_rate, strike_rate, largest):
    # Stores of every size from 0 to 40,000, one digit to three, and rates on both sides of
    # 1/2: the loop over the week's stores draws what ``draw`` draws store by store, both
    # where the tables cover every store and where some are beyond them (tables made for a
    # largest store of 900: those take ``binomial``).
    rng = np.random.default_rng(3)
    listings = np.r_[rng.integers(0, 900, 20_000), rng.integers(0, 40_000, 200)].astype(np.int32)
    args = (listings, detection_rate, strike_rate)
    tables = _tables(detection_rate, strike_rate, largest)
    week = draws.takedowns(*args, *_streams(8), tables)
    single = _one_at_a_time(*args, *_streams(8), tables)
    np.testing.assert_array_equal(week[0], single[0])
    np.testing.assert_array_equal(week[1], single[1])
    assert week[1].sum() > 100  # strikes were drawn, not all zeros
    # The uniforms: one per digit position and draw, whatever the digit.
    if largest == 40_000:
        streams = _streams(8)
        draws.takedowns(*args, *streams, tables)
        rng = np.random.default_rng(8)
        rng.random(3 * len(listings))
        np.testing.assert_array_equal(streams[0], pcg64.take(rng))


def _streams(seed):
    return pcg64.take(np.random.default_rng(seed)), pcg64.take(np.random.default_rng(seed + 1000))


# -- the decision rule ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def population():
    """A small vector model after a few weeks, so that beliefs and sales have moved."""
    model = DeterrenceModel(small(weeks=30, burn_in_weeks=0, **{"population.sellers": 800}), 5)
    for _ in range(12):
        model.step()
    yield model
    model.release()


def _reference(model, params, pulls):
    """The rule in numpy (``beliefs.perceive`` and ``sim.model.rules``), every seller at once."""
    pop = model.population
    price = model.market.price
    econ, plat = params.economics, params.platform
    base = rules.weekly_margin(pop.sales, econ.margin_share)
    margin = rules.weekly_margin(pop.sales, rules.margin_share_at(price, econ.margin_share))
    outside = pop.outside_ratio * base
    net = np.maximum(margin - outside, np.float32(0))
    noise = np.float32(econ.decision_noise) * base
    entry = np.float32(
        rules.entry_cost_per_week(plat.reentry_cost_cny, econ.planning_horizon_weeks)
    )
    switching = np.float32(params.channels.switching_cost_cny / econ.planning_horizon_weeks)
    choice = beliefs.perceive(
        params,
        pulls,
        pop.region,
        margin,
        net,
        rules.closure_cost(net, plat.reentry_cost_cny, plat.reentry_delay_weeks),
        np.where(pop.has_store, np.float32(0), entry),
        pop.perceived_takedown,
        pop.listings.astype(np.float32),
        pop.cumulative_sales,
        pop.sales * np.float32(price),
        pop.prison_year_cost,
        list(pop.alpha),
        list(pop.beta),
        pop.sentence1,
        pop.sentence2,
        pop.fine_multiple,
        np.where(pop.offplatform_ready, np.float32(0), switching),
    )
    gain, p_off = choice.gain, np.zeros(pop.n)
    if choice.gain_offplatform is not None:
        p_off = rules.p_offplatform(choice.gain, choice.gain_offplatform, noise)
        gain = rules.inclusive_gain(choice.gain, choice.gain_offplatform, noise)
    risk, criminal = choice.acted_on()
    return rules.p_active(gain, outside, noise), p_off, risk, criminal, choice.sentence


def _compiled(model, params, pulls):
    pop = model.population
    constants = kernels.decision_constants(params, model.market.price)
    maps = kernels.announcement_maps(pulls, beliefs.BELIEFS, params.regions)
    rows = []
    for i in range(pop.n):
        r = pop.region[i]
        rows.append(
            kernels.choose(
                constants,
                tuple(maps[0, :, r]),
                tuple(maps[1, :, r]),
                pop.sales[i],
                pop.outside_ratio[i],
                bool(pop.has_store[i]),
                bool(pop.offplatform_ready[i]),
                pop.perceived_takedown[i],
                np.float32(pop.listings[i]),
                pop.cumulative_sales[i],
                pop.prison_year_cost[i],
                *(value for k in range(4) for value in (pop.alpha[k, i], pop.beta[k, i])),
                pop.sentence1[i],
                pop.sentence2[i],
                pop.fine_multiple[i],
            )
        )
    return [np.array(column, dtype=float) for column in zip(*rows, strict=True)]


def _blocked(model, params, pulls, mapped=True):
    """``kernels.choose_block`` over the pool, a block at a time, as ``decide_all`` calls it."""
    pop = model.population
    constants = kernels.decision_constants(params, model.market.price)
    maps = kernels.announcement_maps(pulls, beliefs.BELIEFS, params.regions)
    inputs = [
        pop.sales,
        pop.outside_ratio,
        pop.has_store,
        pop.offplatform_ready,
        pop.perceived_takedown,
        pop.listings.astype(np.float32),
        pop.cumulative_sales,
        pop.prison_year_cost,
        *(row for k in range(4) for row in (pop.alpha[k], pop.beta[k])),
        pop.sentence1,
        pop.sentence2,
        pop.fine_multiple,
    ]
    mapping = [*maps[0][:, pop.region], *maps[1][:, pop.region]]
    assert len(mapping) == kernels.LANES
    b = kernels.BLOCK
    out = np.empty((kernels.OUTPUTS, pop.n), dtype=np.float32)
    for first in range(0, pop.n, b):
        size = min(b, pop.n - first)
        x = np.zeros((kernels.LANES, b), dtype=np.float32)
        for row, column in zip(x, mapping, strict=True):
            row[:size] = column[first : first + size]
        y = np.empty(kernels.OUTPUTS * b, dtype=np.float32)
        views = [column[first : first + size] for column in inputs]
        kernels.choose_block(constants, x.ravel(), y, mapped, *views)
        out[:, first : first + size] = y.reshape(kernels.OUTPUTS, b)[:, :size]
    return out


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"channels.offplatform_margin_ratio": 0.0},  # no off-platform channel
        {"economics.decision_noise": 0.0},  # Becker's hard rule
        {"economics.weekly_discount": 1.0},  # no discounting of prison years
        {"beliefs.threshold_awareness": 0.0, "platform.criminal_threshold_cny": 1e10},
    ],
)
def test_the_compiled_rule_is_the_rule_of_odd_4_2(population, changes):
    params = apply_changes(population.params, changes) if changes else population.params
    regions = params.regions
    # Two announcements in force, so that their pulls are part of the comparison.
    pulls = {
        "pursuit": [(np.linspace(0.2, 0.6, regions, dtype=np.float32), 0.3)],
        "sentence1": [
            (np.full(regions, 4.0, np.float32), 0.2),
            (np.full(regions, 1.0, np.float32), 0.1),
        ],
    }
    expected = _reference(population, params, pulls)
    compiled = _compiled(population, params, pulls)
    names = ("p_active", "p_offplatform", "risk", "criminal", "sentence")
    for name, want, got in zip(names, expected, compiled, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=name)
    assert 0.05 < compiled[0].mean() < 0.95  # the comparison is not of two constants
    # The vector engine's blocks (8 or 16 sellers to an instruction) give the very bits of the
    # rule run one seller at a time, as the agents engine runs it; with no announcement in
    # force too, where the blocks skip the maps.
    blocked = _blocked(population, params, pulls)
    for name, one, block in zip(names, compiled, blocked, strict=True):
        np.testing.assert_array_equal(block, one.astype(np.float32), err_msg=name)
    plain = _compiled(population, params, {})
    unmapped = _blocked(population, params, {}, mapped=False)
    for name, one, block in zip(names, plain, unmapped, strict=True):
        np.testing.assert_array_equal(block, one.astype(np.float32), err_msg=name)
    assert not np.array_equal(plain[4], compiled[4])  # the announcements moved the sentences


# -- learning ------------------------------------------------------------------------------


def test_one_pass_of_learning_adds_own_contacts_and_publicity_then_forgets():
    # Three sellers in one region: 0 observes 1 and 2, 1 observes 2, 2 observes nobody.
    indptr = np.array([0, 2, 3, 3])
    indices = np.array([1, 2, 2], dtype=np.int32)
    region = np.zeros(3, dtype=np.int16)
    events = np.array([0, 8, 8 | 32], dtype=np.uint8)  # 1 pursued; 2 pursued and convicted
    alpha = np.full((4, 3), 2.0, dtype=np.float32)
    beta = np.full((4, 3), 6.0, dtype=np.float32)
    prior = np.full((4, 1), 2.0, dtype=np.float32), np.full((4, 1), 6.0, dtype=np.float32)
    values = np.full((3, 3), 1.0, dtype=np.float32)  # sentence 1, sentence 2, fine
    value_prior = np.ones((3, 1), dtype=np.float32)
    convicted = np.array([2])
    shown = np.array([[3.0], [7.0], [0.5]])  # tier-1 sentence 3 years, fine multiple 0.5
    zero = np.zeros((3, 1))
    takedown = np.full(3, 0.1, dtype=np.float32)
    seen = np.zeros((8, 3), dtype=np.uint8)
    observer_indptr, observers = learning.observers_of(indptr, indices, 3)
    np.testing.assert_array_equal(observer_indptr, [0, 0, 1, 3])  # 1 is observed by 0, 2 by 0, 1
    np.testing.assert_array_equal(observers, [0, 0, 1])
    learning.learn_all(
        events, indptr, indices, observer_indptr, observers, region, alpha, beta, *prior,
        np.array([0.5], dtype=np.float32),  # publicity: 0.5 added to every alpha
        values, value_prior, np.ones(3, dtype=np.float32),
        np.array([False, False, True]), convicted, np.array([False]), shown, zero, zero,
        np.array([True, False, False]), np.zeros(3, dtype=bool),
        np.array([4, 0, 0], dtype=np.int32),
        np.array([20.0, 1.0, 1.0], dtype=np.float32), takedown,
        (2.0, 1.0),  # w_own, w_peer
        np.float32(0.5),  # memory
        np.float32(0.75),  # one minus the pull of one unit of weight
        (np.float32(0.5), np.float32(0.5)),
        seen,
    )  # fmt: skip
    assert not seen.any()  # the counts of contacts' events are left as zeros for next week
    # Pursuit (row 1): seller 0 saw two contacts pursued, 1 saw one and was pursued itself,
    # 2 was pursued; each also gets the 0.5 of publicity, then forgets half towards 2.
    pursued = np.array([2 + 2 * 1.0, 2 + 2.0 + 1.0, 2 + 2.0]) + 0.5
    np.testing.assert_allclose(alpha[1], (pursued - 2) * 0.5 + 2)
    np.testing.assert_allclose(beta[1], 6.0)  # nothing declined
    np.testing.assert_allclose(alpha[0], (2.5 - 2) * 0.5 + 2)  # publicity only
    # Tier-1 sentence: 2 saw its own conviction (weight 2), 0 and 1 a contact's (weight 1).
    for seller, weight in ((0, 1.0), (1, 1.0), (2, 2.0)):
        moved = 1.0 + (1 - 0.75**weight) * (3.0 - 1.0)
        assert values[0, seller] == pytest.approx((moved - 1) * 0.5 + 1, rel=1e-6)
    np.testing.assert_allclose(values[1], 1.0)  # no tier-2 conviction: only forgetting
    assert values[2, 2] == pytest.approx((1 + (1 - 0.75**2) * (0.5 - 1) - 1) * 0.5 + 1, rel=1e-6)
    # Seller 0 sold on the platform and lost 4 of 20 listings.
    assert takedown[0] == pytest.approx(0.1 * 0.5 + 0.2 * 0.5) and takedown[1] == np.float32(0.1)


@pytest.mark.parametrize("n", [0, 1, 7, 5_000])
def test_active_indices_are_numpys(n):
    rng = np.random.default_rng(n)
    active = rng.random(n) < 0.5
    offplatform = active & (rng.random(n) < 0.3)
    every, on, off = kernels.active_indices(active, offplatform)
    np.testing.assert_array_equal(every, np.flatnonzero(active))
    np.testing.assert_array_equal(on, np.flatnonzero(active & ~offplatform))
    np.testing.assert_array_equal(off, np.flatnonzero(offplatform))


def test_timers_run_down_and_the_states_are_counted():
    # States 0..5 with suspensions and prison terms of 0 to 3 weeks left.
    rng = np.random.default_rng(2)
    state = rng.integers(0, 6, 5_000).astype(np.int8)
    timed = (state == 2) | (state == 4)
    weeks_left = np.where(timed, rng.integers(0, 4, 5_000), 7).astype(np.int32)
    released = timed & (weeks_left <= 1)
    expected_state = np.where(released, 0, state)
    expected_left = np.where(timed, np.maximum(weeks_left - 1, 0), weeks_left)
    counts = kernels.advance_all(state, weeks_left, 6)
    np.testing.assert_array_equal(state, expected_state)
    np.testing.assert_array_equal(weeks_left, expected_left)
    np.testing.assert_array_equal(counts, np.bincount(expected_state, minlength=6))
    assert released.sum() > 100 and (expected_left > 0).sum() > 100
