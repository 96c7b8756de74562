"""The memory intrinsics (``sim.model.memory``) and learning's push of contacts' events."""

from __future__ import annotations

import numpy as np
from numba import njit

from sim.model import learning
from sim.model.memory import borrow, prefetch


@njit
def _sum_and_bump(values):
    borrowed = borrow(values)
    total = 0.0
    for i in range(len(borrowed)):
        prefetch(values, min(i + 8, len(values) - 1))
        total += borrowed[i]
        borrowed[i] += 1.0  # a borrowed array is the same memory
    return total


def test_a_borrowed_array_is_the_same_memory_and_a_prefetch_changes_nothing():
    values = np.arange(100, dtype=np.float64)
    assert _sum_and_bump(values) == 4950.0
    np.testing.assert_array_equal(values, np.arange(1, 101))
    assert _sum_and_bump(values) == 5050.0  # and the array lives on after it was borrowed


def test_the_push_counts_what_each_sellers_contacts_did_over_several_chunks():
    # 20,000 sellers (several chunks of the push), 8 contacts each, events on 7% of them.
    rng = np.random.default_rng(5)
    n = 20_000
    indptr = np.arange(0, 8 * n + 1, 8)
    indices = rng.integers(0, n, 8 * n).astype(np.int32)
    observer_indptr, observers = learning.observers_of(indptr, indices, n)
    events = np.where(rng.random(n) < 0.07, rng.integers(1, 256, n), 0).astype(np.uint8)
    convicted_mark = (events != 0) & (rng.random(n) < 0.05)
    seen = np.zeros((8, n), dtype=np.uint8)
    convicted_contact = np.zeros(n, dtype=bool)
    learning._push(events, observer_indptr, observers, seen, convicted_mark, convicted_contact)
    # Pulled instead: each seller counts, per bit, its contacts with the bit (numpy).
    contacts = indices.reshape(n, 8)
    for bit in range(8):
        has = (events >> bit) & 1
        np.testing.assert_array_equal(seen[bit], has[contacts].sum(axis=1), err_msg=str(bit))
    np.testing.assert_array_equal(convicted_contact, convicted_mark[contacts].any(axis=1))
    assert seen.sum() > 10_000 and convicted_contact.sum() > 100  # not a test of zeros
