"""What one week of a run shares among its agents: streams, tallies, publicity, verdicts.

The platform, the enforcers and both engines reach the week only through ``Week``: its random
generator per mechanism (``rng``), its tally of metrics (``tally``, which refuses a name that
is not a metric of ``sim.model.metrics``) and its publicised sanctions (``publicity``). The
model starts a new ``Week`` at the start of every step (ODD 3.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.beliefs import VALUES
from sim.model.metrics import METRIC_NAMES
from sim.model.streams import Streams

TALLIED = frozenset(METRIC_NAMES)


class Week:
    """The shared state of one simulated week.

    Args:
        index: Week index (0 is the first week of the run).
        streams: The replication's streams.
        regions: Number of regions.

    Attributes:
        index: Week index.
        tallies: Metric totals added so far this week.
        publicity: Publicised convictions of the week.
        verdict_parts: Convictions reached by each enforcer this week (``Verdicts.of``).
        pulls: Per belief, the announced values and their pull this week (set by the model).
    """

    def __init__(self, index: int, streams: Streams, regions: int) -> None:
        self.index = index
        self._streams = streams
        self._rngs: dict[str, np.random.Generator] = {}
        self.tallies: dict[str, float] = {}
        self.publicity = Publicity(regions)
        self.verdict_parts: list[tuple[np.ndarray, ...]] = []
        self.pulls: dict[str, list[tuple[np.ndarray, float]]] = {}

    def rng(self, mechanism: str) -> np.random.Generator:
        """The generator of ``mechanism`` for this week (created on first use).

        Args:
            mechanism: A name from ``sim.model.streams.MECHANISMS``.

        Returns:
            The week's generator for that mechanism (ODD 7.2: one stream per mechanism and
            week, so mechanisms never shift each other's draws).
        """
        rng = self._rngs.get(mechanism)
        if rng is None:
            rng = self._rngs[mechanism] = self._streams.get(mechanism, self.index + 1)
        return rng

    def tally(self, metric: str, value: float) -> None:
        """Add ``value`` to this week's ``metric``.

        Args:
            metric: A metric name of ``sim.model.metrics.METRIC_NAMES``.
            value: Amount to add.

        Raises:
            KeyError: ``metric`` is not a metric (a misspelt name would be lost otherwise).
        """
        if metric not in TALLIED:
            raise KeyError(f"unknown metric {metric!r}; metrics are declared in sim.model.metrics")
        self.tallies[metric] = self.tallies.get(metric, 0.0) + value


class Publicity:
    """Publicised convictions of one week, by reach (index 0: national; 1 + r: region r).

    Each carries what a reader learns: that the chain ran to a conviction, and the custodial
    sentence of its tier and the fine multiple (ODD 4.4).

    Args:
        regions: Number of regions.
    """

    def __init__(self, regions: int) -> None:
        self.count = np.zeros(regions + 1)
        self.value_count = {name: np.zeros(regions + 1) for name in VALUES}
        self.value_sum = {name: np.zeros(regions + 1) for name in VALUES}

    def add(self, reach: int, tier2: bool, custodial_years: float, fine_multiple: float) -> None:
        """Record one publicised conviction.

        Args:
            reach: 0 for national news, ``1 + r`` for region ``r``.
            tier2: Whether the case's sales reached the huge amount.
            custodial_years: Prison term (0 for a suspended sentence).
            fine_multiple: The fine as a multiple of the case's sales.
        """
        self.count[reach] += 1
        for name, value in (
            ("sentence2" if tier2 else "sentence1", custodial_years),
            ("fine", fine_multiple),
        ):
            self.value_count[name][reach] += 1
            self.value_sum[name][reach] += value

    def chain_increment(self, w_public: float) -> np.ndarray:
        """Per region, the pseudo-count added to every step's ``alpha`` (float32).

        ``w_public`` per conviction seen there, regional plus national.
        """
        return (w_public * (self.count[1:] + self.count[0])).astype(np.float32)

    def observations(self, name: str, w_public: float) -> tuple[np.ndarray, np.ndarray]:
        """Per region, the weight and weighted sum of the values of ``name`` seen (float64)."""
        count, total = self.value_count[name], self.value_sum[name]
        return w_public * (count[1:] + count[0]), w_public * (total[1:] + total[0])


@dataclass
class Verdicts:
    """Convictions of one week, as their sellers and contacts observe them (ODD 4.4).

    Attributes:
        sellers: Convicted sellers, increasing.
        tier2: Whether each case's sales reached the huge amount.
        custodial_years: Prison term of each (0 when suspended).
        fine_multiple: Fine of each as a multiple of its sales.
    """

    sellers: np.ndarray
    tier2: np.ndarray
    custodial_years: np.ndarray
    fine_multiple: np.ndarray

    @classmethod
    def of(cls, parts: list[tuple[np.ndarray, ...]]) -> Verdicts:
        """Verdicts of several enforcers, sorted by seller."""
        if not parts:
            empty = np.zeros(0)
            return cls(np.zeros(0, dtype=np.int64), empty.astype(bool), empty, empty)
        sellers, tier2, years, fines = (
            np.concatenate(column) for column in zip(*parts, strict=True)
        )
        order = np.argsort(sellers, kind="stable")
        return cls(sellers[order], tier2[order], years[order], fines[order])
