"""Perception of the sanction chain: what sellers can learn, from whom, and where they start.

Every perceived quantity goes through one machinery (ODD 4.4): the chances of referral (given
a closure that reaches the threshold), of pursuit (given a referral) and of conviction (given
a pursuit), each a Beta belief; and the custodial sentence of each tier and the fine multiple,
each a perceived value. They learn from own experience, network contacts and publicity, are
pulled for a while by announcements of policy changes, and forget towards their prior. No
lever reaches sellers by another door: a new maximum sentence and a new prosecution rate
both arrive through these channels.

This module holds what both engines share: the events a case produces (bits of a per-seller
byte), the values a policy implies for each belief, the priors, and the announcements in
force. The per-seller updates are in the engines, with the formulas of ``sim.model.rules``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.model import rules

if TYPE_CHECKING:
    from sim.scenario import Scenario

F32 = np.float32

# The steps of the chain, each a Beta belief; their index is the row of the engines' arrays.
# "police" (police leads finding a seller off the platform, per active week there) comes last
# so that the rows of the platform's chain keep their places.
STEPS = ("referral", "pursuit", "conviction", "police")
# The perceived values: the custodial sentence of each tier (years) and the fine multiple.
VALUES = ("sentence1", "sentence2", "fine")
BELIEFS = (*STEPS, *VALUES)

# Events of one week, bits of a seller's ``events`` byte: for each step, "did not happen" and
# "happened" (a closure reaching the threshold not referred / referred; a referral declined
# or dropped / pursued; an acquittal / a conviction).
STEP_BITS: dict[str, tuple[int, int]] = {
    "referral": (1, 2),
    "pursuit": (4, 8),
    "conviction": (16, 32),
    "police": (64, 128),
}

# The scenario fields whose change an announcement reports, and the beliefs each one moves.
FIELD_BELIEFS: dict[str, tuple[str, ...]] = {
    "platform.referral_rate": ("referral",),
    "enforcement.prosecution_rate": ("pursuit",),
    "enforcement.regional_leniency": ("pursuit",),
    "enforcement.conviction_rate": ("conviction",),
    "enforcement.max_sentence_years": ("sentence1", "sentence2"),
    "enforcement.tier1_sentence_years": ("sentence1",),
    "enforcement.tier2_min_sentence_years": ("sentence2",),
    "enforcement.suspended_share": ("sentence1", "sentence2"),
    "enforcement.fine_multiple": ("fine",),
    "channels.offplatform_detection_rate": ("police",),
}


def sanction_values(params: Scenario) -> dict[str, np.ndarray]:
    """What each belief would be if sellers knew the policy in force, per region.

    The chances are the rates in force (pursuit times the region's leniency); the custodial
    sentence of a tier is the expected sentence times the share not suspended; the fine is
    the fine multiple.

    Returns:
        Per belief, a float32 array with one value per region.
    """
    enf, plat = params.enforcement, params.platform
    regions = params.regions
    custodial = 1.0 - enf.suspended_share
    tiers = [
        rules.expected_sentence(
            tier2, enf.tier1_sentence_years, enf.tier2_min_sentence_years, enf.max_sentence_years
        )
        for tier2 in (False, True)
    ]
    values = {
        "referral": np.full(regions, plat.referral_rate),
        "pursuit": enf.prosecution_rate * np.asarray(enf.regional_leniency, dtype=float),
        "conviction": np.full(regions, enf.conviction_rate),
        "police": np.full(regions, params.channels.offplatform_detection_rate),
        "sentence1": np.full(regions, custodial * tiers[0]),
        "sentence2": np.full(regions, custodial * tiers[1]),
        "fine": np.full(regions, enf.fine_multiple),
    }
    return {name: value.astype(F32) for name, value in values.items()}


@dataclass(frozen=True)
class Priors:
    """Where every belief starts, and forgets towards, per region (float32 arrays).

    Attributes:
        mean: Per belief, the prior value.
        alpha: Per step, the prior pseudo-count of the step happening.
        beta: Per step, the prior pseudo-count of it not happening.
    """

    mean: dict[str, np.ndarray]
    alpha: dict[str, np.ndarray]
    beta: dict[str, np.ndarray]


def priors(scenario: Scenario, reference: Scenario) -> Priors:
    """The priors of a run: between the 2016 sanctions and the scenario's at week 0.

    ``beliefs.law_awareness`` is the share of the difference that the priors reflect (ODD 4.4):
    a scenario whose law has long differed from 2016 starts with beliefs that know part of
    the difference; changes during the run reach beliefs only through the channels.

    Args:
        scenario: The scenario (its parameters at week 0).
        reference: The 2016 regime (the schema's defaults, with the scenario's regions).

    Returns:
        The priors.
    """
    awareness = scenario.beliefs.law_awareness
    start, before = sanction_values(scenario), sanction_values(reference)
    mean = {
        name: rules.regime_prior(before[name], start[name], awareness).astype(F32)
        for name in BELIEFS
    }
    strength = scenario.beliefs.prior_strength
    alpha, beta = {}, {}
    for step in STEPS:
        a, b = rules.prior_pair(mean[step], strength)
        alpha[step], beta[step] = a.astype(F32), b.astype(F32)
    return Priors(mean, alpha, beta)


@dataclass(frozen=True)
class Announcement:
    """An announced policy change: the values it makes known, from a week, to a share.

    Attributes:
        values: Per belief it moves, the announced value per region.
        week: The week it was made.
        reach: Share of sellers it reaches (its pull is scaled by it).
    """

    values: dict[str, np.ndarray]
    week: int
    reach: float


def announcement(params: Scenario, fields: list[str], week: int, reach: float) -> Announcement:
    """The announcement of a change of ``fields``, with the policy ``params`` now in force."""
    moved = {belief for field in fields for belief in FIELD_BELIEFS.get(field, ())}
    values = sanction_values(params)
    return Announcement({name: values[name] for name in BELIEFS if name in moved}, week, reach)


def pulls(
    announcements: list[Announcement], week: int, weight: float, half_life: float
) -> dict[str, list[tuple[np.ndarray, float]]]:
    """Per belief, the announced values (per region) and their pull this week, oldest first.

    Announcements whose pull has fallen below one in a million are left out.
    """
    active: dict[str, list[tuple[np.ndarray, float]]] = {}
    for item in announcements:
        pull = rules.announcement_pull(weight, item.reach, week - item.week, half_life)
        if pull < 1e-6:
            continue
        for name, values in item.values.items():
            active.setdefault(name, []).append((values, pull))
    return active


def with_announcements(
    mean: np.ndarray, region: np.ndarray, active: list[tuple[np.ndarray, float]]
) -> np.ndarray:
    """A perceived value after the pulls of the announcements in force (in order)."""
    for values, pull in active:
        mean = rules.announced(mean, values[region], F32(pull))
    return mean


@dataclass
class Choice:
    """What a seller (or a chunk of sellers) perceives when deciding this week (ODD 4.2).

    Attributes:
        gain: Expected weekly gain ``G`` (CNY).
        risk: Perceived weekly chance of pursuit if active, ``h e rho pi``.
        criminal: Expected weekly criminal cost ``C`` (CNY).
        sentence: Perceived prison term of a conviction in the seller's tier (years).
        gain_offplatform: Expected weekly gain off the platform ``Go`` (CNY), or None when
            there is no off-platform channel (ODD 4.6).
        risk_offplatform: Perceived weekly chance of pursuit if active off the platform.
        criminal_offplatform: Expected weekly criminal cost off the platform (CNY).
    """

    gain: np.ndarray
    risk: np.ndarray
    criminal: np.ndarray
    sentence: np.ndarray
    gain_offplatform: np.ndarray | None = None
    risk_offplatform: np.ndarray | None = None
    criminal_offplatform: np.ndarray | None = None

    def acted_on(self) -> tuple[np.ndarray, np.ndarray]:
        """The perceived risk and criminal cost of the channel with the larger gain."""
        if self.gain_offplatform is None:
            return self.risk, self.criminal
        off = self.gain_offplatform > self.gain
        return (
            np.where(off, self.risk_offplatform, self.risk),
            np.where(off, self.criminal_offplatform, self.criminal),
        )


def perceive(
    params: Scenario,
    pulls: dict[str, list[tuple[np.ndarray, float]]],
    region: np.ndarray,
    margin: np.ndarray,
    net_margin: np.ndarray,
    closure_cost: np.ndarray,
    entry_cost: np.ndarray,
    perceived_takedown: np.ndarray,
    listings: np.ndarray,
    cumulative_sales: np.ndarray,
    sales: np.ndarray,
    prison_year_cost: np.ndarray,
    alpha: list[np.ndarray],
    beta: list[np.ndarray],
    sentence1: np.ndarray,
    sentence2: np.ndarray,
    fine_multiple: np.ndarray,
    switching_cost: np.ndarray | float = 0.0,
) -> Choice:
    """The expected weekly gain along the platform and the sanction chain (ODD 4.2).

    The rule in numpy, over arrays of sellers, from the formulas of ``sim.model.rules``. The
    engines run its compiled form, ``kernels.choose``; ``tests/model/test_kernels.py`` holds
    that to this statement.

    Args:
        params: Parameters in force.
        pulls: The week's announcements (``pulls``).
        region: Region of each seller.
        margin: Weekly margin ``m``.
        net_margin: ``max(m - o, 0)``.
        closure_cost: Cost of a closure.
        entry_cost: Weekly re-entry amortisation (0 with a store).
        perceived_takedown: Perceived takedown rate per listing.
        listings: Listings of the store (float32).
        cumulative_sales: Sales since the last sanction ``X``.
        sales: Weekly sales ``s``.
        prison_year_cost: Cost of a year in prison ``c``.
        alpha: Per step, the pseudo-count of it happening.
        beta: Per step, the pseudo-count of it not happening.
        sentence1: Perceived prison term of a tier-1 conviction (years).
        sentence2: Perceived prison term of a tier-2 conviction (years).
        fine_multiple: Perceived fine multiple.
        switching_cost: Weekly share of the cost of setting up the off-platform channel (0
            once set up); used only when the channel exists.

    Returns:
        The gain and the perceptions behind it.
    """
    econ, plat, enf, bel = params.economics, params.platform, params.enforcement, params.beliefs
    hazard = rules.closure_hazard(
        perceived_takedown, listings, plat.strike_per_takedown, plat.strike_limit
    )
    platform = rules.platform_loss(
        perceived_takedown, listings, plat.relisting_cost_cny, hazard, closure_cost
    )
    platform = platform + entry_cost
    horizon = econ.planning_horizon_weeks
    exposed = rules.exposure(
        cumulative_sales, sales, horizon, plat.criminal_threshold_cny, bel.threshold_awareness
    )
    chances = [
        with_announcements(rules.belief_mean(alpha[k], beta[k]), region, pulls.get(step, []))
        for k, step in enumerate(STEPS[:3])  # the platform's chain
    ]
    tier2 = cumulative_sales + sales * horizon >= enf.huge_amount_cny
    sentence = np.where(
        tier2,
        with_announcements(sentence2, region, pulls.get("sentence2", [])),
        with_announcements(sentence1, region, pulls.get("sentence1", [])),
    ).astype(F32)
    multiple = with_announcements(fine_multiple, region, pulls.get("fine", []))
    fine = (cumulative_sales + sales) * multiple
    proceedings = rules.proceedings_cost(net_margin, enf.processing_weeks, econ.stigma_cost_cny)
    criminal = rules.criminal_cost(
        hazard,
        exposed,
        chances[0],
        chances[1],
        chances[2],
        proceedings,
        fine,
        prison_year_cost,
        sentence,
        econ.weekly_discount,
        enf.processing_weeks,
    )
    risk = hazard * exposed * chances[0] * chances[1]
    gain = rules.expected_gain(margin, platform, criminal)
    choice = Choice(gain, risk, criminal, sentence)
    ratio = params.channels.offplatform_margin_ratio
    if ratio > 0:
        # Off the platform (ODD 4.6): a share of the sales and margin, no takedowns, police
        # leads in place of the platform's closures and referrals, the same courts.
        sales_off = sales * F32(ratio)
        exposed_off = rules.exposure(
            cumulative_sales,
            sales_off,
            horizon,
            plat.criminal_threshold_cny,
            bel.threshold_awareness,
        )
        police = with_announcements(
            rules.belief_mean(alpha[3], beta[3]), region, pulls.get("police", [])
        )
        criminal_off = rules.criminal_cost(
            police,
            exposed_off,
            F32(1),
            chances[1],
            chances[2],
            proceedings,
            (cumulative_sales + sales_off) * multiple,
            prison_year_cost,
            sentence,
            econ.weekly_discount,
            enf.processing_weeks,
        )
        choice.gain_offplatform = rules.expected_gain(
            margin * F32(ratio), switching_cost, criminal_off
        )
        choice.risk_offplatform = police * exposed_off * chances[1]
        choice.criminal_offplatform = criminal_off
    return choice
