"""The counterfeit-deterrence model: one step is one week (ODD 3 and 4)."""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.model import beliefs, entry
from sim.model.agents import CounterfeiterAgents, SellerState
from sim.model.arrays import CounterfeiterArrays
from sim.model.channels import PoliceLeads
from sim.model.enforcer import Enforcer
from sim.model.honest import LegitimateStores
from sim.model.market import Market
from sim.model.metrics import METRIC_NAMES
from sim.model.platform import Platform
from sim.model.population import Population
from sim.model.rules import WEEKS_PER_YEAR
from sim.model.streams import Streams
from sim.model.week import Week
from sim.scenario import Scenario, apply_changes
from sim.scenario.schema import EnforcementParams

ENGINES = {"vector": CounterfeiterArrays, "agents": CounterfeiterAgents}


class DeterrenceModel(mesa.Model):
    """Counterfeiters, a platform and regional enforcers, stepped one week at a time.

    Args:
        scenario: Validated scenario (its ``seed`` is not used: pass the replication's).
        seed: The replication's seed; every random number comes from streams derived from it.
        engine: ``"vector"`` (counterfeiters as columns of arrays, fast) or ``"agents"`` (one
            ``mesa.Agent`` per counterfeiter); both compute the same model (ODD 7.1). A class
            implementing ``sim.model.population.Population`` is also accepted (tests use it).

    Attributes:
        params: Parameters in force this week (scheduled changes replace it).
        streams: Per-mechanism random streams of the replication.
        engine: The engine's name.
        population: The counterfeiters (``sim.model.population.Population``).
        platform: The platform agent.
        police: Police leads, who find sellers off the platform (ODD 4.6).
        enforcers: One enforcer per region.
        market: The price index of counterfeits (ODD 4.7).
        legitimate: The platform's legitimate stores (ODD 4.9).
        week: Index of the week being (or next to be) simulated.
        current_week: The week being simulated (``sim.model.week.Week``): its random streams,
            its tallies, publicity, verdicts and announcements, the only way the agents reach
            them.
        priors: Where every perceived quantity starts and forgets towards (ODD 4.4).
        announcements: Policy changes announced so far (ODD 4.4).
    """

    # Set per model in __init__; a plain class attribute shadows the ``scenario`` property that
    # Mesa 3.5 defines on ``Model`` (whose setter would write ``scenario.model``).
    scenario = None

    def __init__(self, scenario: Scenario, seed: int, engine: str | type = "vector") -> None:
        if isinstance(engine, str):
            if engine not in ENGINES:
                raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
            population_class = ENGINES[engine]
        else:
            population_class, engine = engine, engine.__name__
        super().__init__(rng=seed)  # ``seed=`` is deprecated in Mesa 3.5; same generators
        self.engine = engine
        self.scenario = scenario
        self.params = scenario
        self.seed_value = int(seed)
        self.streams = Streams(seed)
        self.week = 0
        self.current_week = Week(0, self.streams, scenario.regions)
        self._reverts: dict[int, list[dict[str, Any]]] = {}
        self.priors = beliefs.priors(scenario, reference_regime(scenario))
        self.announcements: list[beliefs.Announcement] = []
        self.market = Market(scenario)
        self.population: Population = population_class(self)
        self.platform = Platform(self)
        self.police = PoliceLeads(self)
        self.enforcers = [Enforcer(self, region) for region in range(scenario.regions)]
        self.legitimate = LegitimateStores(self)
        self.records = np.zeros((scenario.weeks, len(METRIC_NAMES)))

    # -- the week -------------------------------------------------------------------------------
    def step(self) -> None:
        """Simulate one week, in the order of ODD section 3.4."""
        self._start_week()
        self.population.decide()
        self._trade()
        self.platform.step()
        self.police.step()
        for enforcer in self.enforcers:
            enforcer.step()
        self.legitimate.step()
        self.population.update_beliefs(self.current_week)
        self.population.advance_timers()
        self._record()
        self.market.clear(self._supply, self.params)
        self.week += 1

    def run(self) -> pd.DataFrame:
        """Run every week of the scenario.

        Returns:
            One row per week with the metric columns.
        """
        while self.week < self.scenario.weeks:
            self.step()
        return self.timeseries()

    def timeseries(self) -> pd.DataFrame:
        """Weekly metrics recorded so far (``week`` then metric columns)."""
        frame = pd.DataFrame(self.records[: self.week], columns=list(METRIC_NAMES))
        frame.insert(0, "week", np.arange(self.week, dtype=np.int64))
        return frame

    def release(self) -> None:
        """Drop Mesa's class-level reference to this model (``Agent._ids`` in Mesa 3.3.1).

        Without it every finished model stays alive, and long sweeps leak memory.
        """
        getattr(mesa.Agent, "_ids", {}).pop(self, None)  # Mesa 3.5 has no _ids

    def _trade(self) -> None:
        """Phase 2: active sellers earn; the week's sales by channel and supply (ODD 4.6, 4.7)."""
        on, off = self.population.earn()
        week = self.current_week
        week.tally("platform_sales_cny", on)
        week.tally("offplatform_sales_cny", off)
        week.tally("counterfeit_sales_cny", on + off)
        self._price = self.market.price
        self._supply = (on + off) / self._price

    def _start_week(self) -> None:
        self.current_week = Week(self.week, self.streams, self.scenario.regions)
        arriving = entry.arriving(self.scenario, self.week)
        if len(arriving):
            self.population.arrive(arriving)
        for index, change in enumerate(self.scenario.schedule):
            if change.until_week == self.week and index in self._reverts:
                self.params = apply_changes(self.params, self._reverts.pop(index))
            if change.week == self.week:
                if change.until_week is not None:
                    self._reverts[index] = {key: self._get(key) for key in change.set}
                self.params = apply_changes(self.params, change.set)
                if change.announce:
                    self.announcements.append(
                        beliefs.announcement(self.params, list(change.set), self.week, change.reach)
                    )
        bel = self.params.beliefs
        self.current_week.pulls = beliefs.pulls(
            self.announcements,
            self.week,
            bel.announcement_weight,
            bel.announcement_half_life_weeks,
        )

    def _get(self, dotted: str) -> Any:
        section, name = dotted.split(".")
        return getattr(getattr(self.params, section), name)

    def _record(self) -> None:
        census = self.population.census()
        counts = census["counts"]
        values = dict.fromkeys(METRIC_NAMES, 0.0)
        values.update(self.current_week.tallies)
        active = census["active"]
        jailed = int(counts[SellerState.JAILED])
        enf = self.params.enforcement
        values["active_sellers"] = active
        values["jailed"] = jailed
        values["prosecuted"] = int(counts[SellerState.PROSECUTED])
        values["suspended"] = int(counts[SellerState.SUSPENDED])
        values["mean_perceived_risk"] = census["mean_perceived_risk"]
        values["mean_perceived_sanction_cny"] = census["mean_perceived_sanction"]
        values["exposed_sellers"] = census["exposed"]
        values["offplatform_sellers"] = census["offplatform"]
        values["price_index"] = self._price
        values["true_risk"] = values["cases_pursued"] / active if active else 0.0
        values["mean_perceived_sentence_years"] = census["mean_perceived_sentence"]
        values["case_backlog"] = sum(e.backlog for e in self.enforcers)
        values["enforcement_cost_cny"] = (
            values["cases_pursued"] * enf.cost_per_case_cny
            + jailed * enf.cost_per_prison_year_cny / WEEKS_PER_YEAR
        )
        self.records[self.week] = [values[name] for name in METRIC_NAMES]


def reference_regime(scenario: Scenario) -> Scenario:
    """The 2016 regime (the schema's defaults) with the scenario's regions and leniency.

    Priors lie between it and the scenario's own sanctions (``beliefs.law_awareness``).
    """
    leniency = EnforcementParams(regional_leniency=list(scenario.enforcement.regional_leniency))
    return Scenario(population=scenario.population, enforcement=leniency)
