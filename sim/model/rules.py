"""Behavioural formulas of the model, as pure functions of arrays or scalars.

Each function implements one formula of ``docs/ODD.md`` (section numbers in the docstrings)
and accepts numpy arrays or scalars, so that both engines call the same code: the ``vector``
engine with arrays of all sellers, the ``agents`` engine with one seller's numpy scalars.
The functions keep the precision they are given (float32 in, float32 out; ODD 7.1).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

WEEKS_PER_YEAR = 52
MIN_PRICE_INDEX = 0.01  # the price index never falls below 1% of the 2016 price (ODD 4.7)

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


def belief_mean(alpha: ArrayLike, beta: ArrayLike) -> FloatArray:
    """A perceived chance, the Beta mean ``alpha / (alpha + beta)`` (ODD 4.4).

    Args:
        alpha: Pseudo-count of the step happening (a referral, a pursuit, a conviction).
        beta: Pseudo-count of it not happening.

    Returns:
        The perceived chance in (0, 1).
    """
    return alpha / (alpha + beta)


def prior_pair(mean: ArrayLike, strength: float) -> tuple[FloatArray, FloatArray]:
    """Prior pseudo-counts ``(m n, (1 - m) n)`` of a perceived chance of mean ``m`` (ODD 4.4)."""
    return mean * strength, (1.0 - mean) * strength


def regime_prior(reference: ArrayLike, in_force: ArrayLike, awareness: float) -> FloatArray:
    """A prior between the 2016 value and the scenario's: ``v16 + a (v - v16)`` (ODD 4.4).

    Args:
        reference: The value under the 2016 regime (the schema's defaults).
        in_force: The value the scenario has at week 0.
        awareness: ``beliefs.law_awareness``.

    Returns:
        The prior value.
    """
    return reference + (in_force - reference) * awareness


def expected_sentence(
    tier2: bool, tier1_years: tuple[float, float], tier2_min_years: float, max_years: float
) -> float:
    """Expected sentence of a conviction in a tier, ``E[Y]`` of ODD 4.5's uniform draws.

    Tier 1: ``E[min(U(lo1, hi1), max)]``; tier 2: ``(min(lo2, max) + max) / 2``.

    Args:
        tier2: Whether the case's sales reach the huge amount.
        tier1_years: ``(lo1, hi1)`` (years).
        tier2_min_years: Lowest sentence of tier 2 (years).
        max_years: Statutory maximum (years).

    Returns:
        Expected sentence (years).
    """
    if tier2:
        low = min(tier2_min_years, max_years)
        return (low + max_years) / 2
    low, high = tier1_years
    if max_years >= high:
        return (low + high) / 2
    if max_years <= low or high <= low:
        return min(max_years, low)
    # E[min(U, M)] for U ~ U(lo, hi): the part below M plus M times the chance above it.
    return ((max_years**2 - low**2) / 2 + (high - max_years) * max_years) / (high - low)


def closure_hazard(
    perceived_takedown_rate: ArrayLike,
    listings: ArrayLike,
    strike_per_takedown: float,
    strike_limit: float,
) -> FloatArray:
    """Perceived weekly closure hazard ``h = min(r n p_strike / strike_limit, 1)`` (ODD 4.2).

    Expected new strikes per week over the strike limit; it does not depend on the strikes
    already on the store.
    """
    return np.minimum(
        perceived_takedown_rate * listings * (strike_per_takedown / strike_limit), 1.0
    )


def platform_loss(
    perceived_takedown_rate: ArrayLike,
    listings: ArrayLike,
    relisting_cost: float,
    hazard: ArrayLike,
    closure_cost: ArrayLike,
) -> FloatArray:
    """Expected weekly loss from the platform ``L = r n c_relist + h C_close`` (ODD 4.2).

    Args:
        perceived_takedown_rate: Perceived weekly takedown probability per listing ``r``.
        listings: Counterfeit listings of the store ``n``.
        relisting_cost: Cost of one listing taken down (CNY).
        hazard: Perceived weekly closure hazard ``h`` (``closure_hazard``).
        closure_cost: Cost of a closure (re-entry cost plus net margin lost while suspended).

    Returns:
        Expected weekly platform loss (CNY).
    """
    return perceived_takedown_rate * listings * relisting_cost + hazard * closure_cost


def exposure(
    cumulative_sales: ArrayLike,
    weekly_sales: ArrayLike,
    horizon_weeks: float,
    threshold: float,
    threshold_awareness: float,
) -> FloatArray:
    """Weight ``e`` of the criminal chain a seller perceives (ODD 4.2).

    1 if its sales can reach the criminal threshold within the planning horizon
    (``X + s H >= T``), else ``1 - threshold_awareness``: a seller that cannot reach the
    threshold, and knows it, perceives no criminal cost.
    """
    reach = cumulative_sales + weekly_sales * horizon_weeks
    return np.where(reach >= threshold, 1.0, 1.0 - threshold_awareness).astype(
        np.result_type(weekly_sales, np.float32)
    )


def proceedings_cost(
    net_margin: ArrayLike, processing_weeks: int, stigma_cost: float
) -> FloatArray:
    """Cost of being prosecuted ``P = k + W (m - o)`` (ODD 4.2).

    Stigma plus the net margin lost while incapacitated for the ``W`` weeks of the case.
    """
    return net_margin * float(processing_weeks) + stigma_cost


def criminal_cost(
    hazard: ArrayLike,
    exposure_weight: ArrayLike,
    p_referral: ArrayLike,
    p_pursuit: ArrayLike,
    p_conviction: ArrayLike,
    proceedings: ArrayLike,
    fine: ArrayLike,
    prison_year_cost: ArrayLike,
    custodial_years: ArrayLike,
    weekly_discount: float,
    verdict_weeks: int,
) -> FloatArray:
    """Expected weekly criminal cost along the sanction chain (ODD 4.2).

    ``C = h e rho pi (P + kappa delta^W (F + c D(S)))``: the perceived closure hazard, the
    exposure, the perceived chances of referral, pursuit and conviction; on pursuit the cost of
    proceedings, and with conviction the fine and the discounted prison years of the perceived
    custodial sentence ``S`` of the seller's tier, both discounted from the verdict ``W``
    weeks later.

    Returns:
        CNY per week.
    """
    verdict = weekly_discount ** float(verdict_weeks)
    prison = prison_year_cost * discounted_prison_years(custodial_years, weekly_discount)
    chain = hazard * exposure_weight * p_referral * p_pursuit
    return chain * (proceedings + p_conviction * (verdict * (fine + prison)))


def expected_gain(margin: ArrayLike, platform: ArrayLike, criminal: ArrayLike) -> FloatArray:
    """Expected weekly gain ``G = m - L_platform - C_criminal`` (ODD 4.2)."""
    return margin - platform - criminal


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


def observe(perceived: ArrayLike, observed_mean: ArrayLike, weight: ArrayLike, learning: float):
    """Move a perceived value towards what was observed: ``v + (1 - (1 - l)^n) (obs - v)``.

    The perceived sentence and fine learn this way (ODD 4.4): ``n`` is the week's weight of
    observations (own, contacts', publicised), each unit pulling by ``l``.

    Args:
        perceived: Perceived value.
        observed_mean: Weighted mean of the values observed this week.
        weight: Their total weight ``n`` (pseudo-observations).
        learning: Pull ``l`` of one unit of weight, in [0, 1].

    Returns:
        Updated value.
    """
    pull = 1.0 - (1.0 - learning) ** weight
    return perceived + pull * (observed_mean - perceived)


def announced(mean: ArrayLike, value: ArrayLike, weight: ArrayLike) -> FloatArray:
    """A perceived value pulled towards an announced one: ``v + w (a - v)`` (ODD 4.4)."""
    return mean + weight * (value - mean)


def announcement_pull(weight: float, reach: float, weeks_since: int, half_life: float) -> float:
    """Pull of an announcement ``w r 2^(-t / H)``, ``t`` weeks after it (ODD 4.4)."""
    return weight * reach * 0.5 ** (weeks_since / half_life)


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


def closure_cost(
    net_margin: ArrayLike, reentry_cost: float, reentry_delay_weeks: int
) -> FloatArray:
    """Cost of a store closure: re-entry cost plus the net margin lost while suspended (ODD 4.2).

    Args:
        net_margin: Weekly margin less the outside option ``m - o`` (CNY, at least 0).
        reentry_cost: Cost of opening a new store (CNY).
        reentry_delay_weeks: Weeks before a new store can open.

    Returns:
        ``C_close`` (CNY).
    """
    return net_margin * float(reentry_delay_weeks) + reentry_cost


def entry_cost_per_week(reentry_cost: float, planning_horizon_weeks: float) -> float:
    """Weekly share of the re-entry cost for a seller without a store (ODD 4.2).

    Args:
        reentry_cost: Cost of opening a new store (CNY).
        planning_horizon_weeks: Weeks over which the seller spreads it.

    Returns:
        CNY per week.
    """
    return reentry_cost / planning_horizon_weeks


# -- the open model: channels, market, entry, honest sellers (ODD 4.6 to 4.9) ----------------


def inclusive_gain(gain: ArrayLike, gain_offplatform: ArrayLike, noise: ArrayLike) -> FloatArray:
    """The gain of the best channel, ``G* = tau ln(e^(Gp/tau) + e^(Go/tau))`` (ODD 4.6).

    The log-sum of a logit choice between the platform and the off-platform channel, computed
    as ``max + tau ln(1 + e^(-|Gp - Go| / tau))``; with ``tau = 0`` it is the larger gain, and
    with no off-platform channel (``Go = -inf``) it is exactly ``Gp``.

    Args:
        gain: Expected weekly gain on the platform ``Gp`` (CNY).
        gain_offplatform: Expected weekly gain off the platform ``Go`` (CNY).
        noise: Decision noise ``tau`` (CNY, >= 0).

    Returns:
        ``G*`` (CNY).
    """
    best = np.maximum(gain, gain_offplatform)
    gap = np.abs(gain - gain_offplatform)
    if np.ndim(gap) == 0 and np.ndim(noise) == 0:  # one seller (the agents engine): same ufuncs
        if noise > 0 and np.isfinite(gap):
            best = best + noise * np.log1p(np.exp(-gap / noise))
        return best.astype(np.result_type(gain, np.float32))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        spread = np.where(noise > 0, noise * np.log1p(np.exp(-gap / noise)), 0.0)
    spread = np.where(np.isfinite(gap), spread, 0.0)
    return (best + spread).astype(np.result_type(gain, np.float32))


def p_offplatform(gain: ArrayLike, gain_offplatform: ArrayLike, noise: ArrayLike) -> FloatArray:
    """Chance that an active seller sells off the platform, ``sigmoid((Go - Gp) / tau)`` (ODD 4.6).

    Args:
        gain: Expected weekly gain on the platform ``Gp`` (CNY).
        gain_offplatform: Expected weekly gain off the platform ``Go`` (CNY).
        noise: Decision noise ``tau`` (CNY, >= 0; 0 chooses the larger gain).

    Returns:
        Probability in [0, 1].
    """
    return p_active(gain_offplatform, gain, noise)


def margin_share_at(price_index: float, margin_share: float) -> float:
    """Margin as a share of a seller's sales at the 2016 price, at price index ``P`` (ODD 4.7).

    Unit costs stay at the 2016 level, so the margin per unit rises one for one with the
    price: ``P - 1 + margin_share``; exactly ``margin_share`` at ``P = 1``.
    """
    return price_index - 1.0 + margin_share


def clearing_price(
    supply: float, reference_supply: float, elasticity: float, max_price: float
) -> float:
    """The price index at which demand takes the week's supply, ``(Q / Q0)^(-1/eps)`` (ODD 4.7).

    Capped at ``max_price`` (beyond it buyers turn to genuine goods) and floored at
    ``MIN_PRICE_INDEX``; with no supply it is the cap, and with infinite elasticity it is 1.

    Args:
        supply: Counterfeits sold this week, at 2016 prices (CNY).
        reference_supply: What demand takes at price 1 (CNY per week).
        elasticity: Price elasticity of demand ``eps`` (> 0, may be infinite).
        max_price: Highest price index.

    Returns:
        The market-clearing price index.
    """
    if math.isinf(elasticity):
        return 1.0
    if supply <= 0:
        return max_price
    # On the log scale, so that extreme ratios and elasticities cannot overflow.
    log_price = (math.log(reference_supply) - math.log(supply)) / elasticity
    if log_price >= math.log(max_price):
        return max_price
    return max(math.exp(log_price), MIN_PRICE_INDEX)


def adjust_price(price: float, target: float, adjustment: float) -> float:
    """Partial adjustment of the log price: ``ln P' = ln P + lambda (ln P* - ln P)`` (ODD 4.7)."""
    if adjustment <= 0 or price == target:
        return price
    return math.exp(math.log(price) + adjustment * (math.log(target) - math.log(price)))


def arrivals_by(week: int, entrants_per_year: float) -> int:
    """Potential sellers arrived before ``week``: ``floor(E t / 52)`` (ODD 4.8)."""
    return math.floor(entrants_per_year * week / WEEKS_PER_YEAR + 1e-9)


def false_positive_rate(detection_rate: float, discriminability: float) -> float:
    """Weekly chance that a genuine listing is taken down, on a binormal ROC curve (ODD 4.9).

    ``FPR = Phi(Phi^-1(TPR) - d')`` with the detection rate as the true-positive rate: raising
    detection raises the false positives, the more so the smaller ``d'``. 0 with no detection.
    """
    if detection_rate <= 0:
        return 0.0
    if detection_rate >= 1:
        return 1.0
    normal = NormalDist()
    return normal.cdf(normal.inv_cdf(detection_rate) - discriminability)


def binomial_pmf(count: int, trials: int, p: float) -> np.ndarray:
    """``P(X = k)`` for ``k = 0 .. count - 1`` of ``X ~ Binomial(trials, p)`` (float64).

    From ``ln`` of the factorials (``math.lgamma``), exact to about 1e-13 relatively.
    """
    if p <= 0.0 or p >= 1.0:
        certain = trials if p >= 1.0 else 0
        return (np.arange(count) == certain).astype(float)
    log_p, log_q = math.log(p), math.log1p(-p)
    whole = math.lgamma(trials + 1.0)
    return np.array(
        [
            math.exp(
                whole
                - math.lgamma(k + 1.0)
                - math.lgamma(trials - k + 1.0)
                + k * log_p
                + (trials - k) * log_q
            )
            if k <= trials
            else 0.0
            for k in range(count)
        ]
    )
