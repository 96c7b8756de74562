"""deter-sim as an EMA Workbench model: levers, uncertainties, outcomes (``deter-sim[ema]``).

Exploratory-modelling users run EMA Workbench (experiments over levers and uncertainties, PRIM,
feature scoring); ``ema_model`` hands them deter-sim in its terms::

    from ema_workbench import perform_experiments
    from sim.experiments.ema import ema_model, prim_box

    model = ema_model("baseline_2016", ["population.sellers=5000", "replications=2"])
    experiments, outcomes = perform_experiments(model, scenarios=20, policies=4)
    box = prim_box(experiments, outcomes["active_sellers"] < 40_000)

- The **levers** are the policy parameters of the explore page (``POLICY_LEVERS``), over the
  ranges of its sliders.
- The **uncertainties** are the behavioural parameters: every numeric parameter of the
  ``economics`` and ``beliefs`` sections and of any section that is neither the population, the
  platform nor the enforcement (so the open model's new sections join by themselves), over the
  schema's own bounds; ``ranges`` narrows some of them.
- The **outcomes** are the metrics (``METRIC_NAMES``): each experiment's mean over its
  replications of the yearly totals (flows) or post-burn-in means (stocks), as ``summary.csv``.

EMA Workbench's names must be Python identifiers: a parameter is named after its field
(``prosecution_rate``, ``w_own``), or ``section_field`` where two sections share a field name;
``parameter_fields`` gives the dotted field of each name. Every experiment runs in the calling
process (EMA's evaluator decides how experiments are spread; use its multiprocessing evaluator
for more cores).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from sim.errors import OptionError
from sim.experiments.runner import run_scenario
from sim.model.metrics import METRIC_NAMES
from sim.model.paired import POLICY_LEVERS
from sim.scenario import Scenario, apply_changes, is_int_field, load_scenario
from sim.scenario.schema import SECTIONS

# Sections whose parameters are policy or population, not behaviour.
NOT_BEHAVIOURAL = ("population", "platform", "enforcement")


def schema_bounds(field: str) -> tuple[float, float] | None:
    """The schema's lower and upper bound of a numeric dotted field, or None if it has none."""
    section, _, name = field.partition(".")
    info = SECTIONS[section].model_fields[name]
    if info.annotation not in (float, int):
        return None
    low = high = None
    for bound in info.metadata:
        if getattr(bound, "ge", None) is not None:
            low = float(bound.ge)
        elif getattr(bound, "gt", None) is not None:
            low = math.nextafter(float(bound.gt), math.inf)
        if getattr(bound, "le", None) is not None:
            high = float(bound.le)
        elif getattr(bound, "lt", None) is not None:
            high = math.nextafter(float(bound.lt), -math.inf)
    if low is None or high is None or not low < high:
        return None
    return low, high


def behavioural_fields() -> list[str]:
    """The dotted fields of the behavioural parameters that have bounds in the schema."""
    return [
        f"{section}.{name}"
        for section, params in SECTIONS.items()
        if section not in NOT_BEHAVIOURAL
        for name in params.model_fields
        if schema_bounds(f"{section}.{name}") is not None
    ]


def parameter_fields() -> dict[str, str]:
    """EMA name -> dotted field, for the levers and the uncertainties."""
    fields = [lever.field for lever in POLICY_LEVERS] + behavioural_fields()
    short = [field.rpartition(".")[2] for field in fields]
    return {
        (name if short.count(name) == 1 else field.replace(".", "_")): field
        for name, field in zip(short, fields, strict=True)
    }


def ema_model(
    scenario: str | Scenario = "baseline_2016",
    overrides: list[str] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    name: str = "detersim",
) -> Any:
    """An ``ema_workbench.Model`` that runs ``scenario`` with the sampled values.

    Args:
        scenario: Scenario file, bundled name or ``Scenario`` (its size, replications and seed
            are used for every experiment: keep them small for many experiments).
        overrides: ``--set`` overrides applied to the scenario first.
        ranges: Narrower ranges for some uncertainties or levers, by EMA name or dotted field.
        name: The EMA model's name.

    Returns:
        The EMA Workbench model (levers, uncertainties and outcomes set).

    Raises:
        OptionError: a name in ``ranges`` is neither a lever nor an uncertainty, or its range
            is empty or outside the schema's bounds.
    """
    from ema_workbench import IntegerParameter, Model, RealParameter, ScalarOutcome

    base = load_scenario(scenario, overrides) if isinstance(scenario, str) else scenario
    fields = parameter_fields()
    chosen = _checked_ranges(ranges or {}, fields)
    lever_fields = {lever.field: lever for lever in POLICY_LEVERS}

    def parameter(ema_name: str, field: str) -> Any:
        if field in chosen:
            low, high = chosen[field]
        elif field in lever_fields:
            low, high = lever_fields[field].low, lever_fields[field].high
        else:
            low, high = schema_bounds(field)  # type: ignore[misc]
        if is_int_field(field):
            return IntegerParameter(ema_name, math.ceil(low), math.floor(high))
        return RealParameter(ema_name, low, high)

    def run(**values: float) -> dict[str, float]:
        changes = {fields[key]: value for key, value in values.items()}
        results = run_scenario(apply_changes(base, changes, source="ema_workbench"))
        means = results.summary[list(METRIC_NAMES)].mean()
        return {metric: float(means[metric]) for metric in METRIC_NAMES}

    model = Model(name, function=run)
    model.levers = [parameter(n, f) for n, f in fields.items() if f in lever_fields]
    model.uncertainties = [parameter(n, f) for n, f in fields.items() if f not in lever_fields]
    model.outcomes = [ScalarOutcome(metric) for metric in METRIC_NAMES]
    return model


def prim_box(experiments: Any, cases: Any, threshold: float = 0.8) -> Any:
    """PRIM's first box for ``cases`` (a boolean per experiment), on EMA Workbench 2.5 or 3.x.

    Args:
        experiments: The experiments table of ``perform_experiments`` (EMA's own ``scenario``,
            ``policy`` and ``model`` columns are left out).
        cases: Which experiments are of interest (e.g. ``outcomes["active_sellers"] < 40_000``).
        threshold: The density a box must reach (EMA Workbench 2.5 only; 3.x has none).

    Returns:
        The ``PrimBox`` (``.inspect()``, ``.show_tradeoff()``, ``.peeling_trajectory``).
    """
    from ema_workbench.analysis import prim

    inputs = experiments.drop(
        columns=[c for c in ("scenario", "policy", "model") if c in experiments]
    )
    if "threshold" in inspect.signature(prim.Prim).parameters:
        return prim.Prim(inputs, cases, threshold=threshold).find_box()
    return prim.Prim(inputs, cases).find_box()


def _checked_ranges(
    ranges: dict[str, tuple[float, float]], fields: dict[str, str]
) -> dict[str, tuple[float, float]]:
    """``ranges`` keyed by dotted field, each checked against the schema's bounds."""
    checked = {}
    for key, (low, high) in ranges.items():
        field = fields.get(key, key)
        if field not in fields.values():
            raise OptionError(
                "ranges", key, f"not a lever or uncertainty; allowed: {', '.join(fields)}"
            )
        bounds = schema_bounds(field)
        if not low < high or (bounds and (low < bounds[0] or high > bounds[1])):
            raise OptionError(
                "ranges", key, f"range {low} to {high} is empty or outside the schema's {bounds}"
            )
        checked[field] = (float(low), float(high))
    return checked
