"""The lever-ranking map: elasticities of each lever across how perceptions form."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import SERIAL, TINY_SET, deter_sim, tiny
from PIL import Image

from sim.errors import OptionError
from sim.experiments.levers import LEVERS, map_points, ranking, run_lever_map
from sim.experiments.sweep import parse_grid
from sim.reporting.figures import lever_map_figure

SIZE = ("population.sellers=2500", "weeks=50", "burn_in_weeks=20", "replications=2")


def test_every_cell_holds_the_reference_and_each_lever_lowered_and_raised():
    base = tiny(size=SIZE)
    axes = [parse_grid("beliefs.law_awareness=0,1"), parse_grid("beliefs.w_public=0.01,0.1")]
    points, cells = map_points(base, axes, list(LEVERS), 0.25)
    assert len(cells) == 4 and len(points) == 4 * (1 + 2 * len(LEVERS))
    first = points[: 1 + 2 * len(LEVERS)]
    assert first[0][1] == cells[0]
    assert first[1][1]["enforcement.prosecution_rate"] == pytest.approx(
        base.enforcement.prosecution_rate * 0.75
    )
    assert all(changes["beliefs.law_awareness"] == 0 for _, changes in first)


def test_a_lever_cannot_be_an_axis_of_the_map():
    with pytest.raises(OptionError, match="is a lever"):
        map_points(
            tiny(size=SIZE),
            [parse_grid("enforcement.prosecution_rate=0.2,0.4")],
            list(LEVERS),
            0.25,
        )


def test_the_map_gives_an_elasticity_per_cell_lever_and_metric_and_ranks_them(tmp_path):
    base = tiny("strict", size=SIZE)
    axes = [parse_grid("beliefs.law_awareness=0,1")]
    metrics = ["active_sellers", "counterfeit_sales_cny"]
    result = run_lever_map(base, axes, list(LEVERS), 0.25, metrics, tmp_path / "m", SERIAL)
    table = result.table
    assert len(table) == 2 * len(LEVERS) * len(metrics)
    assert set(table.parameter) == set(LEVERS)
    assert table.groupby("cell").at_scenario.first().tolist() == [False, False]
    ranked = pd.read_csv(tmp_path / "m" / "lever_ranking.csv")
    assert len(ranked) == 2 * len(metrics)
    assert set(ranked.stronger) <= {"certainty", "severity"}
    with Image.open(lever_map_figure(result)) as image:
        assert image.size[0] > 600


def test_ranking_names_the_lever_with_the_more_negative_elasticity():
    table = pd.DataFrame(
        {
            "cell": [0, 0, 0],
            "beliefs.w_own": [1.0, 1.0, 1.0],
            "parameter": [
                "enforcement.prosecution_rate",
                "enforcement.conviction_rate",
                "enforcement.max_sentence_years",
            ],
            "kind": ["certainty", "certainty", "severity"],
            "metric": ["active_sellers"] * 3,
            "elasticity": [-0.05, -0.02, -0.08],
            "at_scenario": [True] * 3,
        }
    )
    row = ranking(table).iloc[0]
    assert row.certainty_lever == "enforcement.prosecution_rate"
    assert row.certainty_elasticity == -0.05 and row.stronger == "severity"


@pytest.mark.slow  # about 13 s: the command on a map of four cells
def test_lever_map_command_on_a_small_setting(tmp_path):
    done = deter_sim(
        "lever-map",
        "strict",
        *TINY_SET,
        "--set",
        "population.sellers=1500",
        "--grid",
        "beliefs.w_own=1,20",
        "--lever",
        "enforcement.prosecution_rate",
        "--lever",
        "enforcement.max_sentence_years",
        "--backend",
        "serial",
        "-o",
        str(tmp_path / "m"),
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m" / "lever_map.png").is_file()
    table = pd.read_csv(tmp_path / "m" / "lever_map.csv")
    assert len(table) == 2 * 2 * 2
