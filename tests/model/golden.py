"""The golden baseline: a fixed small scenario and seed whose summary is stored in the repo."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.experiments.runner import run_scenario
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]  # tests/model/golden.py -> the repository
GOLDEN_FILE = ROOT / "tests" / "golden" / "baseline_small_summary.csv"
GOLDEN_OVERRIDES = [
    "population.sellers=5000",
    "weeks=78",
    "burn_in_weeks=26",
    "replications=3",
    "seed=2016",
]


CLOSED_FILE = ROOT / "tests" / "golden" / "closed_model_summary.csv"


def closed_summary() -> pd.DataFrame:
    """Summary of the golden run with every part of the open model off (``helpers.CLOSED``)."""
    from helpers import CLOSED  # tests/ is on the path under pytest and in update_golden.py

    overrides = [*GOLDEN_OVERRIDES, *(f"{key}={value}" for key, value in CLOSED.items())]
    scenario = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml", overrides)
    return run_scenario(scenario).summary


def golden_summary() -> pd.DataFrame:
    """Summary of the golden run: baseline_2016 shrunk to 5,000 sellers, seed 2016."""
    scenario = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml", GOLDEN_OVERRIDES)
    return run_scenario(scenario).summary
