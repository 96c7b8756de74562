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

from sim.model import entry, kernels, rules
from sim.model.beliefs import BELIEFS, STEP_BITS, STEPS
from sim.model.population import InitialPopulation, draw_population
from sim.model.week import Verdicts

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel
    from sim.model.week import Week

F32 = np.float32
# The perceived values (``beliefs.VALUES``) and the attributes that hold them.
VALUE_ATTRIBUTES = {"sentence1": "sentence1", "sentence2": "sentence2", "fine": "fine_multiple"}


class SellerState(IntEnum):
    """State of a counterfeiter (ODD 2.1)."""

    DORMANT = 0
    ACTIVE = 1
    SUSPENDED = 2
    PROSECUTED = 3
    JAILED = 4
    ABSENT = 5  # not in the market: not arrived yet, or left for good (ODD 4.8)


class Counterfeiter(mesa.Agent):
    """One potential counterfeit seller (ODD 2.1).

    Attributes:
        index: Position of the seller in the population (``0 .. n-1``).
        region: Region of the seller.
        sales: Weekly counterfeit sales value when active (CNY).
        listings: Counterfeit listings the store keeps live when active.
        outside_ratio: Outside option as a share of the margin.
        prison_year_cost: Cost the seller attaches to a year in prison (CNY).
        sentence_bias: The seller's multiple of the expected sentences in its prior.
        alpha: Per step of the chain (``beliefs.STEPS``), the pseudo-count of it happening.
        beta: Per step, the pseudo-count of it not happening.
        sentence1: Perceived prison term of a tier-1 conviction (years).
        sentence2: Perceived prison term of a tier-2 conviction (years).
        fine_multiple: Perceived fine as a multiple of sales.
        perceived_takedown: Perceived weekly takedown probability per listing.
        state: The seller's ``SellerState``.
        strikes: Strikes on the current store.
        has_store: Whether the seller has an open store.
        offplatform_ready: Whether the seller has set up the off-platform channel.
        newcomer: Whether the seller arrived during the run and has not sold yet.
        case_open: Whether a criminal case against the seller is queued or being processed.
        weeks_left: Weeks left in ``SUSPENDED`` or ``JAILED``.
        cumulative_sales: Illegal sales since the last sanction (CNY).
        contacts: The sellers this one observes.
        active: Whether the seller is active this week (either channel).
        offplatform: Whether the seller is active off the platform this week.
        detections: Listings taken down this week.
        events: Steps of the seller's case this week (bits of ``beliefs.STEP_BITS``).
        perceived: What the seller perceived when deciding this week, ``(risk, criminal cost,
            sentence)`` of the channel it acts on (``kernels.choose``), or None while
            prosecuted or jailed.
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
        self.sentence_bias = start.sentence_bias[index]
        priors = model.priors
        self.alpha = [priors.alpha[step][self.region] for step in STEPS]
        self.beta = [priors.beta[step][self.region] for step in STEPS]
        self.sentence1 = self.value_prior("sentence1")
        self.sentence2 = self.value_prior("sentence2")
        self.fine_multiple = self.value_prior("fine")
        self.perceived_takedown = F32(p.platform.detection_rate)
        present = index < start.initial
        self.state = SellerState.DORMANT if present else SellerState.ABSENT
        self.strikes = start.strikes[index]
        self.has_store = present
        self.offplatform_ready = False
        self.newcomer = not present
        self.case_open = False
        self.weeks_left = 0
        self.cumulative_sales = start.cumulative_sales[index]
        self.contacts: tuple[Counterfeiter, ...] = ()
        self.active = False
        self.offplatform = False
        self.detections = 0
        self.events = 0
        self.perceived: tuple[np.float32, np.float32, np.float32] | None = None

    def value_prior(self, name: str) -> np.float32:
        """The seller's prior of a perceived value: sentences scaled by its own bias."""
        prior = self.model.priors.mean[name][self.region]
        return prior * self.sentence_bias if name != "fine" else prior

    # -- phase 1 ------------------------------------------------------------------------------
    def decide(self) -> None:
        """Decide whether to sell this week, and where, if free to choose (ODD 4.2, 4.6).

        The rule is the compiled ``kernels.choose``, the one the ``vector`` engine runs.
        """
        # Every seller takes its draws, free or not (common random numbers, ODD 7.2).
        week = self.model.current_week
        p = self.model.params
        u = week.rng("decisions").random()
        channels = p.channels.offplatform_margin_ratio > 0
        u_channel = week.rng("channels").random() if channels else 1.0
        self.events = 0
        self.detections = 0
        self.perceived = None
        self.offplatform = False
        if self.state >= SellerState.PROSECUTED:
            self.active = False
            return
        constants, scale, shift = self.model.population.decision_inputs(self.region)
        p_active, p_off, risk, criminal, sentence = kernels.choose(
            constants,
            scale,
            shift,
            self.sales,
            self.outside_ratio,
            bool(self.has_store),
            bool(self.offplatform_ready),
            self.perceived_takedown,
            F32(self.listings),
            self.cumulative_sales,
            self.prison_year_cost,
            *(value for pair in zip(self.alpha, self.beta, strict=True) for value in pair),
            self.sentence1,
            self.sentence2,
            self.fine_multiple,
        )
        self.perceived = (risk, criminal, sentence)
        if self.state == SellerState.SUSPENDED:
            self.active = False
            return
        self.active = u < float(p_active)
        self.state = SellerState.ACTIVE if self.active else SellerState.DORMANT
        if self.active and channels and u_channel < float(p_off):
            self.offplatform = True
            self.offplatform_ready = True
        elif self.active:
            self.has_store = True

    def sales_value(self) -> np.float32:
        """Weekly sales on the platform at this week's price (CNY, ODD 4.7)."""
        price = self.model.market.price
        return self.sales if price == 1.0 else self.sales * F32(price)

    # -- phase 2 ------------------------------------------------------------------------------
    def earn(self) -> float:
        """Earn this week's sales if active, in the channel chosen (ODD 4.6).

        Returns:
            The sales (CNY).
        """
        if not self.active:
            return 0.0
        value = self.sales_value()
        if self.offplatform:
            value = value * F32(self.model.params.channels.offplatform_margin_ratio)
        self.cumulative_sales = self.cumulative_sales + value
        return float(value)

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
    def update_beliefs(self, chain: np.ndarray, observed: dict, public: dict) -> None:
        """Learn from own case, contacts' cases and publicity, then forget (ODD 4.4).

        Args:
            chain: Per region, the week's publicity increment of every step's ``alpha``.
            observed: Per perceived value, the convictions of the week that show it
                (seller index to value).
            public: Per perceived value, the weight and weighted sum of what publicity showed,
                per region.
        """
        bel = self.model.params.beliefs
        priors = self.model.priors
        peers = bel.w_peer > 0 and any(c.events for c in self.contacts)
        for k, step in enumerate(STEPS):
            no, yes = STEP_BITS[step]
            beta, alpha = self.beta[k], self.alpha[k]
            if self.events & no:
                beta = beta + F32(bel.w_own)
            if peers:
                seen = sum(1 for c in self.contacts if c.events & no)
                if seen:
                    beta = beta + F32(bel.w_peer) * F32(seen)
            if self.events & yes:
                alpha = alpha + F32(bel.w_own)
            if peers:
                seen = sum(1 for c in self.contacts if c.events & yes)
                if seen:
                    alpha = alpha + F32(bel.w_peer) * F32(seen)
            if bel.w_public > 0 and chain.any():
                alpha = alpha + chain[self.region]
            self.alpha[k] = rules.forget(alpha, priors.alpha[step][self.region], bel.memory)
            self.beta[k] = rules.forget(beta, priors.beta[step][self.region], bel.memory)
        for name, attribute in VALUE_ATTRIBUTES.items():
            value = self._observe(getattr(self, attribute), observed[name], public[name], peers)
            setattr(self, attribute, rules.forget(value, self.value_prior(name), bel.memory))
        if self.active and not self.offplatform:
            rate = F32(self.detections) / F32(self.listings)
            self.perceived_takedown = rules.update_takedown(
                self.perceived_takedown, rate, bel.takedown_memory
            )

    def _observe(
        self,
        perceived: np.float32,
        convictions: dict[int, float],
        public: tuple[np.ndarray, np.ndarray],
        peers: bool,
    ) -> np.float32:
        """A perceived value after the week's observations: own, contacts', publicised."""
        bel = self.model.params.beliefs
        weight = total = 0.0
        if self.index in convictions:
            weight += bel.w_own
            total += bel.w_own * convictions[self.index]
        if peers and convictions:
            for contact in self.contacts:
                if contact.index in convictions:
                    weight += bel.w_peer
                    total += bel.w_peer * convictions[contact.index]
        public_weight, public_sum = public
        weight += float(public_weight[self.region])
        total += float(public_sum[self.region])
        if weight <= 0:
            return perceived
        return rules.observe(perceived, F32(total / weight), F32(weight), bel.sentence_learning)

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
        self._exposed = 0

    def decision_inputs(self, region: int) -> tuple[tuple[np.float32, ...], ...]:
        """The week's constants of the decision rule and announcement maps of ``region``."""
        return self._constants, self._scales[region], self._shifts[region]

    def decide(self) -> None:
        """Every seller decides, in index order; then sellers who sat out may leave (ODD 4.8)."""
        p = self.model.params
        self._constants = kernels.decision_constants(p, self.model.market.price)
        maps = kernels.announcement_maps(self.model.current_week.pulls, BELIEFS, p.regions)
        self._scales, self._shifts = ([tuple(column) for column in side.T] for side in maps)
        self.agent_set.do("decide")
        self._active = [s for s in self.sellers if s.active]
        week = self.model.current_week
        first = [s for s in self._active if s.newcomer]
        for seller in first:
            seller.newcomer = False
        week.tally("entrants", len(first))
        hazard = self.model.params.population.exit_hazard
        if hazard <= 0:  # no idle set and no exit stream when nobody leaves
            return
        idle = np.array(
            [
                s.index
                for s in self.sellers
                if s.state == SellerState.DORMANT and not s.case_open and s.perceived is not None
            ],
            dtype=np.intp,
        )
        gone = entry.leaving(idle, hazard, week.rng("exit"), self.n)
        for i in gone:
            self.sellers[i].state = SellerState.ABSENT
        week.tally("exits", len(gone))

    def arrive(self, sellers: range) -> None:
        """Potential sellers of the pool arrive: dormant, with no store (ODD 4.8)."""
        for i in sellers:
            self.sellers[i].state = SellerState.DORMANT

    def earn(self) -> tuple[float, float]:
        """Active sellers earn; returns the week's sales on and off the platform (CNY)."""
        on = off = 0.0
        for seller in self._active:
            value = seller.earn()
            if seller.offplatform:
                off += value
            else:
                on += value
        threshold = self.model.params.platform.criminal_threshold_cny
        self._exposed = sum(1 for s in self._active if s.cumulative_sales >= threshold)
        return on, off

    def platform_indices(self) -> np.ndarray:
        """Sellers active on the platform this week."""
        return np.array([s.index for s in self._active if not s.offplatform], dtype=np.intp)

    def offplatform_indices(self) -> np.ndarray:
        """Sellers active off the platform this week."""
        return np.array([s.index for s in self._active if s.offplatform], dtype=np.intp)

    def trading_indices(self) -> np.ndarray:
        """Sellers active on the platform this week whose store was not closed this week."""
        return np.array(
            [s.index for s in self._active if s.state == SellerState.ACTIVE and not s.offplatform],
            dtype=np.intp,
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

    def record_events(self, sellers: np.ndarray, bit: int) -> None:
        """Record a step of the sanction chain of ``sellers`` this week."""
        for i in sellers:
            self.sellers[i].events |= bit

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

    def update_beliefs(self, week: Week) -> None:
        """Every seller learns from the week."""
        verdicts = Verdicts.of(week.verdict_parts)
        observed: dict[str, dict[int, float]] = {"sentence1": {}, "sentence2": {}, "fine": {}}
        for seller, tier2, years, multiple in zip(
            verdicts.sellers.tolist(),
            verdicts.tier2.tolist(),
            verdicts.custodial_years.tolist(),
            verdicts.fine_multiple.tolist(),
            strict=True,
        ):
            observed["sentence2" if tier2 else "sentence1"][seller] = years
            observed["fine"][seller] = multiple
        w_public = self.model.params.beliefs.w_public
        chain = week.publicity.chain_increment(w_public)
        public = {name: week.publicity.observations(name, w_public) for name in observed}
        self.agent_set.do("update_beliefs", chain, observed, public)

    def advance_timers(self) -> None:
        """Every seller's suspension or prison term runs down."""
        self.agent_set.do("advance_timer")

    def census(self) -> dict[str, Any]:
        """Counts by state, active and exposed sellers, and the perceptions acted on."""
        counts = np.zeros(len(SellerState), dtype=np.int64)
        totals = dict.fromkeys(("risk", "criminal", "sentence"), 0.0)
        at_liberty = 0
        for seller in self.sellers:
            counts[seller.state] += 1
            if seller.perceived is not None:
                at_liberty += 1
                risk, criminal, sentence = seller.perceived
                totals["risk"] += float(risk)
                totals["criminal"] += float(criminal)
                totals["sentence"] += float(sentence)
        n = max(at_liberty, 1)
        return {
            "active": len(self._active),
            "offplatform": sum(1 for s in self._active if s.offplatform),
            "exposed": self._exposed,
            "counts": counts,
            "mean_perceived_risk": totals["risk"] / n,
            "mean_perceived_sanction": totals["criminal"] / n,
            "mean_perceived_sentence": totals["sentence"] / n,
        }
