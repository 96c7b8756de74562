"""Behavioural formulas of the model, as pure functions of arrays or scalars.

Each function implements one formula of ``docs/ODD.md`` (section numbers in the docstrings)
and accepts numpy arrays or plain floats, so that every engine calls the same code.
"""

from __future__ import annotations

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
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x)))


def discounted_prison_years(sentence_years: ArrayLike, weekly_discount: float) -> FloatArray:
    """Discounted prison years ``D(S) = sum_{t=0}^{52 S - 1} delta^t / 52`` (ODD 4.2).

    Uses the closed form ``(1 - delta^(52 S)) / (52 (1 - delta))``, continuous in ``S``. With
    ``delta = 1`` it is ``S``; for ``delta < 1`` it is concave in ``S`` and bounded by
    ``1 / (52 (1 - delta))``, so long sentences deter less per year than short ones.

    Args:
        sentence_years: Perceived sentence ``S`` in years (>= 0).
        weekly_discount: Weekly discount factor ``delta`` in (0, 1].

    Returns:
        Discounted years of prison.
    """
    weeks = WEEKS_PER_YEAR * np.asarray(sentence_years, dtype=float)
    if weekly_discount >= 1.0:
        return weeks / WEEKS_PER_YEAR
    return (1.0 - weekly_discount**weeks) / (WEEKS_PER_YEAR * (1.0 - weekly_discount))


def perceived_risk(a: ArrayLike, b: ArrayLike) -> FloatArray:
    """Perceived weekly probability of criminal sanction, the Beta mean ``q = a / (a + b)``.

    Args:
        a: Beta pseudo-count of sanctions.
        b: Beta pseudo-count of active weeks without sanction.

    Returns:
        ``q`` in (0, 1).
    """
    a = np.asarray(a, dtype=float)
    return a / (a + np.asarray(b, dtype=float))


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
    takedowns = np.asarray(perceived_takedown_rate, dtype=float) * np.asarray(listings)
    closure_hazard = np.minimum(takedowns * strike_per_takedown / strike_limit, 1.0)
    return takedowns * relisting_cost + closure_hazard * np.asarray(closure_cost)


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
    prison = np.asarray(prison_year_cost) * discounted_prison_years(
        perceived_sentence_years, weekly_discount
    )
    sanction_cost = np.asarray(expected_fine) + prison + stigma_cost
    return np.asarray(margin) - np.asarray(platform_loss_cny) - np.asarray(risk) * sanction_cost


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
    diff = np.asarray(gain, dtype=float) - np.asarray(outside_option, dtype=float)
    noise = np.asarray(noise, dtype=float)
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
    return fine_multiple * np.asarray(sales, dtype=float)


def forget(value: ArrayLike, prior: float, memory: float) -> FloatArray:
    """Decay towards the prior: ``prior + memory (value - prior)`` (ODD 4.4).

    Args:
        value: Current pseudo-count.
        prior: Prior pseudo-count.
        memory: Share of the deviation kept (0 forgets at once, 1 never).

    Returns:
        Decayed pseudo-count.
    """
    return prior + memory * (np.asarray(value) - prior)


def observe_sentences(
    perceived: ArrayLike, observed_mean: ArrayLike, observed_count: ArrayLike, learning: float
) -> FloatArray:
    """Move the perceived sentence towards observed sentences (ODD 4.4).

    Each of ``n`` observed sentences pulls by ``learning``: the weight of ``n`` observations
    with mean ``s`` is ``1 - (1 - learning)^n``.

    Args:
        perceived: Perceived sentence (years).
        observed_mean: Mean of the sentences observed this week (years).
        observed_count: Number of sentences observed this week.
        learning: Weight of one observation in [0, 1].

    Returns:
        Updated perceived sentence (years).
    """
    weight = 1.0 - (1.0 - learning) ** np.asarray(observed_count, dtype=float)
    perceived = np.asarray(perceived, dtype=float)
    return perceived + weight * (np.asarray(observed_mean, dtype=float) - perceived)


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
    perceived = np.asarray(perceived, dtype=float)
    return perceived + rate * (np.asarray(anchor_share) * max_sentence_years - perceived)
