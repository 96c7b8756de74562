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

from sim.model import beliefs, entry, rules
from sim.model.agents import SellerState
from sim.model.beliefs import STEP_BITS, STEPS, VALUES
from sim.model.population import draw_population
from sim.model.week import Verdicts

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel
    from sim.model.week import Week
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
        sentence_bias: The seller's multiple of the expected sentences in its prior.
        alpha: Per step of the chain (``beliefs.STEPS``, rows), pseudo-counts of it happening.
        beta: Per step (rows), pseudo-counts of it not happening.
        sentence1: Perceived prison term of a tier-1 conviction (years).
        sentence2: Perceived prison term of a tier-2 conviction (years).
        fine_multiple: Perceived fine as a multiple of sales.
        perceived_takedown: Perceived weekly takedown probability per listing.
        state: ``SellerState`` of each seller (``ABSENT`` before arrival and after exit).
        strikes: Strikes on the current store.
        has_store: Whether the seller has an open store (no re-entry cost to pay).
        offplatform_ready: Whether the seller has set up the off-platform channel.
        newcomer: Whether the seller arrived during the run and has not sold yet.
        case_open: Whether a criminal case against the seller is queued or being processed.
        weeks_left: Weeks left in ``SUSPENDED`` or ``JAILED``.
        cumulative_sales: Illegal sales since the last sanction: store closure, lawsuit or
            prosecution (CNY).
        contacts: Sparse adjacency matrix of the social network.
        active: Sellers active this week (either channel).
        offplatform: Sellers active off the platform this week.
        detections: Listings of each seller taken down this week.
        events: Steps of each seller's case this week (bits of ``beliefs.STEP_BITS``).
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
        self.sentence_bias = start.sentence_bias
        self.strikes = start.strikes
        self.cumulative_sales = start.cumulative_sales
        self.contacts = start.contacts
        priors = model.priors
        self.alpha = np.stack([priors.alpha[step][self.region] for step in STEPS])
        self.beta = np.stack([priors.beta[step][self.region] for step in STEPS])
        self.sentence1, self.sentence2 = (self._value_prior(name) for name in VALUES[:2])
        self.fine_multiple = self._value_prior("fine")
        self.perceived_takedown = np.full(n, p.platform.detection_rate, dtype=F32)
        initial = start.initial
        self.state = np.full(n, SellerState.ABSENT, dtype=np.int8)
        self.state[:initial] = SellerState.DORMANT
        self.has_store = np.zeros(n, dtype=bool)
        self.has_store[:initial] = True
        self.offplatform_ready = np.zeros(n, dtype=bool)
        self.newcomer = np.zeros(n, dtype=bool)
        self.newcomer[initial:] = True
        self.case_open = np.zeros(n, dtype=bool)
        self.weeks_left = np.zeros(n, dtype=np.int32)
        self.active = np.zeros(n, dtype=bool)
        self.offplatform = np.zeros(n, dtype=bool)
        self.detections = np.zeros(n, dtype=np.int32)
        self.events = np.zeros(n, dtype=np.uint8)
        self._listings_f32 = self.listings.astype(F32)
        self._params: tuple[Scenario, float] | None = None
        self._perceived: dict[str, float] = {}
        self._active_index = np.zeros(0, dtype=np.intp)
        self._platform_index = self._active_index
        self._offplatform_index = self._active_index

    def _value_prior(self, name: str) -> np.ndarray:
        """Each seller's prior of a perceived value: sentences scaled by its own bias."""
        prior = self.model.priors.mean[name][self.region]
        return prior * self.sentence_bias if name != "fine" else prior

    def _refresh(self) -> None:
        """Recompute the terms that depend only on parameters, the price and fixed traits."""
        p = self.model.params
        price = self.model.market.price
        if self._params is not None and p is self._params[0] and price == self._params[1]:
            return
        self._params = (p, price)
        econ, plat = p.economics, p.platform
        # The outside option and the decision noise are set at the 2016 price (ODD 4.7).
        base = rules.weekly_margin(self.sales, econ.margin_share)
        self._margin = (
            base
            if price == 1.0
            else rules.weekly_margin(self.sales, rules.margin_share_at(price, econ.margin_share))
        )
        self._sales_value = self.sales if price == 1.0 else self.sales * F32(price)
        self._outside = self.outside_ratio * base
        self._net_margin = np.maximum(self._margin - self._outside, F32(0))
        self._closure_cost = rules.closure_cost(
            self._net_margin, plat.reentry_cost_cny, plat.reentry_delay_weeks
        )
        self._noise = F32(econ.decision_noise) * base

    # -- phase 1 ------------------------------------------------------------------------------
    def decide(self) -> None:
        """Sellers free to choose decide whether to sell this week, and where (ODD 4.2, 4.6).

        The rule is evaluated in chunks of ``CHUNK`` sellers so that its intermediate arrays
        stay in the processor's cache: the same operations, element by element, as on whole
        arrays, several times faster on large populations. The perceptions the sellers at
        liberty act on are summed for the week's record. Sellers who sat out may then leave
        for good (ODD 4.8).
        """
        self._refresh()
        p = self.model.params
        week = self.model.current_week
        # One uniform draw per seller of the pool, free or not (common random numbers, ODD 7.2).
        u = week.rng("decisions").random(self.n)
        draw = np.empty(self.n, dtype=bool)
        channels = p.channels.offplatform_margin_ratio > 0
        if channels:
            u_channel = week.rng("channels").random(self.n)
            off_draw = np.zeros(self.n, dtype=bool)
            switching = F32(p.channels.switching_cost_cny / p.economics.planning_horizon_weeks)
        entry_cost = F32(
            rules.entry_cost_per_week(
                p.platform.reentry_cost_cny, p.economics.planning_horizon_weeks
            )
        )
        liberty = self.state < SellerState.PROSECUTED
        totals = dict.fromkeys(("risk", "criminal", "sentence"), 0.0)
        for lo in range(0, self.n, CHUNK):
            s = slice(lo, lo + CHUNK)
            choice = beliefs.perceive(
                p,
                week.pulls,
                self.region[s],
                self._margin[s],
                self._net_margin[s],
                self._closure_cost[s],
                np.where(self.has_store[s], F32(0), entry_cost),
                self.perceived_takedown[s],
                self._listings_f32[s],
                self.cumulative_sales[s],
                self._sales_value[s],
                self.prison_year_cost[s],
                [a[s] for a in self.alpha],
                [b[s] for b in self.beta],
                self.sentence1[s],
                self.sentence2[s],
                self.fine_multiple[s],
                np.where(self.offplatform_ready[s], F32(0), switching) if channels else 0.0,
            )
            gain = choice.gain
            if choice.gain_offplatform is not None:
                gain = rules.inclusive_gain(gain, choice.gain_offplatform, self._noise[s])
                np.less(
                    u_channel[s],
                    rules.p_offplatform(choice.gain, choice.gain_offplatform, self._noise[s]),
                    out=off_draw[s],
                )
            probability = rules.p_active(gain, self._outside[s], self._noise[s])
            np.less(u[s], probability, out=draw[s])
            free = liberty[s]
            risk, criminal = choice.acted_on()
            for name, value in (
                ("risk", risk),
                ("criminal", criminal),
                ("sentence", choice.sentence),
            ):
                totals[name] += float(np.sum(value[free], dtype=np.float64))
        at_liberty = max(int(liberty.sum()), 1)
        self._perceived = {name: total / at_liberty for name, total in totals.items()}
        state = self.state
        free = state <= SellerState.ACTIVE
        np.logical_and(free, draw, out=self.active)
        state[free] = SellerState.DORMANT
        state[self.active] = SellerState.ACTIVE
        if channels:
            np.logical_and(self.active, off_draw, out=self.offplatform)
            self.offplatform_ready |= self.offplatform
            on_platform = self.active & ~self.offplatform
        else:
            self.offplatform[:] = False
            on_platform = self.active
        self.has_store |= on_platform
        self.events[:] = 0
        self.detections[:] = 0
        self._active_index = np.flatnonzero(self.active)
        self._platform_index = self._active_index if not channels else np.flatnonzero(on_platform)
        self._offplatform_index = (
            np.flatnonzero(self.offplatform) if channels else self._active_index[:0]
        )
        first = self._active_index[self.newcomer[self._active_index]]
        self.newcomer[first] = False
        week.tally("entrants", len(first))
        hazard = p.population.exit_hazard
        if hazard > 0:  # no idle set and no exit stream when nobody leaves
            idle = np.flatnonzero(free & ~self.active & ~self.case_open)
            gone = entry.leaving(idle, hazard, week.rng("exit"), self.n)
            state[gone] = SellerState.ABSENT
            week.tally("exits", len(gone))

    def arrive(self, sellers: range) -> None:
        """Potential sellers of the pool arrive: dormant, with no store (ODD 4.8)."""
        self.state[sellers.start : sellers.stop] = SellerState.DORMANT

    # -- phase 2 ------------------------------------------------------------------------------
    def earn(self) -> tuple[float, float]:
        """Active sellers earn and accumulate illegal sales, in both channels (ODD 4.6).

        Returns:
            Counterfeit sales of the week on and off the platform (CNY).
        """
        index = self._active_index
        week_sales = self._sales_value[index]
        off = self.offplatform[index] if len(self._offplatform_index) else None
        if off is not None:
            ratio = F32(self.model.params.channels.offplatform_margin_ratio)
            week_sales = np.where(off, week_sales * ratio, week_sales)
        self.cumulative_sales[index] += week_sales
        threshold = self.model.params.platform.criminal_threshold_cny
        self._exposed = int(np.count_nonzero(self.cumulative_sales[index] >= threshold))
        if off is None:
            return float(week_sales.sum(dtype=np.float64)), 0.0
        return (
            float(week_sales[~off].sum(dtype=np.float64)),
            float(week_sales[off].sum(dtype=np.float64)),
        )

    # -- the interface the platform and the enforcers use ------------------------------------
    def platform_indices(self) -> np.ndarray:
        """Sellers active on the platform this week."""
        return self._platform_index

    def offplatform_indices(self) -> np.ndarray:
        """Sellers active off the platform this week."""
        return self._offplatform_index

    def trading_indices(self) -> np.ndarray:
        """Sellers active on the platform this week whose store was not closed this week."""
        index = self._platform_index
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

    def record_events(self, sellers: np.ndarray, bit: int) -> None:
        """Record a step of the sanction chain of ``sellers`` this week."""
        self.events[sellers] |= np.uint8(bit)

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
    def update_beliefs(self, week: Week) -> None:
        """Every perceived quantity learns from the week, then forgets (ODD 4.4).

        Args:
            week: The week (its sellers' events, verdicts and publicity).
        """
        p = self.model.params
        bel, priors = p.beliefs, self.model.priors
        event_sellers = np.flatnonzero(self.events)
        observers, observed = self.observers_of(event_sellers)
        chain = week.publicity.chain_increment(bel.w_public)
        for k, step in enumerate(STEPS):
            for counts, bit in zip((self.beta[k], self.alpha[k]), STEP_BITS[step], strict=True):
                own = event_sellers[(self.events[event_sellers] & bit) != 0]
                counts[own] += F32(bel.w_own)
                if bel.w_peer > 0 and len(observers):
                    seen = observers[(self.events[observed] & bit) != 0]
                    ids, number = np.unique(seen, return_counts=True)
                    counts[ids] += F32(bel.w_peer) * number.astype(F32)
            if bel.w_public > 0 and chain.any():
                self.alpha[k] += chain[self.region]
            rules.forget(
                self.alpha[k], priors.alpha[step][self.region], bel.memory, out=self.alpha[k]
            )
            rules.forget(self.beta[k], priors.beta[step][self.region], bel.memory, out=self.beta[k])
        self._learn_values(week, observers, observed)
        index = self._platform_index
        listings = self._listings_f32[index]
        rate = self.detections[index].astype(F32) / listings
        self.perceived_takedown[index] = rules.update_takedown(
            self.perceived_takedown[index], rate, bel.takedown_memory
        )

    def observers_of(self, sellers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Who observes ``sellers``: each (observer, observed) link, by observer then observed.

        Row ``i`` of the contact matrix lists the sellers ``i`` observes, increasing; only the
        links to sellers with an event this week are taken (a gather over the links, no
        product).
        """
        if len(sellers) == 0 or self.contacts.nnz == 0:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty
        marked = np.zeros(self.n, dtype=bool)
        marked[sellers] = True
        links = np.flatnonzero(marked[self.contacts.indices])
        observers = np.searchsorted(self.contacts.indptr, links, side="right") - 1
        return observers, self.contacts.indices[links].astype(np.intp)

    def _learn_values(self, week: Week, observers: np.ndarray, observed: np.ndarray) -> None:
        """Perceived sentences and fine move towards the week's observations, then forget.

        Observations are weighted like the steps of the chain: ``w_own`` for one's own
        conviction, ``w_peer`` per contact's, ``w_public`` per publicised one; their weighted
        sum and weight are added in float64 in that order (own, contacts by index,
        publicity), so that the ``agents`` engine adds the same numbers in the same order.
        """
        bel = self.model.params.beliefs
        verdicts = Verdicts.of(week.verdict_parts)
        for name, perceived in (
            ("sentence1", self.sentence1),
            ("sentence2", self.sentence2),
            ("fine", self.fine_multiple),
        ):
            if name == "fine":
                mine = np.ones(len(verdicts.sellers), dtype=bool)
                value = verdicts.fine_multiple
            else:
                mine = verdicts.tier2 == (name == "sentence2")
                value = verdicts.custodial_years
            public_weight, public_sum = week.publicity.observations(name, bel.w_public)
            seen = self._seen(verdicts.sellers[mine], value[mine], observers, observed)
            if seen is not None:
                sellers, weight, total = seen
                weight += public_weight[self.region[sellers]]
                total += public_sum[self.region[sellers]]
                mean = (total / weight).astype(F32)
                perceived[sellers] = rules.observe(
                    perceived[sellers], mean, weight.astype(F32), bel.sentence_learning
                )
            else:
                sellers = np.zeros(0, dtype=np.intp)
            if public_weight.any():
                others = np.ones(self.n, dtype=bool)
                others[sellers] = False
                others &= (public_weight > 0)[self.region]
                region = self.region[others]
                mean = np.divide(
                    public_sum,
                    public_weight,
                    out=np.zeros_like(public_sum),
                    where=public_weight > 0,
                ).astype(F32)
                perceived[others] = rules.observe(
                    perceived[others],
                    mean[region],
                    public_weight.astype(F32)[region],
                    bel.sentence_learning,
                )
            prior = self._value_prior(name)
            rules.forget(perceived, prior, bel.memory, out=perceived)

    def _seen(
        self,
        convicted: np.ndarray,
        value: np.ndarray,
        observers: np.ndarray,
        observed: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Sellers who saw a conviction (their own, a contact's), with weight and weighted sum.

        Returns:
            The sellers (increasing), the float64 weight and weighted sum of what each saw
            (own first, then contacts in index order), or None if nobody saw any.
        """
        bel = self.model.params.beliefs
        if len(convicted) == 0:
            return None
        values = dict(zip(convicted.tolist(), value.tolist(), strict=True))
        pieces = [(convicted, np.full(len(convicted), bel.w_own), np.asarray(value, dtype=float))]
        if bel.w_peer > 0 and len(observers):
            link = np.isin(observed, convicted)
            seen_by, seen = observers[link], observed[link]
            pieces.append(
                (
                    seen_by,
                    np.full(len(seen_by), bel.w_peer),
                    np.array([values[j] for j in seen], dtype=float),
                )
            )
        sellers = np.concatenate([piece[0] for piece in pieces])
        weights = np.concatenate([piece[1] for piece in pieces])
        totals = np.concatenate([piece[1] * piece[2] for piece in pieces])
        # Own observation first, then contacts in index order: a stable sort by seller keeps it.
        order = np.argsort(sellers, kind="stable")
        sellers, weights, totals = sellers[order], weights[order], totals[order]
        unique = np.unique(sellers)
        weight = np.zeros(len(unique))
        total = np.zeros(len(unique))
        position = np.searchsorted(unique, sellers)
        np.add.at(weight, position, weights)
        np.add.at(total, position, totals)
        keep = weight > 0
        return unique[keep], weight[keep], total[keep]

    # -- phase 6 ------------------------------------------------------------------------------
    def advance_timers(self) -> None:
        """Suspensions and prison terms run down; released sellers become dormant."""
        timed = np.flatnonzero(
            (self.state == SellerState.SUSPENDED) | (self.state == SellerState.JAILED)
        )
        left = self.weeks_left[timed] - 1
        self.weeks_left[timed] = np.maximum(left, 0)
        self.state[timed[left <= 0]] = SellerState.DORMANT

    def census(self) -> dict[str, Any]:
        """Counts by state, active and exposed sellers, and the perceptions acted on."""
        return {
            "active": len(self._active_index),
            "offplatform": len(self._offplatform_index),
            "exposed": getattr(self, "_exposed", 0),
            "counts": np.bincount(self.state, minlength=len(SellerState)),
            "mean_perceived_risk": self._perceived.get("risk", 0.0),
            "mean_perceived_sanction": self._perceived.get("criminal", 0.0),
            "mean_perceived_sentence": self._perceived.get("sentence", 0.0),
        }
