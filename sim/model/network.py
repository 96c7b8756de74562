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
    # Built region by region, straight into CSR form with 32-bit indices: no COO copy, so
    # the peak memory of the construction stays close to that of the result.
    blocks = []
    for start, end in zip(starts, ends, strict=True):
        size = int(end - start)
        k = min(degree, size - 1)
        if k <= 0:
            blocks.append(np.empty((size, 0), dtype=np.int32))
            continue
        half = np.arange(1, k // 2 + 1)
        offsets = np.r_[half, -half, [k // 2 + 1] if k % 2 else []].astype(np.int64)
        local = np.arange(size, dtype=np.int64)
        cols = (local[:, None] + offsets[None, :]) % size
        rewire = rng.random(cols.shape) < rewiring
        random_cols = rng.integers(0, size - 1, size=cols.shape)
        # Shift draws at or above the seller itself by one: uniform over the others.
        random_cols += random_cols >= local[:, None]
        np.copyto(cols, random_cols, where=rewire)
        del random_cols, rewire
        cols += start
        blocks.append(cols.astype(np.int32))
        del cols
    counts = np.zeros(n, dtype=np.int64)
    pieces = []
    row = 0
    for block in blocks:
        size, k = block.shape
        if k:
            block.sort(axis=1)
            # A contact drawn twice (rewiring) is one contact.
            keep = np.ones(block.shape, dtype=bool)
            keep[:, 1:] = block[:, 1:] != block[:, :-1]
            counts[row : row + size] = keep.sum(axis=1)
            pieces.append(block[keep])
        row += size
    del blocks
    indices = np.concatenate(pieces) if pieces else np.empty(0, dtype=np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64 if len(indices) >= 2**31 else np.int32)
    np.cumsum(counts, out=indptr[1:])
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_array((data, indices, indptr), shape=(n, n))
