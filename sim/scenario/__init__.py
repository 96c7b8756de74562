"""Scenarios: the parameter table, validation, and reading files (with ``extends`` and ``--set``).

The names most callers need are re-exported here::

    from sim.scenario import Scenario, load_scenario, apply_changes
"""

from sim.scenario.document import (
    NAME_PATTERN,
    PolicyChange,
    Scenario,
    all_fields,
    apply_changes,
    bound_violation,
    field_value,
    is_int_field,
    json_schema,
    resolved_yaml,
    schedulable_fields,
    validate_data,
)
from sim.scenario.load import bundled_scenarios, load_scenario, parse_override
from sim.scenario.schema import SCHEDULABLE_SECTIONS, SECTIONS

__all__ = [
    "NAME_PATTERN",
    "SCHEDULABLE_SECTIONS",
    "SECTIONS",
    "PolicyChange",
    "Scenario",
    "all_fields",
    "apply_changes",
    "bound_violation",
    "bundled_scenarios",
    "field_value",
    "is_int_field",
    "json_schema",
    "load_scenario",
    "parse_override",
    "resolved_yaml",
    "schedulable_fields",
    "validate_data",
]
