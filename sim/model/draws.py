"""Exact binomial draws of the platform, compiled (ODD 4.3), on their own streams.

A store's takedowns are Binomial(n, p) for its n listings: the sum of Binomial(d 64^j, p) over
the base-64 digits d of n (independent binomials with one p add up to a binomial). Each of
those is one uniform through Walker's alias table of Binomial(d 64^j, p) (Vose's
construction): the uniform's integer part times the table's length picks a column, its
fraction chooses between the column's outcome and its alias. The tables hold the
probabilities in double precision for every outcome at least ``TAIL`` likely (what they leave
out weighs less than 1e-17 in all, below the resolution of a uniform, 2^-53): the draws are as
exact as inversion. The tables of a rate are made once (``tables``: 128 tables for stores of
fewer than 4,096 listings, 0.3 MB), and a store takes a fixed number of uniforms, one per
digit, without a branch. Stores of ``TABLED`` listings or more (none in the shipped
scenarios) take exact samplers one at a time (``binomial``): inversion when the mean is small,
Hormann's BTRS rejection sampler otherwise.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.model import pcg64
from sim.model.memory import borrow

DIGIT_BITS = 6  # digits in base 64
BASE = 1 << DIGIT_BITS
DIGITS = 3  # positions of digits with tables: stores of fewer than TABLED listings
TABLED = 1 << (DIGIT_BITS * DIGITS)  # 262,144
TAIL = 1e-20  # outcomes less likely than this are left out of a table
INVERSION_MAX_MEAN = 10.0  # ``binomial``: below this mean ``n p``, inversion; from it on, BTRS


@njit(cache=True, error_model="numpy")
def binomial_pmf(n, p):
    """The probabilities of Binomial(n, p) that are at least ``TAIL``, normalised (float64).

    From the mode, outwards, each from its neighbour (``P(k+1) = P(k) (n-k) p / ((k+1) q)``),
    the mode's from ``lgamma``.

    Returns:
        ``(low, probabilities)``: the first outcome and the probabilities of ``low, low+1, ...``.
    """
    if n <= 0 or p <= 0.0:
        return 0, np.ones(1)
    if p >= 1.0:
        return n, np.ones(1)
    q = 1.0 - p
    mode = min(int((n + 1) * p), n)
    top = math.exp(
        math.lgamma(n + 1.0)
        - math.lgamma(mode + 1.0)
        - math.lgamma(n - mode + 1.0)
        + mode * math.log(p)
        + (n - mode) * math.log1p(-p)
    )
    ratio = p / q
    high = mode
    value = top
    while high < n:
        value = value * (n - high) / (high + 1) * ratio
        if value < TAIL:
            break
        high += 1
    low = mode
    value = top
    while low > 0:
        value = value * low / ((n - low + 1) * ratio)
        if value < TAIL:
            break
        low -= 1
    out = np.empty(high - low + 1)
    out[mode - low] = top
    for k in range(mode, high):
        out[k + 1 - low] = out[k - low] * (n - k) / (k + 1) * ratio
    for k in range(mode, low, -1):
        out[k - 1 - low] = out[k - low] * k / ((n - k + 1) * ratio)
    return low, out / out.sum()


@njit(cache=True, error_model="numpy")
def alias_table(probabilities):
    """Walker's alias table of ``probabilities`` (summing to 1), by Vose's construction.

    Returns:
        ``(accept, alias)``: column ``i`` gives outcome ``i`` when the uniform's fraction is
        below ``accept[i]`` and ``alias[i]`` otherwise.
    """
    k = len(probabilities)
    scaled = probabilities * k
    accept = np.ones(k)
    alias = np.arange(k)
    small = np.empty(k, dtype=np.int64)
    large = np.empty(k, dtype=np.int64)
    smalls = larges = 0
    for i in range(k):
        if scaled[i] < 1.0:
            small[smalls] = i
            smalls += 1
        else:
            large[larges] = i
            larges += 1
    while smalls > 0 and larges > 0:
        smalls -= 1
        s = small[smalls]
        g = large[larges - 1]
        accept[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:  # g is now small: its column is filled later
            larges -= 1
            small[smalls] = g
            smalls += 1
    return accept, alias  # what is left has scaled probability 1 up to rounding: accepted


@njit(cache=True, error_model="numpy")
def tables(p, largest):
    """The alias tables of Binomial(d 64^j, p) for every digit a store below ``largest`` needs.

    Args:
        p: The probability of a success (a listing taken down, a takedown struck).
        largest: The largest number of trials to draw for (``TABLED - 1`` if larger).

    Returns:
        ``(positions, largest, start, low, size, accept, outcome)``: the number of digit
        positions and the largest number of trials the tables serve; per table
        ``j * BASE + d``, where its columns start in the flat ``accept`` and ``outcome``, its
        first outcome and its length; row ``c`` of ``outcome`` holds column ``c``'s alias's
        outcome and its own. Digits of the last position beyond ``largest``'s get a table of
        one outcome that no draw reads.
    """
    largest = min(largest, TABLED - 1)
    positions = 1
    while positions < DIGITS and largest >> (DIGIT_BITS * positions) > 0:
        positions += 1
    count = positions * BASE
    start = np.zeros(count + 1, dtype=np.int64)
    low = np.zeros(count, dtype=np.int64)
    size = np.zeros(count, dtype=np.int64)
    parts = []
    for t in range(count):
        j, d = t // BASE, t % BASE
        trials = d << (DIGIT_BITS * j)
        first, probabilities = binomial_pmf(trials if trials <= largest else 0, p)
        accept, alias = alias_table(probabilities)
        parts.append((accept, alias + first))
        low[t] = first
        size[t] = len(accept)
        start[t + 1] = start[t] + len(accept)
    accept_all = np.empty(start[count])
    # Per column, the alias's outcome and its own, side by side (int32: outcomes are below
    # TABLED).
    outcome_all = np.empty((start[count], 2), dtype=np.int32)
    for t in range(count):
        accept_all[start[t] : start[t + 1]] = parts[t][0]
        outcome_all[start[t] : start[t + 1], 0] = parts[t][1]
        outcome_all[start[t] : start[t + 1], 1] = low[t] + np.arange(size[t])
    return positions, largest, start, low, size, accept_all, outcome_all


@njit(cache=True, error_model="numpy", inline="always")
def _tabled(n, stream, tables):
    # Binomial(n, p) for n < 64^positions: one uniform per digit position (a digit 0 takes
    # its uniform too, from a table of one outcome, 0), without a branch.
    total = 0
    for j in range(tables[0]):
        total += _lookup(n, j, pcg64.random(stream), tables)
    return total


@njit(cache=True, error_model="numpy", inline="always")
def _lookup(n, j, u, tables):
    # What the uniform ``u`` draws from the table of digit position ``j`` of ``n``.
    _, _, start, _, size, accept, outcome = tables
    t = np.uint64(j * BASE + ((n >> (DIGIT_BITS * j)) & (BASE - 1)))
    x = u * size[t]
    # Below size[t]: u is at most 1 - 2^-53, and (1 - 2^-53) k rounds below k for every k.
    i = int(x)
    column = np.uint64(start[t] + i)  # unsigned: no test for an index from the end
    # The column's own outcome or its alias's, picked by an index: with a choice between
    # two values the compiler loads the alias's in a branch of its own, and the branch, a
    # coin toss, costs half again the draws' time.
    return outcome[column, np.intp(x - i < accept[column])]


@njit(cache=True, error_model="numpy", inline="always")
def draw(n, p, stream, tables):
    """An exact Binomial(n, p) draw from ``stream`` (a generator's ``pcg64.take``, ODD 4.3).

    ``tables`` is ``tables(p, N)`` for some ``N``: up to ``N`` trials one uniform per digit
    position; beyond, ``binomial``.
    """
    if n <= tables[1]:
        return _tabled(n, stream, tables)
    return binomial(n, p, stream)


@njit(cache=True, error_model="numpy")
def takedowns(listings, detection_rate, strike_rate, detection_stream, strike_stream, tables):
    """Each active store's listings taken down and strikes gained this week (ODD 4.3).

    Takedowns are Binomial(listings, detection rate) from the ``detection`` stream, strikes
    Binomial(takedowns, strike per takedown) from the ``strikes`` stream, store by store in
    the order given. The streams are the week's generators as ``pcg64.take`` gives them;
    ``tables`` the pair ``tables(detection_rate, N)``, ``tables(strike_rate, N)`` for the
    largest store ``N`` (or any other ``N``).
    """
    (found_tables, strike_tables) = tables
    # Borrowed (``sim.model.memory``): each draw passes them on, which would otherwise count
    # references several times a store.
    found_tables = _borrowed(found_tables)
    strike_tables = _borrowed(strike_tables)
    detection_stream, strike_stream = borrow(detection_stream), borrow(strike_stream)
    n = len(listings)
    detections = np.empty(n, dtype=np.int64)
    strikes = np.empty(n, dtype=np.int64)
    largest = 0
    for i in range(n):
        largest = max(largest, listings[i])
    if largest <= min(found_tables[1], strike_tables[1]):
        # Every store within the tables (takedowns are at most the listings), so every store
        # takes one uniform per digit position of each: a chunk of stores' uniforms is drawn
        # at once (``pcg64.fill``, four steps of the generator side by side), then the
        # stores' lookups, which no longer wait for one another's generator steps, overlap.
        _chunked(listings, detections, detection_stream, found_tables)
        _chunked(detections, strikes, strike_stream, strike_tables)
        return detections, strikes
    for i in range(n):
        found = draw(listings[i], detection_rate, detection_stream, found_tables)
        detections[i] = found
        strikes[i] = draw(found, strike_rate, strike_stream, strike_tables)
    return detections, strikes


CHUNK = 1024  # stores whose uniforms ``_chunked`` draws at once (24 KB at three positions)


@njit(cache=True, error_model="numpy", inline="always")
def _chunked(trials, out, stream, tables):
    # ``out[i]`` = Binomial(trials[i], p), store after store, as ``_tabled`` draws them: the
    # same uniforms in the same order, drawn a chunk at a time. A digit position beyond the
    # chunk's largest store is 0 for all of its stores, whose table gives 0 whatever the
    # uniform: its uniforms are drawn (the stream is the same) but not looked up.
    positions = tables[0]
    uniforms = np.empty(CHUNK * positions)
    for first in range(0, len(trials), CHUNK):
        size = min(CHUNK, len(trials) - first)
        pcg64.fill(stream, uniforms, size * positions)
        largest = 0
        for i in range(size):
            largest = max(largest, trials[first + i])
        used = 1
        while used < positions and largest >> (DIGIT_BITS * used) > 0:
            used += 1
        for i in range(size):
            n = trials[first + i]
            total = 0
            for j in range(used):
                total += _lookup(n, j, uniforms[i * positions + j], tables)
            out[first + i] = total


@njit(cache=True, error_model="numpy", inline="always")
def _borrowed(tables):
    positions, largest, start, low, size, accept, outcome = tables
    return (
        positions,
        largest,
        borrow(start),
        borrow(low),
        borrow(size),
        borrow(accept),
        borrow(outcome),
    )


# -- one draw at a time, for stores beyond the tables -------------------------------------------


@njit(cache=True, error_model="numpy", inline="always")
def prepare(p):
    """What the draws of Binomial(n, p) share for every ``n``: the constants of ``p``.

    ``(p', flip, q, p' / q, ln q, ln(p' / q))`` with ``p' = min(p, 1 - p)``, ``q = 1 - p'``.
    """
    flip = p > 0.5
    if flip:
        p = 1.0 - p
    q = 1.0 - p
    return p, flip, q, p / q, math.log(q), math.log(p / q)


@njit(cache=True, error_model="numpy", inline="always")
def _binomial_inversion(n, prepared, stream):
    # Sequential search from 0 (Kachitvichyanukul & Schmeiser's BINV): one uniform per draw.
    _, _, _, s, log_q, _ = prepared
    a = (n + 1) * s
    first = math.exp(n * log_q)  # P(0) = q^n
    while True:
        u = pcg64.random(stream)
        k = 0
        pk = first
        while u > pk:
            u -= pk
            k += 1
            if k > n:  # u fell in the rounding error of the total: draw again
                break
            pk *= a / k - s
        if k <= n:
            return k


@njit(cache=True, error_model="numpy", inline="always")
def _binomial_btrs(n, prepared, stream):
    # Hormann's transformed rejection with squeeze (BTRS, 1993), p <= 1/2 and n p >= 10. The
    # acceptance test compares with the exact ratio pmf(k) / pmf(m), from ln k! (lgamma).
    p, _, q, _, _, log_r = prepared
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    m = math.floor((n + 1) * p)
    log_mode = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
    while True:
        u = pcg64.random(stream) - 0.5
        v = pcg64.random(stream)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if us >= 0.07 and v <= v_r:
            return k
        if k < 0 or k > n:
            continue
        log_ratio = log_mode - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + (k - m) * log_r
        if math.log(v * alpha / (a / (us * us) + b)) <= log_ratio:
            return k


@njit(cache=True, error_model="numpy")
def binomial(n, p, stream):
    """An exact Binomial(n, p) draw from ``stream``, one at a time, whatever ``n``.

    Inversion for a mean below ``INVERSION_MAX_MEAN`` (one uniform), Hormann's BTRS above it
    (two uniforms per try, about 1.15 tries); ``p`` above 1/2 by symmetry.
    """
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    constants = prepare(p)
    if n * constants[0] < INVERSION_MAX_MEAN:
        k = _binomial_inversion(n, constants, stream)
    else:
        k = _binomial_btrs(n, constants, stream)
    return n - k if constants[1] else k
