"""Shared fixtures: small scenarios that run in a fraction of a second."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sim.scenario import Scenario, apply_changes, load_scenario

ROOT = Path(__file__).resolve().parent.parent
# The installed console script of this environment (its bin folder need not be on PATH).
DETER_SIM = str(Path(sys.executable).parent / "deter-sim")
SCENARIOS = ROOT / "scenarios"

BUNDLED = (
    "baseline_2016",
    "strict",
    "severity_only",
    "certainty_only",
    "exemplary",
    "platform_only",
    "surge",
)

SMALL = {
    "population.sellers": 4000,
    "weeks": 80,
    "burn_in_weeks": 20,
    "replications": 2,
}


def small(name: str = "baseline_2016", **changes: object) -> Scenario:
    """A bundled scenario shrunk to a few thousand sellers, with extra dotted changes."""
    overrides = [f"{key}={value}" for key, value in SMALL.items()]
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", overrides)
    return apply_changes(scenario, changes) if changes else scenario


@pytest.fixture
def small_baseline() -> Scenario:
    return small("baseline_2016")


@pytest.fixture
def small_strict() -> Scenario:
    return small("strict")
