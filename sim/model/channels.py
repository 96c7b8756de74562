"""Off the platform: police leads find sellers of the off-platform channel (ODD 4.6).

Sellers choose each week between the platform, one aggregated off-platform channel (social
commerce and offline) and not selling (the decision rule of ODD 4.2 with the channel's gain;
``beliefs.perceive``). Off the platform there are no takedowns or closures: the risk is police
leads, which find an active off-platform seller with ``channels.offplatform_detection_rate``
a week. A seller found whose sales since its last sanction reach the criminal threshold
becomes a case, handed straight to the enforcer of its region (no platform referral);
criminal liability follows the person, so sales in both channels count towards the threshold.
"""

from __future__ import annotations

import mesa

from sim.model import pcg64
from sim.model.beliefs import STEP_BITS
from sim.model.enforcer import hand_over

NOT_FOUND, FOUND = STEP_BITS["police"]


class PoliceLeads(mesa.Agent):
    """Police leads: detection of sellers active off the platform (ODD 4.6)."""

    def step(self) -> None:
        """Find off-platform sellers and hand those at the threshold to the enforcers."""
        model, week = self.model, self.model.current_week
        pop, params = model.population, model.params
        sellers = pop.offplatform_indices()
        if len(sellers) == 0:
            return
        # One draw per seller of the pool (common random numbers, ODD 7.2): those of the
        # sellers off the platform, in index order (``pcg64.at``).
        with pcg64.running(week.rng("police")) as (stream,):
            u = pcg64.at(stream, sellers)
        found = u < params.channels.offplatform_detection_rate
        pop.record_events(sellers[~found], NOT_FOUND)
        pop.record_events(sellers[found], FOUND)
        found = sellers[found]
        cases = found[
            (pop.values("cumulative_sales", found) >= params.platform.criminal_threshold_cny)
            & ~pop.values("case_open", found)
        ]
        pop.set_case_open(cases, True)
        hand_over(model, cases)
        week.tally("offplatform_cases", len(cases))
