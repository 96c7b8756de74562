"""Scenario schema, loading, ``extends`` resolution and ``--set`` overrides.

Every parameter of the model is declared here once, with its unit, its allowed range and its
source (or the word "assumption"). The defaults are the 2016 baseline; ``docs/ODD.md`` lists
the same table for readers.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim.errors import ScenarioError

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
MAX_EXTENDS_DEPTH = 32


def param(default: Any, unit: str, source: str, description: str, **bounds: Any) -> Any:
    """Declare a scenario parameter with its unit, source and bounds.

    Args:
        default: Default value (the 2016 baseline).
        unit: Unit of the value, e.g. ``"CNY per week"``.
        source: Where the value comes from, or ``"assumption"``.
        description: What the parameter means.
        **bounds: Pydantic bounds (``ge``, ``le``, ``gt``, ``lt``, ``min_length``, ...).

    Returns:
        A pydantic ``Field`` carrying the metadata in its JSON schema.
    """
    if isinstance(default, float | int) and not isinstance(default, bool):
        bounds.setdefault("allow_inf_nan", False)
    return Field(
        default,
        description=f"{description} [{unit}; {source}]",
        json_schema_extra={"unit": unit, "source": source},
        **bounds,
    )


class Section(BaseModel):
    """Base for scenario sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class Population(Section):
    """Who the potential counterfeit sellers are (fixed for a run)."""

    sellers: int = param(
        400_000,
        "sellers",
        "calibrated to the 2016 closures (docs/ODD.md section 7)",
        "Potential counterfeit sellers on the platform",
        ge=10,
        le=20_000_000,
    )
    region_shares: list[Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]] = param(
        [0.22, 0.18, 0.14, 0.12, 0.10, 0.09, 0.08, 0.07],
        "share of sellers",
        "assumption (coastal provinces hold most sellers)",
        "Share of sellers in each region (normalised to sum to 1)",
        min_length=1,
        max_length=64,
    )
    listings_median: float = param(
        560.0,
        "counterfeit listings per store",
        "calibrated to the 380 million listings removed in 2016",
        "Median number of counterfeit listings an active store keeps live",
        ge=1,
        le=100_000,
    )
    listings_sigma: float = param(
        0.8, "log-scale s.d.", "assumption", "Spread of listings per store (log-normal)", ge=0, le=3
    )
    network_degree: int = param(
        8,
        "contacts per seller",
        "assumption (small-world, Watts & Strogatz 1998)",
        "Contacts each seller observes in the social network",
        ge=0,
        le=100,
    )
    network_rewiring: float = param(
        0.1,
        "probability",
        "assumption (Watts & Strogatz 1998)",
        "Probability that a ring-lattice contact is replaced by a random seller of the region",
        ge=0,
        le=1,
    )


class Economics(Section):
    """What counterfeiting pays and what sellers give up."""

    sales_median_cny: float = param(
        250.0,
        "CNY per week",
        "calibrated to the 4,500 eligible referrals of 2016",
        "Median weekly counterfeit sales value of an active store",
        gt=0,
        le=1e8,
    )
    sales_sigma: float = param(
        1.2, "log-scale s.d.", "assumption", "Spread of weekly sales (log-normal)", ge=0, le=4
    )
    margin_share: float = param(
        0.4,
        "share of sales",
        "assumption (counterfeit gross margins of 30-60% reported by OECD/EUIPO 2016)",
        "Weekly margin as a share of weekly sales",
        gt=0,
        le=1,
    )
    outside_option_ratio: float = param(
        0.1,
        "share of margin",
        "calibrated to the 2016 closures",
        "Median weekly outside option as a share of the seller's margin",
        ge=0,
        le=100,
    )
    outside_option_sigma: float = param(
        0.6, "log-scale s.d.", "assumption", "Spread of the outside option ratio", ge=0, le=4
    )
    prison_year_cost_cny: float = param(
        60_000.0,
        "CNY per year in prison",
        "assumption (about 1.8 x 2016 urban disposable income of 33,616 CNY, NBS)",
        "Median cost a seller attaches to one year in prison",
        ge=0,
        le=1e9,
    )
    prison_year_cost_sigma: float = param(
        0.7, "log-scale s.d.", "assumption", "Spread of the cost of a prison year", ge=0, le=4
    )
    weekly_discount: float = param(
        0.99,
        "per week",
        "assumption (present bias; Lee & McCrary 2017 find high discount rates)",
        "Weekly discount factor delta used for prison time",
        gt=0,
        le=1,
    )
    decision_noise: float = param(
        0.3,
        "share of margin",
        "assumption",
        "Decision noise tau as a share of the seller's margin (0 = Becker's hard threshold)",
        ge=0,
        le=100,
    )
    stigma_cost_cny: float = param(
        5_000.0, "CNY", "assumption", "Fixed cost k of a criminal sanction", ge=0, le=1e9
    )
    planning_horizon_weeks: float = param(
        26.0,
        "weeks",
        "assumption",
        "Weeks over which a seller spreads the one-off cost of opening a new store",
        ge=1,
        le=520,
    )


class Platform(Section):
    """The platform's notice-and-takedown regime."""

    detection_rate: float = param(
        0.1484,
        "probability per listing per week",
        "calibrated (deter-sim calibrate, docs/VALIDATION.md) to the 2016 targets",
        "Weekly probability that a live counterfeit listing is detected and taken down",
        ge=0,
        le=1,
    )
    strike_per_takedown: float = param(
        0.005678,
        "probability",
        "calibrated (deter-sim calibrate) to the 2016 targets: listings removed and closures",
        "Probability that a takedown counts as a strike against the store",
        ge=0,
        le=1,
    )
    strike_limit: int = param(
        12,
        "strikes",
        "assumption (Taobao's point-based penalty rules)",
        "Strikes at which the platform closes the store",
        ge=1,
        le=10_000,
    )
    reentry_delay_weeks: int = param(
        8,
        "weeks",
        "assumption",
        "Weeks before a seller whose store was closed can open a new one",
        ge=0,
        le=520,
    )
    reentry_cost_cny: float = param(
        500.0,
        "CNY",
        "assumption (deposit and identity for a new store)",
        "One-off cost of opening a new store after a closure",
        ge=0,
        le=1e9,
    )
    relisting_cost_cny: float = param(
        0.1,
        "CNY per takedown",
        "assumption",
        "Cost to the seller of a listing taken down (lost sales and re-listing)",
        ge=0,
        le=1e6,
    )
    criminal_threshold_cny: float = param(
        50_000.0,
        "CNY of cumulative sales",
        "China Criminal Law art. 140 and 2010 prosecution standards: 50,000 CNY",
        "Cumulative illegal sales at which a closed store is eligible for criminal referral",
        ge=0,
        le=1e10,
    )
    referral_rate: float = param(
        0.2101,
        "probability",
        "calibrated (deter-sim calibrate) to the 4,500 eligible cases referred in 2016",
        "Probability that the platform refers an eligible closed store to law enforcement",
        ge=0,
        le=1,
    )
    lawsuits_per_year: float = param(
        6.0,
        "lawsuits per year",
        "assumption (Alibaba filed its first publicised suits against sellers in 2017)",
        "Publicised civil lawsuits the platform brings against large sellers",
        ge=0,
        le=10_000,
    )


class Enforcement(Section):
    """The state's response to the cases it is handed."""

    prosecution_rate: float = param(
        0.2987,
        "probability",
        "calibrated (deter-sim calibrate) to 1,184 of about 4,500 cases pursued in 2016",
        "Probability that a referred case is pursued (before regional leniency)",
        ge=0,
        le=1,
    )
    conviction_rate: float = param(
        0.02575,
        "probability",
        "calibrated (deter-sim calibrate) to about 33 convictions of 1,184 pursued in 2016",
        "Probability that a pursued case ends in a criminal conviction",
        ge=0,
        le=1,
    )
    max_sentence_years: float = param(
        7.0,
        "years",
        "China Criminal Law art. 213-215 before 2021 (raised to 10 years in 2021)",
        "Statutory maximum sentence",
        ge=0,
        le=50,
    )
    fine_multiple: float = param(
        1.0,
        "multiple of cumulative sales",
        "China Criminal Law art. 140: 50%-200% of sales",
        "Fine on conviction as a multiple of illegal sales",
        ge=0,
        le=100,
    )
    capacity_per_week: float = param(
        6.0,
        "cases opened per region per week",
        "assumption",
        "Cases each regional enforcer can open per week",
        ge=0,
        le=1e6,
    )
    regional_leniency: list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = param(
        [1.0, 0.95, 0.9, 0.9, 0.85, 0.8, 0.75, 0.7],
        "factor on the prosecution rate",
        "assumption (local protectionism)",
        "Leniency factor of each region's enforcer (one per region)",
        min_length=1,
        max_length=64,
    )
    case_expiry_weeks: int = param(
        26,
        "weeks",
        "assumption",
        "Weeks a referred case may wait in the queue before it is dropped",
        ge=1,
        le=520,
    )
    processing_weeks: int = param(
        26,
        "weeks",
        "assumption (investigation, detention and trial)",
        "Weeks from pursuit to verdict; the seller is incapacitated meanwhile",
        ge=1,
        le=520,
    )
    huge_amount_cny: float = param(
        250_000.0,
        "CNY of cumulative sales",
        "China Criminal Law art. 213-215 judicial interpretation: 250,000 CNY",
        "Cumulative sales at which the higher sentencing tier applies",
        ge=0,
        le=1e12,
    )
    tier1_sentence_years: tuple[float, float] = param(
        (0.5, 3.0),
        "years (min, max)",
        "China Criminal Law art. 213-215: up to 3 years",
        "Range of sentences for sales between the threshold and the huge amount",
    )
    tier2_min_sentence_years: float = param(
        3.0,
        "years",
        "China Criminal Law art. 213-215: 3 years and more",
        "Lowest sentence in the upper tier (the top is the maximum sentence)",
        ge=0,
        le=50,
    )
    p_publicise_conviction: float = param(
        0.5,
        "probability",
        "assumption",
        "Probability that a conviction is publicised in its region",
        ge=0,
        le=1,
    )
    p_national_news: float = param(
        0.1,
        "probability",
        "assumption",
        "Probability that a publicised conviction reaches national news",
        ge=0,
        le=1,
    )
    cost_per_case_cny: float = param(
        40_000.0,
        "CNY per case pursued",
        "assumption",
        "Cost of investigating and prosecuting one case",
        ge=0,
        le=1e9,
    )
    cost_per_prison_year_cny: float = param(
        30_000.0,
        "CNY per prisoner-year",
        "assumption",
        "Cost of holding one prisoner for a year",
        ge=0,
        le=1e9,
    )

    @model_validator(mode="after")
    def _tiers_ordered(self) -> Enforcement:
        low, high = self.tier1_sentence_years
        if not (0 <= low <= high <= 50) or math.isnan(low) or math.isnan(high):
            raise ValueError(
                f"tier1_sentence_years must be (min, max) with 0 <= min <= max <= 50, "
                f"got {list(self.tier1_sentence_years)}"
            )
        return self


class Beliefs(Section):
    """How sellers perceive the risk and severity of criminal sanction."""

    prior_risk: float = param(
        0.0005,
        "probability per active week",
        "assumption (people overestimate rare risks; Apel 2013)",
        "Prior mean of the perceived weekly probability of criminal sanction",
        gt=0,
        lt=1,
    )
    prior_strength: float = param(
        100.0,
        "pseudo-weeks",
        "assumption",
        "Weight of the prior, a0 + b0, in weeks of experience",
        ge=1e-6,
        le=1e7,
    )
    w_own: float = param(
        50.0, "pseudo-observations", "assumption", "Weight of one's own prosecution", ge=0, le=1e6
    )
    w_peer: float = param(
        0.2,
        "pseudo-observations",
        "assumption",
        "Weight of what one observes of each network contact",
        ge=0,
        le=1e6,
    )
    w_public: float = param(
        0.002,
        "pseudo-observations",
        "assumption",
        "Weight of one publicised conviction or lawsuit in its reach",
        ge=0,
        le=1e6,
    )
    memory: float = param(
        0.98,
        "per week",
        "assumption (about one year of memory)",
        "Share of the deviation from the prior kept from one week to the next",
        ge=0,
        le=1,
    )
    perceived_sentence_share: float = param(
        0.5,
        "share of the maximum sentence",
        "assumption (offenders know the maximum roughly; Apel 2013)",
        "Mean perceived sentence as a share of the statutory maximum",
        ge=0,
        le=1,
    )
    sentence_learning: float = param(
        0.05,
        "per observed sentence",
        "assumption",
        "Weight given to each observed sentence when updating the perceived sentence",
        ge=0,
        le=1,
    )
    law_awareness: float = param(
        0.05,
        "per week",
        "assumption",
        "Weekly pull of the perceived sentence towards the share of the current maximum",
        ge=0,
        le=1,
    )
    takedown_memory: float = param(
        0.9,
        "per week",
        "assumption",
        "Share of the perceived takedown rate kept each active week (own experience)",
        ge=0,
        le=1,
    )


SECTIONS = {
    "population": Population,
    "economics": Economics,
    "platform": Platform,
    "enforcement": Enforcement,
    "beliefs": Beliefs,
}
# Sections a scheduled policy change may touch (the population is fixed for a run).
SCHEDULABLE_SECTIONS = ("economics", "platform", "enforcement", "beliefs")


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
                    + _suggest(key, schedulable_fields())
                )
            try:
                setattr(SECTIONS[section](), name, self.set[key])
            except ValidationError as exc:
                error = exc.errors()[0]
                allowed = _allowed((section, name))
                raise ValueError(
                    f"set.{key}: value {_short(self.set[key])} is invalid: {error['msg']}"
                    + (f" ({allowed})" if allowed else "")
                ) from None
        return self


class Scenario(Section):
    """A complete scenario: run settings and the model's parameters."""

    name: str = param(
        "scenario",
        "text",
        "scenario",
        "Scenario name (letters, digits, '_', '-', '.'); names the results folder",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$",
    )
    description: str = param(
        "", "text", "scenario", "What the scenario represents", max_length=2000
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
    population: Population = Field(default_factory=Population)
    economics: Economics = Field(default_factory=Economics)
    platform: Platform = Field(default_factory=Platform)
    enforcement: Enforcement = Field(default_factory=Enforcement)
    beliefs: Beliefs = Field(default_factory=Beliefs)
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


# ---------------------------------------------------------------------------------------------
# Loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate keys."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from exc
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

MAX_YAML_VALUES = 100_000  # values a scenario file may expand to, aliases followed


def _safe_load(text: str) -> Any:
    """Load YAML safely, refusing alias bombs ("billion laughs") and recursive aliases.

    The document is composed first; its size with every alias expanded is counted on the node
    graph (without building it), and only a document of at most ``MAX_YAML_VALUES`` values is
    constructed.
    """
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    except RecursionError:
        raise _Unreadable("it is nested too deeply (hundreds of levels)") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise _Unreadable(f"a value cannot be read ({str(exc).split(';')[0]})") from None
    finally:
        loader.dispose()


class _Unreadable(yaml.YAMLError):
    """A document PyYAML parses but cannot build safely; ``problem`` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def _usable_path(path: Path, source: str, field: str) -> Path:
    """``path`` resolved, or a ScenarioError if the system refuses the name."""
    try:
        path.exists()
        return path.resolve()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(
            source, field, f"{_short(str(path))} is not a usable file name ({reason})"
        ) from None


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise yaml.composer.ComposerError(
            None, None, "recursive alias (a value that contains itself)", node.start_mark
        )
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    size = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in children)
    open_nodes.discard(key)
    if size > MAX_YAML_VALUES:
        raise yaml.composer.ComposerError(
            None,
            None,
            f"expands to more than {MAX_YAML_VALUES:,} values through aliases (an alias "
            "bomb?); write the values out",
            node.start_mark,
        )
    sizes[key] = size
    return size


def _read_yaml(path: Path, source: str) -> dict[str, Any]:
    if not path.exists():
        raise ScenarioError(source, "", "file not found")
    if path.is_dir():
        raise ScenarioError(source, "", "is a directory, not a scenario file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(
            source, "", "is not a UTF-8 text file (a YAML scenario is expected)"
        ) from None
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot be read ({exc.strerror})") from None
    try:
        data = _safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, "", f"invalid YAML{where}: {problem}") from None
    if data is None:
        raise ScenarioError(source, "", "is empty (a mapping of scenario fields is expected)")
    if not isinstance(data, dict):
        raise ScenarioError(
            source, "", f"is a {type(data).__name__}, but a mapping of scenario fields is expected"
        )
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _resolve_extends(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], list[str]]:
    """Read ``path`` and merge it over its ``extends`` chain; return the data and the sources."""
    path = _usable_path(path, _short(str(path)), "")
    source = _display(path)
    if path in chain:
        cycle = " -> ".join(_display(p) for p in (*chain, path))
        raise ScenarioError(source, "extends", f"cyclic extends: {cycle}")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(source, "extends", f"more than {MAX_EXTENDS_DEPTH} levels of extends")
    data = _read_yaml(path, source)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, [source]
    if not isinstance(base_name, str) or not base_name.strip():
        raise ScenarioError(source, "extends", f"{base_name!r} is not a file name")
    base_path = _usable_path(path.parent / base_name, source, "extends")
    if not base_path.exists() and (SCENARIO_DIR / base_name).exists():
        base_path = (SCENARIO_DIR / base_name).resolve()
    if not base_path.exists():
        raise ScenarioError(source, "extends", f"base scenario '{base_name}' not found")
    base, sources = _resolve_extends(base_path, (*chain, path))
    return _deep_merge(base, data), [*sources, source]


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def all_fields() -> list[str]:
    """Every dotted field name a scenario or ``--set`` accepts."""
    top = [name for name in Scenario.model_fields if name not in SECTIONS and name != "extends"]
    nested = [f"{s}.{f}" for s, model in SECTIONS.items() for f in model.model_fields]
    return top + nested


def schedulable_fields() -> list[str]:
    """Dotted field names a scheduled policy change may set."""
    return [f"{s}.{f}" for s in SCHEDULABLE_SECTIONS for f in SECTIONS[s].model_fields]


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not close and "." in word:
        tail = word.rsplit(".", 1)[-1]
        close = [c for c in choices if c.rsplit(".", 1)[-1] == tail][
            :1
        ] or difflib.get_close_matches(
            tail, [c.rsplit(".", 1)[-1] for c in choices], n=1, cutoff=0.75
        )
        close = [c for c in choices if close and c.endswith("." + close[0])][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _allowed(loc: tuple[Any, ...]) -> str:
    """Describe what a field at ``loc`` allows, from its schema."""
    model: Any = Scenario
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            break
        info = fields[part]
        ann = info.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    if info is None:
        return ""
    bounds = []
    for meta in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{sym} {value:g}" if isinstance(value, float) else f"{sym} {value}")
    kind = getattr(info.annotation, "__name__", str(info.annotation))
    unit = (
        (info.json_schema_extra or {}).get("unit")
        if isinstance(info.json_schema_extra, dict)
        else None
    )
    text = f"allowed: {kind}"
    if bounds:
        text += " " + " and ".join(bounds)
    if unit:
        text += f", in {unit}"
    return text


def _format_validation_error(exc: ValidationError, source: str) -> ScenarioError:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    field = ".".join(str(p) for p in loc)
    more = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    if first["type"] == "extra_forbidden":
        parent: Any = Scenario
        for part in loc[:-1]:
            parent = SECTIONS.get(part, parent) if not isinstance(part, int) else PolicyChange
        valid = [f for f in parent.model_fields if f != "extends" or parent is not Scenario]
        prefix = ".".join(str(p) for p in loc[:-1])
        choices = [f"{prefix}.{f}" if prefix else f for f in valid]
        detail = f"unknown field{_suggest(field, choices)}; allowed here: {', '.join(valid)}{more}"
        return ScenarioError(source, field, detail)
    value = first.get("input")
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    shown = _short(value)
    allowed = _allowed(loc)
    if first["type"] == "value_error":
        detail = message
    else:
        detail = f"value {shown} is invalid: {message}"
        if allowed:
            detail += f" ({allowed})"
    return ScenarioError(source, field, detail + more)


def _short(value: Any) -> str:
    if isinstance(value, int) and abs(value).bit_length() > 200:
        return f"an integer of {len(hex(value)) - 2} hexadecimal digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set dotted.key=value`` string; the value is read as YAML (safely).

    Args:
        text: ``"section.field=value"``.

    Returns:
        The dotted key and the parsed value.

    Raises:
        ScenarioError: the text is not of the form ``key=value`` or names an unknown field.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(
            "--set", text, "expected dotted.field=value, e.g. enforcement.prosecution_rate=0.9"
        )
    if key not in all_fields():
        raise ScenarioError("--set", key, f"unknown field{_suggest(key, all_fields())}")
    try:
        value = _safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError("--set", key, f"value {raw!r} is not valid YAML: {problem}") from None
    return key, value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
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
        raise _format_validation_error(exc, source) from None


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Load a scenario file, resolve ``extends`` and apply ``--set`` overrides.

    Args:
        path: Scenario YAML file. A bare name such as ``strict`` or ``strict.yaml`` that is not
            a file is looked up among the bundled scenarios.
        overrides: ``"section.field=value"`` strings applied after ``extends``.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: the file, an ``extends`` base or an override is invalid.
    """
    path = Path(path)
    _usable_path(path, _short(str(path)), "")
    if not path.exists():
        for candidate in (SCENARIO_DIR / path.name, SCENARIO_DIR / f"{path.name}.yaml"):
            if path.parent == Path(".") and candidate.is_file():
                path = candidate
                break
    data, sources = _resolve_extends(path, ())
    source = sources[-1]
    data = _with_overrides(data, overrides or [])
    try:
        return validate_data(data, source)
    except ScenarioError as exc:
        keys = [text.partition("=")[0].strip() for text in overrides or []]
        if any(exc.field == k or exc.field.startswith(k + ".") for k in keys):
            raise ScenarioError("--set", exc.field, exc.detail) from None
        raise


def _with_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
    return data


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
            raise ScenarioError(source, key, f"unknown field{_suggest(key, all_fields())}")
        _set_dotted(data, key, value)
    # Validated without the schedule (whose own entries call this function), then put back.
    changed = validate_data(data, source)
    return changed.model_copy(update={"schedule": scenario.schedule})


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


def bundled_scenarios() -> list[Path]:
    """The scenario files shipped with deter-sim."""
    return sorted(SCENARIO_DIR.glob("*.yaml"))
