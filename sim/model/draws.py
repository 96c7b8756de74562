"""Exact binomial draws of the platform, compiled (ODD 4.3), on their own streams.

The draws are exact: inversion when the mean is small, and
Hormann's BTRS rejection sampler otherwise (the method of TensorFlow and JAX), whose
acceptance test compares with the exact ratio of probabilities from a table of ``ln k!``.
Each needs no set-up beyond a square root, where numpy's BTPE recomputes a dozen constants
whenever the number of trials changes, which it does from store to store. The platform's draws
(``takedowns``) take even that set-up from tables made once a week for every store size, with
the very operations of a single draw (``binomial``): the same numbers, a quarter faster.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sim.model import pcg64
from sim.model.memory import borrow

INVERSION_MAX_MEAN = 10.0  # below this mean ``n p``, inversion; from it on, BTRS


def log_factorials(largest: int) -> np.ndarray:
    """``ln k!`` for ``k = 0 .. largest`` (float64), for the acceptance test of BTRS."""
    return np.array([math.lgamma(k + 1.0) for k in range(largest + 1)])


@njit(cache=True, error_model="numpy", inline="always")
def _log_factorial(k, table):
    return table[k] if k < len(table) else math.lgamma(k + 1.0)


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
def _binomial_inversion(n, prepared, stream, first):
    # Sequential search from 0 (Kachitvichyanukul & Schmeiser's BINV): one uniform per draw.
    # ``first`` is P(0) = q^n (``_first``).
    _, _, _, s, _, _ = prepared
    a = (n + 1) * s
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
def _first(n, prepared):
    # P(0) = q^n of inversion.
    return math.exp(n * prepared[4])


@njit(cache=True, error_model="numpy", inline="always")
def _btrs_constants(n, prepared, log_factorial):
    # What BTRS needs of n and p: (b, a, c, v_r, alpha, m, ln m! + ln (n - m)!), m as a float.
    p, _, q, _, _, _ = prepared
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    m = math.floor((n + 1) * p)
    log_mode = _log_factorial(m, log_factorial) + _log_factorial(n - m, log_factorial)
    return b, a, c, v_r, alpha, float(m), log_mode


@njit(cache=True, error_model="numpy", inline="always")
def _binomial_btrs(n, prepared, stream, log_factorial, constants):
    # Hormann's transformed rejection with squeeze (BTRS, 1993), p <= 1/2 and n p >= 10. The
    # acceptance test compares with the exact ratio pmf(k) / pmf(m), from ln k! in a table.
    # ``constants`` is ``_btrs_constants(n, ...)``.
    _, _, _, _, _, log_r = prepared
    b, a, c, v_r, alpha, mode, log_mode = constants
    m = int(mode)
    while True:
        u = pcg64.random(stream) - 0.5
        v = pcg64.random(stream)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if us >= 0.07 and v <= v_r:
            return k
        if k < 0 or k > n:
            continue
        log_ratio = (
            log_mode
            - _log_factorial(k, log_factorial)
            - _log_factorial(n - k, log_factorial)
            + (k - m) * log_r
        )
        if math.log(v * alpha / (a / (us * us) + b)) <= log_ratio:
            return k


@njit(cache=True, error_model="numpy", inline="always")
def binomial(n, p, stream, log_factorial, prepared=None):
    """An exact Binomial(n, p) draw from ``stream`` (a generator's ``pcg64.take``, ODD 4.3).

    Inversion for a mean below ``INVERSION_MAX_MEAN`` (one uniform), Hormann's BTRS above it
    (two uniforms per try, about 1.15 tries); ``p`` above 1/2 by symmetry. ``log_factorial``
    is ``log_factorials(N)`` for some ``N`` (larger ``n`` use ``math.lgamma``); ``prepared``
    is ``prepare(p)`` when the caller made it once for many draws.
    """
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    constants = prepare(p) if prepared is None else prepared
    if n * constants[0] < INVERSION_MAX_MEAN:
        k = _binomial_inversion(n, constants, stream, _first(n, constants))
    else:
        k = _binomial_btrs(
            n, constants, stream, log_factorial, _btrs_constants(n, constants, log_factorial)
        )
    return n - k if constants[1] else k


@njit(cache=True, error_model="numpy")
def _tables(p, largest, log_factorial):
    # For every n up to ``largest``: P(0) of inversion where n p' < INVERSION_MAX_MEAN, the
    # constants of BTRS elsewhere (``binomial`` computes them draw by draw: the same bits).
    prepared = prepare(p)
    firsts = np.zeros(largest + 1)
    rows = np.zeros((largest + 1, 7))
    for n in range(1, largest + 1):
        if n * prepared[0] < INVERSION_MAX_MEAN:
            firsts[n] = _first(n, prepared)
        else:
            rows[n] = _btrs_constants(n, prepared, log_factorial)
    return firsts, rows


@njit(cache=True, error_model="numpy", inline="always")
def _tabled(n, p, prepared, stream, log_factorial, firsts, rows):
    # ``binomial(n, p, ...)`` for n within the tables of ``_tables(p, ...)``.
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if n * prepared[0] < INVERSION_MAX_MEAN:
        k = _binomial_inversion(n, prepared, stream, firsts[n])
    else:
        row = rows[n]
        constants = (row[0], row[1], row[2], row[3], row[4], row[5], row[6])
        k = _binomial_btrs(n, prepared, stream, log_factorial, constants)
    return n - k if prepared[1] else k


@njit(cache=True, error_model="numpy")
def takedowns(
    listings, detection_rate, strike_rate, detection_stream, strike_stream, log_factorial
):
    """Each active store's listings taken down and strikes gained this week (ODD 4.3).

    Takedowns are Binomial(listings, detection rate) from the ``detection`` stream, strikes
    Binomial(takedowns, strike per takedown) from the ``strikes`` stream, store by store in
    the order given. The streams are the week's generators as ``pcg64.take`` gives them.
    """
    # What the draws of each store size share, made once for the week (``_tables``): takedowns
    # and strikes are both at most the largest store.
    largest = 0
    for i in range(len(listings)):
        largest = max(largest, listings[i])
    return _takedowns(
        listings,
        (detection_rate, strike_rate),
        (detection_stream, strike_stream),
        log_factorial,
        (
            _tables(detection_rate, largest, log_factorial),
            _tables(strike_rate, largest, log_factorial),
        ),
    )


@njit(cache=True, error_model="numpy")
def _takedowns(listings, rates, streams, log_factorial, tables):
    # The loop of ``takedowns``, on arrays its caller holds, borrowed (``sim.model.memory``):
    # each draw passes them on, which would otherwise count references four times a store.
    detection_rate, strike_rate = rates
    detection_stream, strike_stream = borrow(streams[0]), borrow(streams[1])
    log_factorial = borrow(log_factorial)
    (found_firsts, found_rows), (strike_firsts, strike_rows) = tables
    found_firsts, found_rows = borrow(found_firsts), borrow(found_rows)
    strike_firsts, strike_rows = borrow(strike_firsts), borrow(strike_rows)
    n = len(listings)
    detections = np.empty(n, dtype=np.int64)
    strikes = np.empty(n, dtype=np.int64)
    found_constants, strike_constants = prepare(detection_rate), prepare(strike_rate)
    for i in range(n):
        found = _tabled(
            listings[i],
            detection_rate,
            found_constants,
            detection_stream,
            log_factorial,
            found_firsts,
            found_rows,
        )
        detections[i] = found
        strikes[i] = _tabled(
            found,
            strike_rate,
            strike_constants,
            strike_stream,
            log_factorial,
            strike_firsts,
            strike_rows,
        )
    return detections, strikes
