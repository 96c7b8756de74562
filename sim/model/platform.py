"""The platform: detection, takedowns, strikes, closures, referrals and lawsuits (ODD 4.3)."""

from __future__ import annotations

from functools import cached_property

import mesa
import numpy as np

from sim.model import draws, pcg64, rules
from sim.model.beliefs import STEP_BITS
from sim.model.enforcer import hand_over


class Platform(mesa.Agent):
    """The platform: detection, takedowns, strikes, closures, referrals and lawsuits (ODD 4.3)."""

    def step(self) -> None:
        """Run the platform's phase of the week."""
        model, week = self.model, self.model.current_week
        pop, plat = model.population, model.params.platform
        active = pop.platform_indices()
        listings = pop.values("listings", active)
        with pcg64.running(week.rng("detection"), week.rng("strikes")) as streams:
            detections, strikes = draws.takedowns(
                listings,
                plat.detection_rate,
                plat.strike_per_takedown,
                *streams,
                (self._tables(plat.detection_rate), self._tables(plat.strike_per_takedown)),
            )
        closed = active[pop.take_down(active, detections, strikes) >= plat.strike_limit]
        week.tally("listings_live", int(listings.sum()))
        week.tally("listings_removed", int(detections.sum()))

        eligible = closed[
            (pop.values("cumulative_sales", closed) >= plat.criminal_threshold_cny)
            & ~pop.values("case_open", closed)
        ]
        referral_draw = week.rng("referral").random(len(eligible))
        is_referred = referral_draw < plat.referral_rate
        referred = eligible[is_referred]
        no, yes = STEP_BITS["referral"]
        pop.record_events(eligible[~is_referred], no)
        pop.record_events(referred, yes)
        pop.set_case_open(referred, True)
        self.refer(referred)
        pop.close_stores(closed)

        suits = self._file_lawsuits()
        week.tally("stores_closed", len(closed) + suits)
        week.tally("referrals", len(referred))

    def _tables(self, rate: float) -> tuple:
        """The alias tables of ``rate`` for the pool's largest store (``draws.tables``).

        Made once per rate: takedowns and strikes are both at most the largest store.
        """
        tables = self._alias_tables.get(rate)
        if tables is None:
            largest = int(self.model.population.column("listings").max(initial=0))
            tables = draws.tables(float(rate), largest)
            self._alias_tables[rate] = tables
        return tables

    @cached_property
    def _alias_tables(self) -> dict[float, tuple]:
        return {}

    def refer(self, sellers: np.ndarray) -> None:
        """Hand referred cases to the enforcer of each seller's region (``enforcer.hand_over``).

        Args:
            sellers: Referred sellers, in increasing order.
        """
        hand_over(self.model, sellers)

    def _file_lawsuits(self) -> int:
        """Sue large active sellers, chosen with probability proportional to their sales.

        The candidates are the sellers still active on the platform after closures.

        Returns:
            Number of lawsuits filed (each also closes the store).
        """
        model, week = self.model, self.model.current_week
        pop, plat = model.population, model.params.platform
        rng = week.rng("lawsuits")
        wanted = rng.poisson(plat.lawsuits_per_year / rules.WEEKS_PER_YEAR)
        if wanted == 0:
            return 0
        candidates = pop.trading_indices()
        weights = pop.values("cumulative_sales", candidates).astype(np.float64)
        if weights.sum() <= 0:
            return 0
        size = min(wanted, int(np.count_nonzero(weights)))
        sued = np.sort(rng.choice(candidates, size=size, replace=False, p=weights / weights.sum()))
        pop.close_stores(sued)
        week.tally("lawsuits", size)
        return size
