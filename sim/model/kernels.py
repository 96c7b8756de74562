"""Compiled kernels: the per-seller work of a week, written once and called by both engines.

The ``vector`` engine calls the loops here over every seller; the ``agents`` engine calls the
same compiled per-seller functions for one seller at a time, so the two engines compute
exactly the same numbers (ODD 7.1). The formulas are those of ``docs/ODD.md`` (4.2, 4.3, 4.4,
4.6); ``sim.model.rules`` states them as numpy functions, and the tests check the kernels
against them.

Kernels are compiled by numba on first use and cached on disk beside this module (or in
``NUMBA_CACHE_DIR``), so later runs start at once. They follow numpy's error model (a division
by zero gives an infinity, not an exception; none can occur in them). Floating-point work of
the decision rule and of the belief updates is single precision, as the arrays it reads (ODD
7.1). The platform's binomial draws are in ``sim.model.draws``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.model import rules

F32 = np.float32

# -- the decision rule (ODD 4.2, 4.6) -----------------------------------------------------------

# Positions in the float32 array of ``decision_constants``.
(
    MARGIN_SHARE,
    MARGIN_AT_PRICE,
    PRICE,
    NOISE,
    REENTRY_DELAY,
    REENTRY_COST,
    ENTRY_COST,
    SWITCHING_COST,
    HAZARD_PER_LISTING,
    RELISTING_COST,
    HORIZON,
    THRESHOLD,
    UNAWARE,
    HUGE_AMOUNT,
    PROCESSING_WEEKS,
    STIGMA,
    LOG_DISCOUNT,
    PRISON_SCALE,
    DISCOUNTED,
    VERDICT_DISCOUNT,
    OFFPLATFORM_RATIO,
) = range(21)
CONSTANTS = 21


def decision_constants(params, price: float) -> tuple[np.float32, ...]:
    """The scalars of the decision rule for parameters ``params`` at price index ``price``.

    A tuple of float32 (a value, which compiled loops read without reference counting), so
    that the rule computes in single precision whatever the caller passes.
    """
    econ, plat, enf = params.economics, params.platform, params.enforcement
    delta = econ.weekly_discount
    c = np.zeros(CONSTANTS, dtype=np.float64)
    c[MARGIN_SHARE] = econ.margin_share
    c[MARGIN_AT_PRICE] = rules.margin_share_at(price, econ.margin_share)
    c[PRICE] = price
    c[NOISE] = econ.decision_noise
    c[REENTRY_DELAY] = float(plat.reentry_delay_weeks)
    c[REENTRY_COST] = plat.reentry_cost_cny
    c[ENTRY_COST] = rules.entry_cost_per_week(plat.reentry_cost_cny, econ.planning_horizon_weeks)
    c[SWITCHING_COST] = params.channels.switching_cost_cny / econ.planning_horizon_weeks
    c[HAZARD_PER_LISTING] = plat.strike_per_takedown / plat.strike_limit
    c[RELISTING_COST] = plat.relisting_cost_cny
    c[HORIZON] = econ.planning_horizon_weeks
    c[THRESHOLD] = plat.criminal_threshold_cny
    c[UNAWARE] = 1.0 - params.beliefs.threshold_awareness
    c[HUGE_AMOUNT] = enf.huge_amount_cny
    c[PROCESSING_WEEKS] = float(enf.processing_weeks)
    c[STIGMA] = econ.stigma_cost_cny
    c[DISCOUNTED] = 1.0 if delta < 1.0 else 0.0
    c[LOG_DISCOUNT] = math.log(delta)
    c[PRISON_SCALE] = 1.0 / (rules.WEEKS_PER_YEAR * (1.0 - delta)) if delta < 1.0 else 1.0
    c[VERDICT_DISCOUNT] = delta ** float(enf.processing_weeks)
    c[OFFPLATFORM_RATIO] = params.channels.offplatform_margin_ratio
    return tuple(np.float32(value) for value in c)


def announcement_maps(pulls: dict, names: tuple[str, ...], regions: int) -> np.ndarray:
    """The week's announcements (``beliefs.pulls``) as one affine map per belief and region.

    Announcements pull a perceived value ``v`` in turn, oldest first: ``v + w (a - v)`` (ODD
    4.4). Together they map ``v`` to ``s v + t``; with none in force, ``s = 1, t = 0``.

    Returns:
        Float32 array of shape ``(2, len(names), regions)``: ``s`` then ``t``.
    """
    maps = np.zeros((2, len(names), regions), dtype=np.float32)
    maps[0] = 1.0
    for b, name in enumerate(names):
        for announced, pull in pulls.get(name, ()):
            keep = np.float32(1.0) - np.float32(pull)
            maps[0, b] = keep * maps[0, b]
            maps[1, b] = keep * maps[1, b] + np.float32(pull) * announced
    return maps


# Arguments of exp are kept within +-EXP_LIMIT: beyond it the results no longer change in
# single precision, and exp's overflow and underflow paths are slow.
EXP_LIMIT = np.float32(60.0)
WEEKS = np.float32(rules.WEEKS_PER_YEAR)


@njit(cache=True, error_model="numpy", inline="always")
def _sigmoid(x):
    # 1 / (1 + e^-x), with x within +-EXP_LIMIT (where it is 1e-26 from 0 or 1).
    x = min(max(x, -EXP_LIMIT), EXP_LIMIT)
    return np.float32(1.0) / (np.float32(1.0) + np.float32(math.exp(-x)))


@njit(cache=True, error_model="numpy", inline="always")
def _p_choose(gain, other, noise):
    # sigmoid((G - o) / tau); Becker's hard rule when tau = 0 (ODD 4.2).
    diff = gain - other
    if noise > 0:
        return _sigmoid(diff / noise)
    if diff > 0:
        return np.float32(1.0)
    if diff < 0:
        return np.float32(0.0)
    return np.float32(0.5)


@njit(cache=True, error_model="numpy", inline="always")
def _discounted_years(years, c):
    # D(S) = (1 - delta^(52 S)) / (52 (1 - delta)), capped at S (ODD 4.2).
    if c[DISCOUNTED] == 0:
        return years
    x = max(years * WEEKS * c[LOG_DISCOUNT], -EXP_LIMIT)
    # 1 - e^x in double precision: exact to single precision even where x is near 0.
    kept = np.float32(1.0 - math.exp(np.float64(x)))
    return min(kept * c[PRISON_SCALE], years)


@njit(cache=True, error_model="numpy", inline="always")
def _chain_cost(first, exposed, p_pursuit, p_conviction, proceedings, fine, prison, c):
    # h e rho pi (P + kappa delta^W (F + c D(S))): the expected weekly criminal cost (ODD 4.2).
    chain = first * exposed * p_pursuit
    return chain * (proceedings + p_conviction * (c[VERDICT_DISCOUNT] * (fine + prison)))


@njit(cache=True, error_model="numpy", inline="always")
def choose(
    c,
    scale,
    shift,
    sales,
    outside_ratio,
    has_store,
    offplatform_ready,
    takedown,
    listings,
    cumulative,
    prison_year_cost,
    a0,
    b0,
    a1,
    b1,
    a2,
    b2,
    a3,
    b3,
    sentence1,
    sentence2,
    fine_multiple,
):
    """One seller's decision this week (ODD 4.2, 4.6): the chances and what it acts on.

    Float32 arguments, the flags booleans. ``c`` is ``decision_constants``; ``scale`` and
    ``shift`` are the seller's region's column of ``announcement_maps`` of
    ``beliefs.BELIEFS``, as tuples.

    Returns:
        ``(p_active, p_offplatform, risk, criminal, sentence)``: the chance of being active,
        the chance that an active week is off the platform (0 without the channel), the
        perceived weekly chance of pursuit and the expected criminal cost of the channel with
        the larger gain, and the perceived prison term of a conviction in its tier.
    """
    zero = np.float32(0.0)
    base = sales * c[MARGIN_SHARE]
    margin = sales * c[MARGIN_AT_PRICE]
    outside = outside_ratio * base
    net_margin = max(margin - outside, zero)
    noise = c[NOISE] * base
    week_sales = sales * c[PRICE]
    # The platform: takedowns, closures, re-entry (ODD 4.2).
    takedowns = takedown * listings
    hazard = min(takedowns * c[HAZARD_PER_LISTING], np.float32(1.0))
    closure_cost = net_margin * c[REENTRY_DELAY] + c[REENTRY_COST]
    platform = takedowns * c[RELISTING_COST] + hazard * closure_cost
    if not has_store:
        platform = platform + c[ENTRY_COST]
    # The sanction chain, with announcements in force.
    reach = cumulative + week_sales * c[HORIZON]
    exposed = np.float32(1.0) if reach >= c[THRESHOLD] else c[UNAWARE]
    referral = scale[0] * (a0 / (a0 + b0)) + shift[0]
    pursuit = scale[1] * (a1 / (a1 + b1)) + shift[1]
    conviction = scale[2] * (a2 / (a2 + b2)) + shift[2]
    if reach >= c[HUGE_AMOUNT]:
        sentence = scale[5] * sentence2 + shift[5]
    else:
        sentence = scale[4] * sentence1 + shift[4]
    multiple = scale[6] * fine_multiple + shift[6]
    proceedings = net_margin * c[PROCESSING_WEEKS] + c[STIGMA]
    prison = prison_year_cost * _discounted_years(sentence, c)
    first = hazard * exposed * referral
    criminal = _chain_cost(
        first,
        np.float32(1.0),
        pursuit,
        conviction,
        proceedings,
        (cumulative + week_sales) * multiple,
        prison,
        c,
    )
    risk = first * pursuit
    gain = margin - platform - criminal
    ratio = c[OFFPLATFORM_RATIO]
    best = gain
    p_off = zero
    if ratio > 0:
        # Off the platform (ODD 4.6): a share of sales and margin, police leads, the courts.
        sales_off = week_sales * ratio
        reach_off = cumulative + sales_off * c[HORIZON]
        exposed_off = np.float32(1.0) if reach_off >= c[THRESHOLD] else c[UNAWARE]
        police = scale[3] * (a3 / (a3 + b3)) + shift[3]
        criminal_off = _chain_cost(
            police,
            exposed_off,
            pursuit,
            conviction,
            proceedings,
            (cumulative + sales_off) * multiple,
            prison,
            c,
        )
        switching = zero if offplatform_ready else c[SWITCHING_COST]
        gain_off = margin * ratio - switching - criminal_off
        # The chance of the off-platform channel, sigmoid((Go - Gp) / tau), and the gain of
        # the best channel, the log-sum max(Gp, Go) + tau ln(1 + e^(-|Gp - Go| / tau)), share
        # one exponential y = e^(-|Gp - Go| / tau) (single precision needs no log1p).
        best = max(gain, gain_off)
        if noise > 0:
            y = np.float32(math.exp(-min(abs(gain - gain_off) / noise, EXP_LIMIT)))
            one = np.float32(1.0)
            p_off = one / (one + y) if gain_off >= gain else y / (one + y)
            best = best + noise * np.float32(math.log(one + y))
        else:
            p_off = _p_choose(gain_off, gain, noise)
        if gain_off > gain:
            risk, criminal = police * exposed_off * pursuit, criminal_off
    return _p_choose(best, outside, noise), p_off, risk, criminal, sentence


DRAW_BLOCK = 4096  # uniforms drawn per stream at a time by ``decide_all``


@njit(cache=True, error_model="numpy", inline="always")
def _region_map(side, r):
    # One side (scale or shift) of ``announcement_maps`` for region r, as a tuple of the beliefs.
    return (side[0, r], side[1, r], side[2, r], side[3, r], side[4, r], side[5, r], side[6, r])


@njit(cache=True, error_model="numpy")
def decide_all(
    c,
    maps,
    state,
    region,
    sales,
    outside_ratio,
    has_store,
    offplatform_ready,
    newcomer,
    case_open,
    takedown,
    listings,
    cumulative,
    prison_year_cost,
    alpha,
    beta,
    sentence1,
    sentence2,
    fine_multiple,
    decisions_rng,
    channels_rng,
    exit_rng,
    exit_hazard,
    active,
    offplatform,
    events,
    detections,
):
    """Phase 1 for the whole pool, in index order (ODD 4.2, 4.6, 4.8).

    Every seller of the pool takes one uniform of the ``decisions`` stream, one of the
    ``channels`` stream when the channel exists, and one of the ``exit`` stream when
    ``exit_hazard`` is positive, free or not (common random numbers, ODD 7.2). Sellers at
    liberty perceive (``choose``); those free to choose (``DORMANT`` or ``ACTIVE``) become
    ``ACTIVE`` (on the platform, opening a store if they had none, or off it) or ``DORMANT``,
    and an idle one with no open case leaves for good (``ABSENT``) if its exit uniform falls
    below the hazard. Clears the week's ``events`` and ``detections``. ``maps`` is
    ``announcement_maps``.

    Returns:
        The number of sellers at liberty (not prosecuted, jailed or absent); the float64 sums
        over them of the risk, criminal cost and sentence they perceived; the newcomers who
        sold for the first time; the sellers who left.
    """
    channels = c[OFFPLATFORM_RATIO] > 0
    at_liberty = entrants = exits = 0
    risk_sum = criminal_sum = sentence_sum = 0.0
    n = len(state)
    # The uniforms are drawn a block at a time, each stream in its own loop, so that the loop
    # over the sellers calls no generator (the same numbers, in the same order).
    block = min(n, DRAW_BLOCK)
    u_decision = np.empty(block)
    u_channels = np.ones(block)
    u_exits = np.ones(block)
    for i in range(n):
        at = i % DRAW_BLOCK
        if at == 0:
            size = min(DRAW_BLOCK, n - i)
            for j in range(size):
                u_decision[j] = decisions_rng.random()
            if channels:
                for j in range(size):
                    u_channels[j] = channels_rng.random()
            if exit_hazard > 0:
                for j in range(size):
                    u_exits[j] = exit_rng.random()
        u = u_decision[at]
        u_channel = u_channels[at]
        u_exit = u_exits[at]
        active[i] = False
        offplatform[i] = False
        events[i] = 0
        detections[i] = 0
        if state[i] >= 3:  # PROSECUTED, JAILED, ABSENT: no choice to make
            continue
        r = region[i]
        p_active, p_off, risk, criminal, sentence = choose(
            c,
            _region_map(maps[0], r),
            _region_map(maps[1], r),
            sales[i],
            outside_ratio[i],
            has_store[i],
            offplatform_ready[i],
            takedown[i],
            listings[i],
            cumulative[i],
            prison_year_cost[i],
            alpha[0, i],
            beta[0, i],
            alpha[1, i],
            beta[1, i],
            alpha[2, i],
            beta[2, i],
            alpha[3, i],
            beta[3, i],
            sentence1[i],
            sentence2[i],
            fine_multiple[i],
        )
        at_liberty += 1
        risk_sum += risk
        criminal_sum += criminal
        sentence_sum += sentence
        if state[i] == 2:  # SUSPENDED: perceives, cannot sell
            continue
        if u < p_active:
            active[i] = True
            state[i] = 1
            if channels and u_channel < p_off:
                offplatform[i] = True
                offplatform_ready[i] = True
            else:
                has_store[i] = True
            if newcomer[i]:
                newcomer[i] = False
                entrants += 1
        else:
            state[i] = 0
            if u_exit < exit_hazard and not case_open[i]:
                state[i] = 5
                exits += 1
    return at_liberty, risk_sum, criminal_sum, sentence_sum, entrants, exits


# -- learning (ODD 4.4) ----------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def learn_all(
    events,
    indptr,
    indices,
    region,
    alpha,
    beta,
    prior_alpha,
    prior_beta,
    chain,
    values,
    value_prior,
    sentence_bias,
    convicted_mark,
    convicted,
    convicted_tier2,
    convicted_values,
    public_weight,
    public_sum,
    active,
    offplatform,
    detections,
    listings,
    takedown,
    weights,
    memory,
    learning,
    takedown_memory,
):
    """Every seller learns from the week, then forgets (ODD 4.4), in one pass over the pool.

    For each step of the chain (row ``k`` of ``alpha`` and ``beta``), a seller adds ``w_own``
    for its own event and ``w_peer`` per contact with one (row ``i`` of the CSR network
    ``indptr, indices`` lists whom seller ``i`` observes), and the publicity increment
    ``chain`` of its region to ``alpha``; then both forget towards the prior. Each perceived
    value (``values``: sentence of tier 1 and 2, fine multiple) moves towards the weighted
    mean of what the seller saw, own conviction first, then contacts' in index order, then
    publicity (float64 sums), and forgets towards its prior (``value_prior`` per region,
    sentences times the seller's ``sentence_bias``). Active sellers on the platform update
    their perceived takedown rate.

    ``convicted_mark`` says per seller whether convicted this week; ``convicted`` lists them,
    increasing, ``convicted_tier2`` gives their tier and ``convicted_values[v]`` the value
    each shows of perceived value ``v``. ``weights`` is ``(w_own, w_peer)`` (float64),
    ``memory`` the share of a deviation from the prior kept each week, ``learning`` one minus
    the pull of one unit of weight on a perceived value, ``takedown_memory`` ``(k, 1 - k)``
    of the perceived takedown rate (float32).

    The float32 arithmetic is the ``agents`` engine's, operation for operation.
    """
    w_own, w_peer = weights
    w_own32, w_peer32 = np.float32(w_own), np.float32(w_peer)
    peers_on = w_peer > 0
    chain_on = False
    for r in range(len(chain)):
        if chain[r] != 0:
            chain_on = True
    # Publicity alone moves a perceived value by the same pull towards the same mean for
    # every seller of a region: computed once per region, with the very operations of
    # ``_learn_values`` (a call to pow in the loop over the pool would slow all of it).
    regions = len(chain)
    public_pull = np.zeros((3, regions), dtype=np.float32)
    public_mean = np.zeros((3, regions), dtype=np.float32)
    for v in range(3):
        for r in range(regions):
            weight = 0.0 + public_weight[v, r]
            if weight > 0:
                public_pull[v, r] = np.float32(1.0) - learning ** np.float32(weight)
                public_mean[v, r] = np.float32((0.0 + public_sum[v, r]) / weight)
    any_convicted = len(convicted) > 0
    witnesses = np.empty(64, dtype=np.int64)  # who saw a conviction: second pass
    witnessed = 0
    seen = np.zeros(8, dtype=np.int64)
    for i in range(len(region)):
        r = region[i]
        start, stop = indptr[i], indptr[i + 1]
        peers = False
        convicted_contact = False
        if peers_on:
            for bit in range(8):
                seen[bit] = 0
            for link in range(start, stop):
                e = events[indices[link]]
                if e != 0:
                    peers = True
                    # A conviction always comes with its event bit, so this finds them all.
                    convicted_contact |= convicted_mark[indices[link]]
                    for bit in range(8):
                        if e & (1 << bit):
                            seen[bit] += 1
        own = events[i]
        for k in range(4):
            no, yes = 2 * k, 2 * k + 1
            b = beta[k, i]
            if own & (1 << no):
                b = b + w_own32
            if peers and seen[no]:
                b = b + w_peer32 * np.float32(seen[no])
            a = alpha[k, i]
            if own & (1 << yes):
                a = a + w_own32
            if peers and seen[yes]:
                a = a + w_peer32 * np.float32(seen[yes])
            if chain_on:
                a = a + chain[r]
            pa, pb = prior_alpha[k, r], prior_beta[k, r]
            alpha[k, i] = (a - pa) * memory + pa
            beta[k, i] = (b - pb) * memory + pb
        if any_convicted and (convicted_mark[i] or convicted_contact):
            if witnessed == len(witnesses):
                witnesses = np.concatenate((witnesses, np.empty_like(witnesses)))
            witnesses[witnessed] = i
            witnessed += 1
        else:
            for v in range(3):
                value = values[v, i]
                if public_pull[v, r] != 0:
                    value = value + public_pull[v, r] * (public_mean[v, r] - value)
                prior = value_prior[v, r] * sentence_bias[i] if v < 2 else value_prior[v, r]
                values[v, i] = (value - prior) * memory + prior
        if active[i] and not offplatform[i]:
            rate = np.float32(detections[i]) / listings[i]
            takedown[i] = takedown[i] * takedown_memory[0] + rate * takedown_memory[1]
    for n in range(witnessed):
        _learn_values(
            witnesses[n],
            indptr,
            indices,
            region,
            values,
            value_prior,
            sentence_bias,
            convicted_mark,
            convicted,
            convicted_tier2,
            convicted_values,
            public_weight,
            public_sum,
            w_own,
            w_peer,
            memory,
            learning,
        )


@njit(cache=True, error_model="numpy")
def _learn_values(
    i,
    indptr,
    indices,
    region,
    values,
    value_prior,
    sentence_bias,
    convicted_mark,
    convicted,
    convicted_tier2,
    convicted_values,
    public_weight,
    public_sum,
    w_own,
    w_peer,
    memory,
    learning,
):
    # The perceived values of a seller who saw a conviction, its own or a contact's (ODD 4.4).
    r = region[i]
    start, stop = indptr[i], indptr[i + 1]
    for v in range(3):
        weight = 0.0
        total = 0.0
        if convicted_mark[i]:
            j = np.searchsorted(convicted, i)
            if v == 2 or convicted_tier2[j] == (v == 1):  # the fine, or its tier
                weight += w_own
                total += w_own * convicted_values[v, j]
        for link in range(start, stop):
            contact = indices[link]
            if convicted_mark[contact]:
                j = np.searchsorted(convicted, contact)
                if v == 2 or convicted_tier2[j] == (v == 1):
                    weight += w_peer
                    total += w_peer * convicted_values[v, j]
        weight += public_weight[v, r]
        total += public_sum[v, r]
        value = values[v, i]
        if weight > 0:
            pull = np.float32(1.0) - learning ** np.float32(weight)
            value = value + pull * (np.float32(total / weight) - value)
        prior = value_prior[v, r] * sentence_bias[i] if v < 2 else value_prior[v, r]
        values[v, i] = (value - prior) * memory + prior
