"""Sensitivity analyses: parameter ranges, Sobol indices of a known function, Morris runs."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import SERIAL, tiny
from PIL import Image

from sim.errors import OptionError
from sim.experiments.sensitivity import analyse, design, parse_param, run_sensitivity
from sim.reporting.figures import sensitivity_figure

# The size of the sweeps' tests, one replication per point.
SIZE = ("population.sellers=1500", "weeks=30", "burn_in_weeks=10", "replications=1")


def test_parse_param_bounds():
    assert parse_param("platform.detection_rate=0.1:0.3") == ("platform.detection_rate", 0.1, 0.3)
    with pytest.raises(OptionError, match="must be below"):
        parse_param("platform.detection_rate=0.3:0.1")


def test_sobol_indices_of_a_known_function():
    params = [("a", 0.0, 1.0), ("b", 0.0, 1.0), ("c", 0.0, 1.0)]
    problem, matrix = design(params, "sobol", 256, seed=3)
    # y = 4a + b: a explains 16/17 of the variance, b 1/17, c nothing.
    outputs = pd.DataFrame({"y": 4 * matrix[:, 0] + matrix[:, 1]})
    table = analyse("sobol", problem, matrix, outputs, seed=3).set_index(["parameter", "index"])
    assert table.loc[("a", "S1"), "value"] == pytest.approx(16 / 17, abs=0.05)
    assert table.loc[("b", "ST"), "value"] == pytest.approx(1 / 17, abs=0.02)
    assert abs(table.loc[("c", "ST"), "value"]) < 0.01
    low, high = table.loc[("a", "S1"), ["ci_low", "ci_high"]]
    assert low < 16 / 17 < high


def test_morris_sensitivity_of_the_model_writes_indices_and_its_chart_draws(tmp_path):
    base = tiny(size=SIZE)
    params = [("platform.detection_rate", 0.05, 0.4), ("economics.stigma_cost_cny", 0.0, 1.0)]
    result = run_sensitivity(base, params, "morris", 3, ["active_sellers"], tmp_path / "m", SERIAL)
    table = result.table
    assert set(table.parameter) == {p for p, _, _ in params}
    assert set(table["index"]) == {"mu_star", "sigma"}
    mu = table[table["index"] == "mu_star"].set_index("parameter")["value"]
    # Detection matters for who is active; a stigma cost of at most 1 CNY does not.
    assert mu["platform.detection_rate"] > 10 * mu["economics.stigma_cost_cny"]
    assert (tmp_path / "m" / "sensitivity.csv").is_file()
    with Image.open(sensitivity_figure(result)) as image:
        assert image.size[0] > 600


def test_a_small_design_or_wide_intervals_are_warned_of():
    import pandas as pd

    from sim.experiments.sensitivity import sample_warnings

    wide = pd.DataFrame({"index": ["S1", "ST"], "conf": [0.28, 0.05]})
    said = sample_warnings("sobol", 64, wide)
    assert len(said) == 2 and "64 base samples" in said[0] and "+-0.28" in said[1]
    assert sample_warnings("sobol", 1024, wide.assign(conf=[0.05, 0.02])) == []
    assert "4 trajectories" in sample_warnings("morris", 4, pd.DataFrame())[0]
    assert sample_warnings("morris", 20, pd.DataFrame()) == []
