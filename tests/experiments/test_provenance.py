"""What a run needs and where it comes from: the memory estimate and the check made with it."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from helpers import small

from sim.errors import ResourceError
from sim.experiments import provenance
from sim.experiments.provenance import check_memory, memory_estimate
from sim.model.model import DeterrenceModel
from sim.scenario import load_scenario


def _scenario(sellers: int, degree: int = 8, weeks: int = 80, entry_rate: float = 0.0):
    return small(
        weeks=weeks,
        burn_in_weeks=0,
        **{
            "population.sellers": sellers,
            "population.network_degree": degree,
            "population.entry_rate": entry_rate,
        },
    )


@pytest.mark.parametrize("engine", ["vector", "agents"])
def test_memory_estimate_grows_linearly_with_sellers_and_contacts(engine):
    def estimate(sellers: int, degree: int) -> int:
        return memory_estimate(_scenario(sellers, degree), engine)

    # In proportion to the sellers, at any number of contacts.
    for degree in (0, 8, 40):
        assert estimate(20_000, degree) == 2 * estimate(10_000, degree) > 0
        assert estimate(1_000_000, degree) == 100 * estimate(10_000, degree)
    # Each contact adds the same bytes per seller; a seller without contacts still costs some.
    steps = [estimate(10_000, d + 8) - estimate(10_000, d) for d in (0, 8, 16, 92)]
    assert len(set(steps)) == 1 and steps[0] > 0
    assert estimate(10_000, 0) > 0
    # The engines hold every newcomer of the run from the start: the estimate counts the pool.
    closed = memory_estimate(_scenario(10_000, 8, weeks=104), engine)
    open_pool = memory_estimate(_scenario(10_000, 8, weeks=104, entry_rate=0.5), engine)
    assert open_pool == closed * 2  # 0.5 a year over two years: twice the sellers


def test_the_agents_engine_is_estimated_far_heavier():
    scenario = _scenario(100_000)
    assert memory_estimate(scenario, "agents") > 5 * memory_estimate(scenario, "vector")


@pytest.mark.parametrize("degree", [8, 20])
def test_a_real_model_stays_within_the_estimate(degree):
    # Measured with tracemalloc (numpy reports its arrays to it): what a vector model of
    # 20,000 sellers holds after some weeks is below the estimate, and its peak, with the
    # temporaries of drawing the population and the network, within a tenth above it.
    scenario = _scenario(20_000, degree, weeks=8, entry_rate=0.08)
    estimate = memory_estimate(scenario, "vector")
    gc.collect()
    tracemalloc.start()
    try:
        model = DeterrenceModel(scenario, 3)
        model.run()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    model.release()
    assert model.timeseries().active_sellers.sum() > 0
    assert held < estimate, f"{held / 20_000:.0f} bytes per seller held"
    assert peak < 1.1 * estimate, f"{peak / 20_000:.0f} bytes per seller at the peak"


def test_a_population_that_cannot_fit_is_refused_up_front(monkeypatch):
    scenario = load_scenario("baseline_2016", ["population.sellers=20000000"])
    monkeypatch.setattr(provenance, "available_memory", lambda: 2 * 10**9)
    with pytest.raises(ResourceError, match=r"need about .* GB per replication .* 2.0 GB is"):
        check_memory(scenario, 2, "vector")
    check_memory(load_scenario("baseline_2016", ["population.sellers=1000"]), 2, "vector")
