"""The parameter table: every parameter of the model, declared once.

Each parameter has its unit, its allowed range and its source (or the word "assumption"), on
one line of a section class. The defaults are the 2016 baseline; ``docs/ODD.md`` lists the same
table for readers. A new mechanism's parameters go in its section here (or a new section,
added to ``SECTIONS``).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


def param(default: Any, unit: str, source: str, description: str, **bounds: Any) -> Any:
    """Declare a scenario parameter with its unit, source and bounds.

    Args:
        default: Default value (the 2016 baseline).
        unit: Unit of the value, e.g. ``"CNY per week"``.
        source: Where the value comes from, or ``"assumption"``.
        description: What the parameter means.
        **bounds: Pydantic bounds (``ge``, ``le``, ``gt``, ``lt``, ``min_length``, ...).

    Returns:
        A pydantic ``Field`` carrying the metadata in its JSON schema.
    """
    if isinstance(default, float | int) and not isinstance(default, bool):
        bounds.setdefault("allow_inf_nan", False)
    return Field(
        default,
        description=f"{description} [{unit}; {source}]",
        json_schema_extra={"unit": unit, "source": source},
        **bounds,
    )


class Section(BaseModel):
    """Base for scenario sections: unknown keys are errors, values are validated on assignment.

    A number field refuses a yes/no value: YAML reads ``yes``, ``no``, ``on``, ``off``,
    ``true`` and ``false`` as booleans, which pydantic would otherwise take as 1 and 0.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_yes_no_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in (int, float):
            raise ValueError(
                f"a number is expected, not the yes/no value {str(value).lower()} (YAML reads "
                "yes, no, on, off, true and false as yes/no values)"
            )
        return value


class PopulationParams(Section):
    """Who the potential counterfeit sellers are (fixed for a run)."""

    sellers: int = param(
        250_300,
        "sellers",
        "calibrated (deter-sim calibrate) to the 2016 targets, mainly the closures",
        "Potential counterfeit sellers on the platform",
        ge=10,
        le=20_000_000,
    )
    region_shares: list[Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = param(
        [0.22, 0.18, 0.14, 0.12, 0.10, 0.09, 0.08, 0.07],
        "share of sellers",
        "assumption (coastal provinces hold most sellers)",
        "Share of sellers in each region (normalised to sum to 1)",
        min_length=1,
        max_length=64,
    )
    listings_median: float = param(
        560.0,
        "counterfeit listings per store",
        "calibrated to the 380 million listings removed in 2016",
        "Median number of counterfeit listings an active store keeps live",
        ge=1,
        le=100_000,
    )
    listings_sigma: float = param(
        0.8, "log-scale s.d.", "assumption", "Spread of listings per store (log-normal)", ge=0, le=3
    )
    listings_sales_correlation: float = param(
        0.3,
        "correlation",
        "assumption (larger stores list more)",
        "Correlation of a store's log listings with its log weekly sales (0: independent)",
        ge=-1,
        le=1,
    )
    network_degree: int = param(
        8,
        "contacts per seller",
        "assumption (small-world, Watts & Strogatz 1998)",
        "Contacts each seller observes in the social network",
        ge=0,
        le=100,
    )
    network_rewiring: float = param(
        0.1,
        "probability",
        "assumption (Watts & Strogatz 1998)",
        "Probability that a ring-lattice contact is replaced by a random seller of the region",
        ge=0,
        le=1,
    )
    entry_rate: float = param(
        0.08,
        "entrants per year, as a share of the initial sellers",
        "assumption (no count of new counterfeit sellers found; about balances the exits of "
        "idle sellers at the 2016 baseline)",
        "Potential sellers who arrive each year, drawn like the initial ones (0: no entry)",
        ge=0,
        le=10,
    )
    exit_hazard: float = param(
        0.005,
        "probability per idle week",
        "assumption (an idle seller leaves after about four years on average)",
        "Chance that a seller who is not selling this week leaves for good (0: nobody leaves)",
        ge=0,
        le=1,
    )


class EconomicsParams(Section):
    """What counterfeiting pays and what sellers give up."""

    sales_median_cny: float = param(
        250.0,
        "CNY per week",
        "calibrated to the 4,500 eligible referrals of 2016",
        "Median weekly counterfeit sales value of an active store",
        gt=0,
        le=1e8,
    )
    sales_sigma: float = param(
        1.2, "log-scale s.d.", "assumption", "Spread of weekly sales (log-normal)", ge=0, le=4
    )
    margin_share: float = param(
        0.4,
        "share of sales",
        "assumption (counterfeit gross margins of 30-60% reported by OECD/EUIPO 2016)",
        "Weekly margin as a share of weekly sales",
        gt=0,
        le=1,
    )
    outside_option_ratio: float = param(
        0.1,
        "share of margin",
        "calibrated to the 2016 closures",
        "Median weekly outside option as a share of the seller's margin",
        ge=0,
        le=100,
    )
    outside_option_sigma: float = param(
        0.6, "log-scale s.d.", "assumption", "Spread of the outside option ratio", ge=0, le=4
    )
    prison_year_cost_cny: float = param(
        60_000.0,
        "CNY per year in prison",
        "assumption (about 1.8 x 2016 urban disposable income of 33,616 CNY, NBS)",
        "Median cost a seller attaches to one year in prison",
        ge=0,
        le=1e9,
    )
    prison_year_cost_sigma: float = param(
        0.7, "log-scale s.d.", "assumption", "Spread of the cost of a prison year", ge=0, le=4
    )
    weekly_discount: float = param(
        0.99,
        "per week",
        "assumption (present bias; Lee & McCrary 2017 find high discount rates)",
        "Weekly discount factor delta used for prison time",
        gt=0,
        le=1,
    )
    decision_noise: float = param(
        0.3,
        "share of margin",
        "assumption",
        "Decision noise tau as a share of the seller's margin (0 = Becker's hard threshold)",
        ge=0,
        le=100,
    )
    stigma_cost_cny: float = param(
        5_000.0, "CNY", "assumption", "Fixed cost k of a criminal sanction", ge=0, le=1e9
    )
    planning_horizon_weeks: float = param(
        26.0,
        "weeks",
        "assumption",
        "Weeks over which a seller spreads the one-off cost of opening a new store",
        ge=1,
        le=520,
    )


class PlatformParams(Section):
    """The platform's notice-and-takedown regime."""

    detection_rate: float = param(
        0.1484,
        "probability per listing per week",
        "calibrated (deter-sim calibrate, docs/VALIDATION.md) to the 2016 targets",
        "Weekly probability that a live counterfeit listing is detected and taken down",
        ge=0,
        le=1,
    )
    strike_per_takedown: float = param(
        0.005997,
        "probability",
        "calibrated (deter-sim calibrate) to the 2016 targets: listings removed and closures",
        "Probability that a takedown counts as a strike against the store",
        ge=0,
        le=1,
    )
    strike_limit: int = param(
        12,
        "strikes",
        "assumption (Taobao's point-based penalty rules)",
        "Strikes at which the platform closes the store",
        ge=1,
        le=10_000,
    )
    reentry_delay_weeks: int = param(
        8,
        "weeks",
        "assumption",
        "Weeks before a seller whose store was closed can open a new one",
        ge=0,
        le=520,
    )
    reentry_cost_cny: float = param(
        500.0,
        "CNY",
        "assumption (deposit and identity for a new store)",
        "One-off cost of opening a new store after a closure",
        ge=0,
        le=1e9,
    )
    relisting_cost_cny: float = param(
        0.1,
        "CNY per takedown",
        "assumption",
        "Cost to the seller of a listing taken down (lost sales and re-listing)",
        ge=0,
        le=1e6,
    )
    criminal_threshold_cny: float = param(
        50_000.0,
        "CNY of cumulative sales",
        "China Criminal Law art. 140 and 2010 prosecution standards: 50,000 CNY",
        "Cumulative illegal sales at which a closed store is eligible for criminal referral",
        ge=0,
        le=1e10,
    )
    referral_rate: float = param(
        0.3683,
        "probability",
        "calibrated (deter-sim calibrate) to the 4,500 eligible cases referred in 2016",
        "Probability that the platform refers an eligible closed store to law enforcement",
        ge=0,
        le=1,
    )
    lawsuits_per_year: float = param(
        6.0,
        "lawsuits per year",
        "assumption (Alibaba filed its first publicised suits against sellers in 2017)",
        "Publicised civil lawsuits the platform brings against large sellers",
        ge=0,
        le=10_000,
    )
    legitimate_stores: int = param(
        9_000_000,
        "stores",
        "assumption (of the order of Taobao's millions of merchants)",
        "Legitimate stores exposed to the platform's detection (0: no false positives)",
        ge=0,
        le=1_000_000_000,
    )
    legit_listings_per_store: int = param(
        100,
        "listings per store",
        "assumption",
        "Listings of a legitimate store, each open to a wrongful takedown",
        ge=1,
        le=1_000_000,
    )
    legit_sales_per_listing_cny: float = param(
        40.0,
        "CNY per listing per week",
        "assumption (order of the platform's yearly sales over its listings)",
        "Weekly sales of one legitimate listing, lost for a week when it is wrongly taken down",
        ge=0,
        le=1e7,
    )
    detection_discriminability: float = param(
        3.0,
        "d' (standard deviations)",
        "assumption (a binormal ROC curve; d' = 3 is a good classifier)",
        "How well detection tells counterfeit from genuine listings: the false-positive rate "
        "is Phi(Phi^-1(detection_rate) - d')",
        ge=0,
        le=10,
    )
    appeal_success: float = param(
        0.5,
        "share of wrongful strikes",
        "assumption",
        "Share of the strikes from wrongful takedowns that a legitimate store has reversed "
        "on appeal",
        ge=0,
        le=1,
    )


class EnforcementParams(Section):
    """The state's response to the cases it is handed."""

    prosecution_rate: float = param(
        0.2625,
        "probability",
        "calibrated (deter-sim calibrate) to 1,184 of about 4,500 cases pursued in 2016",
        "Probability that a referred case is pursued (before regional leniency)",
        ge=0,
        le=1,
    )
    conviction_rate: float = param(
        0.0265,
        "probability",
        "calibrated (deter-sim calibrate) to about 33 convictions of 1,184 pursued in 2016",
        "Probability that a pursued case ends in a criminal conviction",
        ge=0,
        le=1,
    )
    suspended_share: float = param(
        0.7,
        "share of convictions",
        "Cai 2020 (about 70% of 2011-2015 counterfeiting convictions suspended); 37 of 47 "
        "convicted in Alibaba's 2016 cases",
        "Share of convictions ending in a suspended sentence or a fine only (no prison)",
        ge=0,
        le=1,
    )
    max_sentence_years: float = param(
        7.0,
        "years",
        "China Criminal Law art. 213-215 before 2021 (raised to 10 years in 2021)",
        "Statutory maximum sentence",
        ge=0,
        le=50,
    )
    fine_multiple: float = param(
        1.0,
        "multiple of cumulative sales",
        "China Criminal Law art. 140: 50%-200% of sales",
        "Fine on conviction as a multiple of illegal sales",
        ge=0,
        le=100,
    )
    capacity_per_week: float = param(
        6.0,
        "cases opened per region per week",
        "assumption",
        "Cases each regional enforcer can open per week",
        ge=0,
        le=1e6,
    )
    regional_leniency: list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = param(
        [1.0, 0.95, 0.9, 0.9, 0.85, 0.8, 0.75, 0.7],
        "factor on the prosecution rate",
        "assumption (local protectionism)",
        "Leniency factor of each region's enforcer (one per region)",
        min_length=1,
        max_length=64,
    )
    case_expiry_weeks: int = param(
        26,
        "weeks",
        "assumption",
        "Weeks a referred case may wait in the queue before it is dropped",
        ge=1,
        le=520,
    )
    processing_weeks: int = param(
        26,
        "weeks",
        "assumption (investigation, detention and trial)",
        "Weeks from pursuit to verdict; the seller is incapacitated meanwhile",
        ge=1,
        le=520,
    )
    huge_amount_cny: float = param(
        250_000.0,
        "CNY of cumulative sales",
        "China Criminal Law art. 213-215 judicial interpretation: 250,000 CNY",
        "Cumulative sales at which the higher sentencing tier applies",
        ge=0,
        le=1e12,
    )
    tier1_sentence_years: tuple[float, float] = param(
        (0.5, 3.0),
        "years (min, max)",
        "China Criminal Law art. 213-215: up to 3 years",
        "Range of sentences for sales between the threshold and the huge amount",
    )
    tier2_min_sentence_years: float = param(
        3.0,
        "years",
        "China Criminal Law art. 213-215: 3 years and more",
        "Lowest sentence in the upper tier (the top is the maximum sentence)",
        ge=0,
        le=50,
    )
    p_publicise_conviction: float = param(
        0.5,
        "probability",
        "assumption",
        "Probability that a conviction is publicised in its region",
        ge=0,
        le=1,
    )
    p_national_news: float = param(
        0.1,
        "probability",
        "assumption",
        "Probability that a publicised conviction reaches national news",
        ge=0,
        le=1,
    )
    cost_per_case_cny: float = param(
        40_000.0,
        "CNY per case pursued",
        "assumption",
        "Cost of investigating and prosecuting one case",
        ge=0,
        le=1e9,
    )
    cost_per_prison_year_cny: float = param(
        30_000.0,
        "CNY per prisoner-year",
        "assumption",
        "Cost of holding one prisoner for a year",
        ge=0,
        le=1e9,
    )

    @model_validator(mode="after")
    def _tiers_ordered(self) -> EnforcementParams:
        low, high = self.tier1_sentence_years
        if not (0 <= low <= high <= 50) or math.isnan(low) or math.isnan(high):
            raise ValueError(
                f"tier1_sentence_years must be (min, max) with 0 <= min <= max <= 50, "
                f"got {list(self.tier1_sentence_years)}"
            )
        return self


class BeliefsParams(Section):
    """How sellers perceive the sanctions they are exposed to (ODD 4.4).

    Every perceived quantity (the chances of referral, pursuit and conviction, the custodial
    sentence of each tier and the fine) learns through the same channels: own experience,
    network contacts, publicity and announcements, with forgetting towards its prior.
    """

    prior_strength: float = param(
        20.0,
        "pseudo-observations",
        "assumption",
        "Weight of the prior of each perceived chance of the sanction chain, in observed cases",
        ge=1e-6,
        le=1e7,
    )
    law_awareness: float = param(
        0.5,
        "share",
        "assumption (offenders know statutory penalties poorly; Apel 2013)",
        "Share of the difference between the scenario's sanctions and the 2016 ones that "
        "sellers' priors reflect at the start (0: priors are the 2016 sanctions)",
        ge=0,
        le=1,
    )
    threshold_awareness: float = param(
        1.0,
        "share",
        "assumption (the threshold is a published bright line)",
        "Degree to which a seller knows that sales below the criminal threshold are not "
        "referred (1: a seller that cannot reach it perceives no criminal cost)",
        ge=0,
        le=1,
    )
    w_own: float = param(
        10.0,
        "pseudo-observations",
        "assumption (own sanctions move perceptions strongly; Lochner 2007, Anwar & Loughran 2011)",
        "Weight of a step of one's own case (a referral, pursuit or verdict, or its absence)",
        ge=0,
        le=1e6,
    )
    w_peer: float = param(
        0.5,
        "pseudo-observations",
        "assumption (others' sanctions move perceptions little; Lochner 2007)",
        "Weight of a step of a network contact's case",
        ge=0,
        le=1e6,
    )
    w_public: float = param(
        0.02,
        "pseudo-observations",
        "assumption (perceptions track actual sanctions only weakly; Kleck et al. 2005)",
        "Weight of one publicised conviction in its reach (national or regional)",
        ge=0,
        le=1e6,
    )
    memory: float = param(
        0.98,
        "per week",
        "assumption (about one year of memory)",
        "Share of the deviation from the prior kept from one week to the next",
        ge=0,
        le=1,
    )
    sentence_learning: float = param(
        0.05,
        "per pseudo-observation",
        "assumption",
        "Pull of one observed sentence or fine (of weight 1) on the perceived one",
        ge=0,
        le=1,
    )
    sentence_perception_sigma: float = param(
        0.5,
        "log-scale s.d.",
        "assumption (perceived sentences vary widely across offenders; Apel 2013)",
        "Spread across sellers of the prior perceived sentence around the expected one",
        ge=0,
        le=4,
    )
    announcement_weight: float = param(
        0.3,
        "share",
        "assumption (announced crackdowns deter at first; Sherman 1990)",
        "Pull of an announced policy change on the matching perceived quantity, at its start",
        ge=0,
        le=1,
    )
    announcement_half_life_weeks: float = param(
        8.0,
        "weeks",
        "assumption (initial deterrence decays within weeks to months; Sherman 1990)",
        "Weeks after which an announcement's pull has halved",
        gt=0,
        le=5200,
    )
    takedown_memory: float = param(
        0.9,
        "per week",
        "assumption",
        "Share of the perceived takedown rate kept each active week (own experience)",
        ge=0,
        le=1,
    )


class ChannelsParams(Section):
    """Where else counterfeits sell: one aggregated off-platform channel (ODD 4.6)."""

    offplatform_margin_ratio: float = param(
        0.3,
        "share of the platform margin",
        "assumption (social commerce and offline reach fewer buyers; no estimate found)",
        "A seller's sales and margin off the platform as a share of those on it "
        "(0: no off-platform channel)",
        ge=0,
        le=10,
    )
    offplatform_detection_rate: float = param(
        0.004,
        "probability per active week",
        "assumption (police leads found few cases in 2016; no estimate found)",
        "Weekly chance that police leads find a seller selling off the platform; a seller "
        "whose sales reach the criminal threshold becomes a case without a referral",
        ge=0,
        le=1,
    )
    switching_cost_cny: float = param(
        5_000.0,
        "CNY",
        "assumption (contacts, stock and payment outside the platform)",
        "One-off cost of setting up the off-platform channel, spread over the planning horizon",
        ge=0,
        le=1e9,
    )


class MarketParams(Section):
    """The market for counterfeits: supply sets a price index (ODD 4.7)."""

    demand_elasticity: float = param(
        1.5,
        "elasticity (positive)",
        "assumption (no estimate for counterfeits found)",
        "Price elasticity of the demand for counterfeits (the larger, the less supply moves "
        "the price)",
        gt=0,
        le=100,
    )
    price_adjustment: float = param(
        0.1,
        "share per week",
        "assumption",
        "Share of the gap between the log price and its market-clearing value closed each "
        "week (0: no market, the price stays at 1)",
        ge=0,
        le=1,
    )
    max_price_index: float = param(
        3.0,
        "multiple of the 2016 price",
        "assumption (buyers turn to genuine goods; Qian 2008)",
        "Highest price index: beyond it buyers turn to genuine goods",
        ge=1,
        le=100,
    )
    reference_sales_per_seller_cny: float = param(
        265.0,
        "CNY per week per initial seller",
        "measured: counterfeit sales of the 2016 baseline per week over its initial sellers",
        "Weekly counterfeit sales the market absorbs at the 2016 price, per initial seller",
        gt=0,
        le=1e8,
    )


SECTIONS = {
    "population": PopulationParams,
    "economics": EconomicsParams,
    "platform": PlatformParams,
    "enforcement": EnforcementParams,
    "beliefs": BeliefsParams,
    "channels": ChannelsParams,
    "market": MarketParams,
}
# Sections a scheduled policy change may touch (the population is fixed for a run).
SCHEDULABLE_SECTIONS = ("economics", "platform", "enforcement", "beliefs", "channels", "market")
