"""Parts of the model that both engines share.

Seller states, the initial population, the platform, the enforcers and the publicity of a
week. The counterfeiters themselves are engine-specific: ``sim.vector.CounterfeiterPopulation``
holds them column-wise in numpy arrays, ``sim.individual.CounterfeiterAgents`` as one
``mesa.Agent`` each. The platform and the enforcers talk to either through the
``Population`` protocol below, so their logic exists once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

import mesa
import numpy as np
from scipy import sparse

from sim import rules
from sim.network import small_world

if TYPE_CHECKING:
    from sim.model import DeterrenceModel
    from sim.scenario import Scenario
    from sim.streams import Streams


INITIAL_STORE_AGE_WEEKS = 26  # Stores start with up to this many weeks of sales; assumption
SENTENCE_ANCHOR_CONCENTRATION = 10.0  # Beta concentration of perceived sentence shares
MAX_LISTINGS = 1_000_000_000  # Listings per store are capped here (they are stored as int32)
# An enforcer's capacity credit may exceed its weekly capacity by just under one case, so that
# a fractional capacity carries over (1.5 a week opens 1, 2, 1, 2, ...) but unused whole slots
# are not banked.
CREDIT_CARRY = 1.0 - 1e-9


class SellerState(IntEnum):
    """State of a counterfeiter (ODD 2.1)."""

    DORMANT = 0
    ACTIVE = 1
    SUSPENDED = 2
    PROSECUTED = 3
    JAILED = 4


@dataclass
class InitialPopulation:
    """The sellers at week 0, one array element per seller (identical for both engines).

    Floating-point traits are float32: the engines compute the decision rule in single
    precision (ODD 7.1).
    """

    region: np.ndarray
    sales: np.ndarray
    listings: np.ndarray
    outside_ratio: np.ndarray
    prison_year_cost: np.ndarray
    sentence_anchor: np.ndarray
    strikes: np.ndarray
    cumulative_sales: np.ndarray
    contacts: sparse.csr_array


def draw_population(scenario: Scenario, streams: Streams) -> InitialPopulation:
    """Draw the initial sellers from the ``population`` and ``network`` streams (ODD 5).

    Args:
        scenario: The scenario.
        streams: The replication's streams.

    Returns:
        The sellers' traits and initial state.
    """
    p = scenario
    n = p.population.sellers
    rng = streams.get("population")
    shares = np.asarray(p.population.region_shares, dtype=float)
    counts = np.floor(shares / shares.sum() * n).astype(np.int64)
    counts[: n - counts.sum()] += 1
    region = np.repeat(np.arange(len(shares), dtype=np.int16), counts)
    f32 = np.float32
    sales = (
        p.economics.sales_median_cny * np.exp(p.economics.sales_sigma * rng.standard_normal(n))
    ).astype(f32)
    listings = np.clip(
        np.rint(
            p.population.listings_median
            * np.exp(p.population.listings_sigma * rng.standard_normal(n))
        ),
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
    share = p.beliefs.perceived_sentence_share
    concentration = SENTENCE_ANCHOR_CONCENTRATION
    sentence_anchor = (
        rng.beta(share * concentration, (1 - share) * concentration, n)
        if 0 < share < 1
        else np.full(n, share)
    ).astype(f32)
    # Stores of different ages at the start, so closures do not come as one cohort.
    strikes = rng.integers(0, p.platform.strike_limit, n).astype(np.int32)
    cumulative_sales = (sales * rng.uniform(0, INITIAL_STORE_AGE_WEEKS, n)).astype(f32)
    contacts = small_world(
        region,
        p.population.network_degree,
        p.population.network_rewiring,
        streams.get("network"),
    )
    return InitialPopulation(
        region,
        sales,
        listings,
        outside_ratio,
        prison_year_cost,
        sentence_anchor,
        strikes,
        cumulative_sales,
        contacts,
    )


class Population(Protocol):
    """What the platform, the enforcers and the model ask of the counterfeiters.

    Sellers are named by their index ``0 .. n-1``; index arrays are in increasing order.
    Both engines implement it: ``sim.vector.CounterfeiterPopulation`` and
    ``sim.individual.CounterfeiterAgents``.
    """

    n: int

    def decide(self) -> None:
        """Phase 1: sellers free to choose decide whether to be active this week."""

    def earn(self) -> float:
        """Phase 2: active sellers earn; returns the week's counterfeit sales (CNY)."""

    def active_indices(self) -> np.ndarray:
        """Sellers active this week."""

    def trading_indices(self) -> np.ndarray:
        """Sellers active this week whose store is still open (not closed this week)."""

    def values(self, field: str, sellers: np.ndarray) -> np.ndarray:
        """The attribute ``field`` of ``sellers``, as an array."""

    def column(self, field: str) -> np.ndarray:
        """The attribute ``field`` of every seller, as an array (for inspection)."""

    def take_down(
        self, sellers: np.ndarray, detections: np.ndarray, strikes: np.ndarray
    ) -> np.ndarray:
        """Record the week's takedowns and strikes; returns each seller's strikes now."""

    def set_case_open(self, sellers: np.ndarray, value: bool) -> None:
        """Mark criminal cases against ``sellers`` as open (queued or processed) or closed."""

    def close_stores(self, sellers: np.ndarray) -> None:
        """Close the stores of ``sellers`` (strike limit or lawsuit)."""

    def prosecute(self, sellers: np.ndarray) -> None:
        """Start the prosecution of ``sellers``."""

    def sentence(self, sellers: np.ndarray, weeks: np.ndarray) -> None:
        """End the cases of ``sellers`` with ``weeks`` of prison (0: released)."""

    def update_beliefs(self, publicity: Publicity) -> None:
        """Phase 5: update perceived risk, sentence and takedown rate."""

    def advance_timers(self) -> None:
        """Phase 6: suspensions and prison terms run down."""

    def census(self) -> dict[str, Any]:
        """Counts by state, active sellers and mean beliefs, for the week's record."""


class Publicity:
    """Publicised sanctions of one week, by reach (index 0: national; 1 + r: region r).

    Args:
        regions: Number of regions.
    """

    def __init__(self, regions: int) -> None:
        self.count = np.zeros(regions + 1)
        self.sentences = np.zeros(regions + 1)
        self.sentence_count = np.zeros(regions + 1)

    def add(self, reach: int, sentence_years: float | None = None) -> None:
        """Record one publicised event.

        Args:
            reach: 0 for national news, ``1 + r`` for region ``r``.
            sentence_years: Sentence handed down, if the event is a conviction.
        """
        self.count[reach] += 1
        if sentence_years is not None:
            self.sentences[reach] += sentence_years
            self.sentence_count[reach] += 1

    def risk_increment(self, w_public: float) -> np.ndarray:
        """Increment of the sanction pseudo-count ``a`` in each region (ODD 4.4).

        Args:
            w_public: Weight of one publicised event.

        Returns:
            Per region: ``w_public`` times the events seen there (regional plus national).
        """
        events = self.count[1:] + self.count[0]
        return (w_public * events).astype(np.float32)

    def sentence_pull(self, learning: float) -> tuple[np.ndarray, np.ndarray]:
        """Pull of the week's publicised sentences on perceived sentences, by region.

        Args:
            learning: Weight of one observed sentence.

        Returns:
            Per region: the weight of the sentences seen there (regional plus national) and
            their mean (years).
        """
        count = self.sentence_count[1:] + self.sentence_count[0]
        total = self.sentences[1:] + self.sentences[0]
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        weight = rules.sentence_pull(count, learning)
        return weight.astype(np.float32), mean.astype(np.float32)


class Platform(mesa.Agent):
    """The platform: detection, takedowns, strikes, closures, referrals and lawsuits (ODD 4.3)."""

    def step(self) -> None:
        """Run the platform's phase of the week."""
        model = self.model
        pop, plat = model.population, model.params.platform
        rng = model.rng_for("detection")
        active = pop.active_indices()
        listings = pop.values("listings", active)
        detections = rng.binomial(listings, plat.detection_rate)
        strikes = rng.binomial(detections, plat.strike_per_takedown)
        closed = active[pop.take_down(active, detections, strikes) >= plat.strike_limit]
        model.tally("listings_live", int(listings.sum()))
        model.tally("listings_removed", int(detections.sum()))

        eligible = closed[
            (pop.values("cumulative_sales", closed) >= plat.criminal_threshold_cny)
            & ~pop.values("case_open", closed)
        ]
        referral_draw = model.rng_for("referral").random(len(eligible))
        referred = eligible[referral_draw < plat.referral_rate]
        pop.set_case_open(referred, True)
        model.refer(referred)
        pop.close_stores(closed)

        suits = self._file_lawsuits(pop.trading_indices())
        model.tally("stores_closed", len(closed) + suits)
        model.tally("referrals", len(referred))

    def _file_lawsuits(self, candidates: np.ndarray) -> int:
        """Sue large active sellers, chosen with probability proportional to their sales.

        Args:
            candidates: Sellers still active after closures.

        Returns:
            Number of lawsuits filed (each also closes the store).
        """
        model = self.model
        pop, plat = model.population, model.params.platform
        rng = model.rng_for("lawsuits")
        wanted = rng.poisson(plat.lawsuits_per_year / rules.WEEKS_PER_YEAR)
        if wanted == 0:
            return 0
        weights = pop.values("cumulative_sales", candidates).astype(np.float64)
        if weights.sum() <= 0:
            return 0
        size = min(wanted, int(np.count_nonzero(weights)))
        sued = np.sort(rng.choice(candidates, size=size, replace=False, p=weights / weights.sum()))
        pop.close_stores(sued)
        for _ in sued:
            model.publicity.add(0)
        model.tally("lawsuits", size)
        return size


class Enforcer(mesa.Agent):
    """Law enforcement of one region: a case queue with limited weekly capacity (ODD 4.5).

    Attributes:
        region: The region served.
        queue_seller: Sellers of the queued cases, oldest first.
        queue_week: Week each queued case was referred.
        queue_draw: Uniform draw of each case deciding pursuit (drawn at intake).
        queue_sales: Cumulative sales of each case at referral (CNY).
        open_seller: Sellers of the cases being processed.
        open_due: Week each open case reaches its verdict.
        open_sales: Cumulative sales of each open case (CNY).
        capacity_credit: Unused fractional capacity carried to the next week.
    """

    def __init__(self, model: DeterrenceModel, region: int) -> None:
        """Create an empty enforcer.

        Args:
            model: The model.
            region: Region index.
        """
        super().__init__(model)
        self.region = region
        self.queue_seller = np.zeros(0, dtype=np.int64)
        self.queue_week = np.zeros(0, dtype=np.int64)
        self.queue_draw = np.zeros(0)
        self.queue_sales = np.zeros(0)
        self.open_seller = np.zeros(0, dtype=np.int64)
        self.open_due = np.zeros(0, dtype=np.int64)
        self.open_sales = np.zeros(0)
        self.capacity_credit = 0.0

    def take_in(self, sellers: np.ndarray, draws: np.ndarray, sales: np.ndarray) -> None:
        """Append referred cases to the queue.

        Args:
            sellers: Referred sellers.
            draws: Uniform draws deciding pursuit.
            sales: Cumulative sales of each case (CNY).
        """
        self.queue_seller = np.concatenate((self.queue_seller, sellers))
        self.queue_week = np.concatenate(
            (self.queue_week, np.full(len(sellers), self.model.week, dtype=np.int64))
        )
        self.queue_draw = np.concatenate((self.queue_draw, draws))
        self.queue_sales = np.concatenate((self.queue_sales, sales.astype(np.float64)))

    def step(self) -> None:
        """Drop expired cases, review the queue within capacity, and reach verdicts."""
        model = self.model
        enf, week = model.params.enforcement, model.week
        # Unused fractions carry over, whole unused slots do not (ODD 4.5).
        self.capacity_credit = min(
            self.capacity_credit + enf.capacity_per_week,
            max(enf.capacity_per_week, 1.0) + CREDIT_CARRY,
        )
        if len(self.queue_seller) == 0:
            if len(self.open_seller):
                self._reach_verdicts()
            return
        expired = week - self.queue_week > enf.case_expiry_weeks
        if expired.any():
            model.population.set_case_open(self.queue_seller[expired], False)
            self._keep_queue(~expired)
            model.tally("cases_dropped", int(expired.sum()))

        p_pursue = enf.prosecution_rate * enf.regional_leniency[self.region]
        slots = int(self.capacity_credit)
        pursue = self.queue_draw < p_pursue
        # Review oldest first; stop at the first case to pursue that finds no free slot.
        reviewed = np.cumsum(pursue) <= slots
        started = reviewed & pursue
        declined = reviewed & ~pursue
        self.capacity_credit -= int(started.sum())
        model.population.set_case_open(self.queue_seller[declined], False)
        self._start(started)
        self._keep_queue(~reviewed)
        model.tally("cases_declined", int(declined.sum()))
        self._reach_verdicts()

    def _keep_queue(self, keep: np.ndarray) -> None:
        self.queue_seller = self.queue_seller[keep]
        self.queue_week = self.queue_week[keep]
        self.queue_draw = self.queue_draw[keep]
        self.queue_sales = self.queue_sales[keep]

    def _start(self, started: np.ndarray) -> None:
        model = self.model
        sellers = self.queue_seller[started]
        model.population.prosecute(sellers)
        due = model.week + model.params.enforcement.processing_weeks
        self.open_seller = np.concatenate((self.open_seller, sellers))
        self.open_due = np.concatenate((self.open_due, np.full(len(sellers), due, dtype=np.int64)))
        self.open_sales = np.concatenate((self.open_sales, self.queue_sales[started]))
        model.tally("cases_pursued", len(sellers))

    def _reach_verdicts(self) -> None:
        model = self.model
        enf, week = model.params.enforcement, model.week
        due = self.open_due <= week
        if not due.any():
            return
        sellers, sales = self.open_seller[due], self.open_sales[due]
        keep = ~due
        self.open_seller, self.open_due, self.open_sales = (
            self.open_seller[keep],
            self.open_due[keep],
            self.open_sales[keep],
        )
        convicted = model.rng_for("conviction").random(len(sellers)) < enf.conviction_rate
        years = rules.sentence_years(
            sales,
            enf.huge_amount_cny,
            enf.tier1_sentence_years,
            enf.tier2_min_sentence_years,
            enf.max_sentence_years,
            model.rng_for("sentencing").random(len(sellers)),
        )
        years = np.where(convicted, years, 0.0)
        weeks = np.rint(years * rules.WEEKS_PER_YEAR).astype(np.int32)
        model.population.sentence(sellers, weeks)
        fines = rules.fine(sales[convicted], enf.fine_multiple)
        model.tally("convictions", int(convicted.sum()))
        model.tally("fines_cny", float(fines.sum(dtype=np.float64)))
        publicity_rng = model.rng_for("publicity")
        for sentence in years[convicted]:
            draw = publicity_rng.random(2)
            if draw[0] < enf.p_publicise_conviction:
                reach = 0 if draw[1] < enf.p_national_news else 1 + self.region
                model.publicity.add(reach, float(sentence))

    @property
    def backlog(self) -> int:
        """Cases waiting for review."""
        return len(self.queue_seller)
