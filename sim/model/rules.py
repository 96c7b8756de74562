"""Behavioural formulas of the model, as pure functions of arrays or scalars.

Each function implements one formula of ``docs/ODD.md`` (section numbers in the docstrings)
and accepts numpy arrays or scalars, so that both engines call the same code: the ``vector``
engine with arrays of all sellers, the ``agents`` engine with one seller's numpy scalars.
The functions keep the precision they are given (float32 in, float32 out; ODD 7.1).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

WEEKS_PER_YEAR = 52

FloatArray = NDArray[np.floating]


def sigmoid(x: ArrayLike) -> FloatArray:
    """Logistic function ``1 / (1 + exp(-x))``, stable for large ``|x|``.

    Args:
        x: Argument.

    Returns:
        Values in [0, 1].
    """
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def discounted_prison_years(sentence_years: ArrayLike, weekly_discount: float) -> FloatArray:
    """Discounted prison years ``D(S) = sum_{t=0}^{52 S - 1} delta^t / 52`` (ODD 4.2).

    Uses the closed form ``(1 - delta^(52 S)) / (52 (1 - delta))``, continuous in ``S``, with
    ``delta^(52 S)`` computed as ``exp(52 S ln delta)``. With ``delta = 1`` it is ``S``; for
    ``delta < 1`` it is concave in ``S`` and bounded by ``1 / (52 (1 - delta))``, so long
    sentences deter less per year than short ones. It is capped at ``S``, which the sum never
    exceeds (the closed form does for sentences under a week).

    Args:
        sentence_years: Perceived sentence ``S`` in years (>= 0).
        weekly_discount: Weekly discount factor ``delta`` in (0, 1].

    Returns:
        Discounted years of prison.
    """
    if weekly_discount >= 1.0:
        return sentence_years * 1.0
    weeks = sentence_years * float(WEEKS_PER_YEAR)
    # 1 - exp(x) as -expm1(x): exact when the discount is close to 1 (x close to 0).
    kept = -np.expm1(weeks * math.log(weekly_discount))
    # Capped at S: the closed form exceeds S for sentences under a week, which the sum cannot.
    return np.minimum(kept * (1.0 / (WEEKS_PER_YEAR * (1.0 - weekly_discount))), sentence_years)


def perceived_risk(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """Perceived weekly probability of criminal sanction, the Beta mean ``q = a / (a + b)``.

    Args:
        a: Beta pseudo-count of sanctions.
        b: Beta pseudo-count of active weeks without sanction.

    Returns:
        ``q`` in (0, 1).
    """
    return a / (a + b)


def platform_loss(
    perceived_takedown_rate: ArrayLike,
    listings: ArrayLike,
    relisting_cost: float,
    strike_per_takedown: float,
    strike_limit: float,
    closure_cost: ArrayLike,
) -> FloatArray:
    """Expected weekly loss from the platform ``L_platform`` under own experience (ODD 4.2).

    ``L = r * n * c_relist + h * C_close`` with ``r`` the seller's perceived takedown rate per
    listing, ``n`` its listings, ``h = r * n * p_strike / strike_limit`` the weekly closure
    hazard (strikes per week over the strike limit) and ``C_close`` the cost of a closure.

    Args:
        perceived_takedown_rate: Perceived weekly takedown probability per listing.
        listings: Counterfeit listings of the store.
        relisting_cost: Cost of one listing taken down (CNY).
        strike_per_takedown: Probability a takedown counts as a strike.
        strike_limit: Strikes at which the store is closed.
        closure_cost: Cost of a closure (re-entry cost plus margin lost while suspended, CNY).

    Returns:
        Expected weekly platform loss (CNY).
    """
    takedowns = perceived_takedown_rate * listings
    closure_hazard = np.minimum(takedowns * (strike_per_takedown / strike_limit), 1.0)
    return takedowns * relisting_cost + closure_hazard * closure_cost


def expected_gain(
    margin: ArrayLike,
    platform_loss_cny: ArrayLike,
    risk: ArrayLike,
    expected_fine: ArrayLike,
    prison_year_cost: ArrayLike,
    perceived_sentence_years: ArrayLike,
    weekly_discount: float,
    stigma_cost: float,
) -> FloatArray:
    """Expected weekly gain ``G = m - L_platform - q (F + c D(S) + k)`` (ODD 4.2).

    Args:
        margin: Weekly margin ``m`` (CNY).
        platform_loss_cny: Expected weekly platform loss ``L_platform`` (CNY).
        risk: Perceived weekly probability of criminal sanction ``q``.
        expected_fine: Expected fine ``F`` if sanctioned (CNY).
        prison_year_cost: Cost ``c`` of one year in prison (CNY).
        perceived_sentence_years: Perceived sentence ``S`` (years).
        weekly_discount: Weekly discount factor ``delta``.
        stigma_cost: Fixed cost ``k`` of a sanction (CNY).

    Returns:
        Expected weekly gain (CNY).
    """
    prison = prison_year_cost * discounted_prison_years(perceived_sentence_years, weekly_discount)
    sanction_cost = expected_fine + prison + stigma_cost
    return margin - platform_loss_cny - risk * sanction_cost


def p_active(gain: ArrayLike, outside_option: ArrayLike, noise: ArrayLike) -> FloatArray:
    """Probability of being active, ``sigmoid((G - o) / tau)`` (ODD 4.2).

    With ``tau = 0`` it is Becker's hard rule: 1 if ``G > o``, 0 if ``G < o``, 1/2 on a tie.

    Args:
        gain: Expected weekly gain ``G`` (CNY).
        outside_option: Weekly outside option ``o`` (CNY).
        noise: Decision noise ``tau`` (CNY, >= 0).

    Returns:
        Probability in [0, 1].
    """
    diff = gain - outside_option
    if np.all(noise > 0):
        return sigmoid(diff / noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        soft = sigmoid(diff / np.where(noise > 0, noise, 1.0))
    hard = np.where(diff > 0, 1.0, np.where(diff < 0, 0.0, 0.5))
    return np.where(noise > 0, soft, hard)


def sentence_years(
    sales: ArrayLike,
    huge_amount: float,
    tier1_years: tuple[float, float],
    tier2_min_years: float,
    max_sentence_years: float,
    u: ArrayLike,
) -> FloatArray:
    """Sentence of a conviction, by tier of cumulative illegal sales (ODD 4.5).

    Below the huge amount: uniform in ``tier1_years``; from it on: uniform between
    ``tier2_min_years`` and the maximum. Always capped at ``max_sentence_years``.

    Args:
        sales: Cumulative illegal sales of the case (CNY).
        huge_amount: Sales at which the upper tier applies (CNY).
        tier1_years: ``(min, max)`` of the lower tier (years).
        tier2_min_years: Lowest sentence of the upper tier (years).
        max_sentence_years: Statutory maximum (years).
        u: Uniform draws in [0, 1), one per case.

    Returns:
        Sentences in years, in ``[0, max_sentence_years]``.
    """
    sales = np.asarray(sales, dtype=float)
    u = np.asarray(u, dtype=float)
    low1, high1 = tier1_years
    tier1 = low1 + (high1 - low1) * u
    low2 = min(tier2_min_years, max_sentence_years)
    tier2 = low2 + (max(max_sentence_years, low2) - low2) * u
    return np.minimum(np.where(sales >= huge_amount, tier2, tier1), max_sentence_years)


def fine(sales: ArrayLike, fine_multiple: float) -> FloatArray:
    """Fine on conviction: ``fine_multiple x cumulative illegal sales`` (ODD 4.5).

    Args:
        sales: Cumulative illegal sales of the case (CNY).
        fine_multiple: Multiple of sales.

    Returns:
        Fine (CNY).
    """
    return sales * fine_multiple


def forget(
    value: ArrayLike, prior: float, memory: float, out: np.ndarray | None = None
) -> FloatArray:
    """Decay towards the prior: ``prior + memory (value - prior)`` (ODD 4.4).

    Args:
        value: Current pseudo-count.
        prior: Prior pseudo-count.
        memory: Share of the deviation kept (0 forgets at once, 1 never).
        out: Array to write the result to (may be ``value``); computed in place if given.

    Returns:
        Decayed pseudo-count.
    """
    if out is None:
        return (value - prior) * memory + prior
    np.subtract(value, prior, out=out)
    np.multiply(out, memory, out=out)
    return np.add(out, prior, out=out)


def sentence_pull(observed_count: ArrayLike, learning: float) -> FloatArray:
    """Weight of ``n`` observed sentences on the perceived sentence: ``1 - (1 - l)^n``.

    Each observed sentence pulls the perceived sentence by ``learning`` (ODD 4.4).

    Args:
        observed_count: Number of sentences observed this week.
        learning: Weight ``l`` of one observation in [0, 1].

    Returns:
        Weight in [0, 1].
    """
    return 1.0 - (1.0 - learning) ** np.asarray(observed_count, dtype=float)


def observe_sentences(perceived: ArrayLike, observed_mean: ArrayLike, weight: ArrayLike):
    """Move the perceived sentence towards the mean of observed sentences (ODD 4.4).

    Args:
        perceived: Perceived sentence (years).
        observed_mean: Mean of the sentences observed this week (years).
        weight: Pull of the observations, from ``sentence_pull``.

    Returns:
        Updated perceived sentence (years).
    """
    return perceived + weight * (observed_mean - perceived)


def law_awareness(
    perceived: ArrayLike, anchor_share: ArrayLike, max_sentence_years: float, rate: float
) -> FloatArray:
    """Pull of the perceived sentence towards the seller's share of the statutory maximum.

    Args:
        perceived: Perceived sentence (years).
        anchor_share: Seller's perceived share of the maximum.
        max_sentence_years: Statutory maximum in force (years).
        rate: Weekly pull in [0, 1].

    Returns:
        Updated perceived sentence (years).
    """
    return perceived + (anchor_share * max_sentence_years - perceived) * rate


def update_takedown(perceived: ArrayLike, observed_rate: ArrayLike, memory: float):
    """Perceived takedown rate after an active week: ``k r + (1 - k) observed`` (ODD 4.4).

    Args:
        perceived: Perceived weekly takedown probability per listing ``r``.
        observed_rate: Share of the seller's listings taken down this week.
        memory: Weight ``k`` of the old value.

    Returns:
        Updated perceived rate.
    """
    return perceived * memory + observed_rate * (1.0 - memory)


def weekly_margin(sales: ArrayLike, margin_share: float) -> FloatArray:
    """Weekly margin ``m = margin_share x sales`` (ODD 4.2).

    Args:
        sales: Weekly counterfeit sales (CNY).
        margin_share: Share of sales kept as margin.

    Returns:
        Margin (CNY per week).
    """
    return sales * margin_share


def closure_cost(margin: ArrayLike, reentry_cost: float, reentry_delay_weeks: int) -> FloatArray:
    """Cost of a store closure: re-entry cost plus the margin lost while suspended (ODD 4.2).

    Args:
        margin: Weekly margin (CNY).
        reentry_cost: Cost of opening a new store (CNY).
        reentry_delay_weeks: Weeks before a new store can open.

    Returns:
        ``C_close`` (CNY).
    """
    return margin * float(reentry_delay_weeks) + reentry_cost


def entry_cost_per_week(reentry_cost: float, planning_horizon_weeks: float) -> float:
    """Weekly share of the re-entry cost for a seller without a store (ODD 4.2).

    Args:
        reentry_cost: Cost of opening a new store (CNY).
        planning_horizon_weeks: Weeks over which the seller spreads it.

    Returns:
        CNY per week.
    """
    return reentry_cost / planning_horizon_weeks


def prior_counts(prior_risk: float, prior_strength: float) -> tuple[float, float]:
    """Prior Beta pseudo-counts ``(a0, b0) = (q0 n0, (1 - q0) n0)`` of perceived risk (ODD 4.4).

    Args:
        prior_risk: Prior mean ``q0`` of the perceived weekly risk.
        prior_strength: Prior weight ``n0`` in pseudo-observations.

    Returns:
        ``(a0, b0)``.
    """
    return prior_risk * prior_strength, (1 - prior_risk) * prior_strength
