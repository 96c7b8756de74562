"""Harm to honest sellers: the platform's false positives (ODD 4.9).

Legitimate stores are not agents: they are identical, so the week's wrongful takedowns and the
stores' wrongful strikes are drawn as exact aggregate counts from their own ``honest`` stream.
Each legitimate listing is taken down with the false-positive rate that the platform's
detection rate implies on a binormal ROC curve (``rules.false_positive_rate``); a wrongful
takedown is a strike with the platform's strike probability unless reversed on appeal, and a
store whose strikes reach the limit is closed (and replaced by a new legitimate store). Each
wrongful takedown costs a week of the listing's sales, each closure the store's sales for the
re-entry delay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.model import rules

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel


class LegitimateStores(mesa.Agent):
    """The platform's legitimate stores, counted by the strikes on them.

    Attributes:
        stores: Number of legitimate stores (``platform.legitimate_stores``).
        by_strikes: Number of legitimate stores with ``k`` strikes, for ``k`` below the limit.
    """

    def __init__(self, model: DeterrenceModel) -> None:
        super().__init__(model)
        self._restart(model.params.platform)

    def _restart(self, plat) -> None:
        """Every legitimate store without strikes (at the start, or when their number changes)."""
        self.stores = plat.legitimate_stores
        self.by_strikes = np.zeros(plat.strike_limit, dtype=np.int64)
        self.by_strikes[0] = plat.legitimate_stores

    def step(self) -> None:
        """Draw the week's wrongful takedowns, strikes and closures."""
        model, week = self.model, self.model.current_week
        plat = model.params.platform
        if plat.legitimate_stores != self.stores:
            self._restart(plat)  # a scheduled change of their number starts them afresh
        stores = int(self.by_strikes.sum())
        if stores == 0:
            return
        rng = week.rng("honest")
        listings = plat.legit_listings_per_store
        fpr = rules.false_positive_rate(plat.detection_rate, plat.detection_discriminability)
        removed = int(rng.binomial(stores * listings, fpr))
        if len(self.by_strikes) != plat.strike_limit:
            self._resize(plat.strike_limit)
        # New strikes of one store this week: Binomial(listings, fpr p_strike (1 - appeal)).
        q = fpr * plat.strike_per_takedown * (1.0 - plat.appeal_success)
        limit = plat.strike_limit
        pmf = rules.binomial_pmf(limit, listings, q)
        moved = np.zeros(limit + 1, dtype=np.int64)
        for k in np.flatnonzero(self.by_strikes):
            to_limit = limit - k  # strikes that take a store from k to the limit
            p = np.r_[pmf[:to_limit], max(0.0, 1.0 - pmf[:to_limit].sum())]
            moved[k : limit + 1] += rng.multinomial(self.by_strikes[k], p / p.sum())
        closed = int(moved[limit])
        self.by_strikes = moved[:limit]
        self.by_strikes[0] += closed  # a new legitimate store takes each closed one's place
        week.tally("legit_listings_removed", removed)
        week.tally("legit_stores_closed", closed)
        week.tally(
            "legit_sales_lost_cny",
            plat.legit_sales_per_listing_cny
            * (removed + closed * listings * plat.reentry_delay_weeks),
        )

    def _resize(self, limit: int) -> None:
        """A new strike limit: stores at or above it close at the next strike (kept below it)."""
        counts = np.zeros(limit, dtype=np.int64)
        keep = min(limit, len(self.by_strikes))
        counts[:keep] = self.by_strikes[:keep]
        counts[limit - 1] += self.by_strikes[keep:].sum()
        self.by_strikes = counts
