"""A policy and its baseline stepped side by side, on the same seed: the explore page's model.

``PairedModel`` holds two ``DeterrenceModel`` runs of one scenario at an interactive scale. Both
start from the same seed and run the scenario's regime through a warm-up; at the end of the
warm-up the *policy* run receives the lever values chosen on the page as an announced policy
change (a scheduled change, ODD 4.4, exactly as ``schedule`` in a scenario file), while the
*baseline* run keeps the scenario as written. From then on each ``step()`` is one week of both,
and every difference between them is the policy's effect (common random numbers: the sellers
of the two runs draw the same random numbers until the policy makes them act differently).

The page (``sim.model.app``) passes the levers as keyword arguments, which is how Mesa's
SolaraViz re-creates a model when its sliders move.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mesa
import pandas as pd

from sim.model.metrics import METRIC_NAMES
from sim.model.model import DeterrenceModel
from sim.scenario import PolicyChange, Scenario, field_value, load_scenario


@dataclass(frozen=True)
class Lever:
    """A policy lever: a scenario field and the range an analyst moves it over.

    Attributes:
        field: Dotted scenario field, e.g. ``enforcement.prosecution_rate``.
        label: Label shown beside the slider.
        low: Lowest value offered (within the schema's range).
        high: Highest value offered.
        step: Slider step.
    """

    field: str
    label: str
    low: float
    high: float
    step: float

    @property
    def name(self) -> str:
        """The keyword argument of ``PairedModel`` (the field's last part)."""
        return self.field.rpartition(".")[2]


POLICY_LEVERS: tuple[Lever, ...] = (
    Lever("enforcement.prosecution_rate", "Prosecution rate", 0.0, 1.0, 0.01),
    Lever("enforcement.conviction_rate", "Conviction rate", 0.0, 1.0, 0.01),
    Lever("enforcement.max_sentence_years", "Maximum sentence (years)", 0.0, 20.0, 0.5),
    Lever("enforcement.fine_multiple", "Fine (multiple of sales)", 0.0, 5.0, 0.1),
    Lever("platform.criminal_threshold_cny", "Criminal threshold (CNY)", 0.0, 250_000.0, 5_000.0),
    Lever("platform.detection_rate", "Platform detection (per listing-week)", 0.0, 0.5, 0.005),
)

INTERACTIVE_SELLERS = 20_000  # about a tenth of the 2016 market: a week of both runs in ~50 ms
INTERACTIVE_WEEKS = 260  # five years after the warm-up
MAX_WARMUP_WEEKS = 104


def lever_values(scenario: Scenario) -> dict[str, float]:
    """The scenario's value of every lever, by lever name."""
    return {lever.name: float(field_value(scenario, lever.field)) for lever in POLICY_LEVERS}


def policy_scenario(
    baseline: Scenario, week: int, values: dict[str, float], announce: bool = True
) -> Scenario:
    """``baseline`` with the levers set to ``values`` from ``week`` on (a scheduled change).

    Args:
        baseline: The scenario as written.
        week: Week the change takes effect.
        values: Lever values by lever name; levers left out, or within half a slider step of
            the baseline's value (a slider cannot show it more exactly), are not changed.
        announce: Whether the change is announced to sellers (ODD 4.4).

    Returns:
        The scenario with the change appended to its schedule (unchanged if nothing changes).
    """
    current = lever_values(baseline)
    changed = {
        lever.field: values[lever.name]
        for lever in POLICY_LEVERS
        if lever.name in values and abs(values[lever.name] - current[lever.name]) > lever.step / 2
    }
    if not changed:
        return baseline
    change = PolicyChange(week=week, set=changed, announce=announce, label="explore page")
    return baseline.model_copy(update={"schedule": [*baseline.schedule, change]})


class PairedModel(mesa.Model):
    """A policy run and its baseline run of one scenario, stepped week by week together.

    Args:
        scenario_file: Scenario file or bundled name (the baseline, as written).
        overrides: ``--set`` overrides of the scenario (its size is then set to the
            interactive scale).
        sellers: Potential sellers of both runs (the interactive scale).
        weeks: Weeks after the warm-up.
        seed: Seed of both runs (one replication; common random numbers).
        announce: Whether the policy change is announced to sellers.
        prosecution_rate: Lever value (``enforcement.prosecution_rate``); None keeps the
            scenario's. The other lever keywords likewise (``POLICY_LEVERS``).
        conviction_rate: Lever value.
        max_sentence_years: Lever value.
        fine_multiple: Lever value.
        criminal_threshold_cny: Lever value.
        detection_rate: Lever value.

    Attributes:
        baseline_scenario: The scenario as written, at the interactive scale.
        policy_scenario: The same with the levers' change scheduled at the end of the warm-up.
        warmup: Weeks both runs share before the change.
        baseline: The baseline run (``DeterrenceModel``).
        policy: The policy run.
    """

    def __init__(
        self,
        scenario_file: str = "baseline_2016",
        overrides: list[str] | None = None,
        sellers: int = INTERACTIVE_SELLERS,
        weeks: int = INTERACTIVE_WEEKS,
        seed: int | None = None,
        announce: bool = True,
        prosecution_rate: float | None = None,
        conviction_rate: float | None = None,
        max_sentence_years: float | None = None,
        fine_multiple: float | None = None,
        criminal_threshold_cny: float | None = None,
        detection_rate: float | None = None,
    ) -> None:
        written = load_scenario(scenario_file, list(overrides or []))
        seed = written.seed if seed is None else int(seed)
        super().__init__(rng=seed)  # Mesa 3.5 deprecates seed=; the same generators on 3.3
        self.warmup = min(written.burn_in_weeks, MAX_WARMUP_WEEKS)
        sized = [
            f"population.sellers={int(sellers)}",
            f"weeks={self.warmup + int(weeks)}",
            f"burn_in_weeks={self.warmup}",
            "replications=1",
        ]
        self.baseline_scenario = load_scenario(scenario_file, [*(overrides or []), *sized])
        chosen = {
            "prosecution_rate": prosecution_rate,
            "conviction_rate": conviction_rate,
            "max_sentence_years": max_sentence_years,
            "fine_multiple": fine_multiple,
            "criminal_threshold_cny": criminal_threshold_cny,
            "detection_rate": detection_rate,
        }
        values = {name: float(value) for name, value in chosen.items() if value is not None}
        self.policy_scenario = policy_scenario(
            self.baseline_scenario, self.warmup, values, announce
        )
        self.seed_value = seed
        self.baseline = DeterrenceModel(self.baseline_scenario, seed)
        self.policy = DeterrenceModel(self.policy_scenario, seed)
        for _ in range(self.warmup):
            self._step_both()

    def step(self) -> None:
        """One week of both runs; the model stops at the scenario's last week."""
        self._step_both()
        self.running = self.policy.week < self.policy_scenario.weeks

    def _step_both(self) -> None:
        self.baseline.step()
        self.policy.step()

    @property
    def weeks_since_change(self) -> int:
        """Weeks simulated since the policy change (0 right after the warm-up)."""
        return self.policy.week - self.warmup

    def timeseries(self) -> pd.DataFrame:
        """Both runs' weekly metrics: ``run`` (``policy`` or ``baseline``), ``week``, metrics.

        ``week`` counts from the policy change (negative during the warm-up).
        """
        frames = []
        for run, model in (("policy", self.policy), ("baseline", self.baseline)):
            frame = model.timeseries()
            frame["week"] -= self.warmup
            frame.insert(0, "run", run)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def latest(self) -> dict[str, dict[str, float]]:
        """The last week's metrics of each run: ``{"policy": {...}, "baseline": {...}}``."""
        week = self.policy.week - 1
        return {
            run: dict(zip(METRIC_NAMES, model.records[week].tolist(), strict=True))
            for run, model in (("policy", self.policy), ("baseline", self.baseline))
        }

    def release(self) -> None:
        """Free both runs (``DeterrenceModel.release``)."""
        self.baseline.release()
        self.policy.release()

    def levers(self) -> dict[str, Any]:
        """The lever values of the policy run after the change, by lever name."""
        current = lever_values(self.baseline_scenario)
        for change in self.policy_scenario.schedule[len(self.baseline_scenario.schedule) :]:
            for field, value in change.set.items():
                current[field.rpartition(".")[2]] = value
        return current
