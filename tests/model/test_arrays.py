"""The ``vector`` engine: every counterfeiter as one element of numpy arrays."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small

from sim.model.agents import SellerState
from sim.model.arrays import CounterfeiterArrays
from sim.model.model import DeterrenceModel

FLOATS = (
    "sales",
    "outside_ratio",
    "prison_year_cost",
    "sentence_bias",
    "cumulative_sales",
    "sentence1",
    "sentence2",
    "fine_multiple",
    "perceived_takedown",
)


@pytest.fixture
def model():
    """A small vector model before its first week."""
    model = DeterrenceModel(small(weeks=20, burn_in_weeks=0, **{"population.sellers": 600}), 9)
    yield model
    model.release()


def test_the_population_is_held_in_single_precision_arrays(model):
    pop = model.population
    assert isinstance(pop, CounterfeiterArrays)
    for name in FLOATS:
        values = getattr(pop, name)
        assert values.dtype == np.float32, name
        assert values.shape == (pop.n,), name
    assert pop.state.dtype == np.int8 and pop.contacts.dtype == np.float32
    assert pop.contacts.shape == (pop.n, pop.n)


def test_column_is_a_copy_and_values_a_selection(model):
    pop = model.population
    column = pop.column("strikes")
    column[:] = 99
    assert not (pop.strikes == 99).any()
    sellers = np.array([5, 1, 3])
    np.testing.assert_array_equal(pop.values("sales", sellers), pop.sales[sellers])


def test_closing_a_store_suspends_for_the_delay_and_resets_the_store(model):
    pop = model.population
    pop.strikes[:] = 3
    pop.cumulative_sales[:] = 1000.0
    closed = np.array([2, 4])
    pop.close_stores(closed)
    delay = model.params.platform.reentry_delay_weeks
    assert (pop.state[closed] == SellerState.SUSPENDED).all()
    assert (pop.weeks_left[closed] == delay + 1).all()  # +1: the timer also runs this week
    assert (pop.strikes[closed] == 0).all() and not pop.has_store[closed].any()
    assert (pop.cumulative_sales[closed] == 0).all()
    untouched = np.setdiff1d(np.arange(model.scenario.population.sellers), closed)
    assert (pop.state[untouched] == SellerState.DORMANT).all()
    assert (pop.strikes[untouched] == 3).all() and pop.has_store[untouched].all()


def test_verdicts_jail_or_release_and_timers_run_down(model):
    pop = model.population
    sellers = np.array([0, 1, 2])
    pop.prosecute(sellers)
    pop.case_open[sellers] = True
    assert (pop.state[sellers] == SellerState.PROSECUTED).all()
    pop.sentence(sellers[:2], np.array([2, 0]))
    assert pop.state[0] == SellerState.JAILED and pop.weeks_left[0] == 3
    assert pop.state[1] == SellerState.DORMANT and pop.weeks_left[1] == 0
    assert not pop.case_open[:2].any() and pop.case_open[2]
    states = []
    for _ in range(3):
        pop.advance_timers()
        states.append((int(pop.state[0]), int(pop.weeks_left[0])))
    assert states == [(SellerState.JAILED, 2), (SellerState.JAILED, 1), (SellerState.DORMANT, 0)]
    assert pop.state[2] == SellerState.PROSECUTED  # a case in process has no timer
