"""The compiled decision rule, written once and called by both engines (ODD 4.2, 4.6, 7.1).

The ``vector`` engine runs ``decide_all`` over the pool; the ``agents`` engine calls the same
compiled ``choose`` for one seller at a time, so the two engines compute exactly the same
numbers. ``decide_all`` runs ``choose`` on blocks of sellers whose inputs it copies into one
array, so the compiler turns the loop into vector instructions (8 or 16 sellers at once); the
rule's exp and log are arithmetic (``sim.model.elementary``), so a seller gets the same bits
in a vector lane as alone. ``sim.model.rules`` states the formulas as numpy functions, and
the tests check the kernels against them. Learning is in ``sim.model.learning``, the
platform's binomial draws in ``sim.model.draws``.

Kernels are compiled by numba on first use and cached on disk beside this module (or in
``NUMBA_CACHE_DIR``), so later runs start at once. Numba checks only a cached function's own
source file: after changing ``elementary.py``, ``pcg64.py`` or ``memory.py`` alone, delete the
cache files (``*.nbi``, ``*.nbc`` under ``sim/``; ``make clean`` does). They follow numpy's
error model (a division by zero gives an infinity, not an exception; none can occur in
them). The decision rule works in single precision, as the arrays it reads (ODD 7.1).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.model import pcg64, rules
from sim.model.elementary import exp32, exp64, log32

F32 = np.float32

# -- the decision rule (ODD 4.2, 4.6) -----------------------------------------------------------

# ``agents.SellerState`` values the choices write (int8, as the state array).
DORMANT, ACTIVE, ABSENT = np.int8(0), np.int8(1), np.int8(5)

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
# single precision (and ``elementary.exp32`` holds up to 87).
EXP_LIMIT = np.float32(60.0)
WEEKS = np.float32(rules.WEEKS_PER_YEAR)


@njit(cache=True, error_model="numpy", inline="always")
def _sigmoid(x):
    # 1 / (1 + e^-x), with x within +-EXP_LIMIT (where it is 1e-26 from 0 or 1).
    x = min(max(x, -EXP_LIMIT), EXP_LIMIT)
    return np.float32(1.0) / (np.float32(1.0) + exp32(-x))


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
    kept = np.float32(1.0 - exp64(np.float64(x)))
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
            y = exp32(-min(abs(gain - gain_off) / noise, EXP_LIMIT))
            one = np.float32(1.0)
            p_off = one / (one + y) if gain_off >= gain else y / (one + y)
            best = best + noise * log32(one + y)
        else:
            p_off = _p_choose(gain_off, gain, noise)
        if gain_off > gain:
            risk, criminal = police * exposed_off * pursuit, criminal_off
    return _p_choose(best, outside, noise), p_off, risk, criminal, sentence


# The decision rule runs a block of sellers at a time, on views of the pool's arrays from the
# block's first seller (indices from 0), writing one float32 array of ``OUTPUTS`` rows of
# ``BLOCK``: the loop calls no function (``sim.model.elementary``), and numba's compiler turns
# it into vector instructions, 8 or 16 sellers at once (AVX2, AVX-512). The announcement maps
# of each seller's region, when one is in force, are copied into a float32 array of ``LANES``
# rows (7 scales, 7 shifts). The inputs were once all copied into such an array; reading the
# pool's arrays in place is faster (19 against 25 ms a week at 1,000,000 sellers, AVX2).
BLOCK = 512
X_SCALE, X_SHIFT = 0, 7  # maps: 7 rows each
LANES = 14
OUTPUTS = 5  # p_active, p_off, risk, criminal, sentence


@njit(cache=True, error_model="numpy", inline="always")
def _row(x, row, j):
    # Seller j's value in row ``row`` of a block array.
    return x[row * BLOCK + j]


@njit(cache=True, error_model="numpy", inline="always")
def _map(x, row, j):
    # Seller j's side of its region's announcement maps: seven rows from ``row``, one a belief.
    return (
        _row(x, row, j),
        _row(x, row + 1, j),
        _row(x, row + 2, j),
        _row(x, row + 3, j),
        _row(x, row + 4, j),
        _row(x, row + 5, j),
        _row(x, row + 6, j),
    )


# The announcement maps with no announcement in force: v -> 1 v + 0, which changes no bit of a
# positive v (all the values mapped are).
IDENTITY = (
    (np.float32(1.0),) * 7,
    (np.float32(0.0),) * 7,
)


@njit(cache=True, error_model="numpy")
def choose_block(
    c,
    x,
    y,
    mapped,
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
    """``choose`` for the sellers of a block: its maps ``x``, outputs ``y`` (flat).

    The arrays after ``mapped`` are views of the block's sellers (one length, float32, the
    flags booleans); ``y`` gets ``OUTPUTS`` rows of ``BLOCK``. Without an announcement in
    force (``mapped`` False) the rows of the maps are not read (and need not be packed): the
    identity is applied.
    """
    b = BLOCK
    for j in range(len(sales)):
        if mapped:
            scale, shift = _map(x, X_SCALE, j), _map(x, X_SHIFT, j)
        else:
            scale, shift = IDENTITY
        p_active, p_off, risk, criminal, sentence = choose(
            c,
            scale,
            shift,
            sales[j],
            outside_ratio[j],
            has_store[j],
            offplatform_ready[j],
            takedown[j],
            listings[j],
            cumulative[j],
            prison_year_cost[j],
            a0[j],
            b0[j],
            a1[j],
            b1[j],
            a2[j],
            b2[j],
            a3[j],
            b3[j],
            sentence1[j],
            sentence2[j],
            fine_multiple[j],
        )
        y[j] = p_active
        y[b + j] = p_off
        y[2 * b + j] = risk
        y[3 * b + j] = criminal
        y[4 * b + j] = sentence


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
    decisions_stream,
    channels_stream,
    exit_stream,
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
    ``announcement_maps``; the streams are the week's generators as ``pcg64.take`` gives
    them (unused ones are not drawn from).

    A block of ``BLOCK`` sellers at a time: the block's uniforms (each stream in its own loop:
    the same numbers in the same order as one seller at a time), its perceptions
    (``choose_block``, for every seller of the block: those not at liberty are ignored), then
    its choices.

    Returns:
        The number of sellers at liberty (not prosecuted, jailed or absent); the float64 sums
        over them of the risk, criminal cost and sentence they perceived; the newcomers who
        sold for the first time; the sellers who left.
    """
    channels = c[OFFPLATFORM_RATIO] > 0
    at_liberty = entrants = exits = 0
    risk_sum = criminal_sum = sentence_sum = 0.0
    n = len(state)
    b = BLOCK
    u_decision = np.empty(b)
    u_channels = np.ones(b)
    u_exits = np.ones(b)
    x = np.empty(LANES * b, dtype=np.float32)
    y = np.empty(OUTPUTS * b, dtype=np.float32)
    scales, shifts = maps[0], maps[1]
    mapped = False  # an announcement in force somewhere
    for k in range(scales.shape[0]):
        for r in range(scales.shape[1]):
            mapped |= scales[k, r] != 1 or shifts[k, r] != 0
    for first in range(0, n, b):
        size = min(b, n - first)
        last = first + size
        pcg64.fill(decisions_stream, u_decision, size)
        if channels:
            pcg64.fill(channels_stream, u_channels, size)
        if exit_hazard > 0:
            pcg64.fill(exit_stream, u_exits, size)
        # The announcement maps of each seller's region, when one is in force: one region for
        # the whole block as a rule (the initial sellers are stored region by region).
        if mapped:
            regions = region[first:last]
            r0 = regions[0]
            one_region = True
            for j in range(size):
                one_region &= regions[j] == r0
            for k in range(7):
                if one_region:
                    x[(X_SCALE + k) * b : (X_SCALE + k) * b + size] = scales[k, r0]
                    x[(X_SHIFT + k) * b : (X_SHIFT + k) * b + size] = shifts[k, r0]
                else:
                    for j in range(size):
                        x[(X_SCALE + k) * b + j] = scales[k, regions[j]]
                        x[(X_SHIFT + k) * b + j] = shifts[k, regions[j]]
        choose_block(
            c,
            x,
            y,
            mapped,
            sales[first:last],
            outside_ratio[first:last],
            has_store[first:last],
            offplatform_ready[first:last],
            takedown[first:last],
            listings[first:last],
            cumulative[first:last],
            prison_year_cost[first:last],
            alpha[0][first:last],
            beta[0][first:last],
            alpha[1][first:last],
            beta[1][first:last],
            alpha[2][first:last],
            beta[2][first:last],
            alpha[3][first:last],
            beta[3][first:last],
            sentence1[first:last],
            sentence2[first:last],
            fine_multiple[first:last],
        )
        # The choices, on views of the block (indices from 0), without a branch: which way
        # a seller goes is a coin toss that a branch predictor cannot learn. First the float64
        # sums over the sellers at liberty (adding +0.0 keeps a sum's bits), then the rest.
        states = state[first:last]
        for j in range(size):
            liberty = states[j] < 3  # not PROSECUTED, JAILED or ABSENT: perceives
            risk_sum += y[2 * b + j] if liberty else 0.0
            criminal_sum += y[3 * b + j] if liberty else 0.0
            sentence_sum += y[4 * b + j] if liberty else 0.0
        actives, offs = active[first:last], offplatform[first:last]
        stores, readies = has_store[first:last], offplatform_ready[first:last]
        newcomers, cases = newcomer[first:last], case_open[first:last]
        events[first:last] = 0
        detections[first:last] = 0
        for j in range(size):
            s = states[j]
            at_liberty += s < 3
            free = s < 2  # DORMANT or ACTIVE: chooses (SUSPENDED perceives, cannot sell)
            go = free & (u_decision[j] < y[j])
            off = go & (u_channels[j] < y[b + j])  # u_channels is 1 with no channel
            actives[j] = go
            offs[j] = off
            readies[j] |= off
            stores[j] |= go & ~off
            entrants += go & newcomers[j]
            newcomers[j] &= ~go
            leave = free & ~go & (u_exits[j] < exit_hazard) & ~cases[j]  # u_exits 1 with none
            exits += leave
            states[j] = ABSENT if leave else (ACTIVE if go else (DORMANT if free else s))
    return at_liberty, risk_sum, criminal_sum, sentence_sum, entrants, exits


# -- the rest of the week's per-seller work of the vector engine (ODD 3.4, 4.6) -----------------


@njit(cache=True, error_model="numpy")
def earn_all(index, offplatform, sales, price, ratio, cumulative, threshold, on_count, off_count):
    """Phase 2: the active sellers ``index`` earn and accumulate their illegal sales (ODD 4.6).

    A seller's week of sales is ``sales * price`` (float32; ``price`` None at 1) and ``ratio``
    of it off the platform; ``on_count`` of them sell on the platform, ``off_count`` off it.

    Returns:
        The number of them whose sales since the last sanction reach ``threshold`` (float32),
        and the sales on the platform and those off it, each in the order of ``index`` (so
        that numpy sums them as before).
    """
    # Without a branch (which channel a seller chose is a coin toss to the branch predictor):
    # each seller's sales are written to both arrays, and only its channel's end moves. One
    # spare element each takes the writes past the end.
    on = np.empty(on_count + 1, dtype=np.float32)
    off = np.empty(off_count + 1, dtype=np.float32)
    exposed = on_end = off_end = 0
    for i in index:
        value = sales[i] if price is None else sales[i] * price
        is_off = offplatform[i]
        value = value * ratio if is_off else value
        on[on_end] = value
        off[off_end] = value
        on_end += not is_off
        off_end += is_off
        total = cumulative[i] + value
        cumulative[i] = total
        exposed += total >= threshold
    return exposed, on[:on_end], off[:off_end]


@njit(cache=True, error_model="numpy")
def active_indices(active, offplatform):
    """The sellers active this week, those on the platform and those off it (increasing).

    ``np.flatnonzero(active)``, ``np.flatnonzero(active & ~offplatform)`` and
    ``np.flatnonzero(offplatform)`` (``offplatform`` implies ``active``) in two passes.
    """
    off_count = active_count = 0
    for i in range(len(active)):
        active_count += active[i]
        off_count += offplatform[i]
    # Without a branch (whether a seller is active is a coin toss to the branch predictor):
    # each seller is written to all three, and the ends move only for those that belong. One
    # spare element takes the writes past the end.
    every = np.empty(active_count + 1, dtype=np.intp)
    on = np.empty(active_count - off_count + 1, dtype=np.intp)
    off = np.empty(off_count + 1, dtype=np.intp)
    a = p = o = 0
    for i in range(len(active)):
        is_active, is_off = active[i], offplatform[i]
        every[a] = i
        on[p] = i
        off[o] = i
        a += is_active
        p += is_active & ~is_off
        o += is_off
    return every[:a], on[:p], off[:o]


@njit(cache=True, error_model="numpy")
def advance_all(state, weeks_left, states):
    """Phase 6: suspensions and prison terms run down; the released become dormant.

    Returns:
        The number of sellers in each of the ``states`` states afterwards.
    """
    # Two loops without a branch or a store to a counter that the next seller may need at once
    # (the states come in runs), so that both run on vectors.
    for i in range(len(state)):
        s = state[i]
        timed = (s == 2) | (s == 4)  # SUSPENDED, JAILED
        left = weeks_left[i] - 1
        weeks_left[i] = max(left, 0) if timed else weeks_left[i]
        state[i] = DORMANT if timed and left <= 0 else s
    counts = np.zeros(states, dtype=np.int64)
    for k in range(states):
        counted = 0
        for i in range(len(state)):
            counted += state[i] == k
        counts[k] = counted
    return counts


@njit(cache=True, error_model="numpy")
def take_down_all(sellers, found, struck, detections, strikes):
    """The week's takedowns ``found`` and new strikes ``struck`` of ``sellers`` (ODD 4.3).

    Returns:
        Each seller's strikes now (int32).
    """
    total = np.empty(len(sellers), dtype=np.int32)
    for k in range(len(sellers)):
        i = sellers[k]
        detections[i] = found[k]
        strikes[i] = strikes[i] + struck[k]
        total[k] = strikes[i]
    return total
