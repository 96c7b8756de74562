"""Hysteresis: a parameter raised step by step and lowered again; memory shows on the way down."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import TINY_SET, deter_sim, tiny

from sim.errors import OptionError
from sim.experiments.hysteresis import hysteresis_path, hysteresis_scenario, hysteresis_table
from sim.model.metrics import METRIC_NAMES


def test_hysteresis_path_and_scenario():
    assert hysteresis_path([6, 1, 24]) == [1, 6, 24, 6, 1]
    scenario = hysteresis_scenario(tiny(), "enforcement.capacity_per_week", [1, 6, 24], 10)
    assert scenario.enforcement.capacity_per_week == 1
    assert scenario.weeks == 20 + 5 * 10
    assert [(c.week, c.set) for c in scenario.schedule] == [
        (30, {"enforcement.capacity_per_week": 6}),
        (40, {"enforcement.capacity_per_week": 24}),
        (50, {"enforcement.capacity_per_week": 6}),
        (60, {"enforcement.capacity_per_week": 1}),
    ]
    with pytest.raises(OptionError, match="cannot change"):
        hysteresis_scenario(tiny(), "population.sellers", [1, 2], 10)
    with pytest.raises(OptionError, match="two different"):
        hysteresis_scenario(tiny(), "enforcement.capacity_per_week", [3, 3], 10)


def _synthetic_path(memory: float) -> pd.DataFrame:
    """Weekly rows where the metric is the level's value, plus ``memory`` on the way down."""
    path, hold, start = hysteresis_path([1, 2, 4]), 10, 20
    rows = []
    for replication in range(3):
        for week in range(start + len(path) * hold):
            level = max(0, (week - start) // hold)
            value = path[level] * 100 + (memory if level > 2 else 0) + replication
            rows.append(
                {
                    "scenario": "s",
                    "replication": replication,
                    "seed": replication,
                    "week": week,
                    "active_sellers": value,
                }
            )
    frame = pd.DataFrame(rows)
    for name in METRIC_NAMES:
        if name not in frame:
            frame[name] = 0.0
    return frame


@pytest.mark.parametrize("memory", [0.0, 50.0])
def test_hysteresis_table_detects_memory_and_only_memory(memory):
    table = hysteresis_table(_synthetic_path(memory), [1, 2, 4], 10, 20, ["active_sellers"])
    down = table[table.leg == "down"]
    assert list(down.value) == [2, 1]
    expected = 100 * memory / (down.up_mean)
    assert np.allclose(down.change_pct, expected)
    assert list(table.leg) == ["up", "up", "top", "down", "down"]


def test_hysteresis_command_on_a_small_setting(tmp_path):
    done = deter_sim(
        "hysteresis",
        "baseline_2016",
        *TINY_SET,
        "--values",
        "2,20",
        "--hold",
        "10",
        "-o",
        str(tmp_path / "hy"),
        "--backend",
        "serial",
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "hy" / "hysteresis.csv")
    assert set(table.leg) == {"up", "top", "down"}
    assert (tmp_path / "hy" / "hysteresis.png").exists()
