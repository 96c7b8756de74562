"""Agents of the model: the counterfeiters (vectorised), the platform and the enforcers.

The counterfeiters are held column-wise in numpy arrays by one Mesa agent,
``CounterfeiterPopulation``; every rule is a vectorised call of a formula in ``sim.rules``.
The platform and each regional enforcer are ordinary Mesa agents.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim import rules
from sim.network import small_world

if TYPE_CHECKING:
    from sim.model import DeterrenceModel


INITIAL_STORE_AGE_WEEKS = 26  # Stores start with up to this many weeks of sales; assumption


class SellerState(IntEnum):
    """State of a counterfeiter (ODD 2.1)."""

    DORMANT = 0
    ACTIVE = 1
    SUSPENDED = 2
    PROSECUTED = 3
    JAILED = 4


class CounterfeiterPopulation(mesa.Agent):
    """All counterfeiters, one array element per seller (the ``vector`` engine).

    Attributes:
        region: Region of each seller.
        sales: Weekly counterfeit sales value when active (CNY).
        listings: Counterfeit listings the store keeps live when active.
        outside_ratio: Outside option as a share of the margin.
        prison_year_cost: Cost the seller attaches to a year in prison (CNY).
        sentence_anchor: Perceived sentence as a share of the statutory maximum.
        a: Beta pseudo-count of sanctions (perceived risk).
        b: Beta pseudo-count of active weeks without sanction.
        perceived_sentence: Perceived sentence (years).
        perceived_takedown: Perceived weekly takedown probability per listing.
        state: ``SellerState`` of each seller.
        strikes: Strikes on the current store.
        has_store: Whether the seller has an open store (no re-entry cost to pay).
        case_open: Whether a criminal case against the seller is queued or being processed.
        weeks_left: Weeks left in ``SUSPENDED`` or ``JAILED``.
        cumulative_sales: Illegal sales since the last sanction: store closure, lawsuit or
            prosecution (CNY).
        contacts: Sparse adjacency matrix of the social network.
        active: Sellers active this week.
        detections: Listings of each seller taken down this week.
        sanctioned: Sellers whose case was pursued this week.
    """

    def __init__(self, model: DeterrenceModel) -> None:
        """Draw the initial population from the ``population`` and ``network`` streams.

        Args:
            model: The model the population belongs to.
        """
        super().__init__(model)
        p = model.params
        n = p.population.sellers
        rng = model.streams.get("population")
        shares = np.asarray(p.population.region_shares, dtype=float)
        counts = np.floor(shares / shares.sum() * n).astype(np.int64)
        counts[: n - counts.sum()] += 1
        self.n = n
        self.region = np.repeat(np.arange(len(shares), dtype=np.int16), counts)
        self.sales = p.economics.sales_median_cny * np.exp(
            p.economics.sales_sigma * rng.standard_normal(n)
        )
        self.listings = np.maximum(
            1,
            np.rint(
                p.population.listings_median
                * np.exp(p.population.listings_sigma * rng.standard_normal(n))
            ),
        ).astype(np.int32)
        self.outside_ratio = (
            p.economics.outside_option_ratio
            * np.exp(p.economics.outside_option_sigma * rng.standard_normal(n))
        ).astype(np.float32)
        self.prison_year_cost = (
            p.economics.prison_year_cost_cny
            * np.exp(p.economics.prison_year_cost_sigma * rng.standard_normal(n))
        ).astype(np.float32)
        share = p.beliefs.perceived_sentence_share
        concentration = 10.0
        self.sentence_anchor = (
            rng.beta(share * concentration, (1 - share) * concentration, n)
            if 0 < share < 1
            else np.full(n, share)
        ).astype(np.float32)
        a0, b0 = model.prior_counts()
        self.a = np.full(n, a0)
        self.b = np.full(n, b0)
        self.perceived_sentence = self.sentence_anchor * np.float32(
            p.enforcement.max_sentence_years
        )
        self.perceived_takedown = np.full(n, p.platform.detection_rate, dtype=np.float32)
        self.state = np.full(n, SellerState.DORMANT, dtype=np.int8)
        # Stores of different ages at the start, so closures do not come as one cohort.
        self.strikes = rng.integers(0, p.platform.strike_limit, n).astype(np.int32)
        self.has_store = np.ones(n, dtype=bool)
        self.case_open = np.zeros(n, dtype=bool)
        self.weeks_left = np.zeros(n, dtype=np.int32)
        self.cumulative_sales = self.sales * rng.uniform(0, INITIAL_STORE_AGE_WEEKS, n)
        self.contacts = small_world(
            self.region,
            p.population.network_degree,
            p.population.network_rewiring,
            model.streams.get("network"),
        )
        self.active = np.zeros(n, dtype=bool)
        self.detections = np.zeros(n, dtype=np.int64)
        self.sanctioned = np.zeros(n, dtype=bool)

    # -- phase 1 ------------------------------------------------------------------------------
    def decide(self, rng: np.random.Generator) -> None:
        """Sellers free to choose decide whether to be active this week (ODD 4.2).

        Args:
            rng: Generator of the ``decisions`` stream for this week.
        """
        p = self.model.params
        econ, plat, enf = p.economics, p.platform, p.enforcement
        margin = econ.margin_share * self.sales
        closure_cost = plat.reentry_cost_cny + plat.reentry_delay_weeks * margin
        loss = rules.platform_loss(
            self.perceived_takedown,
            self.listings,
            plat.relisting_cost_cny,
            plat.strike_per_takedown,
            plat.strike_limit,
            closure_cost,
        )
        loss = loss + (~self.has_store) * (plat.reentry_cost_cny / econ.planning_horizon_weeks)
        gain = rules.expected_gain(
            margin,
            loss,
            rules.perceived_risk(self.a, self.b),
            rules.fine(self.cumulative_sales + self.sales, enf.fine_multiple),
            self.prison_year_cost,
            self.perceived_sentence,
            econ.weekly_discount,
            econ.stigma_cost_cny,
        )
        probability = rules.p_active(
            gain, self.outside_ratio * margin, econ.decision_noise * margin
        )
        free = (self.state == SellerState.DORMANT) | (self.state == SellerState.ACTIVE)
        self.active = free & (rng.random(self.n) < probability)
        self.state[free] = SellerState.DORMANT
        self.state[self.active] = SellerState.ACTIVE
        self.has_store |= self.active
        self.sanctioned[:] = False
        self.detections[:] = 0

    # -- phase 2 ------------------------------------------------------------------------------
    def earn(self) -> float:
        """Active sellers earn and accumulate illegal sales.

        Returns:
            Counterfeit sales value of the week (CNY).
        """
        week_sales = np.where(self.active, self.sales, 0.0)
        self.cumulative_sales += week_sales
        return float(week_sales.sum())

    def close_stores(self, sellers: np.ndarray) -> None:
        """Close the stores of ``sellers`` (strike limit or lawsuit): suspended for a delay.

        Args:
            sellers: Indices of the sellers.
        """
        delay = self.model.params.platform.reentry_delay_weeks
        self.state[sellers] = SellerState.SUSPENDED
        # +1: the timer also runs down at the end of this week, and the seller must miss
        # ``delay`` weekly decisions after it (ODD 3.4, phase 6).
        self.weeks_left[sellers] = delay + 1
        self.strikes[sellers] = 0
        self.has_store[sellers] = False
        self.cumulative_sales[sellers] = 0.0

    def prosecute(self, sellers: np.ndarray) -> None:
        """Start the prosecution of ``sellers``: incapacitated, store gone, sales counted.

        Args:
            sellers: Indices of the sellers.
        """
        self.state[sellers] = SellerState.PROSECUTED
        self.weeks_left[sellers] = 0
        self.strikes[sellers] = 0
        self.has_store[sellers] = False
        self.cumulative_sales[sellers] = 0.0
        self.sanctioned[sellers] = True

    def sentence(self, sellers: np.ndarray, weeks: np.ndarray) -> None:
        """End the cases of ``sellers``: jailed for ``weeks`` (0 means released).

        Args:
            sellers: Indices of the sellers.
            weeks: Weeks of prison of each.
        """
        self.case_open[sellers] = False
        jailed = weeks > 0
        self.state[sellers] = np.where(jailed, SellerState.JAILED, SellerState.DORMANT)
        # +1 as for suspensions: ``weeks`` full weeks in prison after the week of the verdict.
        self.weeks_left[sellers] = np.where(jailed, weeks + 1, 0)

    # -- phase 5 ------------------------------------------------------------------------------
    def update_beliefs(self, publicity: Publicity) -> None:
        """Update perceived risk, sentence and takedown rate (ODD 4.4).

        Args:
            publicity: Publicised events of the week.
        """
        p = self.model.params
        bel = p.beliefs
        clean_active = self.active & ~self.sanctioned
        self.a += bel.w_own * self.sanctioned
        self.b += clean_active
        if bel.w_peer > 0 and self.contacts.nnz:
            self.a += bel.w_peer * (self.contacts @ self.sanctioned.astype(np.float32))
            self.b += bel.w_peer * (self.contacts @ clean_active.astype(np.float32))
        if publicity.count.any() and bel.w_public > 0:
            events = publicity.count[1:] + publicity.count[0]
            self.a += bel.w_public * events[self.region]
        a0, b0 = self.model.prior_counts()
        self.a = rules.forget(self.a, a0, bel.memory)
        self.b = rules.forget(self.b, b0, bel.memory)

        self.perceived_sentence = rules.law_awareness(
            self.perceived_sentence,
            self.sentence_anchor,
            p.enforcement.max_sentence_years,
            bel.law_awareness,
        )
        if publicity.sentences.any():
            count, mean = publicity.sentence_view(self.region)
            self.perceived_sentence = rules.observe_sentences(
                self.perceived_sentence, mean, count, bel.sentence_learning
            )
        observed = self.active & (self.listings > 0)
        rate = self.detections[observed] / self.listings[observed]
        kept = bel.takedown_memory
        self.perceived_takedown[observed] = (
            kept * self.perceived_takedown[observed] + (1 - kept) * rate
        )

    # -- phase 6 ------------------------------------------------------------------------------
    def advance_timers(self) -> None:
        """Suspensions and prison terms run down; released sellers become dormant."""
        timed = (self.state == SellerState.SUSPENDED) | (self.state == SellerState.JAILED)
        self.weeks_left[timed] -= 1
        released = timed & (self.weeks_left <= 0)
        self.state[released] = SellerState.DORMANT
        self.weeks_left[released] = 0

    def count(self, state: SellerState) -> int:
        """Number of sellers in ``state``."""
        return int(np.count_nonzero(self.state == state))


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

    def sentence_view(self, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Count and mean of the sentences each seller observes (its region plus national).

        Args:
            region: Region of each seller.

        Returns:
            Per seller, the number of observed sentences and their mean.
        """
        count = self.sentence_count[1:] + self.sentence_count[0]
        total = self.sentences[1:] + self.sentences[0]
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        return count[region], mean[region]


class Platform(mesa.Agent):
    """The platform: detection, takedowns, strikes, closures, referrals and lawsuits (ODD 4.3)."""

    def step(self) -> None:
        """Run the platform's phase of the week."""
        model = self.model
        pop, plat = model.population, model.params.platform
        rng = model.rng_for("detection")
        active = np.flatnonzero(pop.active)
        detections = rng.binomial(pop.listings[active], plat.detection_rate)
        pop.detections[active] = detections
        strikes = rng.binomial(detections, plat.strike_per_takedown)
        pop.strikes[active] += strikes.astype(np.int32)
        closed = active[pop.strikes[active] >= plat.strike_limit]
        model.tally("listings_live", int(pop.listings[active].sum()))
        model.tally("listings_removed", int(detections.sum()))

        eligible = closed[
            (pop.cumulative_sales[closed] >= plat.criminal_threshold_cny) & ~pop.case_open[closed]
        ]
        referral_draw = model.rng_for("referral").random(len(eligible))
        referred = eligible[referral_draw < plat.referral_rate]
        pop.case_open[referred] = True
        model.refer(referred)
        pop.close_stores(closed)

        suits = self._file_lawsuits(np.flatnonzero(pop.active & (pop.state == SellerState.ACTIVE)))
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
        weights = pop.cumulative_sales[candidates]
        if wanted == 0 or weights.sum() <= 0:
            return 0
        size = min(wanted, int(np.count_nonzero(weights)))
        sued = rng.choice(candidates, size=size, replace=False, p=weights / weights.sum())
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
        self.queue_seller = np.r_[self.queue_seller, sellers]
        self.queue_week = np.r_[self.queue_week, np.full(len(sellers), self.model.week)]
        self.queue_draw = np.r_[self.queue_draw, draws]
        self.queue_sales = np.r_[self.queue_sales, sales]

    def step(self) -> None:
        """Drop expired cases, review the queue within capacity, and reach verdicts."""
        model = self.model
        enf, week = model.params.enforcement, model.week
        expired = week - self.queue_week > enf.case_expiry_weeks
        if expired.any():
            model.population.case_open[self.queue_seller[expired]] = False
            self._keep_queue(~expired)
            model.tally("cases_dropped", int(expired.sum()))

        p_pursue = enf.prosecution_rate * enf.regional_leniency[self.region]
        self.capacity_credit = min(
            self.capacity_credit + enf.capacity_per_week, max(enf.capacity_per_week, 1.0)
        )
        slots = int(self.capacity_credit)
        pursue = self.queue_draw < p_pursue
        # Review oldest first; stop at the first case to pursue that finds no free slot.
        reviewed = np.cumsum(pursue) <= slots
        started = reviewed & pursue
        declined = reviewed & ~pursue
        self.capacity_credit -= int(started.sum())
        model.population.case_open[self.queue_seller[declined]] = False
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
        self.open_seller = np.r_[self.open_seller, sellers]
        self.open_due = np.r_[self.open_due, np.full(len(sellers), due)]
        self.open_sales = np.r_[self.open_sales, self.queue_sales[started]]
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
        model.tally("fines_cny", float(fines.sum()))
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
