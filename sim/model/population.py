"""The counterfeiters as the rest of the model sees them, and how they are first drawn.

``draw_population`` draws the sellers at week 0 (traits, initial state, social network) from
the ``population`` and ``network`` streams, identically for both engines. The counterfeiters
themselves are engine-specific: ``sim.model.arrays.CounterfeiterArrays`` holds them
column-wise in numpy arrays, ``sim.model.agents.CounterfeiterAgents`` as one ``mesa.Agent``
each. The platform, the enforcers and the model talk to either through the ``Population``
protocol below, so their logic exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from scipy import sparse

from sim.model import entry
from sim.model.network import small_world

if TYPE_CHECKING:
    from sim.model.streams import Streams
    from sim.model.week import Week
    from sim.scenario import Scenario


INITIAL_STORE_AGE_WEEKS = 26  # Stores start with up to this many weeks of sales; assumption
MAX_LISTINGS = 1_000_000_000  # Listings per store are capped here (they are stored as int32)


@dataclass
class InitialPopulation:
    """The sellers at week 0, one array element per seller (identical for both engines).

    Floating-point traits are float32: the engines compute the decision rule in single
    precision (ODD 7.1). The first ``initial`` sellers are present at week 0; the rest of the
    pool arrives during the run (ODD 4.8).
    """

    region: np.ndarray
    sales: np.ndarray
    listings: np.ndarray
    outside_ratio: np.ndarray
    prison_year_cost: np.ndarray
    sentence_bias: np.ndarray
    strikes: np.ndarray
    cumulative_sales: np.ndarray
    contacts: sparse.csr_array
    initial: int


def draw_population(scenario: Scenario, streams: Streams) -> InitialPopulation:
    """Draw the pool of sellers: the initial ones and every newcomer of the run (ODD 5, 4.8).

    The initial sellers come from the ``population`` and ``network`` streams, the newcomers
    from the ``entry`` stream, so the initial sellers do not depend on entry. The pool's
    first ``initial`` sellers are present at week 0, the others arrive later
    (``sim.model.entry``).

    Args:
        scenario: The scenario.
        streams: The replication's streams.

    Returns:
        The sellers' traits and initial state, one element per seller of the pool.
    """
    p = scenario
    n = p.population.sellers
    rng = streams.get("population")
    shares = np.asarray(p.population.region_shares, dtype=float)
    counts = np.floor(shares / shares.sum() * n).astype(np.int64)
    counts[: n - counts.sum()] += 1
    region = np.repeat(np.arange(len(shares), dtype=np.int16), counts)
    traits = draw_traits(p, rng, n)
    # Stores of different ages at the start, so closures do not come as one cohort.
    strikes = rng.integers(0, p.platform.strike_limit, n).astype(np.int32)
    cumulative_sales = (traits["sales"] * rng.uniform(0, INITIAL_STORE_AGE_WEEKS, n)).astype(
        np.float32
    )
    contacts = small_world(
        region,
        p.population.network_degree,
        p.population.network_rewiring,
        streams.get("network"),
    )
    newcomers = entry.pool_size(p) - n
    if newcomers:
        rng = streams.get("entry")
        new_region = entry.entrant_regions(p, rng, newcomers)
        new_traits = draw_traits(p, rng, newcomers)
        links = entry.entrant_contacts(new_region, region, p.population.network_degree, rng)
        contacts = entry.with_entrants(contacts, *links)
        region = np.r_[region, new_region]
        traits = {name: np.r_[traits[name], new_traits[name]] for name in traits}
        strikes = np.r_[strikes, np.zeros(newcomers, dtype=np.int32)]
        cumulative_sales = np.r_[cumulative_sales, np.zeros(newcomers, dtype=np.float32)]
    return InitialPopulation(
        region=region,
        strikes=strikes,
        cumulative_sales=cumulative_sales,
        contacts=contacts,
        initial=n,
        **traits,
    )


def draw_traits(p: Scenario, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` sellers' fixed traits, in a fixed order of draws (ODD 5).

    Args:
        p: The scenario.
        rng: Generator of the ``population`` (initial sellers) or ``entry`` stream.
        n: Number of sellers.

    Returns:
        Per trait, a float32 array (listings int32).
    """
    f32 = np.float32
    sales_z = rng.standard_normal(n)
    sales = (p.economics.sales_median_cny * np.exp(p.economics.sales_sigma * sales_z)).astype(f32)
    # Larger stores list more: log listings correlate with log sales (ODD 5).
    rho = p.population.listings_sales_correlation
    listings_z = rho * sales_z + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
    listings = np.clip(
        np.rint(p.population.listings_median * np.exp(p.population.listings_sigma * listings_z)),
        1,
        MAX_LISTINGS,
    ).astype(np.int32)
    outside_ratio = (
        p.economics.outside_option_ratio
        * np.exp(p.economics.outside_option_sigma * rng.standard_normal(n))
    ).astype(f32)
    prison_year_cost = (
        p.economics.prison_year_cost_cny
        * np.exp(p.economics.prison_year_cost_sigma * rng.standard_normal(n))
    ).astype(f32)
    # Each seller's perceived sentences are its own multiple of the expected ones (mean 1).
    sigma = p.beliefs.sentence_perception_sigma
    sentence_bias = np.exp(sigma * rng.standard_normal(n) - sigma * sigma / 2).astype(f32)
    return {
        "sales": sales,
        "listings": listings,
        "outside_ratio": outside_ratio,
        "prison_year_cost": prison_year_cost,
        "sentence_bias": sentence_bias,
    }


class Population(Protocol):
    """What the platform, the enforcers and the model ask of the counterfeiters.

    Sellers are named by their index ``0 .. n-1``; index arrays are in increasing order.
    Both engines implement it: ``sim.model.arrays.CounterfeiterArrays`` and
    ``sim.model.agents.CounterfeiterAgents``.
    """

    n: int

    def decide(self) -> None:
        """Phase 1: sellers free to choose decide whether to be active this week."""

    def earn(self) -> tuple[float, float]:
        """Phase 2: active sellers earn; returns the week's sales on and off the platform."""

    def platform_indices(self) -> np.ndarray:
        """Sellers active on the platform this week, in increasing order."""

    def offplatform_indices(self) -> np.ndarray:
        """Sellers active off the platform this week (ODD 4.6), in increasing order."""

    def trading_indices(self) -> np.ndarray:
        """Sellers active on the platform this week whose store is still open."""

    def arrive(self, sellers: range) -> None:
        """Potential sellers of the pool arrive at the start of the week (ODD 4.8)."""

    def values(self, field: str, sellers: np.ndarray) -> np.ndarray:
        """The attribute ``field`` of ``sellers``, as an array."""

    def column(self, field: str) -> np.ndarray:
        """The attribute ``field`` of every seller, as an array (for inspection)."""

    def take_down(
        self, sellers: np.ndarray, detections: np.ndarray, strikes: np.ndarray
    ) -> np.ndarray:
        """Record the week's takedowns and strikes; returns each seller's strikes now."""

    def record_events(self, sellers: np.ndarray, bit: int) -> None:
        """Record a step of the sanction chain of ``sellers`` this week (``beliefs.STEP_BITS``)."""

    def set_case_open(self, sellers: np.ndarray, value: bool) -> None:
        """Mark criminal cases against ``sellers`` as open (queued or processed) or closed."""

    def close_stores(self, sellers: np.ndarray) -> None:
        """Close the stores of ``sellers`` (strike limit or lawsuit)."""

    def prosecute(self, sellers: np.ndarray) -> None:
        """Start the prosecution of ``sellers``."""

    def sentence(self, sellers: np.ndarray, weeks: np.ndarray) -> None:
        """End the cases of ``sellers`` with ``weeks`` of prison (0: released)."""

    def update_beliefs(self, week: Week) -> None:
        """Phase 5: every perceived quantity learns from the week (ODD 4.4)."""

    def advance_timers(self) -> None:
        """Phase 6: suspensions and prison terms run down."""

    def census(self) -> dict[str, Any]:
        """Counts by state, active and exposed sellers, and the perceptions acted on this week."""
