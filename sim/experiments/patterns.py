"""The patterns a plausible model must reproduce together, and how the model measures them.

A *patterns file* (``calibration/patterns_2016.yaml``) names the uncertain parameters with the
ranges searched, and the patterns: observed figures (``fit``), ranges research has established
(``range``) and out-of-sample figures (``held_out``). Each pattern has a *measure*: a metric's
yearly value, an elasticity to a lever, or the change a policy makes in its first years. A
measure needs runs besides the scenario's own (the lever raised, the policy switched on), its
*variants*; all run on the seeds of the parameter set they belong to. History matching
(``sim.experiments.history``) emulates each measure on the scale of ``emulated``: the log of
a figure, the elasticity or change itself.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.errors import ScenarioError
from sim.experiments.intervention import policy_changes
from sim.experiments.matching import Dimension, Observation
from sim.experiments.statistics import summarise_replications
from sim.model.metrics import METRIC_NAMES
from sim.model.rules import WEEKS_PER_YEAR
from sim.scenario import (
    PolicyChange,
    Scenario,
    all_fields,
    bound_violation,
    field_value,
    is_int_field,
    load_scenario,
    schedulable_fields,
)
from sim.scenario.bundled import calibration_file
from sim.scenario.safe_yaml import load_model_file
from sim.scenario.schema import SECTIONS

DEFAULT_PATTERNS = calibration_file("patterns_2016.yaml")
BASE = "base"  # the variant that is the parameter set's scenario itself
ID = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


def _metric(name: str) -> str:
    if name not in METRIC_NAMES:
        raise ValueError(
            f"metric '{name}' is not a model metric; allowed: {', '.join(METRIC_NAMES)}"
        )
    return name


def _numeric_field(name: str) -> str:
    if name not in all_fields():
        raise ValueError(f"'{name}' is not a scenario field")
    section, _, field = name.rpartition(".")
    if section not in SECTIONS or SECTIONS[section].model_fields[field].annotation not in (
        int,
        float,
    ):
        raise ValueError(f"'{name}' is not a numeric parameter of a section")
    return name


class MeasureBase(BaseModel):
    """What every measure has: the metric it reads."""

    model_config = ConfigDict(extra="forbid")
    metric: str

    @model_validator(mode="after")
    def _known_metric(self) -> Any:
        _metric(self.metric)
        return self


class MetricMeasure(MeasureBase):
    """A metric's yearly value after the burn-in (flows per year, stocks' means)."""

    kind: Literal["metric"]

    @property
    def variant(self) -> str:
        """The run it needs: the parameter set's own."""
        return BASE


class ElasticityMeasure(MeasureBase):
    """``d log(metric) / d log(lever)``: the lever raised by ``step`` on the same seeds."""

    kind: Literal["elasticity"]
    lever: str
    step: float = Field(0.25, gt=0, le=1)

    @model_validator(mode="after")
    def _numeric_lever(self) -> ElasticityMeasure:
        _numeric_field(self.lever)
        return self

    @property
    def variant(self) -> str:
        """The run with the lever raised."""
        return f"lever:{self.lever}:{self.step:g}"


class InterventionMeasure(MeasureBase):
    """Relative change of a metric in year ``year`` after a policy takes effect."""

    kind: Literal["intervention"]
    scenario: str = Field(min_length=1, max_length=200)
    year: int = Field(1, ge=1, le=50)

    @property
    def variant(self) -> str:
        """The run with the policy in force from the end of the burn-in."""
        return f"policy:{self.scenario}"


Measure = Annotated[
    MetricMeasure | ElasticityMeasure | InterventionMeasure, Field(discriminator="kind")
]


class Pattern(BaseModel):
    """One pattern: what the model measures and what it is held against."""

    model_config = ConfigDict(extra="forbid")

    id: str = ID
    use: Literal["fit", "range", "held_out"]
    measure: Measure
    value: float | None = Field(None, allow_inf_nan=False)
    low: float | None = Field(None, allow_inf_nan=False)
    high: float | None = Field(None, allow_inf_nan=False)
    uncertainty: float = Field(gt=0, le=10, allow_inf_nan=False)
    source: str = Field(min_length=1, max_length=2000)
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _check(self) -> Pattern:
        if self.use == "range":
            if self.low is None or self.high is None or self.value is not None:
                raise ValueError("a 'range' pattern has low and high (and no value)")
            if not self.low < self.high:
                raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        elif self.value is None or self.low is not None or self.high is not None:
            raise ValueError(f"a '{self.use}' pattern has a value (and no low or high)")
        if self.on_log_scale:
            if self.value is not None and self.value <= 0:
                raise ValueError("the value of a figure must be above 0")
            if self.uncertainty >= 1:
                raise ValueError("the uncertainty of a figure is a relative error below 1")
        return self

    @property
    def on_log_scale(self) -> bool:
        """Figures are matched by their logs (relative errors); the rest as they are."""
        return self.measure.kind == "metric"

    def observation(self) -> Observation:
        """What history matching holds the measure against, on its emulated scale.

        A figure's uncertainty is a relative error taken as three standard deviations of its
        log (of one plus the figure, so that a run that counts none has a log); a range's is
        the standard deviation of its ends.
        """
        if self.on_log_scale:
            z = math.log1p(self.value)
            return Observation(self.id, z, z, (math.log1p(self.uncertainty) / 3) ** 2)
        low, high = (self.value, self.value) if self.value is not None else (self.low, self.high)
        return Observation(self.id, low, high, self.uncertainty**2)

    def within(self, measured: float) -> bool:
        """Whether a measured value (not emulated) meets the pattern within its uncertainty."""
        if not math.isfinite(measured):
            return False
        if self.on_log_scale:
            return measured > 0 and abs(measured / self.value - 1) <= self.uncertainty
        if self.value is not None:
            return abs(measured - self.value) <= 3 * self.uncertainty
        return self.low - 3 * self.uncertainty <= measured <= self.high + 3 * self.uncertainty


class UncertainParameter(BaseModel):
    """A parameter no figure fixes, and the range searched."""

    model_config = ConfigDict(extra="forbid")

    field: str
    low: float = Field(allow_inf_nan=False)
    high: float = Field(allow_inf_nan=False)
    scale: Literal["linear", "log"] = "linear"
    why: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _check(self) -> UncertainParameter:
        _numeric_field(self.field)
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("a log-scale range must be above 0")
        violation = bound_violation(self.field, (self.low, self.high))
        if violation:
            raise ValueError(
                f"the range {self.low:g} to {self.high:g} leaves the field's allowed values "
                f"({violation})"
            )
        return self

    def dimension(self) -> Dimension:
        """The dimension of the space searched."""
        return Dimension(self.field, self.low, self.high, self.scale == "log")


class PatternSet(BaseModel):
    """A patterns file."""

    model_config = ConfigDict(extra="forbid")

    name: str = ID
    description: str = ""
    parameters: list[UncertainParameter] = Field(min_length=1, max_length=50)
    patterns: list[Pattern] = Field(min_length=1, max_length=100)
    refine: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _check(self) -> PatternSet:
        for what, ids in (
            ("pattern ids", [p.id for p in self.patterns]),
            ("parameter fields", [p.field for p in self.parameters]),
            ("refined fields", self.refine),
        ):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{what} must be unique: {ids}")
        if not self.matched:
            raise ValueError("no pattern has use 'fit' or 'range': nothing to match")
        unknown = [f for f in self.refine if f not in self.fields]
        if unknown:
            raise ValueError(
                f"refine names {unknown}, which are not among the parameters {self.fields}"
            )
        if self.refine and not self.figures:
            raise ValueError("refine needs at least one 'fit' pattern measured by a metric")
        return self

    @property
    def matched(self) -> list[Pattern]:
        """The patterns that choose the parameter sets."""
        return [p for p in self.patterns if p.use != "held_out"]

    @property
    def figures(self) -> list[Pattern]:
        """The fitted patterns measured on the scenario's own runs (what ``refine`` aims at)."""
        return [p for p in self.patterns if p.use == "fit" and p.measure.kind == "metric"]

    @property
    def dimensions(self) -> list[Dimension]:
        """The space searched."""
        return [p.dimension() for p in self.parameters]

    @cached_property
    def fields(self) -> list[str]:
        """The uncertain parameters' dotted names."""
        return [p.field for p in self.parameters]


def load_patterns(path: str | Path) -> PatternSet:
    """Read and validate a patterns file.

    Raises:
        ScenarioError: the file cannot be used (one line: the file, the field, what is
            allowed).
    """
    patterns = load_model_file(path, PatternSet, "patterns file")
    policies_of(patterns, path=path)
    return patterns


def check_patterns(
    patterns: PatternSet, base: Scenario, reference: Scenario, path: str | Path = "patterns"
) -> None:
    """Check that ``base`` can measure every pattern.

    Args:
        patterns: The patterns.
        base: The scenario the parameter sets apply to.
        reference: What the policies are told apart from (``base`` without its overrides).
        path: The patterns file, for messages.

    Raises:
        ScenarioError: a policy changes a field that cannot change during a run, or a year
            after the burn-in ends after the run.
    """
    for i, pattern in enumerate(patterns.patterns):
        if not isinstance(pattern.measure, InterventionMeasure):
            continue
        field = f"patterns.{i}.measure"
        policy_of(_load(pattern.measure.scenario, path, f"{field}.scenario"), reference, path)
        weeks_needed = base.burn_in_weeks + pattern.measure.year * WEEKS_PER_YEAR
        if weeks_needed > base.weeks:
            raise ScenarioError(
                str(path),
                f"{field}.year",
                f"year {pattern.measure.year} after the burn-in of '{base.name}' ends after its "
                f"{base.weeks} weeks",
            )


def policy_of(policy: Scenario, reference: Scenario, path: str | Path = "") -> dict[str, Any]:
    """The changes that make ``policy`` of ``reference`` (fields that may change in a run).

    Raises:
        ScenarioError: the policy differs in a field that cannot change during a run.
    """
    changes = policy_changes(reference, policy)
    fixed = sorted(set(changes) - set(schedulable_fields()))
    if fixed:
        raise ScenarioError(
            str(path) or policy.name,
            fixed[0],
            f"'{policy.name}' differs from '{reference.name}' in {fixed[0]}, which cannot "
            "change during a run",
        )
    return changes


def _load(name: str, path: str | Path, field: str) -> Scenario:
    try:
        return load_scenario(name)
    except ScenarioError as exc:
        raise ScenarioError(str(path), field, f"'{name}': {exc.detail}") from None


def set_changes(patterns: PatternSet, values: dict[str, float]) -> dict[str, Any]:
    """The changes a parameter set makes (integers rounded, floats to 7 significant figures)."""
    changes = {}
    for name in patterns.fields:
        value = float(values[name])
        changes[name] = round(value) if is_int_field(name) else float(f"{value:.7g}")
    return changes


def variants(patterns: list[Pattern]) -> list[str]:
    """The runs a parameter set needs to measure ``patterns``: the scenario's, then the rest."""
    return list(dict.fromkeys([BASE, *(p.measure.variant for p in patterns)]))


def variant_point(
    base: Scenario, changes: dict[str, Any], variant: str, policies: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The batch changes of one variant of a parameter set (a ``schedule`` for a policy)."""
    if variant == BASE:
        return dict(changes)
    kind, _, rest = variant.partition(":")
    if kind == "lever":
        lever, _, step = rest.rpartition(":")
        value = float(changes.get(lever, field_value(base, lever))) * (1 + float(step))
        return changes | {lever: round(value) if is_int_field(lever) else value}
    change = PolicyChange(
        week=base.burn_in_weeks, label=f"{rest} from week {base.burn_in_weeks}", set=policies[rest]
    )
    return changes | {"schedule": [change.model_dump(mode="json", exclude_none=True)]}


def policies_of(
    patterns: PatternSet, reference: Scenario | None = None, path: str | Path = "patterns"
) -> dict[str, dict[str, Any]]:
    """The changes of each policy the intervention measures name (loaded once).

    Without a ``reference`` the policies are only loaded (checked) and their changes empty.
    """
    policies: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(patterns.patterns):
        if p.measure.kind == "intervention" and p.measure.scenario not in policies:
            policy = _load(p.measure.scenario, path, f"patterns.{i}.measure.scenario")
            changes = policy_of(policy, reference, path) if reference is not None else {}
            policies[p.measure.scenario] = changes
    return policies


def measure(pattern: Pattern, runs: dict[str, pd.DataFrame], base: Scenario) -> np.ndarray:
    """The measure of one pattern per replication, from the weekly rows of each variant.

    Args:
        pattern: The pattern.
        runs: The weekly rows of each variant (``replication`` and ``week`` columns), the
            replications on the same seeds across variants.
        base: The scenario (its burn-in).

    Returns:
        One value per replication, on the measure's own scale (not the log).
    """
    m = pattern.measure
    if m.kind == "metric":
        return yearly(runs[BASE], base.burn_in_weeks, None)[m.metric].to_numpy()
    if m.kind == "elasticity":
        before = yearly(runs[BASE], base.burn_in_weeks, None)[m.metric].to_numpy()
        after = yearly(runs[m.variant], base.burn_in_weeks, None)[m.metric].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(after / before) / math.log1p(m.step)
    first = base.burn_in_weeks + (m.year - 1) * WEEKS_PER_YEAR
    end = first + WEEKS_PER_YEAR
    before = yearly(runs[BASE], first, end)[m.metric].to_numpy()
    after = yearly(runs[m.variant], first, end)[m.metric].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return after / before - 1


def yearly(rows: pd.DataFrame, first: int, end: int | None) -> pd.DataFrame:
    """Per replication (in order), each metric's yearly value over weeks [first, end)."""
    if end is not None:
        rows = rows[rows.week < end]
    rows = rows.assign(scenario="", seed=0) if "scenario" not in rows else rows
    return summarise_replications(rows, first).sort_values("replication")


def emulated(pattern: Pattern, values: np.ndarray) -> np.ndarray:
    """A measure on the scale history matching emulates it on (``log(1 + figure)``)."""
    values = np.asarray(values, dtype=float)
    if not pattern.on_log_scale:
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values >= 0, np.log1p(values), np.nan)
