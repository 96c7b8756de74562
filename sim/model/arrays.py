"""The ``vector`` engine: all counterfeiters held column-wise in numpy arrays.

One Mesa agent, ``CounterfeiterArrays``, owns an array per attribute (one element per
seller); every rule is a vectorised call of a formula in ``sim.model.rules``, the same formulas the
``agents`` engine calls one seller at a time. Floating-point attributes are float32, the
network a sparse matrix. Terms of the decision rule that change only with the parameters are
computed once per parameter set, and operations work in place where they can: a week of a
large population is bound by memory bandwidth.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.model import rules
from sim.model.agents import SellerState
from sim.model.population import draw_population

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel
    from sim.model.week import Publicity
    from sim.scenario import Scenario

F32 = np.float32
CHUNK = 1 << 16  # sellers per chunk of the decision rule (its temporaries fit in cache)


class CounterfeiterArrays(mesa.Agent):
    """All counterfeiters, one array element per seller.

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
        """Draw the initial population (shared with the ``agents`` engine).

        Args:
            model: The model the population belongs to.
        """
        super().__init__(model)
        p = model.params
        start = draw_population(p, model.streams)
        n = self.n = len(start.region)
        self.region = start.region
        self.sales = start.sales
        self.listings = start.listings
        self.outside_ratio = start.outside_ratio
        self.prison_year_cost = start.prison_year_cost
        self.sentence_anchor = start.sentence_anchor
        self.strikes = start.strikes
        self.cumulative_sales = start.cumulative_sales
        self.contacts = start.contacts
        a0, b0 = rules.prior_counts(p.beliefs.prior_risk, p.beliefs.prior_strength)
        self.a = np.full(n, a0, dtype=F32)
        self.b = np.full(n, b0, dtype=F32)
        self.perceived_sentence = self.sentence_anchor * F32(p.enforcement.max_sentence_years)
        self.perceived_takedown = np.full(n, p.platform.detection_rate, dtype=F32)
        self.state = np.full(n, SellerState.DORMANT, dtype=np.int8)
        self.has_store = np.ones(n, dtype=bool)
        self.case_open = np.zeros(n, dtype=bool)
        self.weeks_left = np.zeros(n, dtype=np.int32)
        self.active = np.zeros(n, dtype=bool)
        self.detections = np.zeros(n, dtype=np.int32)
        self.sanctioned = np.zeros(n, dtype=bool)
        self._listings_f32 = self.listings.astype(F32)
        most_contacts = int(np.diff(self.contacts.indptr).max()) if self.n else 0
        # The schema caps network_degree at 100, so counts below base**2 are exact in float32.
        self._count_base = F32(most_contacts + 1)
        self._params: Scenario | None = None

    def _refresh(self) -> None:
        """Recompute the terms that depend only on parameters and fixed traits."""
        p = self.model.params
        if p is self._params:
            return
        self._params = p
        econ, plat = p.economics, p.platform
        self._margin = rules.weekly_margin(self.sales, econ.margin_share)
        self._closure_cost = rules.closure_cost(
            self._margin, plat.reentry_cost_cny, plat.reentry_delay_weeks
        )
        self._outside = self.outside_ratio * self._margin
        self._noise = F32(econ.decision_noise) * self._margin

    # -- phase 1 ------------------------------------------------------------------------------
    def decide(self) -> None:
        """Sellers free to choose decide whether to be active this week (ODD 4.2).

        The rule is evaluated in chunks of ``CHUNK`` sellers so that its intermediate arrays
        stay in the processor's cache: the same operations, element by element, as on whole
        arrays, several times faster on large populations.
        """
        self._refresh()
        p = self.model.params
        econ, plat, enf = p.economics, p.platform, p.enforcement
        # One uniform draw per seller, free or not (common random numbers, ODD 7.2).
        u = self.model.current_week.rng("decisions").random(self.n)
        draw = np.empty(self.n, dtype=bool)
        entry_cost = rules.entry_cost_per_week(plat.reentry_cost_cny, econ.planning_horizon_weeks)
        for lo in range(0, self.n, CHUNK):
            s = slice(lo, lo + CHUNK)
            loss = rules.platform_loss(
                self.perceived_takedown[s],
                self._listings_f32[s],
                plat.relisting_cost_cny,
                plat.strike_per_takedown,
                plat.strike_limit,
                self._closure_cost[s],
            )
            loss[~self.has_store[s]] += entry_cost
            gain = rules.expected_gain(
                self._margin[s],
                loss,
                rules.perceived_risk(self.a[s], self.b[s]),
                rules.fine(self.cumulative_sales[s] + self.sales[s], enf.fine_multiple),
                self.prison_year_cost[s],
                self.perceived_sentence[s],
                econ.weekly_discount,
                econ.stigma_cost_cny,
            )
            probability = rules.p_active(gain, self._outside[s], self._noise[s])
            np.less(u[s], probability, out=draw[s])
        state = self.state
        free = state <= SellerState.ACTIVE
        np.logical_and(free, draw, out=self.active)
        state[free] = SellerState.DORMANT
        state[self.active] = SellerState.ACTIVE
        self.has_store |= self.active
        self.sanctioned[:] = False
        self.detections[:] = 0
        self._active_index = np.flatnonzero(self.active)

    # -- phase 2 ------------------------------------------------------------------------------
    def earn(self) -> float:
        """Active sellers earn and accumulate illegal sales.

        Returns:
            Counterfeit sales value of the week (CNY).
        """
        index = self._active_index
        week_sales = self.sales[index]
        self.cumulative_sales[index] += week_sales
        return float(week_sales.sum(dtype=np.float64))

    # -- the interface the platform and the enforcers use ------------------------------------
    def active_indices(self) -> np.ndarray:
        """Sellers active this week."""
        return self._active_index

    def trading_indices(self) -> np.ndarray:
        """Sellers active this week whose store was not closed this week."""
        index = self._active_index
        return index[self.state[index] == SellerState.ACTIVE]

    def values(self, field: str, sellers: np.ndarray) -> np.ndarray:
        """The attribute ``field`` of ``sellers``."""
        return getattr(self, field)[sellers]

    def column(self, field: str) -> np.ndarray:
        """A copy of the attribute ``field`` of every seller."""
        return np.array(getattr(self, field))

    def take_down(
        self, sellers: np.ndarray, detections: np.ndarray, strikes: np.ndarray
    ) -> np.ndarray:
        """Record the week's takedowns and strikes of ``sellers``.

        Returns:
            Strikes of each seller's store after this week's.
        """
        self.detections[sellers] = detections
        total = self.strikes[sellers] + strikes.astype(np.int32)
        self.strikes[sellers] = total
        return total

    def set_case_open(self, sellers: np.ndarray, value: bool) -> None:
        """Mark criminal cases against ``sellers`` as open or closed."""
        self.case_open[sellers] = value

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
        a, b = self.a, self.b
        sanctioned = np.flatnonzero(self.sanctioned)
        a[sanctioned] += F32(bel.w_own)
        index = self._active_index
        clean = index[~self.sanctioned[index]]
        b[clean] += F32(1.0)
        if bel.w_peer > 0 and self.contacts.nnz:
            sanctioned_peers, clean_peers = self._peer_counts(sanctioned, clean)
            if len(sanctioned):
                a += F32(bel.w_peer) * sanctioned_peers
            b += F32(bel.w_peer) * clean_peers
        if bel.w_public > 0 and publicity.count.any():
            a += publicity.risk_increment(bel.w_public)[self.region]
        a0, b0 = rules.prior_counts(bel.prior_risk, bel.prior_strength)
        rules.forget(a, a0, bel.memory, out=a)
        rules.forget(b, b0, bel.memory, out=b)

        self.perceived_sentence = rules.law_awareness(
            self.perceived_sentence,
            self.sentence_anchor,
            p.enforcement.max_sentence_years,
            bel.law_awareness,
        )
        if publicity.sentences.any():
            weight, mean = publicity.sentence_pull(bel.sentence_learning)
            self.perceived_sentence = rules.observe_sentences(
                self.perceived_sentence, mean[self.region], weight[self.region]
            )
        listings = self._listings_f32[index]
        rate = self.detections[index].astype(F32) / listings
        self.perceived_takedown[index] = rules.update_takedown(
            self.perceived_takedown[index], rate, bel.takedown_memory
        )

    def _peer_counts(
        self, sanctioned: np.ndarray, clean: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each seller, contacts sanctioned and contacts clean and active this week.

        One sparse product counts both: a sanctioned contact adds ``base`` and a clean one 1,
        with ``base`` larger than any seller's number of contacts, so the sum splits exactly
        into the two counts (all values are integers below 2**24, exact in float32).
        """
        base = self._count_base
        seen = np.zeros(self.n, dtype=F32)
        seen[clean] = 1.0
        seen[sanctioned] = base
        total = (self.contacts @ seen).astype(np.int32)
        sanctioned_peers = total // np.int32(base)
        total -= sanctioned_peers * np.int32(base)
        return sanctioned_peers.astype(F32), total.astype(F32)

    # -- phase 6 ------------------------------------------------------------------------------
    def advance_timers(self) -> None:
        """Suspensions and prison terms run down; released sellers become dormant."""
        timed = np.flatnonzero(self.state >= SellerState.SUSPENDED)
        timed = timed[self.state[timed] != SellerState.PROSECUTED]
        left = self.weeks_left[timed] - 1
        self.weeks_left[timed] = np.maximum(left, 0)
        self.state[timed[left <= 0]] = SellerState.DORMANT

    def census(self) -> dict[str, Any]:
        """Counts by state, active sellers and mean beliefs."""
        counts = np.bincount(self.state, minlength=len(SellerState))
        return {
            "active": len(self._active_index),
            "counts": counts,
            "mean_perceived_risk": float(
                np.mean(rules.perceived_risk(self.a, self.b), dtype=np.float64)
            ),
            "mean_perceived_sentence": float(np.mean(self.perceived_sentence, dtype=np.float64)),
        }
