"""Property tests (hypothesis) of the model's bookkeeping.

Random valid scenarios: a bundled scenario shrunk to 200-2,000 sellers and 10-40 weeks (as
``helpers.small`` does), with parameters drawn anywhere in the ranges the schema allows (its
edges and near-edges included; region shares and the listings' median and spread too) and, in
some examples, a schedule of permanent and temporary changes. Each is run week by week, and
after every week the sellers' states, timers, stores, cases and beliefs, the enforcers' queues
and capacity credit and the week's metrics are checked against the model's definitions
(docs/ODD.md sections 3.4, 4.3, 4.5, 5 and 7.1). The same scenario and seed give identical
frames. ``test_each_check_catches_a_planted_bug`` shows that the checks can fail: each of
several one-line bugs planted in the model is caught.

The file ends with regression tests of the bugs these properties found in ``sim/``, now fixed:
region shares whose sum overflowed, listings that overflowed int32, a prior strength whose
pseudo-counts vanished in float32, discounted prison years that cancelled for a discount close
to 1, and fractional enforcement capacity that was discarded (ODD 4.5: it carries over, whole
unused slots do not).

Settings and shared strategies are in ``tests/strategies.py`` (``HYPOTHESIS_PROFILE=thorough``
runs 25 times as many random examples).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import BUNDLED
from hypothesis import assume, example, given
from hypothesis import strategies as st
from strategies import (
    SCALAR_FIELDS,
    SCHEDULABLE_SCALARS,
    _item_bounds,
    base_scenario,
    budget,
    field_values,
    range_values,
)

from sim.errors import ScenarioError
from sim.experiments.runner import run_replication
from sim.model import entry, rules
from sim.model.agents import SellerState
from sim.model.arrays import CounterfeiterArrays
from sim.model.beliefs import STEP_BITS, STEPS
from sim.model.enforcer import Enforcer
from sim.model.metrics import METRIC_NAMES
from sim.model.model import DeterrenceModel
from sim.model.population import INITIAL_STORE_AGE_WEEKS, draw_population
from sim.model.streams import Streams
from sim.model.week import Week
from sim.scenario import (
    Scenario,
    apply_changes,
    validate_data,
)

DORMANT, ACTIVE, SUSPENDED, PROSECUTED, JAILED, ABSENT = (int(s) for s in SellerState)
WEEKS_PER_YEAR = rules.WEEKS_PER_YEAR
PURSUED = STEP_BITS["pursuit"][1]
COUNT_METRICS = (
    "active_sellers",
    "offplatform_sellers",
    "entrants",
    "exits",
    "offplatform_cases",
    "legit_listings_removed",
    "legit_stores_closed",
    "listings_live",
    "listings_removed",
    "stores_closed",
    "referrals",
    "cases_pursued",
    "cases_declined",
    "cases_dropped",
    "convictions",
    "jailed",
    "prosecuted",
    "suspended",
    "lawsuits",
    "case_backlog",
)


probabilities = field_values("platform", "detection_rate")  # [0, 1] with its edges


@st.composite
def tier1_years(draw) -> tuple[float, float]:
    """``(min, max)`` with ``0 <= min <= max <= 50``."""
    years = st.one_of(st.sampled_from([0.0, 0.01, 1.0, 3.0, 50.0]), st.floats(0, 50))
    low, high = sorted((draw(years), draw(years)))
    return (low, high)


@st.composite
def field_change(draw, key: str, regions: int) -> Any:
    """A valid value for the dotted field ``key``."""
    section, name = key.split(".")
    if key == "enforcement.tier1_sentence_years":
        return draw(tier1_years())
    if key == "enforcement.regional_leniency":
        return draw(st.lists(probabilities, min_size=regions, max_size=regions))
    return draw(field_values(section, name))


# A regime in which every flow of the model happens within a few weeks, even at a few hundred
# sellers: cheap closures (so sellers stay active), many strikes, referrals and lawsuits,
# scarce capacity (so cases wait and expire), short processing and short sentences.
BUSY = {
    "platform.detection_rate": 0.2,
    "platform.strike_per_takedown": 0.01,
    "platform.strike_limit": 4,
    "platform.criminal_threshold_cny": 0.0,
    "platform.referral_rate": 0.9,
    "platform.reentry_delay_weeks": 2,
    "platform.reentry_cost_cny": 0.0,
    "platform.relisting_cost_cny": 0.0,
    "platform.lawsuits_per_year": 100.0,
    "enforcement.prosecution_rate": 0.7,
    "enforcement.capacity_per_week": 1.5,
    "enforcement.case_expiry_weeks": 2,
    "enforcement.processing_weeks": 3,
    "enforcement.conviction_rate": 0.8,
    "enforcement.max_sentence_years": 0.2,
    "enforcement.tier1_sentence_years": (0.05, 0.2),
    "enforcement.suspended_share": 0.0,  # every conviction a prison term: timers are seen
    "beliefs.law_awareness": 0.0,  # perceived as in 2016: busy enough
    "economics.outside_option_ratio": 0.0,
    "economics.stigma_cost_cny": 0.0,
    "economics.prison_year_cost_cny": 0.0,
    "beliefs.w_own": 0.0,
    "beliefs.w_peer": 0.0,
    "beliefs.w_public": 0.0,
    # The open model's flows: newcomers and leavers, police cases off the platform, and
    # legitimate stores closed by wrongful strikes.
    "population.entry_rate": 2.0,
    "population.exit_hazard": 0.05,
    "channels.offplatform_detection_rate": 0.3,
    "channels.switching_cost_cny": 0.0,
    "platform.legitimate_stores": 100_000,
    "platform.detection_discriminability": 0.5,
    "platform.appeal_success": 0.0,
    "platform.legit_listings_per_store": 50,
}


@st.composite
def regions_changes(draw) -> dict[str, list[float]]:
    """Region shares anywhere in the schema's range and one leniency per region (1-64 regions)."""
    regions = draw(st.one_of(st.integers(1, 8), st.integers(1, 64)))
    share = range_values(*_item_bounds("population", "region_shares"))
    return {
        "population.region_shares": draw(st.lists(share, min_size=regions, max_size=regions)),
        "enforcement.regional_leniency": draw(
            st.lists(probabilities, min_size=regions, max_size=regions)
        ),
    }


@st.composite
def schedules(draw, weeks: int, regions: int) -> list[dict[str, Any]]:
    """Up to three policy changes, permanent or temporary, some beyond the run's end."""
    changes = []
    for _ in range(draw(st.integers(0, 3))):
        week = draw(st.integers(0, weeks + 1))
        until = draw(st.one_of(st.none(), st.integers(week + 1, week + 20)))
        keys = draw(
            st.lists(
                st.sampled_from(
                    [
                        *SCHEDULABLE_SCALARS,
                        "enforcement.tier1_sentence_years",
                        "enforcement.regional_leniency",
                    ]
                ),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        change = {
            "week": week,
            "label": draw(st.text(max_size=20)),
            "set": {key: draw(field_change(key, regions)) for key in keys},
        }
        if until is not None:
            change["until_week"] = until
        changes.append(change)
    return changes


@st.composite
def valid_scenarios(draw, max_sellers: int = 2000, max_weeks: int = 40) -> Scenario:
    """A valid small scenario: a bundled one, shrunk, with random parameters and schedule."""
    base = base_scenario(draw(st.sampled_from(BUNDLED)))
    weeks = draw(st.integers(min(10, max_weeks), max_weeks))
    changes: dict[str, Any] = {
        "population.sellers": draw(st.integers(min(200, max_sellers), max_sellers)),
        "weeks": weeks,
        "burn_in_weeks": draw(st.integers(0, weeks - 1)),
        "replications": 1,
    }
    busy = draw(st.booleans())
    if busy:
        changes.update(BUSY)
    if draw(st.booleans()):
        changes.update(draw(regions_changes()))
    regions = len(changes.get("population.region_shares", base.population.region_shares))
    keys = draw(
        st.lists(
            st.sampled_from([*SCALAR_FIELDS, "enforcement.tier1_sentence_years"]),
            max_size=6 if busy else 20,
            unique=True,
        )
    )
    for key in keys:
        changes[key] = draw(field_change(key, regions))
    scenario = apply_changes(base, changes, source="hypothesis")
    if draw(st.booleans()):
        data = scenario.model_dump(mode="python", exclude={"extends"})
        data["schedule"] = draw(schedules(weeks, regions))
        scenario = validate_data(data, "hypothesis")
    return scenario


class BookkeepingChecker:
    """Steps a model week by week and checks, after each week, what its definitions imply.

    The checks read the sellers through the ``sim.model.population.Population`` interface
    (``column``), so they hold for both engines.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        engine: str | type = "vector",
        per_seller: bool = True,
    ) -> None:
        self.scenario = scenario
        self.per_seller = per_seller  # False: only the checks of the weekly metrics
        self.model = model = DeterrenceModel(scenario, seed, engine)
        self.n0 = scenario.population.sellers  # present at the start
        self.n = entry.pool_size(scenario)  # with every newcomer of the run (ODD 4.8)
        pop = model.population
        assert pop.n == self.n, "the pool does not have the sellers asked for and the newcomers"
        self.sales = pop.column("sales").astype(np.float64)
        self.listings = pop.column("listings").astype(np.int64)
        self.region = pop.column("region").astype(np.int64)
        self.params: list[Scenario] = []
        # Largest values in force so far (the bounds of timers and beliefs use them).
        self.max_delay = 0
        self.max_prison_weeks = 0
        self.max_sentence = scenario.enforcement.max_sentence_years
        self.max_limit = scenario.platform.strike_limit
        self.max_processing = 0
        self.opened = np.zeros(scenario.regions, dtype=np.int64)  # cases opened per region
        self.capacity_in = 0.0  # capacity that has come in so far, per region
        self.left_total = 0  # sellers who left for good so far
        self._check_initial()

    # -- running -------------------------------------------------------------------------------
    def run(self) -> pd.DataFrame:
        """Run every week with the checks; returns the model's frame, checked as a whole."""
        try:
            while self.model.week < self.scenario.weeks:
                self.model.step()
                self._after_week()
            frame = self.model.timeseries()
        finally:
            self.model.release()
        self.check_frame(frame)
        return frame

    def steps(self, name: str) -> np.ndarray:
        """``alpha`` or ``beta`` of every seller, one row per step of the chain."""
        values = np.asarray(self.column(name), dtype=np.float64)
        return values if values.shape[0] == len(STEPS) else values.T

    def column(self, field: str) -> np.ndarray:
        return self.model.population.column(field)

    # -- the initial population (ODD 5) ----------------------------------------------------------
    def _check_initial(self) -> None:
        p = self.scenario
        assert (self.listings >= 1).all(), "a store with fewer than one listing"
        assert (self.listings <= 10**9).all(), "a store with more than 1e9 listings (the cap)"
        assert np.isfinite(self.sales).all() and (self.sales >= 0).all(), "bad sales"
        n0 = self.n0
        shares = np.asarray(p.population.region_shares, dtype=float)
        counts = np.floor(shares / shares.sum() * n0).astype(np.int64)
        counts[: n0 - counts.sum()] += 1
        initial = self.region[:n0]
        assert np.array_equal(np.bincount(initial, minlength=p.regions), counts), "regions"
        assert (np.diff(initial) >= 0).all(), "sellers of a region are not contiguous"
        assert (self.region < p.regions).all(), "a newcomer outside the regions"
        strikes = self.column("strikes")
        assert ((strikes >= 0) & (strikes < p.platform.strike_limit)).all(), "initial strikes"
        assert (strikes[n0:] == 0).all(), "a newcomer with strikes"
        cumulative = self.column("cumulative_sales").astype(np.float64)
        top = self.sales * INITIAL_STORE_AGE_WEEKS
        assert ((cumulative >= 0) & (cumulative <= top * (1 + 1e-6))).all(), "initial sales"
        assert (cumulative[n0:] == 0).all(), "a newcomer with a sales history"
        state = self.column("state")
        assert (state[:n0] == DORMANT).all(), "an initial seller not DORMANT at the start"
        assert (state[n0:] == ABSENT).all(), "a newcomer present at the start"
        has_store = self.column("has_store")
        assert has_store[:n0].all() and not has_store[n0:].any(), "stores at the start"
        assert not self.column("case_open").any()
        contacts = getattr(self.model.population, "contacts", None)  # vector engine only
        if contacts is not None and contacts.nnz:
            rows = np.repeat(np.arange(self.n), np.diff(contacts.indptr))
            assert (self.region[rows] == self.region[contacts.indices]).all(), "cross-region"
            assert (rows != contacts.indices).all(), "a seller observes itself"
            assert (np.diff(contacts.indptr) <= p.population.network_degree).all(), "degree"

    # -- every week ------------------------------------------------------------------------------
    def _after_week(self) -> None:
        model = self.model
        t = model.week - 1
        p = model.params
        self.params.append(p)
        self.max_delay = max(self.max_delay, p.platform.reentry_delay_weeks)
        self.max_sentence = max(self.max_sentence, p.enforcement.max_sentence_years)
        prison_weeks = round(p.enforcement.max_sentence_years * WEEKS_PER_YEAR)
        self.max_prison_weeks = max(self.max_prison_weeks, prison_weeks)
        self.max_limit = max(self.max_limit, p.platform.strike_limit)
        self.max_processing = max(self.max_processing, p.enforcement.processing_weeks)
        if self.per_seller:
            row = dict(zip(METRIC_NAMES, model.records[t], strict=True))
            self._check_sellers(t, p, row)
            self._check_cases(t, p, row)

    def _check_sellers(self, t: int, p: Scenario, row: dict[str, float]) -> None:
        where = f"week {t}"
        state = self.column("state").astype(np.int64)
        assert ((state >= DORMANT) & (state <= ABSENT)).all(), f"{where}: unknown state"
        # The states partition the pool, newcomers yet to arrive and leavers included.
        counts = np.bincount(state, minlength=len(SellerState))
        assert len(counts) == len(SellerState) and counts.sum() == self.n
        arrived = self.n0 + rules.arrivals_by(t + 1, entry.entrants_per_year(self.scenario))
        assert (state[arrived:] == ABSENT).all(), f"{where}: a newcomer before its week"
        self.left_total += int(row["exits"])
        assert counts[ABSENT] == self.n - arrived + self.left_total, (
            f"{where}: ABSENT != newcomers yet to arrive + sellers who left"
        )
        assert row["suspended"] == counts[SUSPENDED], (
            f"{where}: suspended stock != sellers SUSPENDED"
        )
        assert row["prosecuted"] == counts[PROSECUTED], (
            f"{where}: prosecuted stock != sellers PROSECUTED"
        )
        assert row["jailed"] == counts[JAILED], f"{where}: jailed stock != sellers JAILED"

        active = self.column("active").astype(bool)
        assert active.sum() == row["active_sellers"], f"{where}: active_sellers != sellers active"
        off = self.column("offplatform").astype(bool)
        assert not (off & ~active).any(), f"{where}: off the platform but not active"
        assert off.sum() == row["offplatform_sellers"], f"{where}: offplatform_sellers"
        if p.channels.offplatform_margin_ratio == 0:
            assert not off.any(), f"{where}: off the platform with no off-platform channel"
        platform = active & ~off
        # Only this week's active sellers can end the week ACTIVE; those that do not were
        # closed (strike limit or lawsuit) or prosecuted this week.
        assert not (state[~active] == ACTIVE).any(), f"{where}: ACTIVE without a decision"
        left = int((active & (state != ACTIVE)).sum())
        assert row["stores_closed"] <= left <= row["stores_closed"] + row["cases_pursued"], (
            f"{where}: active sellers that left ACTIVE != closures (+ pursuits)"
        )

        weeks_left = self.column("weeks_left").astype(np.int64)
        timed = (state == SUSPENDED) | (state == JAILED)
        assert (weeks_left[~timed] == 0).all(), f"{where}: a timer outside SUSPENDED/JAILED"
        suspended = weeks_left[state == SUSPENDED]
        assert ((suspended >= 1) & (suspended <= self.max_delay)).all(), (
            f"{where}: suspension timer out of [1, delay]"
        )
        jailed = weeks_left[state == JAILED]
        assert ((jailed >= 1) & (jailed <= self.max_prison_weeks)).all(), (
            f"{where}: prison timer out of [1, longest term]"
        )

        has_store = self.column("has_store").astype(bool)
        sanctioned_state = (state >= SUSPENDED) & (state <= JAILED)
        assert not has_store[sanctioned_state].any(), f"{where}: incapacitated with a store"
        assert has_store[platform & (state == ACTIVE)].all(), f"{where}: active without a store"

        cumulative = self.column("cumulative_sales").astype(np.float64)
        assert np.isfinite(cumulative).all() and (cumulative >= 0).all(), (
            f"{where}: cumulative sales not finite or negative"
        )
        assert (cumulative[sanctioned_state] == 0).all(), f"{where}: sales kept after sanction"
        # Sales are valued at the week's price (ODD 4.7), which never exceeds the cap.
        top_price = max(1.0, max(q.market.max_price_index for q in self.params))
        top_ratio = max(1.0, max(q.channels.offplatform_margin_ratio for q in self.params))
        most = self.sales * top_price * top_ratio * (INITIAL_STORE_AGE_WEEKS + t + 1)
        assert (cumulative <= most * (1 + 1e-4)).all(), f"{where}: more sales than weeks"

        strikes = self.column("strikes").astype(np.int64)
        assert ((strikes >= 0) & (strikes < self.max_limit)).all(), (
            f"{where}: strikes out of [0, strike limit)"
        )
        # A store still open on the platform is below the limit (off the platform a seller's
        # old store keeps its strikes; it is not checked against a lowered limit there).
        trading = platform & (state == ACTIVE)
        assert (strikes[trading] < p.platform.strike_limit).all(), f"{where}: open at the limit"
        assert (strikes[sanctioned_state] == 0).all(), (
            f"{where}: strikes kept after closure or prosecution"
        )

        detections = self.column("detections").astype(np.int64)
        assert (detections >= 0).all() and (detections <= self.listings).all(), (
            f"{where}: takedowns out of [0, listings]"
        )
        assert (detections[~platform] == 0).all(), f"{where}: takedowns off the platform"
        assert detections.sum() == row["listings_removed"], (
            f"{where}: listings_removed != takedowns"
        )
        assert self.listings[platform].sum() == row["listings_live"], (
            f"{where}: listings_live != listings of sellers on the platform"
        )
        # Sales by channel at the week's price; off the platform a share of them (ODD 4.6).
        price, ratio = row["price_index"], p.channels.offplatform_margin_ratio
        assert row["platform_sales_cny"] == pytest.approx(
            self.sales[platform].sum() * price, rel=1e-5, abs=1e-6
        ), where
        assert row["offplatform_sales_cny"] == pytest.approx(
            self.sales[off].sum() * price * ratio, rel=1e-5, abs=1e-6
        ), where

        alpha, beta = (self.steps(name) for name in ("alpha", "beta"))
        assert np.isfinite(alpha).all() and np.isfinite(beta).all(), f"{where}: beliefs not finite"
        assert (alpha >= 0).all() and (beta >= 0).all() and (alpha + beta > 0).all(), (
            f"{where}: Beta pseudo-counts negative or both 0"
        )
        for name in ("mean_perceived_risk", "mean_perceived_sanction_cny"):
            assert np.isfinite(row[name]) and row[name] >= 0, f"{where}: {name} {row[name]}"
        assert row["mean_perceived_risk"] <= 1, where
        for name in ("sentence1", "sentence2", "fine_multiple"):
            value = self.column(name).astype(np.float64)
            assert np.isfinite(value).all() and (value >= 0).all(), (
                f"{where}: perceived {name} not finite or negative"
            )
        assert 0 <= row["mean_perceived_sentence_years"] < np.inf, where
        takedown = self.column("perceived_takedown").astype(np.float64)
        assert ((takedown >= 0) & (takedown <= 1 + 1e-6)).all(), (
            f"{where}: perceived takedown rate out of [0, 1]"
        )

        sanctioned = (self.column("events") & PURSUED) != 0
        assert sanctioned.sum() == row["cases_pursued"], (
            f"{where}: sellers sanctioned != cases_pursued"
        )
        assert (state[sanctioned] == PROSECUTED).all(), f"{where}: sanctioned but not PROSECUTED"

    def _check_cases(self, t: int, p: Scenario, row: dict[str, float]) -> None:
        where = f"week {t}"
        enforcers: list[Enforcer] = self.model.enforcers
        state = self.column("state").astype(np.int64)
        queued = np.concatenate([e.queue_seller for e in enforcers]).astype(np.int64)
        opened = np.concatenate([e.open_seller for e in enforcers]).astype(np.int64)
        both = np.concatenate((queued, opened))
        assert len(np.unique(both)) == len(both), f"{where}: a seller with two cases"
        case_open = self.column("case_open").astype(bool)
        assert np.array_equal(np.flatnonzero(case_open), np.sort(both)), (
            f"{where}: case_open differs from the cases queued or processed"
        )
        assert (state[opened] == PROSECUTED).all(), (
            f"{where}: a case in process for a seller not PROSECUTED"
        )
        assert (state == PROSECUTED).sum() == len(opened), f"{where}: prosecuted without a case"
        assert not np.isin(state[queued], (PROSECUTED, JAILED)).any(), (
            f"{where}: a queued case for a seller prosecuted or jailed"
        )
        assert sum(e.backlog for e in enforcers) == len(queued) == row["case_backlog"], (
            f"{where}: case_backlog != cases queued"
        )
        enf = p.enforcement
        # ODD 4.5: credit = min(credit + K, max(K, 1) + 1 - 1e-9), slots = floor(credit), so a
        # fraction carries over but whole unused slots are not banked.
        credit_cap = max(enf.capacity_per_week, 1.0) + (1 - 1e-9)
        opened = np.bincount(
            self.region[(self.column("events") & PURSUED) != 0], minlength=len(enforcers)
        )
        self.opened += opened
        self.capacity_in += enf.capacity_per_week
        for e in enforcers:
            assert (self.region[e.queue_seller] == e.region).all(), (
                f"{where}: a case queued in another region"
            )
            assert (self.region[e.open_seller] == e.region).all(), (
                f"{where}: a case processed in another region"
            )
            assert (np.diff(e.queue_week) >= 0).all(), f"{where}: queue not oldest first"
            referred_now = e.queue_sales[e.queue_week == t]
            threshold = p.platform.criminal_threshold_cny
            assert (referred_now >= threshold * (1 - 1e-6)).all(), f"{where}: under threshold"
            assert ((e.queue_week <= t) & (t - e.queue_week <= enf.case_expiry_weeks)).all(), (
                f"{where}: a case waited past its expiry"
            )
            assert ((e.open_due > t) & (e.open_due <= t + self.max_processing)).all(), (
                f"{where}: a verdict overdue or too far ahead"
            )
            assert 0 <= e.capacity_credit <= credit_cap, (
                f"{where}: capacity credit out of [0, max(K, 1) + 1 - 1e-9]"
            )
            assert opened[e.region] <= math.floor(credit_cap), (
                f"{where}: more cases opened than slots"
            )
            assert self.opened[e.region] <= self.capacity_in + 1e-9, (
                f"{where}: more cases opened in a region than its capacity so far"
            )

    # -- the frame as a whole (ODD 7.1) ----------------------------------------------------------
    def check_frame(self, frame: pd.DataFrame) -> None:
        """Checks that need only the weekly metrics and the parameters in force each week."""
        params = self.params
        weeks = len(params)
        assert weeks == self.scenario.weeks == len(frame)
        assert list(frame.columns) == ["week", *METRIC_NAMES]
        assert np.array_equal(frame.week.to_numpy(), np.arange(weeks))
        m = {name: frame[name].to_numpy(dtype=np.float64) for name in METRIC_NAMES}
        for name, values in m.items():
            assert np.isfinite(values).all(), f"{name} is not finite"
            assert (values >= 0).all(), f"{name} is negative"
        for name in COUNT_METRICS:
            assert (m[name] == np.round(m[name])).all(), f"{name} is not a count"
        n, regions = self.n, self.scenario.regions
        sales_low, sales_high = (self.sales.min(), self.sales.max()) if n else (0.0, 0.0)

        backlog = 0.0
        entered = 0.0
        capacity = 0.0  # capacity that has come in so far, per region
        pursued_total = 0.0
        due: dict[int, float] = {}  # week of verdict -> cases due then
        previous = dict.fromkeys(("suspended", "prosecuted", "jailed"), 0.0)
        for t, p in enumerate(params):
            plat, enf = p.platform, p.enforcement
            w = {name: values[t] for name, values in m.items()}
            at = f"week {t}"
            # Who could act this week: sellers not suspended, prosecuted or jailed at the end
            # of last week.
            free = n - previous["suspended"] - previous["prosecuted"] - previous["jailed"]
            assert w["active_sellers"] <= free, at
            assert w["suspended"] + w["prosecuted"] + w["jailed"] <= n, at
            # Platform (4.3).
            on_platform = w["active_sellers"] - w["offplatform_sellers"]
            assert on_platform >= 0, at
            assert on_platform <= w["listings_live"], at  # every store lists >= 1
            assert (w["listings_live"] == 0) == (on_platform == 0), at
            assert w["listings_removed"] <= w["listings_live"], at
            if plat.detection_rate == 0:
                assert w["listings_removed"] == 0, at
            if plat.detection_rate == 1:
                assert w["listings_removed"] == w["listings_live"], at
            assert w["stores_closed"] <= w["active_sellers"], at
            assert w["lawsuits"] <= w["stores_closed"], at
            assert w["referrals"] <= w["stores_closed"] - w["lawsuits"], at
            if plat.lawsuits_per_year == 0:
                assert w["lawsuits"] == 0, at
            if plat.referral_rate == 0:
                assert w["referrals"] == 0, at
            assert w["suspended"] <= previous["suspended"] + w["stores_closed"], at
            window = m["stores_closed"][max(0, t - self.max_delay + 1) : t + 1].sum()
            assert w["suspended"] <= window, f"{at}: suspended longer than the delay"
            # Sales add up across channels, each within what its sellers can sell (ODD 4.6).
            total = w["platform_sales_cny"] + w["offplatform_sales_cny"]
            assert w["counterfeit_sales_cny"] == pytest.approx(total, rel=1e-12), at
            price, ratio = w["price_index"], p.channels.offplatform_margin_ratio
            assert 0 < price <= p.market.max_price_index * (1 + 1e-12), at
            if p.market.price_adjustment == 0 and all(
                q.market.price_adjustment == 0 for q in params[:t]
            ):
                assert price == 1.0, f"{at}: the price moved with no market"
            assert w["platform_sales_cny"] >= on_platform * sales_low * price * (1 - 1e-5), at
            assert w["platform_sales_cny"] <= on_platform * sales_high * price * (1 + 1e-5), at
            off = w["offplatform_sellers"]
            assert w["offplatform_sales_cny"] <= off * sales_high * price * ratio * (1 + 1e-5), at
            if off == 0:  # (the converse fails only where float32 sales underflow to 0)
                assert w["offplatform_sales_cny"] == 0, at
            # Entry and exit (4.8): newcomers come from those arrived; police cases (4.6) from
            # sellers off the platform.
            arrived = rules.arrivals_by(t + 1, entry.entrants_per_year(self.scenario))
            entered += w["entrants"]
            assert entered <= arrived, f"{at}: more entrants than newcomers arrived"
            if p.population.exit_hazard == 0:
                assert w["exits"] == 0, at
            if off == 0:
                assert w["offplatform_cases"] == 0, at
            # Honest sellers (4.9): false positives only with detection and legitimate stores.
            legit = plat.legitimate_stores
            assert w["legit_listings_removed"] <= legit * plat.legit_listings_per_store, at
            assert w["legit_stores_closed"] <= legit, at
            if legit == 0 or plat.detection_rate == 0:
                assert w["legit_listings_removed"] == w["legit_stores_closed"] == 0, at
            # Enforcement (4.5): conservation of queued cases.
            handled = w["cases_pursued"] + w["cases_declined"] + w["cases_dropped"]
            cases_in = w["referrals"] + w["offplatform_cases"]
            assert w["case_backlog"] == backlog + cases_in - handled, f"{at}: cases lost"
            backlog = w["case_backlog"]
            # Capacity: at most floor(max(K, 1) + 1 - 1e-9) cases a week in a region (a fraction
            # carried over makes up one more), and no more than came in.
            slots = math.floor(max(enf.capacity_per_week, 1.0) + (1 - 1e-9))
            assert w["cases_pursued"] <= regions * slots, f"{at}: more cases than slots"
            capacity += enf.capacity_per_week
            pursued_total += w["cases_pursued"]
            assert pursued_total <= regions * capacity + 1e-9, f"{at}: more cases than capacity"
            rates = [enf.prosecution_rate * lenient for lenient in enf.regional_leniency]
            if max(rates) == 0:
                assert w["cases_pursued"] == 0, at
            if min(rates) >= 1:
                assert w["cases_declined"] == 0, at
            # Cases being processed: exactly those pursued and not yet due.
            due[t + enf.processing_weeks] = (
                due.get(t + enf.processing_weeks, 0) + w["cases_pursued"]
            )
            verdicts = due.pop(t, 0.0)
            processing = sum(due.values())
            assert w["prosecuted"] == processing, f"{at}: prosecuted != cases in process"
            assert w["convictions"] <= verdicts, at
            if enf.conviction_rate == 0:
                assert w["convictions"] == 0, at
            if enf.conviction_rate == 1:
                assert w["convictions"] == verdicts, at
            # Prison: only convictions send sellers there, for at most the longest term.
            assert w["jailed"] <= previous["jailed"] + w["convictions"], at
            span = m["convictions"][max(0, t - self.max_prison_weeks + 1) : t + 1].sum()
            assert w["jailed"] <= span, f"{at}: jailed longer than the maximum sentence"
            # Fines.
            if w["convictions"] == 0 or enf.fine_multiple == 0:
                assert w["fines_cny"] == 0, at
            # Sales at the week's price, off the platform a multiple of them (ODD 4.6, 4.7).
            top = max(1.0, *(q.market.max_price_index for q in params[: t + 1]))
            top *= max(1.0, *(q.channels.offplatform_margin_ratio for q in params[: t + 1]))
            case_sales = sales_high * top * (INITIAL_STORE_AGE_WEEKS + t + 1)
            limit = enf.fine_multiple * w["convictions"] * case_sales
            assert w["fines_cny"] <= limit * (1 + 1e-4) + 1e-6, at
            # Derived metrics.
            expected_risk = w["cases_pursued"] / w["active_sellers"] if w["active_sellers"] else 0
            assert w["true_risk"] == pytest.approx(expected_risk, rel=1e-12), at
            assert 0 <= w["mean_perceived_risk"] <= 1, at
            cost = (
                w["cases_pursued"] * enf.cost_per_case_cny
                + w["jailed"] * enf.cost_per_prison_year_cny / WEEKS_PER_YEAR
            )
            assert w["enforcement_cost_cny"] == pytest.approx(cost, rel=1e-9, abs=1e-9), at
            previous = {k: w[k] for k in previous}
        cumulative = frame[["referrals", "cases_pursued", "convictions"]].cumsum()
        handled = frame[["cases_pursued", "cases_declined", "cases_dropped"]].sum(axis=1).cumsum()
        assert (handled <= (frame.referrals + frame.offplatform_cases).cumsum()).all()
        assert (cumulative.convictions <= cumulative.cases_pursued - frame.prosecuted).all()
        assert (frame.jailed <= cumulative.convictions).all()
        self._check_schedule()

    def _check_schedule(self) -> None:
        """A field only one scheduled change sets has its value in its window, else the base's.

        ODD 3.5: a change applies from the start of its ``week``; a temporary one is reverted
        at the start of ``until_week``.
        """
        schedule = self.scenario.schedule
        setters: dict[str, list[int]] = {}
        for index, change in enumerate(schedule):
            for key in change.set:
                setters.setdefault(key, []).append(index)
        for key, indices in setters.items():
            if len(indices) > 1:
                continue
            change = schedule[indices[0]]
            section, name = key.split(".")
            changed = getattr(getattr(apply_changes(self.scenario, change.set), section), name)
            base = getattr(getattr(self.scenario, section), name)
            for t, p in enumerate(self.params):
                inside = change.week <= t and (change.until_week is None or t < change.until_week)
                value = getattr(getattr(p, section), name)
                assert value == (changed if inside else base), f"week {t}: {key} is {value}"


@given(scenario=valid_scenarios(), seed=st.integers(0, 2**63 - 1))
@budget(35)
def test_random_valid_scenarios_keep_every_bookkeeping_invariant(scenario, seed):
    frame = BookkeepingChecker(scenario, seed).run()
    # Reproducible: the same scenario and seed give the same frame, run after run.
    first = run_replication(scenario, 0, seed)
    second = run_replication(scenario, 0, seed)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    pd.testing.assert_frame_equal(first[frame.columns], frame, check_exact=True)


@given(scenario=valid_scenarios(max_sellers=250, max_weeks=12), seed=st.integers(0, 2**32))
@budget(10)
def test_the_agents_engine_keeps_the_same_bookkeeping(scenario, seed):
    BookkeepingChecker(scenario, seed, engine="agents").run()


def busy(**changes: Any) -> Scenario:
    """The busy regime at 1,500 sellers and 40 weeks, with extra dotted changes."""
    sizes = {"population.sellers": 1500, "weeks": 40, "burn_in_weeks": 0, "replications": 1}
    return apply_changes(base_scenario("baseline_2016"), {**sizes, **BUSY, **changes})


def test_the_busy_regime_exercises_every_flow():
    # The checks above are not vacuous: in the busy regime every flow and stock occurs.
    frame = BookkeepingChecker(busy(), seed=11).run()
    for name in METRIC_NAMES:
        assert frame[name].sum() > 0, f"{name} never occurs"


def _plant(monkeypatch, bug: str) -> None:
    """Plant one realistic bug in the model (restored by ``monkeypatch`` after the test)."""
    if bug == "store closes one strike late":
        take_down = CounterfeiterArrays.take_down
        monkeypatch.setattr(
            CounterfeiterArrays, "take_down", lambda self, *a: take_down(self, *a) - 1
        )
    elif bug == "suspension one week too long":
        close = CounterfeiterArrays.close_stores

        def close_stores(self, sellers):
            close(self, sellers)
            self.weeks_left[sellers] += 1

        monkeypatch.setattr(CounterfeiterArrays, "close_stores", close_stores)
    elif bug == "prison term one week too long":
        sentence = CounterfeiterArrays.sentence
        monkeypatch.setattr(
            CounterfeiterArrays,
            "sentence",
            lambda self, sellers, weeks: sentence(self, sellers, np.where(weeks > 0, weeks + 1, 0)),
        )
    elif bug == "verdict leaves the case open":
        sentence = CounterfeiterArrays.sentence

        def sentence_open(self, sellers, weeks):
            sentence(self, sellers, weeks)
            self.case_open[sellers] = True

        monkeypatch.setattr(CounterfeiterArrays, "sentence", sentence_open)
    elif bug == "dropped cases not counted":
        tally = Week.tally
        monkeypatch.setattr(
            Week,
            "tally",
            lambda self, metric, value: tally(
                self, metric, 0 if metric == "cases_dropped" else value
            ),
        )
    elif bug == "expiry one week late":
        step = Enforcer.step

        def late_step(self):
            self.queue_week = self.queue_week + 1
            step(self)
            self.queue_week = self.queue_week - 1

        monkeypatch.setattr(Enforcer, "step", late_step)
    elif bug == "prosecution keeps the suspension timer":
        prosecute = CounterfeiterArrays.prosecute

        def keep_timer(self, sellers):
            left = self.weeks_left[sellers].copy()
            prosecute(self, sellers)
            self.weeks_left[sellers] = left

        monkeypatch.setattr(CounterfeiterArrays, "prosecute", keep_timer)
    elif bug == "temporary change never reverted":
        start_week = DeterrenceModel._start_week

        def never_revert(self):
            self._reverts.clear()
            start_week(self)

        monkeypatch.setattr(DeterrenceModel, "_start_week", never_revert)
    else:
        raise ValueError(bug)


PLANTED = (
    "store closes one strike late",
    "suspension one week too long",
    "prison term one week too long",
    "verdict leaves the case open",
    "dropped cases not counted",
    "expiry one week late",
    "prosecution keeps the suspension timer",
    "temporary change never reverted",
)


def planted_scenario() -> Scenario:
    # Sentences all at the maximum (0.1 year = 5 weeks), so a longer term is visible, and a
    # temporary change.
    scenario = busy(
        **{"enforcement.max_sentence_years": 0.1, "enforcement.tier1_sentence_years": (1, 1)}
    )
    data = scenario.model_dump(mode="python", exclude={"extends"})
    data["schedule"] = [{"week": 10, "until_week": 20, "set": {"beliefs.memory": 0.5}}]
    return validate_data(data, "test")


@pytest.mark.parametrize("bug", PLANTED)
def test_each_check_catches_a_planted_bug(bug, monkeypatch):
    scenario = planted_scenario()
    BookkeepingChecker(scenario, seed=5).run()  # the model as it is passes
    _plant(monkeypatch, bug)
    with pytest.raises(AssertionError):
        BookkeepingChecker(scenario, seed=5).run()


@pytest.mark.parametrize(
    "bug",
    [
        "suspension one week too long",
        "prison term one week too long",
        "dropped cases not counted",
        "temporary change never reverted",
    ],
)
def test_the_checks_of_the_metrics_alone_catch_a_planted_bug(bug, monkeypatch):
    scenario = planted_scenario()
    _plant(monkeypatch, bug)
    with pytest.raises(AssertionError):
        BookkeepingChecker(scenario, seed=5, per_seller=False).run()


# -- regressions: bugs these properties found in sim/ (fixed) --------------------------------


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow or 0/0 on the way
@given(
    shares=st.lists(
        range_values(*_item_bounds("population", "region_shares")), min_size=1, max_size=64
    ),
    sellers=st.integers(10, 5000),
)
@example(shares=[1e6, 1e6], sellers=500)
@example(shares=[5e-324, 5e-324, 1e6], sellers=10)
@budget(30)
def test_region_shares_anywhere_in_range_give_the_sellers_asked_for(shares, sellers):
    # Fixed: shares whose sum overflowed to inf gave every region one seller. The schema now
    # bounds a share to (0, 1e6], so the sum stays finite.
    scenario = apply_changes(
        base_scenario("baseline_2016"),
        {
            "population.sellers": sellers,
            "population.region_shares": shares,
            "enforcement.regional_leniency": [1.0] * len(shares),
        },
    )
    start = draw_population(scenario, Streams(1))
    assert start.initial == sellers and len(start.region) == entry.pool_size(scenario)
    assert np.bincount(start.region[:sellers], minlength=len(shares)).sum() == sellers


@pytest.mark.parametrize("shares", [[1e308, 1e308], [1.0, 1e6 * (1 + 1e-12)], [0.0, 1.0]])
def test_region_shares_outside_the_schema_range_are_refused(shares):
    with pytest.raises(ScenarioError, match="region_shares"):
        apply_changes(
            base_scenario("baseline_2016"),
            {
                "population.region_shares": shares,
                "enforcement.regional_leniency": [1.0] * len(shares),
            },
        )


@pytest.mark.filterwarnings("error::RuntimeWarning")
@given(
    median=field_values("population", "listings_median"),
    sigma=field_values("population", "listings_sigma"),
)
@example(median=100_000.0, sigma=3.0)
@budget(30)
def test_every_store_lists_between_one_and_a_billion_listings(median, sigma):
    # Fixed: listings above 2**31 wrapped to negative int32 counts (and the run then failed in
    # Platform.step); they are now clipped to 1e9 before the cast.
    scenario = apply_changes(
        base_scenario("baseline_2016"),
        {
            "population.sellers": 2000,
            "population.listings_median": median,
            "population.listings_sigma": sigma,
        },
    )
    start = draw_population(scenario, Streams(1))
    assert (start.listings >= 1).all()
    assert (start.listings.astype(np.int64) <= 10**9).all()


def test_a_store_with_a_billion_listings_runs():
    # The largest median and spread: a few stores at the 1e9 cap, each week's takedowns drawn
    # from them, and every bookkeeping check holds.
    scenario = apply_changes(
        base_scenario("baseline_2016"),
        {
            "population.sellers": 3000,
            "weeks": 6,
            "burn_in_weeks": 0,
            "population.listings_median": 100_000.0,
            "population.listings_sigma": 3.0,
        },
    )
    checker = BookkeepingChecker(scenario, seed=1)
    assert (checker.listings == 10**9).any(), "no store at the cap: this shows nothing"
    frame = checker.run()
    assert (frame.listings_removed > 0).any()


@pytest.mark.filterwarnings("error::RuntimeWarning")
@given(
    strength=field_values("beliefs", "prior_strength").filter(lambda s: s < 1e-3),
    awareness=field_values("beliefs", "law_awareness"),
)
@example(strength=1e-6, awareness=0.5)
@example(strength=1e-6, awareness=1.0)
@budget(10)
def test_perceived_chances_are_probabilities_for_any_valid_prior(strength, awareness):
    # Fixed: below ~1.4e-45 both prior pseudo-counts were 0 in float32 (0/0 = NaN). The
    # schema asks for a prior strength of at least 1e-6.
    scenario = apply_changes(
        base_scenario("strict"),
        {
            "population.sellers": 200,
            "weeks": 3,
            "burn_in_weeks": 0,
            "beliefs.prior_strength": strength,
            "beliefs.law_awareness": awareness,
        },
    )
    model = DeterrenceModel(scenario, 1)
    frame = model.run()
    chances = rules.belief_mean(model.population.alpha, model.population.beta)
    model.release()
    assert ((chances >= 0) & (chances <= 1)).all()
    assert frame.mean_perceived_risk.between(0, 1).all()


@pytest.mark.parametrize("strength", [0.0, 1e-50, 1e-6 * (1 - 1e-9)])
def test_a_prior_strength_below_the_minimum_is_refused(strength):
    with pytest.raises(ScenarioError, match="prior_strength"):
        apply_changes(base_scenario("baseline_2016"), {"beliefs.prior_strength": strength})


def _discounted_sum(weeks: int, delta: float) -> float:
    """``sum_{t=0}^{weeks-1} delta^t / 52``, the definition of D (ODD 4.2), term by term."""
    return math.fsum(delta**t for t in range(weeks)) / WEEKS_PER_YEAR


discounts = st.one_of(
    field_values("economics", "weekly_discount"),
    st.floats(1e-15, 1e-5).map(lambda e: 1.0 - e),  # close to 1
)


@given(
    delta=discounts,
    years=st.one_of(st.floats(1 / WEEKS_PER_YEAR, 50.0), st.sampled_from([0.0, 1 / 52, 50.0])),
)
@example(delta=1.0 - 1e-12, years=3.0)
@example(delta=1.0 - 1e-9, years=3.0)
@example(delta=5e-324, years=50.0)
@budget(200)
def test_discounted_prison_years_lie_between_their_bounds(delta, years):
    # Fixed: 1 - exp(52 S ln delta) cancelled in float32 (the engines' precision) for delta
    # close to 1: D(3) was 0.0 at delta = 1 - 1e-12; -expm1 keeps the precision. For a sentence
    # of at least a week, D(S) is the mean of delta^t over 52 S weeks, times S: between
    # S delta^(52 S) and S.
    years = float(np.float32(years))
    assume(years == 0 or WEEKS_PER_YEAR * years >= 1)  # under a week: the test below
    value = float(rules.discounted_prison_years(np.float32(years), delta))
    low = years * math.exp(WEEKS_PER_YEAR * years * math.log(delta))
    assert low * (1 - 1e-5) <= value <= years * (1 + 1e-5)
    if delta < 1:
        assert value <= 1 / (WEEKS_PER_YEAR * (1 - delta)) * (1 + 1e-5)


@given(delta=discounts, weeks=st.one_of(st.integers(0, 60), st.integers(0, 2600)))
@example(delta=1.0 - 1e-12, weeks=156)
@budget(100)
def test_discounted_prison_years_are_the_sum_over_whole_weeks(delta, weeks):
    # ODD 4.2: D(S) = sum_{t=0}^{52 S - 1} delta^t / 52, here summed term by term.
    value = float(rules.discounted_prison_years(np.float64(weeks / WEEKS_PER_YEAR), delta))
    assert value == pytest.approx(_discounted_sum(weeks, delta), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("weeks", "delta"), [(0.5, 0.5), (0.01, 1e-3), (0.5, 0.99)], ids=["half", "tiny", "default"]
)
def test_discounting_never_adds_to_a_sentence_under_a_week(weeks, delta):
    years = weeks / WEEKS_PER_YEAR
    value = float(rules.discounted_prison_years(np.float64(years), delta))
    assert value <= years * (1 + 1e-9)


def _fractional_capacity_run(capacity: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Cases opened per region and week with queues that never empty, from week ``first``."""
    scenario = busy(
        **{
            "enforcement.capacity_per_week": capacity,
            "enforcement.prosecution_rate": 1.0,  # every case is pursued: none declined
            "enforcement.regional_leniency": [1.0] * 8,
            "enforcement.case_expiry_weeks": 520,  # and none expires
            "weeks": 60,
        }
    )
    model = DeterrenceModel(scenario, 3)
    region = model.population.region
    opened, saturated, credit = [], [], []
    try:
        while model.week < scenario.weeks:
            model.step()
            sanctioned = (model.population.events & PURSUED) != 0
            opened.append(np.bincount(region[sanctioned], minlength=scenario.regions))
            # Cases left waiting after the review: the capacity was used up.
            saturated.append([e.backlog > 0 for e in model.enforcers])
            credit.append([e.capacity_credit for e in model.enforcers])
    finally:
        model.release()
    saturated = np.array(saturated)
    # The first week from which every region's queue stays long until the end.
    first = int(np.flatnonzero(~saturated.all(axis=1))[-1] + 1) if not saturated.all() else 0
    return np.array(opened), np.array(credit), first, scenario.weeks


@given(capacity=st.floats(1.05, 3.95).filter(lambda k: k % 1 > 0.05))
@example(capacity=1.5)
@example(capacity=2.25)
@budget(5)
def test_fractional_capacity_carries_over(capacity):
    # Fixed: credit = min(credit + K, max(K, 1)) discarded the fraction left over whenever
    # K >= 1, so a region with a long queue opened floor(K) cases a week instead of K on
    # average. Now credit = min(credit + K, max(K, 1) + 1 - 1e-9) and slots = floor(credit).
    opened, credit, first, weeks = _fractional_capacity_run(capacity)
    window = weeks - first
    assert window >= weeks - 5, "queues not long enough: this shows nothing"
    opened = opened[first:]
    # Each week floor(K) or floor(K) + 1 cases (the fraction carried over makes up one more).
    assert np.isin(opened, (math.floor(capacity), math.floor(capacity) + 1)).all(), opened
    # In the long run K cases a week: what came in, less the change in the credit held.
    before = credit[first - 1] if first else np.zeros(opened.shape[1])
    expected = capacity * window + before - credit[-1]
    assert np.allclose(opened.sum(axis=0), expected, rtol=0, atol=1e-6), (opened, expected)
    assert np.allclose(opened.mean(axis=0), capacity, rtol=0, atol=(capacity + 1) / window)
    if capacity == 1.5:  # ODD 4.5: "K = 1.5 opens 1, 2, 1, 2, ... cases a week"
        assert (opened[1:] + opened[:-1] == 3).all(), opened


@pytest.mark.parametrize("capacity", [0.5, 1.0, 2.0])
def test_unused_whole_slots_are_not_banked(capacity):
    # A region that had nothing to review for weeks opens no more than floor(max(K, 1)) cases
    # when its queue fills (ODD 4.5: whole unused slots do not accumulate).
    scenario = busy(
        **{
            "enforcement.capacity_per_week": capacity,
            "enforcement.prosecution_rate": 1.0,
            "enforcement.regional_leniency": [1.0] * 8,
            "enforcement.case_expiry_weeks": 520,
            "platform.referral_rate": 0.0,
            "weeks": 30,
        }
    )
    data = scenario.model_dump(mode="python", exclude={"extends"})
    data["schedule"] = [{"week": 10, "set": {"platform.referral_rate": 1.0}}]
    model = DeterrenceModel(validate_data(data, "test"), 4)
    region = model.population.region
    most = 0
    try:
        while model.week < scenario.weeks:
            model.step()
            opened = np.bincount(region[(model.population.events & PURSUED) != 0], minlength=8)
            most = max(most, int(opened.max()))
    finally:
        model.release()
    assert 0 < most <= math.floor(max(capacity, 1.0)), most
