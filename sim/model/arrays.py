"""The ``vector`` engine: all counterfeiters held column-wise in numpy arrays.

One Mesa agent, ``CounterfeiterArrays``, owns an array per attribute (one element per
seller). The per-seller work of a week (deciding, learning) is one compiled pass over the
arrays (``sim.model.kernels``), whose decision rule the ``agents`` engine calls one seller at
a time. Floating-point attributes are float32, the network a sparse matrix; the kernels work
in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from scipy import sparse

from sim.model import kernels, learning, pcg64
from sim.model.agents import SellerState
from sim.model.beliefs import BELIEFS, STEPS, VALUES
from sim.model.population import draw_population
from sim.model.week import Verdicts

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel
    from sim.model.week import Week

F32 = np.float32


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
        # The network as CSR arrays, and reversed (who observes each seller) for learning; the
        # sparse matrix itself (``contacts``) is made only when asked for.
        self._indptr, self._indices = start.contacts.indptr, start.contacts.indices
        self._observer_indptr, self._observers = learning.observers_of(
            self._indptr, self._indices, n
        )
        priors = model.priors
        self.alpha = np.stack([priors.alpha[step][self.region] for step in STEPS])
        self.beta = np.stack([priors.beta[step][self.region] for step in STEPS])
        # The perceived values, one row each (``beliefs.VALUES``), and their priors.
        self.perceived_values = np.stack([self._value_prior(name) for name in VALUES])
        self.sentence1, self.sentence2, self.fine_multiple = self.perceived_values
        self._value_priors = np.stack([priors.mean[name] for name in VALUES])
        self._prior_counts = np.stack(
            [np.stack([counts[step] for step in STEPS]) for counts in (priors.alpha, priors.beta)]
        )
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
        self._perceived: dict[str, float] = {}
        self._counts = np.zeros(len(SellerState), dtype=np.int64)
        self._seen: np.ndarray | None = None
        self._counted_week = -1
        self._active_index = np.zeros(0, dtype=np.intp)
        self._platform_index = self._active_index
        self._offplatform_index = self._active_index

    @property
    def contacts(self) -> sparse.csr_array:
        """Sparse adjacency matrix of the social network (row ``i``: whom ``i`` observes)."""
        data = np.ones(len(self._indices), dtype=F32)
        return sparse.csr_array((data, self._indices, self._indptr), shape=(self.n, self.n))

    def _value_prior(self, name: str) -> np.ndarray:
        """Each seller's prior of a perceived value: sentences scaled by its own bias."""
        prior = self.model.priors.mean[name][self.region]
        return prior * self.sentence_bias if name != "fine" else prior

    def decide(self) -> None:
        """Sellers free to choose decide whether to sell this week, and where (ODD 4.2, 4.6).

        The compiled rule (``kernels.decide_all``) goes through the pool once; the
        perceptions the sellers at liberty act on are summed for the week's record. Sellers
        who sat out may then leave for good (ODD 4.8).
        """
        p = self.model.params
        week = self.model.current_week
        channels = p.channels.offplatform_margin_ratio > 0
        hazard = p.population.exit_hazard
        # The week's generators, run by compiled code and given back (``sim.model.pcg64``);
        # streams not drawn from (no channel, no exit) are not created.
        with pcg64.running(
            week.rng("decisions"),
            week.rng("channels") if channels else None,
            week.rng("exit") if hazard > 0 else None,
        ) as streams:
            at_liberty, *totals, entrants, exits = kernels.decide_all(
                kernels.decision_constants(p, self.model.market.price),
                kernels.announcement_maps(week.pulls, BELIEFS, p.regions),
                self.state,
                self.region,
                self.sales,
                self.outside_ratio,
                self.has_store,
                self.offplatform_ready,
                self.newcomer,
                self.case_open,
                self.perceived_takedown,
                self._listings_f32,
                self.cumulative_sales,
                self.prison_year_cost,
                self.alpha,
                self.beta,
                self.sentence1,
                self.sentence2,
                self.fine_multiple,
                *streams,
                hazard,
                self.active,
                self.offplatform,
                self.events,
                self.detections,
            )
        at_liberty = max(at_liberty, 1)
        self._perceived = {
            name: total / at_liberty
            for name, total in zip(("risk", "criminal", "sentence"), totals, strict=True)
        }
        if channels:
            self._active_index, self._platform_index, self._offplatform_index = (
                kernels.active_indices(self.active, self.offplatform)
            )
        else:
            self._active_index = self._platform_index = np.flatnonzero(self.active)
            self._offplatform_index = self._active_index[:0]
        week.tally("entrants", entrants)
        if hazard > 0:
            week.tally("exits", exits)

    def arrive(self, sellers: range) -> None:
        """Potential sellers of the pool arrive: dormant, with no store (ODD 4.8)."""
        self.state[sellers.start : sellers.stop] = SellerState.DORMANT

    # -- phase 2 ------------------------------------------------------------------------------
    def earn(self) -> tuple[float, float]:
        """Active sellers earn and accumulate illegal sales, in both channels (ODD 4.6).

        One compiled pass (``kernels.earn_all``); the week's sales are summed by numpy.

        Returns:
            Counterfeit sales of the week on and off the platform (CNY).
        """
        price = self.model.market.price
        self._exposed, on, off = kernels.earn_all(
            self._active_index,
            self.offplatform,
            self.sales,
            None if price == 1.0 else F32(price),
            F32(self.model.params.channels.offplatform_margin_ratio),
            self.cumulative_sales,
            # numpy compares a float32 array with a number in float32 too
            F32(self.model.params.platform.criminal_threshold_cny),
            len(self._platform_index),
            len(self._offplatform_index),
        )
        return float(on.sum(dtype=np.float64)), float(off.sum(dtype=np.float64))

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
        return kernels.take_down_all(sellers, detections, strikes, self.detections, self.strikes)

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

        One compiled pass over the pool (``learning.learn_all``).

        Args:
            week: The week (its sellers' events, verdicts and publicity).
        """
        p = self.model.params
        bel = p.beliefs
        verdicts = Verdicts.of(week.verdict_parts)
        mark = np.zeros(self.n, dtype=bool)
        mark[verdicts.sellers] = True
        observations = [week.publicity.observations(name, bel.w_public) for name in VALUES]
        memory = bel.takedown_memory
        learning.learn_all(
            self.events,
            self._indptr,
            self._indices,
            self._observer_indptr,
            self._observers,
            self.region,
            self.alpha,
            self.beta,
            self._prior_counts[0],
            self._prior_counts[1],
            week.publicity.chain_increment(bel.w_public),
            self.perceived_values,
            self._value_priors,
            self.sentence_bias,
            mark,
            verdicts.sellers.astype(np.int64),
            verdicts.tier2.astype(bool),
            np.stack(
                [verdicts.custodial_years, verdicts.custodial_years, verdicts.fine_multiple]
            ).astype(np.float64),
            np.array([weight for weight, _ in observations], dtype=np.float64),
            np.array([total for _, total in observations], dtype=np.float64),
            self.active,
            self.offplatform,
            self.detections,
            self._listings_f32,
            self.perceived_takedown,
            (float(bel.w_own), float(bel.w_peer)),
            F32(bel.memory),
            F32(1.0 - bel.sentence_learning),
            (F32(memory), F32(1.0 - memory)),
            self._seen_counts(bel.w_peer > 0),
        )

    def _seen_counts(self, peers: bool) -> np.ndarray:
        """Zeros for learning to count contacts' events in: kept, as learning leaves them."""
        columns = self.n if peers else 0
        if self._seen is None or self._seen.shape[1] != columns:
            self._seen = np.zeros((8, columns), dtype=np.uint8)
        return self._seen

    # -- phase 6 ------------------------------------------------------------------------------
    def advance_timers(self) -> None:
        """Suspensions and prison terms run down; released sellers become dormant.

        One compiled pass (``kernels.advance_all``), which also counts the sellers by state
        for this week's record.
        """
        self._counts = kernels.advance_all(self.state, self.weeks_left, len(SellerState))
        self._counted_week = self.model.week

    def census(self) -> dict[str, Any]:
        """Counts by state, active and exposed sellers, and the perceptions acted on."""
        return {
            "active": len(self._active_index),
            "offplatform": len(self._offplatform_index),
            "exposed": getattr(self, "_exposed", 0),
            "counts": (
                self._counts
                if self._counted_week == self.model.week
                else np.bincount(self.state, minlength=len(SellerState))
            ),
            "mean_perceived_risk": self._perceived.get("risk", 0.0),
            "mean_perceived_sanction": self._perceived.get("criminal", 0.0),
            "mean_perceived_sentence": self._perceived.get("sentence", 0.0),
        }
