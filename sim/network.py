"""The sellers' social network: a small world within each region (ODD 3.3)."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def small_world(
    region: np.ndarray, degree: int, rewiring: float, rng: np.random.Generator
) -> sparse.csr_array:
    """Directed small-world contacts within regions, as a sparse adjacency matrix.

    Sellers of a region sit on a ring; each observes its ``degree`` nearest ring neighbours
    (half on each side, Watts & Strogatz 1998), and each contact is replaced with probability
    ``rewiring`` by a seller drawn uniformly from the same region. Row ``i`` holds the contacts
    that seller ``i`` observes, so ``A @ x`` counts, for each seller, contacts with ``x``.

    Args:
        region: Region index of each seller; sellers of a region must be contiguous.
        degree: Contacts per seller (capped at the region size minus one).
        rewiring: Probability of rewiring each contact.
        rng: Generator of the network stream.

    Returns:
        ``n x n`` CSR matrix of float32 ones.
    """
    n = len(region)
    if degree == 0 or n == 0:
        return sparse.csr_array((n, n), dtype=np.float32)
    starts = np.flatnonzero(np.r_[True, region[1:] != region[:-1]])
    ends = np.r_[starts[1:], n]
    rows_all, cols_all = [], []
    for start, end in zip(starts, ends, strict=True):
        size = end - start
        k = min(degree, size - 1)
        if k <= 0:
            continue
        half = np.arange(1, k // 2 + 1)
        offsets = np.r_[half, -half, [k // 2 + 1] if k % 2 else []].astype(np.int64)
        local = np.arange(size, dtype=np.int64)
        cols = (local[:, None] + offsets[None, :]) % size
        rewire = rng.random(cols.shape) < rewiring
        random_cols = rng.integers(0, size - 1, size=cols.shape)
        # Shift draws at or above the seller itself by one: uniform over the others.
        random_cols = random_cols + (random_cols >= local[:, None])
        cols = np.where(rewire, random_cols, cols)
        rows_all.append(np.repeat(local + start, cols.shape[1]))
        cols_all.append(cols.ravel() + start)
    rows = np.concatenate(rows_all).astype(np.int32)
    cols = np.concatenate(cols_all).astype(np.int32)
    data = np.ones(len(rows), dtype=np.float32)
    matrix = sparse.csr_array((data, (rows, cols)), shape=(n, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix
