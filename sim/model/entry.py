"""Entry and exit: an open population in a pool preallocated for the run (ODD 4.8).

Potential sellers arrive over the run at ``population.entry_rate`` times the initial sellers a
year, on a fixed schedule (``floor(E t / 52)`` by week ``t``), so the largest population a run
can reach is known before it starts: the engines allocate their arrays for the initial sellers
and every arrival at once, and the memory check counts them. The newcomers are drawn at
week 0 like the initial sellers, from their own ``entry`` stream (so the initial sellers and
their network are the same with entry on or off); until their week comes they are ``ABSENT``.
They arrive with no store and no sales history and enter when the gain of a channel, less its
set-up cost, beats their outside option (the decision rule of ODD 4.2). A seller that sits out
a week leaves for good with chance ``population.exit_hazard`` (the ``exit`` stream).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.model import rules

if TYPE_CHECKING:
    from scipy import sparse

    from sim.scenario import Scenario


def entrants_per_year(params: Scenario) -> float:
    """Potential sellers arriving per year: ``entry_rate x sellers``."""
    return params.population.entry_rate * params.population.sellers


def pool_size(params: Scenario) -> int:
    """The initial sellers plus every potential seller who arrives during the run."""
    return params.population.sellers + rules.arrivals_by(params.weeks, entrants_per_year(params))


def arriving(params: Scenario, week: int) -> range:
    """Pool indices of the potential sellers who arrive at the start of ``week``."""
    first = params.population.sellers
    per_year = entrants_per_year(params)
    return range(
        first + rules.arrivals_by(week, per_year), first + rules.arrivals_by(week + 1, per_year)
    )


def entrant_regions(params: Scenario, rng: np.random.Generator, count: int) -> np.ndarray:
    """Regions of ``count`` newcomers, drawn with the regions' shares of sellers."""
    shares = np.asarray(params.population.region_shares, dtype=float)
    return rng.choice(len(shares), size=count, p=shares / shares.sum()).astype(np.int16)


def entrant_contacts(
    region: np.ndarray, initial_region: np.ndarray, degree: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Whom each newcomer observes: ``degree`` initial sellers of its region, drawn uniformly.

    The initial sellers' own contacts are left as they are (they do not observe newcomers).

    Args:
        region: Region of each newcomer.
        initial_region: Region of each initial seller (contiguous blocks).
        degree: Contacts per seller.
        rng: Generator of the entry stream.

    Returns:
        ``(counts, indices)``: contacts per newcomer and their pool indices, row by row,
        increasing within a row, without repeats.
    """
    count = len(region)
    regions = int(initial_region.max()) + 1 if len(initial_region) else 0
    sizes = np.bincount(initial_region, minlength=max(regions, int(region.max(initial=0)) + 1))
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    if degree == 0 or count == 0:
        return np.zeros(count, dtype=np.int64), np.zeros(0, dtype=np.int32)
    size = sizes[region]
    draws = rng.random((count, degree))
    cols = starts[region][:, None] + np.floor(draws * size[:, None]).astype(np.int64)
    cols[size == 0] = -1
    cols.sort(axis=1)
    keep = cols >= 0
    keep[:, 1:] &= cols[:, 1:] != cols[:, :-1]
    return keep.sum(axis=1), cols[keep].astype(np.int32)


def with_entrants(
    contacts: sparse.csr_array, counts: np.ndarray, indices: np.ndarray
) -> sparse.csr_array:
    """The initial network with the newcomers' rows appended, square over the whole pool."""
    from scipy import sparse  # only when there are newcomers: entry.py stays light to import

    n = contacts.shape[0] + len(counts)
    indptr = np.r_[contacts.indptr.astype(np.int64), contacts.indptr[-1] + np.cumsum(counts)]
    all_indices = np.r_[contacts.indices.astype(np.int32), indices]
    dtype = np.int64 if len(all_indices) >= 2**31 else np.int32
    data = np.ones(len(all_indices), dtype=np.float32)
    return sparse.csr_array((data, all_indices, indptr.astype(dtype)), shape=(n, n))


def leaving(idle: np.ndarray, hazard: float, rng: np.random.Generator, pool: int) -> np.ndarray:
    """Which idle sellers leave for good this week (one uniform per pool seller, ODD 4.8).

    Args:
        idle: Pool indices of the sellers who sat out this week (dormant, no open case).
        hazard: ``population.exit_hazard`` (> 0; the engines skip the draw at 0).
        rng: The week's generator of the exit stream.
        pool: Size of the pool.

    Returns:
        The indices of ``idle`` that leave, increasing.
    """
    u = rng.random(pool)
    return idle[u[idle] < hazard]
