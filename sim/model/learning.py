"""Learning, compiled: every perceived quantity learns from the week, then forgets (ODD 4.4).

The ``vector`` engine runs ``learn_all`` over the pool; the ``agents`` engine runs the same
float32 operations seller by seller in Python (``Counterfeiter.update_beliefs``), and the
engine tests hold the two to the same path.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
    # What each seller's contacts did, pushed from the few sellers with an event to those who
    # observe them (``observer_indptr, observers``, the network reversed) rather than pulled
    # by every seller from each of its contacts: per seller, how many contacts had each event
    # bit, and whether one was convicted.
    n = len(region)
    seen = np.zeros((n if peers_on else 0, 8), dtype=np.uint8)  # degree <= 100
    convicted_contact = np.zeros(n if peers_on and any_convicted else 0, dtype=np.bool_)
    if peers_on:
        for c in range(n):
            e = events[c]
            if e == 0:
                continue
            for link in range(observer_indptr[c], observer_indptr[c + 1]):
                i = observers[link]
                for bit in range(8):
                    if e & (1 << bit):
                        seen[i, bit] += 1
                # A conviction always comes with its event bit, so this finds them all.
                if any_convicted and convicted_mark[c]:
                    convicted_contact[i] = True
    for i in range(n):
        r = region[i]
        own = events[i]
        for k in range(4):
            no, yes = 2 * k, 2 * k + 1
            b = beta[k, i]
            if own & (1 << no):
                b = b + w_own32
            if peers_on and seen[i, no]:
                b = b + w_peer32 * np.float32(seen[i, no])
            a = alpha[k, i]
            if own & (1 << yes):
                a = a + w_own32
            if peers_on and seen[i, yes]:
                a = a + w_peer32 * np.float32(seen[i, yes])
            if chain_on:
                a = a + chain[r]
            pa, pb = prior_alpha[k, r], prior_beta[k, r]
            alpha[k, i] = (a - pa) * memory + pa
            beta[k, i] = (b - pb) * memory + pb
        if any_convicted and (convicted_mark[i] or (peers_on and convicted_contact[i])):
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
