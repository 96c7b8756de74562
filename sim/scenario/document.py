"""A scenario as a whole: run settings, the parameter sections and the schedule.

Validation of a whole scenario (and of dotted changes to one) lives here; the parameters
themselves are declared in ``sim.scenario.schema``, reading files in ``sim.scenario.load``.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from sim.errors import ScenarioError
from sim.scenario.messages import allowed as allowed_values
from sim.scenario.messages import short_repr, suggest
from sim.scenario.schema import (
    SCHEDULABLE_SECTIONS,
    SECTIONS,
    BeliefsParams,
    ChannelsParams,
    EconomicsParams,
    EnforcementParams,
    MarketParams,
    PlatformParams,
    PopulationParams,
    Section,
    param,
)


class PolicyChange(Section):
    """A timed change of parameters.

    ``week`` alone: from that week on. With ``until_week``: a temporary change, reverted to the
    values in force before it at ``until_week``.
    """

    week: int = param(0, "week", "scenario", "Week the change takes effect", ge=0, le=100_000)
    until_week: int | None = param(
        None, "week", "scenario", "Week the change is reverted (temporary change)", ge=1, le=100_000
    )
    label: str = param("", "text", "scenario", "What the change is", max_length=200)
    announce: bool = param(
        False,
        "yes/no",
        "scenario",
        "Whether the change is announced (it then moves the matching perceptions; ODD 4.4)",
    )
    reach: float = param(
        1.0, "share of sellers", "scenario", "Share of sellers an announcement reaches", ge=0, le=1
    )
    set: dict[str, Any] = param(
        {}, "dotted field: value", "scenario", "Fields to change, as section.field: value"
    )

    @model_validator(mode="after")
    def _check(self) -> PolicyChange:
        if self.until_week is not None and self.until_week <= self.week:
            raise ValueError(f"until_week ({self.until_week}) must be after week ({self.week})")
        if not self.set:
            raise ValueError("a policy change needs at least one field under 'set'")
        for key in self.set:
            section, _, name = key.partition(".")
            if section not in SCHEDULABLE_SECTIONS or name not in SECTIONS[section].model_fields:
                allowed = ", ".join(SCHEDULABLE_SECTIONS)
                raise ValueError(
                    f"cannot schedule '{key}': use section.field with a section of {allowed}"
                    + suggest(key, schedulable_fields())
                )
            try:
                setattr(SECTIONS[section](), name, self.set[key])
            except ValidationError as exc:
                error = exc.errors()[0]
                allowed = allowed_values(Scenario, (section, name))
                raise ValueError(
                    f"set.{key}: value {short_repr(self.set[key])} is invalid: {error['msg']}"
                    + (f" ({allowed})" if allowed else "")
                ) from None
        return self


# What a scenario's name may be (it names a results folder).
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}"
_BOUNDS = (
    ("ge", lambda v, limit: v >= limit),
    ("gt", lambda v, limit: v > limit),
    ("le", lambda v, limit: v <= limit),
    ("lt", lambda v, limit: v < limit),
)


def bound_violation(name: str, values: Any) -> str | None:
    """How a value of the dotted numeric field ``name`` leaves its allowed range, or None.

    E.g. ``"value 1.5 is not le 1"`` for a probability of 1.5.
    """
    section, _, field = name.rpartition(".")
    info = (SECTIONS[section] if section else Scenario).model_fields[field]
    for bound in info.metadata:
        for attr, within in _BOUNDS:
            limit = getattr(bound, attr, None)
            if limit is None:
                continue
            for value in values:
                if not within(value, limit):
                    return f"value {value:g} is not {attr} {limit:g}"
    return None


class Scenario(Section):
    """A complete scenario: run settings and the model's parameters."""

    name: str = param(
        "scenario",
        "text",
        "scenario",
        "Scenario name (letters, digits, '_', '-', '.'); names the results folder",
        pattern=f"^{NAME_PATTERN}$",
    )
    description: str = param(
        "", "text", "scenario", "What the scenario represents", max_length=2000
    )
    label: str = param(
        "",
        "text",
        "scenario",
        "A plain name for readers (briefings, tables); the name when empty",
        max_length=80,
    )
    extends: str | None = param(
        None, "path", "scenario", "Base scenario file whose values this one overrides"
    )
    seed: int = param(
        20160801, "integer", "scenario", "Root seed of the replications", ge=0, le=2**63 - 1
    )
    replications: int = param(10, "runs", "scenario", "Independent replications", ge=1, le=100_000)
    weeks: int = param(
        156, "weeks", "scenario", "Weeks simulated (one step = one week)", ge=1, le=5200
    )
    burn_in_weeks: int = param(
        52, "weeks", "scenario", "First weeks excluded from summaries", ge=0, le=5199
    )
    population: PopulationParams = Field(default_factory=PopulationParams)
    economics: EconomicsParams = Field(default_factory=EconomicsParams)
    platform: PlatformParams = Field(default_factory=PlatformParams)
    enforcement: EnforcementParams = Field(default_factory=EnforcementParams)
    beliefs: BeliefsParams = Field(default_factory=BeliefsParams)
    channels: ChannelsParams = Field(default_factory=ChannelsParams)
    market: MarketParams = Field(default_factory=MarketParams)
    schedule: list[PolicyChange] = param(
        [], "list", "scenario", "Timed policy changes", max_length=1000
    )

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.burn_in_weeks >= self.weeks:
            raise ValueError(
                f"burn_in_weeks ({self.burn_in_weeks}) must be less than weeks ({self.weeks})"
            )
        regions = len(self.population.region_shares)
        if len(self.enforcement.regional_leniency) != regions:
            raise ValueError(
                f"enforcement.regional_leniency has {len(self.enforcement.regional_leniency)} "
                f"values but population.region_shares has {regions}: give one per region"
            )
        for change in self.schedule:
            apply_changes(self, change.set)  # raises on a bad value
        return self

    @property
    def regions(self) -> int:
        """Number of regions."""
        return len(self.population.region_shares)


def all_fields() -> list[str]:
    """Every dotted field name a scenario or ``--set`` accepts."""
    top = [name for name in Scenario.model_fields if name not in SECTIONS and name != "extends"]
    nested = [f"{s}.{f}" for s, model in SECTIONS.items() for f in model.model_fields]
    return top + nested


def schedulable_fields() -> list[str]:
    """Dotted field names a scheduled policy change may set."""
    return [f"{s}.{f}" for s in SCHEDULABLE_SECTIONS for f in SECTIONS[s].model_fields]


def format_validation_error(exc: ValidationError, source: str) -> ScenarioError:
    """Every problem of a pydantic error as one ``ScenarioError`` (field, value, allowed).

    The first problem gives the error's field; the others follow on the same line
    (``; and <field>: <detail>``), so that a file with several mistakes shows them all.
    """
    problems = [_problem(error) for error in exc.errors()]
    field, detail = problems[0]
    detail += "".join(f"; and {other}: {said}" for other, said in problems[1:])
    return ScenarioError(source, field, detail)


def _problem(error: Any) -> tuple[str, str]:
    """The field and what is wrong with it, for one problem of a pydantic error."""
    loc = tuple(error["loc"])
    field = ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden":
        parent: Any = Scenario
        for part in loc[:-1]:
            parent = SECTIONS.get(part, parent) if not isinstance(part, int) else PolicyChange
        valid = [f for f in parent.model_fields if f != "extends" or parent is not Scenario]
        prefix = ".".join(str(p) for p in loc[:-1])
        choices = [f"{prefix}.{f}" if prefix else f for f in valid]
        return field, f"unknown field{suggest(field, choices)}; allowed here: {', '.join(valid)}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error":
        return field, message
    if error["type"] == "string_pattern_mismatch":
        message = (
            "start with a letter or digit, then letters, digits, '_', '.' and '-' only, at most "
            "80 characters"
        )
    detail = f"value {short_repr(error.get('input'))} is invalid: {message}"
    allowed = allowed_values(Scenario, loc)
    if allowed:
        detail += f" ({allowed})"
    return field, detail


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data[a][b] = value`` for the dotted ``key`` ``"a.b"``, creating mappings."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def validate_data(data: dict[str, Any], source: str) -> Scenario:
    """Validate a scenario mapping.

    Args:
        data: The merged scenario mapping.
        source: Name shown in error messages.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: with file, field, value and what is allowed.
    """
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc, source) from None


def apply_changes(
    scenario: Scenario, changes: dict[str, Any], source: str = "schedule"
) -> Scenario:
    """Return a copy of ``scenario`` with dotted fields changed, validated like a file.

    Args:
        scenario: The scenario to start from.
        changes: ``{"section.field": value}`` (top-level fields such as ``weeks`` too).
        source: Name shown in error messages.

    Returns:
        A new validated scenario (its schedule unchanged).

    Raises:
        ScenarioError: a field is unknown or a value is invalid.
    """
    data = scenario.model_dump(mode="python", exclude={"schedule", "extends"})
    for key, value in changes.items():
        if key not in all_fields() or key == "schedule":
            raise ScenarioError(source, key, f"unknown field{suggest(key, all_fields())}")
        set_dotted(data, key, value)
    # Validated without the schedule (whose own entries call this function), then put back.
    changed = validate_data(data, source)
    return changed.model_copy(update={"schedule": scenario.schedule})


def is_int_field(name: str) -> bool:
    """Whether the dotted field ``name`` holds an integer (values of it are rounded)."""
    section, _, field = name.rpartition(".")
    model = SECTIONS[section] if section else Scenario
    return model.model_fields[field].annotation is int


def field_value(scenario: Scenario, name: str) -> Any:
    """The value of a dotted field (``"enforcement.prosecution_rate"``, or ``"weeks"``)."""
    section, _, field = name.rpartition(".")
    return getattr(getattr(scenario, section) if section else scenario, field)


def resolved_yaml(scenario: Scenario) -> str:
    """Every parameter actually used, as YAML (``extends`` already applied)."""
    data = scenario.model_dump(mode="json", exclude={"extends"})
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format, for editors."""
    schema = Scenario.model_json_schema()
    schema["title"] = "deter-sim scenario"
    return schema
