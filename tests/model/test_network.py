"""The small-world network: structure, and equality with a plain COO construction."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from sim.model.network import small_world


def _reference(region, degree, rewiring, rng):
    """The same network built the plain way: every (row, column) pair, then COO to CSR."""
    n = len(region)
    starts = np.flatnonzero(np.r_[True, region[1:] != region[:-1]])
    ends = np.r_[starts[1:], n]
    rows, cols = [], []
    for start, end in zip(starts, ends, strict=True):
        size = end - start
        k = min(degree, size - 1)
        half = np.arange(1, k // 2 + 1)
        offsets = np.r_[half, -half, [k // 2 + 1] if k % 2 else []].astype(np.int64)
        local = np.arange(size)
        ring = (local[:, None] + offsets[None, :]) % size
        rewire = rng.random(ring.shape) < rewiring
        other = rng.integers(0, size - 1, size=ring.shape)
        other = other + (other >= local[:, None])
        chosen = np.where(rewire, other, ring)
        rows.append(np.repeat(local + start, k))
        cols.append(chosen.ravel() + start)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.csr_array((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix


def test_network_equals_the_plain_construction():
    region = np.repeat(np.arange(3, dtype=np.int16), [50, 7, 120])
    built = small_world(region, 6, 0.3, np.random.default_rng(4))
    reference = _reference(region, 6, 0.3, np.random.default_rng(4))
    assert built.has_sorted_indices
    assert np.array_equal(built.indptr, reference.indptr)
    assert np.array_equal(built.indices, reference.indices)
    assert np.array_equal(built.data, reference.data)


def test_contacts_stay_in_the_region_without_self_loops():
    region = np.repeat(np.arange(4, dtype=np.int16), [30, 2, 1, 40])
    matrix = small_world(region, 8, 0.5, np.random.default_rng(1))
    rows = np.repeat(np.arange(len(region)), np.diff(matrix.indptr))
    assert np.all(region[rows] == region[matrix.indices])
    assert np.all(rows != matrix.indices)
    assert np.diff(matrix.indptr).max() <= 8
    # A region of two sellers: each observes the other; a region of one: nobody.
    assert list(matrix[[30]].indices) == [31]
    assert matrix[[32]].nnz == 0
