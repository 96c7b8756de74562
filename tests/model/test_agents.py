"""The ``agents`` engine: one Mesa agent per counterfeiter, with the same start as the arrays."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import small

from sim.model import entry
from sim.model.agents import Counterfeiter, CounterfeiterAgents, SellerState
from sim.model.arrays import CounterfeiterArrays
from sim.model.model import DeterrenceModel

# Every attribute a seller holds, in both engines (``contacts`` is compared separately).
ATTRIBUTES = (
    "region",
    "sales",
    "listings",
    "outside_ratio",
    "prison_year_cost",
    "sentence_bias",
    "sentence1",
    "sentence2",
    "fine_multiple",
    "perceived_takedown",
    "state",
    "strikes",
    "has_store",
    "case_open",
    "weeks_left",
    "cumulative_sales",
    "active",
    "detections",
    "events",
)


@pytest.fixture
def both_engines():
    """The two engines' models of one small scenario and seed, before their first week."""
    scenario = small(weeks=5, burn_in_weeks=0, **{"population.sellers": 500})
    agents = DeterrenceModel(scenario, 11, "agents")
    arrays = DeterrenceModel(scenario, 11, "vector")
    yield agents, arrays
    agents.release()
    arrays.release()


def test_agents_engine_holds_one_mesa_agent_per_seller():
    from sim.model.agents import Counterfeiter

    model = DeterrenceModel(
        small(weeks=5, burn_in_weeks=0, **{"population.sellers": 300}), 1, "agents"
    )
    model.run()
    sellers = list(model.agents_by_type[Counterfeiter])
    # One agent per seller of the pool: the initial sellers and every newcomer of the run.
    assert len(sellers) == model.population.n == entry.pool_size(model.scenario) > 300
    assert sellers[0] is model.population.sellers[0]
    assert np.array_equal(
        model.population.column("state"), [int(s.state) for s in model.population.sellers]
    )
    model.release()


def test_each_seller_is_a_counterfeiter_agent_with_the_arrays_values_at_week_0(both_engines):
    agents, arrays = both_engines
    assert isinstance(agents.population, CounterfeiterAgents)
    assert isinstance(arrays.population, CounterfeiterArrays)
    sellers = agents.population.sellers
    n = entry.pool_size(agents.scenario)
    assert len(sellers) == agents.population.n == arrays.population.n == n > 500
    assert all(isinstance(s, Counterfeiter) for s in sellers)
    assert [s.index for s in sellers] == list(range(n))
    for name in ATTRIBUTES:
        # Read from the agents themselves, not through the Population interface.
        mine = np.array([getattr(s, name) for s in sellers])
        theirs = getattr(arrays.population, name)
        assert np.array_equal(mine, theirs), name
        assert np.array_equal(agents.population.column(name), theirs), name
    assert {int(s.state) for s in sellers[:500]} == {SellerState.DORMANT}
    assert {int(s.state) for s in sellers[500:]} == {SellerState.ABSENT}
    # The same contacts: each agent's contacts are the row of the arrays' network.
    contacts = arrays.population.contacts
    for seller in sellers:
        row = contacts.indices[contacts.indptr[seller.index] : contacts.indptr[seller.index + 1]]
        assert [c.index for c in seller.contacts] == list(row)
    assert sum(len(s.contacts) for s in sellers) == contacts.nnz > 0


def test_the_engines_still_agree_seller_by_seller_after_some_weeks(both_engines):
    # The same draws and the same float32 operations: every seller's values are equal, exactly.
    agents, arrays = both_engines
    for _ in range(5):
        agents.step()
        arrays.step()
    assert agents.timeseries().listings_removed.sum() > 0
    for name in ATTRIBUTES:
        assert np.array_equal(agents.population.column(name), arrays.population.column(name)), name
