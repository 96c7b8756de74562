"""Law enforcement of a region: a case queue with limited weekly capacity (ODD 4.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.model import rules
from sim.model.beliefs import STEP_BITS

if TYPE_CHECKING:
    from sim.model.model import DeterrenceModel

# An enforcer's capacity credit may exceed its weekly capacity by just under one case, so that
# a fractional capacity carries over (1.5 a week opens 1, 2, 1, 2, ...) but unused whole slots
# are not banked.
CREDIT_CARRY = 1.0 - 1e-9
PURSUIT_NO, PURSUIT_YES = STEP_BITS["pursuit"]
CONVICTION_NO, CONVICTION_YES = STEP_BITS["conviction"]


def hand_over(model: DeterrenceModel, sellers: np.ndarray) -> None:
    """Hand new cases to the enforcer of each seller's region (ODD 4.5).

    The draw that decides each case's pursuit is taken here, at intake, from the
    ``prosecution`` stream, so it does not depend on when the case is reviewed. The platform's
    referrals come first in a week, then the cases of police leads (ODD 4.6).

    Args:
        model: The model.
        sellers: The sellers, in increasing order.
    """
    if len(sellers) == 0:
        return
    pop = model.population
    draws = model.current_week.rng("prosecution").random(len(sellers))
    regions = pop.values("region", sellers)
    sales = pop.values("cumulative_sales", sellers)
    for enforcer in model.enforcers:
        mine = regions == enforcer.region
        if mine.any():
            enforcer.take_in(sellers[mine], draws[mine], sales[mine])


class Enforcer(mesa.Agent):
    """Law enforcement of one region: a case queue with limited weekly capacity (ODD 4.5).

    Attributes:
        region: The region served.
        queue_seller: Sellers of the queued cases, oldest first.
        queue_week: Week each queued case was referred.
        queue_draw: Uniform draw of each case deciding pursuit (drawn at intake).
        queue_sales: Cumulative sales of each case at referral (CNY).
        open_seller: Sellers of the cases being processed.
        open_due: Week each open case reaches its verdict.
        open_sales: Cumulative sales of each open case (CNY).
        capacity_credit: Unused fractional capacity carried to the next week.
    """

    def __init__(self, model: DeterrenceModel, region: int) -> None:
        """Create an empty enforcer.

        Args:
            model: The model.
            region: Region index.
        """
        super().__init__(model)
        self.region = region
        self.queue_seller = np.zeros(0, dtype=np.int64)
        self.queue_week = np.zeros(0, dtype=np.int64)
        self.queue_draw = np.zeros(0)
        self.queue_sales = np.zeros(0)
        self.open_seller = np.zeros(0, dtype=np.int64)
        self.open_due = np.zeros(0, dtype=np.int64)
        self.open_sales = np.zeros(0)
        self.capacity_credit = 0.0

    def take_in(self, sellers: np.ndarray, draws: np.ndarray, sales: np.ndarray) -> None:
        """Append referred cases to the queue.

        Args:
            sellers: Referred sellers.
            draws: Uniform draws deciding pursuit.
            sales: Cumulative sales of each case (CNY).
        """
        self.queue_seller = np.concatenate((self.queue_seller, sellers))
        self.queue_week = np.concatenate(
            (self.queue_week, np.full(len(sellers), self.model.current_week.index, dtype=np.int64))
        )
        self.queue_draw = np.concatenate((self.queue_draw, draws))
        self.queue_sales = np.concatenate((self.queue_sales, sales.astype(np.float64)))

    def step(self) -> None:
        """Drop expired cases, review the queue within capacity, and reach verdicts."""
        model = self.model
        enf, week = model.params.enforcement, model.current_week.index
        # Unused fractions carry over, whole unused slots do not (ODD 4.5).
        self.capacity_credit = min(
            self.capacity_credit + enf.capacity_per_week,
            max(enf.capacity_per_week, 1.0) + CREDIT_CARRY,
        )
        if len(self.queue_seller) == 0:
            if len(self.open_seller):
                self._reach_verdicts()
            return
        expired = week - self.queue_week > enf.case_expiry_weeks
        if expired.any():
            model.population.set_case_open(self.queue_seller[expired], False)
            model.population.record_events(self.queue_seller[expired], PURSUIT_NO)
            self._keep_queue(~expired)
            model.current_week.tally("cases_dropped", int(expired.sum()))

        p_pursue = enf.prosecution_rate * enf.regional_leniency[self.region]
        slots = int(self.capacity_credit)
        pursue = self.queue_draw < p_pursue
        # Review oldest first; stop at the first case to pursue that finds no free slot.
        reviewed = np.cumsum(pursue) <= slots
        started = reviewed & pursue
        declined = reviewed & ~pursue
        self.capacity_credit -= int(started.sum())
        model.population.set_case_open(self.queue_seller[declined], False)
        model.population.record_events(self.queue_seller[declined], PURSUIT_NO)
        self._start(started)
        self._keep_queue(~reviewed)
        model.current_week.tally("cases_declined", int(declined.sum()))
        self._reach_verdicts()

    def _keep_queue(self, keep: np.ndarray) -> None:
        self.queue_seller = self.queue_seller[keep]
        self.queue_week = self.queue_week[keep]
        self.queue_draw = self.queue_draw[keep]
        self.queue_sales = self.queue_sales[keep]

    def _start(self, started: np.ndarray) -> None:
        model = self.model
        sellers = self.queue_seller[started]
        model.population.prosecute(sellers)
        model.population.record_events(sellers, PURSUIT_YES)
        due = model.current_week.index + model.params.enforcement.processing_weeks
        self.open_seller = np.concatenate((self.open_seller, sellers))
        self.open_due = np.concatenate((self.open_due, np.full(len(sellers), due, dtype=np.int64)))
        self.open_sales = np.concatenate((self.open_sales, self.queue_sales[started]))
        model.current_week.tally("cases_pursued", len(sellers))

    def _reach_verdicts(self) -> None:
        model, week = self.model, self.model.current_week
        enf = model.params.enforcement
        due = self.open_due <= week.index
        if not due.any():
            return
        sellers, sales = self.open_seller[due], self.open_sales[due]
        keep = ~due
        self.open_seller, self.open_due, self.open_sales = (
            self.open_seller[keep],
            self.open_due[keep],
            self.open_sales[keep],
        )
        convicted = week.rng("conviction").random(len(sellers)) < enf.conviction_rate
        years = rules.sentence_years(
            sales,
            enf.huge_amount_cny,
            enf.tier1_sentence_years,
            enf.tier2_min_sentence_years,
            enf.max_sentence_years,
            week.rng("sentencing").random(len(sellers)),
        )
        # A share of convictions is suspended (or a fine only): no prison (ODD 4.5).
        suspended = week.rng("suspension").random(len(sellers)) < enf.suspended_share
        custodial = convicted & ~suspended
        weeks = np.where(custodial, np.rint(years * rules.WEEKS_PER_YEAR), 0).astype(np.int32)
        model.population.sentence(sellers, weeks)
        model.population.record_events(sellers[~convicted], CONVICTION_NO)
        model.population.record_events(sellers[convicted], CONVICTION_YES)
        fines = rules.fine(sales[convicted], enf.fine_multiple)
        week.tally("convictions", int(convicted.sum()))
        week.tally("fines_cny", float(fines.sum(dtype=np.float64)))
        tier2 = sales[convicted] >= enf.huge_amount_cny
        served = weeks[convicted] / rules.WEEKS_PER_YEAR
        multiple = np.full(len(served), enf.fine_multiple)
        week.verdict_parts.append((sellers[convicted], tier2, served, multiple))
        publicity_rng = week.rng("publicity")
        for k in range(len(served)):
            draw = publicity_rng.random(2)
            if draw[0] < enf.p_publicise_conviction:
                reach = 0 if draw[1] < enf.p_national_news else 1 + self.region
                week.publicity.add(reach, bool(tier2[k]), float(served[k]), enf.fine_multiple)

    @property
    def backlog(self) -> int:
        """Cases waiting for review."""
        return len(self.queue_seller)
