"""Learning, compiled: every perceived quantity learns from the week, then forgets (ODD 4.4).

The ``vector`` engine runs ``learn_all`` over the pool; the ``agents`` engine runs the same
float32 operations seller by seller in Python (``Counterfeiter.update_beliefs``), and the
engine tests hold the two to the same path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.model.memory import prefetch

BLOCK = 512  # sellers whose rows ``learn_all`` updates in one vector loop


@njit(cache=True, error_model="numpy")
def learn_all(
    events,
    indptr,
    indices,
    observer_indptr,
    observers,
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
    seen,
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
    of the perceived takedown rate (float32). ``seen`` is a ``(8, n)`` uint8 array of zeros
    (the engine keeps one), left as zeros.

    The float32 arithmetic is the ``agents`` engine's, operation for operation.
    """
    w_own, w_peer = weights
    w_own32, w_peer32 = np.float32(w_own), np.float32(w_peer)
    peers_on = w_peer > 0
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
    # What each seller's contacts did, pushed from the few sellers with an event to those who
    # observe them (``observer_indptr, observers``, the network reversed) rather than pulled
    # by every seller from each of its contacts: per seller, how many contacts had each event
    # bit, and whether one was convicted.
    n = len(region)
    convicted_contact = np.zeros(n if peers_on and any_convicted else 0, dtype=np.bool_)
    if peers_on:
        _push(events, observer_indptr, observers, seen, convicted_mark, convicted_contact)
    # Who saw a conviction, its own or a contact's, and their values before this week: their
    # values are learnt again, from these, once every row is done (``_learn_values``).
    if not any_convicted:
        witnesses = np.flatnonzero(convicted_contact)  # empty
    elif peers_on:
        witnesses = np.flatnonzero(convicted_mark | convicted_contact)
    else:
        witnesses = np.flatnonzero(convicted_mark)
    originals = np.empty((3, len(witnesses)), dtype=np.float32)
    for m in range(len(witnesses)):
        for v in range(3):
            originals[v, m] = values[v, witnesses[m]]
    # Then every row of a block of sellers at a time, each in a loop the compiler runs on
    # vectors: own event, contacts, publicity (adding 0 where there was none: a positive
    # number keeps its bits), then forgetting.
    b = BLOCK
    local = np.empty(REGIONAL * b, dtype=np.float32)  # each seller's region's values
    nobody = np.zeros(b, dtype=np.uint8)
    for first in range(0, n, b):
        last = min(first + b, n)
        _regional(
            local,
            region,
            first,
            last - first,
            prior_alpha,
            prior_beta,
            chain,
            public_pull,
            public_mean,
            value_prior,
            sentence_bias,
        )
        for k in range(4):
            for bit, count, extra, prior in (
                (2 * k, beta[k], L_NONE, L_BETA + k),
                (2 * k + 1, alpha[k], L_CHAIN, L_ALPHA + k),
            ):
                _count_row(
                    count[first:last],
                    events[first:last],
                    np.uint8(1 << bit),
                    w_own32,
                    seen[bit, first:last] if peers_on else nobody,
                    w_peer32,
                    local[extra * b : (extra + 1) * b],
                    local[prior * b : (prior + 1) * b],
                    memory,
                )
        for v in range(3):
            _value_row(
                values[v, first:last],
                local[(L_PULL + v) * b : (L_PULL + v + 1) * b],
                local[(L_MEAN + v) * b : (L_MEAN + v + 1) * b],
                local[(L_PRIOR + v) * b : (L_PRIOR + v + 1) * b],
                memory,
            )
        _takedown_row(
            takedown[first:last],
            detections[first:last],
            listings[first:last],
            active[first:last],
            offplatform[first:last],
            takedown_memory,
        )
    if peers_on:
        seen[:] = 0
    for m in range(len(witnesses)):
        _learn_values(
            witnesses[m],
            originals[:, m],
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


PREFETCH = 16  # sellers with an event whose observers are fetched ahead (``_push``)


@njit(cache=True, error_model="numpy")
def _push(events, observer_indptr, observers, seen, convicted_mark, convicted_contact):
    # Per seller, how many of its contacts had each event bit (``seen``), and whether one was
    # convicted. The sellers with an event are few and scattered: each one's list of observers
    # is a miss of main memory, so they are listed a chunk at a time, and the lists of those
    # PREFETCH ahead are fetched while these are counted.
    n = len(events)
    chunk = np.empty(8 * BLOCK, dtype=np.int64)
    any_convicted = len(convicted_contact) > 0
    for first in range(0, n, len(chunk)):
        last = min(first + len(chunk), n)
        listed = 0
        for c in range(first, last):  # no branch: a seller is written, then kept or not
            chunk[listed] = c
            listed += events[c] != 0
        for k in range(min(PREFETCH, listed)):
            prefetch(observer_indptr, chunk[k])
        for k in range(listed):
            if k + PREFETCH < listed:
                prefetch(observer_indptr, chunk[k + PREFETCH])
            if k + PREFETCH // 2 < listed:
                ahead = observer_indptr[chunk[k + PREFETCH // 2]]
                if ahead < len(observers):
                    prefetch(observers, ahead)
            c = chunk[k]
            e = events[c]
            start, stop = observer_indptr[c], observer_indptr[c + 1]
            for bit in range(8):
                if e & (1 << bit):
                    row = seen[bit]
                    for link in range(start, stop):
                        row[observers[link]] += 1  # degree <= 100: no overflow
            # A conviction always comes with its event bit, so this finds them all.
            if any_convicted and convicted_mark[c]:
                for link in range(start, stop):
                    convicted_contact[observers[link]] = True


@njit(cache=True, error_model="numpy")
def _learn_values(
    i,
    original,
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
        value = original[v]
        if weight > 0:
            pull = np.float32(1.0) - learning ** np.float32(weight)
            value = value + pull * (np.float32(total / weight) - value)
        prior = value_prior[v, r] * sentence_bias[i] if v < 2 else value_prior[v, r]
        values[v, i] = (value - prior) * memory + prior


@njit(cache=True, error_model="numpy")
def observers_of(indptr, indices, n):
    """The network reversed: row ``c`` lists, increasing, the sellers who observe seller ``c``.

    Args:
        indptr: Row starts of the CSR network (row ``i``: whom seller ``i`` observes).
        indices: Its column indices.
        n: Sellers.

    Returns:
        ``(observer_indptr, observers)``, of the dtypes of ``indptr`` and ``indices``.
    """
    counts = np.zeros(n + 1, dtype=indptr.dtype)
    for link in range(len(indices)):
        counts[indices[link] + 1] += 1
    for c in range(n):
        counts[c + 1] += counts[c]
    observers = np.empty(len(indices), dtype=indices.dtype)
    filled = counts[:-1].copy()
    for i in range(n):
        for link in range(indptr[i], indptr[i + 1]):
            c = indices[link]
            observers[filled[c]] = i
            filled[c] += 1
    return counts, observers


# Rows of the block array of regional values: prior alpha and beta of each step, the
# publicity increment of alpha, the pull and mean of publicity on each perceived value and
# its prior (sentences times the seller's bias), and a row of zeros.
L_ALPHA, L_BETA, L_CHAIN, L_PULL, L_MEAN, L_PRIOR, L_NONE = 0, 4, 8, 9, 12, 15, 18
REGIONAL = 19


@njit(cache=True, error_model="numpy")
def _regional(
    local, region, first, size, prior_alpha, prior_beta, chain, pull, mean, value_prior, bias
):
    # Each seller's region's values, row by row: one region for the whole block as a rule
    # (the initial sellers are stored region by region), so rows of one value each.
    b = BLOCK
    regions = region[first : first + size]
    r0 = regions[0]
    one_region = True
    for j in range(size):
        one_region &= regions[j] == r0
    if one_region:
        for k in range(4):
            local[(L_ALPHA + k) * b : (L_ALPHA + k + 1) * b] = prior_alpha[k, r0]
            local[(L_BETA + k) * b : (L_BETA + k + 1) * b] = prior_beta[k, r0]
        local[L_CHAIN * b : (L_CHAIN + 1) * b] = chain[r0]
        for v in range(3):
            local[(L_PULL + v) * b : (L_PULL + v + 1) * b] = pull[v, r0]
            local[(L_MEAN + v) * b : (L_MEAN + v + 1) * b] = mean[v, r0]
            prior = value_prior[v, r0]
            row = local[(L_PRIOR + v) * b : (L_PRIOR + v) * b + size]
            if v < 2:
                biases = bias[first : first + size]
                for j in range(size):
                    row[j] = prior * biases[j]
            else:
                row[:] = prior
        local[L_NONE * b : (L_NONE + 1) * b] = 0.0
        return
    for j in range(size):
        r = region[first + j]
        for k in range(4):
            local[(L_ALPHA + k) * b + j] = prior_alpha[k, r]
            local[(L_BETA + k) * b + j] = prior_beta[k, r]
        local[L_CHAIN * b + j] = chain[r]
        for v in range(3):
            local[(L_PULL + v) * b + j] = pull[v, r]
            local[(L_MEAN + v) * b + j] = mean[v, r]
            prior = value_prior[v, r]
            local[(L_PRIOR + v) * b + j] = prior * bias[first + j] if v < 2 else prior
        local[L_NONE * b + j] = 0.0


@njit(cache=True, error_model="numpy")
def _count_row(count, events, bit, w_own, seen, w_peer, extra, prior, memory):
    # One row of pseudo-counts of a block (views from its first seller: indices from 0 let the
    # compiler see that it may vectorise). The additions are the agents engine's, in order.
    zero = np.float32(0.0)
    for j in range(len(count)):
        c = count[j] + (w_own if events[j] & bit else zero)
        c = c + (w_peer * np.float32(seen[j]) if seen[j] else zero)
        c = c + extra[j]
        count[j] = (c - prior[j]) * memory + prior[j]


@njit(cache=True, error_model="numpy")
def _value_row(value, pull, mean, prior, memory):
    # One perceived value of a block: publicity's pull (0 when none), then forgetting.
    for j in range(len(value)):
        v = value[j]
        v = v + pull[j] * (mean[j] - v)
        value[j] = (v - prior[j]) * memory + prior[j]


@njit(cache=True, error_model="numpy")
def _takedown_row(takedown, detections, listings, active, offplatform, kept):
    # The perceived takedown rate of a block's sellers active on the platform.
    for j in range(len(takedown)):
        rate = np.float32(detections[j]) / listings[j]
        updated = takedown[j] * kept[0] + rate * kept[1]
        takedown[j] = updated if active[j] and not offplatform[j] else takedown[j]
