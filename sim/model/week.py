"""What one week of a run shares among its agents: random streams, tallies and publicity.

The platform, the enforcers and both engines reach the week only through ``Week``: its random
generator per mechanism (``rng``), its tally of metrics (``tally``, which refuses a name that
is not a metric of ``sim.model.metrics``) and its publicised sanctions (``publicity``). The
model starts a new ``Week`` at the start of every step (ODD 3.4).
"""

from __future__ import annotations

import numpy as np

from sim.model import rules
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
        publicity: Publicised sanctions of the week.
    """

    def __init__(self, index: int, streams: Streams, regions: int) -> None:
        self.index = index
        self._streams = streams
        self._rngs: dict[str, np.random.Generator] = {}
        self.tallies: dict[str, float] = {}
        self.publicity = Publicity(regions)

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
    """Publicised sanctions of one week, by reach (index 0: national; 1 + r: region r).

    Args:
        regions: Number of regions.
    """

    def __init__(self, regions: int) -> None:
        self.count = np.zeros(regions + 1)
        self.sentences = np.zeros(regions + 1)
        self.sentence_count = np.zeros(regions + 1)

    def add(self, reach: int, sentence_years: float | None = None) -> None:
        """Record one publicised event.

        Args:
            reach: 0 for national news, ``1 + r`` for region ``r``.
            sentence_years: Sentence handed down, if the event is a conviction.
        """
        self.count[reach] += 1
        if sentence_years is not None:
            self.sentences[reach] += sentence_years
            self.sentence_count[reach] += 1

    def risk_increment(self, w_public: float) -> np.ndarray:
        """Increment of the sanction pseudo-count ``a`` in each region (ODD 4.4).

        Args:
            w_public: Weight of one publicised event.

        Returns:
            Per region: ``w_public`` times the events seen there (regional plus national).
        """
        events = self.count[1:] + self.count[0]
        return (w_public * events).astype(np.float32)

    def sentence_pull(self, learning: float) -> tuple[np.ndarray, np.ndarray]:
        """Pull of the week's publicised sentences on perceived sentences, by region.

        Args:
            learning: Weight of one observed sentence.

        Returns:
            Per region: the weight of the sentences seen there (regional plus national) and
            their mean (years).
        """
        count = self.sentence_count[1:] + self.sentence_count[0]
        total = self.sentences[1:] + self.sentences[0]
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        weight = rules.sentence_pull(count, learning)
        return weight.astype(np.float32), mean.astype(np.float32)
