"""The ``agents`` engine: every counterfeiter is its own ``mesa.Agent``.

This is the model written the way a Mesa modeller would write it: a ``Counterfeiter`` holds
its own state and decides, earns, learns and serves its time in its own methods, which call
the formulas of ``sim.model.rules`` with its own scalars. It exists for reading, teaching and
inspecting sellers one by one (``model.population.sellers[i]``), and as the reference the
``vector`` engine is tested against (``tests/model/test_engines.py``). The platform and the
enforcers are the same Mesa agents as in the ``vector`` engine; ``CounterfeiterAgents``
answers their questions (the ``sim.model.population.Population`` protocol) by asking the sellers.

Both engines draw the initial population, and every random number, from the same streams in
the same order, and do the same floating-point operations, so they follow the same path for a
seed; the tests check that they agree in distribution over many seeds, which is the promise.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from mesa.agent import AgentSet

from sim.model import rules
from sim.model.population import InitialPopulation, draw_population

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel
    from sim.model.week import Publicity

F32 = np.float32


class SellerState(IntEnum):
    """State of a counterfeiter (ODD 2.1)."""

    DORMANT = 0
    ACTIVE = 1
    SUSPENDED = 2
    PROSECUTED = 3
    JAILED = 4


class Counterfeiter(mesa.Agent):
    """One potential counterfeit seller (ODD 2.1).

    Attributes:
        index: Position of the seller in the population (``0 .. n-1``).
        region: Region of the seller.
        sales: Weekly counterfeit sales value when active (CNY).
        listings: Counterfeit listings the store keeps live when active.
        outside_ratio: Outside option as a share of the margin.
        prison_year_cost: Cost the seller attaches to a year in prison (CNY).
        sentence_anchor: Perceived sentence as a share of the statutory maximum.
        a: Beta pseudo-count of sanctions (perceived risk).
        b: Beta pseudo-count of active weeks without sanction.
        perceived_sentence: Perceived sentence (years).
        perceived_takedown: Perceived weekly takedown probability per listing.
        state: The seller's ``SellerState``.
        strikes: Strikes on the current store.
        has_store: Whether the seller has an open store.
        case_open: Whether a criminal case against the seller is queued or being processed.
        weeks_left: Weeks left in ``SUSPENDED`` or ``JAILED``.
        cumulative_sales: Illegal sales since the last sanction (CNY).
        contacts: The sellers this one observes.
        active: Whether the seller is active this week.
        detections: Listings taken down this week.
        sanctioned: Whether the seller's case was pursued this week.
    """

    def __init__(self, model: DeterrenceModel, index: int, start: InitialPopulation) -> None:
        """Create seller ``index`` of the initial population ``start``.

        Args:
            model: The model.
            index: The seller's position.
            start: The initial population (shared with the ``vector`` engine).
        """
        super().__init__(model)
        p = model.params
        self.index = index
        self.region = int(start.region[index])
        self.sales = start.sales[index]
        self.listings = start.listings[index]
        self.outside_ratio = start.outside_ratio[index]
        self.prison_year_cost = start.prison_year_cost[index]
        self.sentence_anchor = start.sentence_anchor[index]
        a0, b0 = rules.prior_counts(p.beliefs.prior_risk, p.beliefs.prior_strength)
        self.a, self.b = F32(a0), F32(b0)
        self.perceived_sentence = self.sentence_anchor * F32(p.enforcement.max_sentence_years)
        self.perceived_takedown = F32(p.platform.detection_rate)
        self.state = SellerState.DORMANT
        self.strikes = start.strikes[index]
        self.has_store = True
        self.case_open = False
        self.weeks_left = 0
        self.cumulative_sales = start.cumulative_sales[index]
        self.contacts: tuple[Counterfeiter, ...] = ()
        self.active = False
        self.detections = 0
        self.sanctioned = False

    # -- phase 1 ------------------------------------------------------------------------------
    def decide(self) -> None:
        """Decide whether to be active this week, if free to choose (ODD 4.2)."""
        # Every seller takes its draw, free or not (common random numbers, ODD 7.2).
        u = self.model.current_week.rng("decisions").random()
        self.sanctioned = False
        self.detections = 0
        if self.state not in (SellerState.DORMANT, SellerState.ACTIVE):
            self.active = False
            return
        p = self.model.params
        econ, plat, enf = p.economics, p.platform, p.enforcement
        margin = rules.weekly_margin(self.sales, econ.margin_share)
        loss = rules.platform_loss(
            self.perceived_takedown,
            F32(self.listings),
            plat.relisting_cost_cny,
            plat.strike_per_takedown,
            plat.strike_limit,
            rules.closure_cost(margin, plat.reentry_cost_cny, plat.reentry_delay_weeks),
        )
        if not self.has_store:
            loss = loss + rules.entry_cost_per_week(
                plat.reentry_cost_cny, econ.planning_horizon_weeks
            )
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
            gain, self.outside_ratio * margin, F32(econ.decision_noise) * margin
        )
        self.active = u < float(probability)
        self.state = SellerState.ACTIVE if self.active else SellerState.DORMANT
        self.has_store = self.has_store or self.active

    # -- phase 2 ------------------------------------------------------------------------------
    def earn(self) -> float:
        """Earn this week's sales if active.

        Returns:
            The sales (CNY).
        """
        if not self.active:
            return 0.0
        self.cumulative_sales = self.cumulative_sales + self.sales
        return float(self.sales)

    # -- what the platform and the enforcers do to the seller -------------------------------
    def close_store(self) -> None:
        """The store is closed (strike limit or lawsuit): suspended for the re-entry delay."""
        self.state = SellerState.SUSPENDED
        # +1: the timer also runs down at the end of this week (ODD 3.4, phase 6).
        self.weeks_left = self.model.params.platform.reentry_delay_weeks + 1
        self.strikes = 0
        self.has_store = False
        self.cumulative_sales = F32(0.0)

    def be_prosecuted(self) -> None:
        """A case against the seller is pursued: incapacitated, store gone."""
        self.state = SellerState.PROSECUTED
        self.weeks_left = 0
        self.strikes = 0
        self.has_store = False
        self.cumulative_sales = F32(0.0)
        self.sanctioned = True

    def serve(self, weeks: int) -> None:
        """The case ends: jailed for ``weeks`` (0 means released)."""
        self.case_open = False
        if weeks > 0:
            self.state = SellerState.JAILED
            self.weeks_left = int(weeks) + 1
        else:
            self.state = SellerState.DORMANT
            self.weeks_left = 0

    # -- phase 5 ------------------------------------------------------------------------------
    def update_beliefs(
        self,
        public_risk: np.ndarray | None,
        sentence_pull: tuple[np.ndarray, np.ndarray] | None,
    ) -> None:
        """Learn from own experience, contacts and publicity (ODD 4.4).

        Args:
            public_risk: Per region, the week's increment of ``a`` from publicity, or None.
            sentence_pull: Per region, weight and mean of publicised sentences, or None.
        """
        p = self.model.params
        bel = p.beliefs
        a, b = self.a, self.b
        if self.sanctioned:
            a = a + F32(bel.w_own)
        if self.active and not self.sanctioned:
            b = b + F32(1.0)
        if bel.w_peer > 0 and self.contacts:
            sanctioned = sum(1 for c in self.contacts if c.sanctioned)
            clean = sum(1 for c in self.contacts if c.active and not c.sanctioned)
            a = a + F32(bel.w_peer) * F32(sanctioned)
            b = b + F32(bel.w_peer) * F32(clean)
        if public_risk is not None:
            a = a + public_risk[self.region]
        a0, b0 = rules.prior_counts(bel.prior_risk, bel.prior_strength)
        self.a = rules.forget(a, a0, bel.memory)
        self.b = rules.forget(b, b0, bel.memory)

        self.perceived_sentence = rules.law_awareness(
            self.perceived_sentence,
            self.sentence_anchor,
            p.enforcement.max_sentence_years,
            bel.law_awareness,
        )
        if sentence_pull is not None:
            weight, mean = sentence_pull
            self.perceived_sentence = rules.observe_sentences(
                self.perceived_sentence, mean[self.region], weight[self.region]
            )
        if self.active:
            rate = F32(self.detections) / F32(self.listings)
            self.perceived_takedown = rules.update_takedown(
                self.perceived_takedown, rate, bel.takedown_memory
            )

    # -- phase 6 ------------------------------------------------------------------------------
    def advance_timer(self) -> None:
        """A suspension or prison term runs down one week; at its end the seller is dormant."""
        if self.state in (SellerState.SUSPENDED, SellerState.JAILED):
            self.weeks_left -= 1
            if self.weeks_left <= 0:
                self.weeks_left = 0
                self.state = SellerState.DORMANT


class CounterfeiterAgents:
    """The counterfeiters of the ``agents`` engine, one ``Counterfeiter`` each.

    Implements ``sim.model.population.Population`` by asking the sellers, in index order.

    Attributes:
        sellers: The sellers, by index.
        n: Number of sellers.
    """

    def __init__(self, model: DeterrenceModel) -> None:
        """Create one ``Counterfeiter`` per seller of the initial population.

        Args:
            model: The model.
        """
        self.model = model
        start = draw_population(model.params, model.streams)
        self.n = len(start.region)
        self.sellers = [Counterfeiter(model, i, start) for i in range(self.n)]
        self.agent_set = AgentSet(self.sellers, random=model.random)
        indptr, indices = start.contacts.indptr, start.contacts.indices
        for seller in self.sellers:
            row = indices[indptr[seller.index] : indptr[seller.index + 1]]
            seller.contacts = tuple(self.sellers[j] for j in row)
        self._dtypes = (
            {name: np.asarray(value).dtype for name, value in vars(self.sellers[0]).items()}
            if self.sellers
            else {}
        )
        self._active: list[Counterfeiter] = []

    def decide(self) -> None:
        """Every seller decides, in index order."""
        self.agent_set.do("decide")
        self._active = [s for s in self.sellers if s.active]

    def earn(self) -> float:
        """Active sellers earn; returns the week's counterfeit sales (CNY)."""
        return float(sum(seller.earn() for seller in self._active))

    def active_indices(self) -> np.ndarray:
        """Sellers active this week."""
        return np.array([s.index for s in self._active], dtype=np.intp)

    def trading_indices(self) -> np.ndarray:
        """Sellers active this week whose store was not closed this week."""
        return np.array(
            [s.index for s in self._active if s.state == SellerState.ACTIVE], dtype=np.intp
        )

    def values(self, field: str, sellers: np.ndarray) -> np.ndarray:
        """The attribute ``field`` of ``sellers``."""
        dtype = self._dtypes.get(field)
        return np.array([getattr(self.sellers[i], field) for i in sellers], dtype=dtype)

    def column(self, field: str) -> np.ndarray:
        """The attribute ``field`` of every seller."""
        return self.values(field, np.arange(self.n))

    def take_down(
        self, sellers: np.ndarray, detections: np.ndarray, strikes: np.ndarray
    ) -> np.ndarray:
        """Record the week's takedowns and strikes; returns each seller's strikes now."""
        total = np.empty(len(sellers), dtype=np.int32)
        for k, (i, found, struck) in enumerate(zip(sellers, detections, strikes, strict=True)):
            seller = self.sellers[i]
            seller.detections = int(found)
            seller.strikes = seller.strikes + np.int32(struck)
            total[k] = seller.strikes
        return total

    def set_case_open(self, sellers: np.ndarray, value: bool) -> None:
        """Mark criminal cases against ``sellers`` as open or closed."""
        for i in sellers:
            self.sellers[i].case_open = bool(value)

    def close_stores(self, sellers: np.ndarray) -> None:
        """Close the stores of ``sellers``."""
        for i in sellers:
            self.sellers[i].close_store()

    def prosecute(self, sellers: np.ndarray) -> None:
        """Start the prosecution of ``sellers``."""
        for i in sellers:
            self.sellers[i].be_prosecuted()

    def sentence(self, sellers: np.ndarray, weeks: np.ndarray) -> None:
        """End the cases of ``sellers`` with ``weeks`` of prison each (0: released)."""
        for i, term in zip(sellers, weeks, strict=True):
            self.sellers[i].serve(int(term))

    def update_beliefs(self, publicity: Publicity) -> None:
        """Every seller updates its beliefs."""
        bel = self.model.params.beliefs
        public_risk = (
            publicity.risk_increment(bel.w_public)
            if bel.w_public > 0 and publicity.count.any()
            else None
        )
        pull = publicity.sentence_pull(bel.sentence_learning) if publicity.sentences.any() else None
        self.agent_set.do("update_beliefs", public_risk, pull)

    def advance_timers(self) -> None:
        """Every seller's suspension or prison term runs down."""
        self.agent_set.do("advance_timer")

    def census(self) -> dict[str, Any]:
        """Counts by state, active sellers and mean beliefs."""
        counts = np.zeros(len(SellerState), dtype=np.int64)
        risk = sentence = 0.0
        for seller in self.sellers:
            counts[seller.state] += 1
            risk += float(rules.perceived_risk(seller.a, seller.b))
            sentence += float(seller.perceived_sentence)
        n = max(self.n, 1)
        return {
            "active": len(self._active),
            "counts": counts,
            "mean_perceived_risk": risk / n,
            "mean_perceived_sentence": sentence / n,
        }
