"""Per-mechanism random number streams (common random numbers, ODD 7.2).

Each mechanism draws from its own stream, derived from the replication's seed. A stream is
re-derived for every week from ``(seed, mechanism, week)``, so the numbers that drive a
mechanism in week ``t`` do not depend on how many numbers other mechanisms, or earlier weeks,
consumed. Two scenarios that share a seed therefore make the same draws for the same events.
"""

from __future__ import annotations

import numpy as np

# The position of a mechanism in this tuple is part of its streams' seed key (the SeedSequence
# spawn key is (index, week)): reordering or inserting would change every number a run draws.
# A new mechanism is appended at the end, never inserted; tests/model/test_streams.py checks
# that the existing keys keep their indices.
MECHANISMS = (
    "population",
    "network",
    "decisions",
    "detection",
    "referral",
    "lawsuits",
    "prosecution",
    "conviction",
    "sentencing",
    "publicity",
    "suspension",
    "entry",
    "exit",
    "channels",
    "police",
    "honest",
    "strikes",
)


class Streams:
    """Random generators of one replication, one per mechanism and week.

    Args:
        seed: The replication's seed (a non-negative integer).
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def get(self, mechanism: str, week: int = 0) -> np.random.Generator:
        """The generator of ``mechanism`` for ``week``.

        Args:
            mechanism: One of ``MECHANISMS``.
            week: Week index (0 for set-up streams).

        Returns:
            A fresh ``numpy.random.Generator``.
        """
        index = MECHANISMS.index(mechanism)
        sequence = np.random.SeedSequence(self.seed, spawn_key=(index, int(week)))
        return np.random.Generator(np.random.PCG64(sequence))


def replication_seeds(root_seed: int, replications: int) -> list[int]:
    """Seeds of the replications: replication ``i`` uses the ``i``-th child of the root.

    The seed of replication ``i`` does not depend on how many replications are run, and two
    scenarios with the same root seed share their replication seeds (common random numbers).

    Args:
        root_seed: The scenario's root seed.
        replications: Number of replications.

    Returns:
        One 63-bit integer seed per replication.
    """
    children = np.random.SeedSequence(root_seed).spawn(replications)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1)) for child in children]
