"""Running replications and writing the output files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from helpers import BUNDLED, small

from sim.experiments.runner import OUTPUT_FILES, run_scenario
from sim.model.metrics import ID_COLUMNS, METRIC_NAMES
from sim.model.streams import replication_seeds

REQUIRED_METRICS = (
    "active_sellers listings_live listings_removed stores_closed referrals cases_pursued "
    "cases_dropped convictions jailed fines_cny counterfeit_sales_cny mean_perceived_risk "
    "mean_perceived_sentence_years case_backlog enforcement_cost_cny"
).split()


def test_results_have_the_required_columns():
    results = run_scenario(small("strict", replications=2, weeks=30, burn_in_weeks=10))
    assert list(results.timeseries.columns[:4]) == list(ID_COLUMNS)
    assert set(REQUIRED_METRICS) <= set(results.timeseries.columns)
    assert len(results.timeseries) == 2 * 30
    assert list(results.summary.replication) == [0, 1]
    assert set(REQUIRED_METRICS) <= set(results.summary_stats.metric)


def test_save_writes_the_five_files(tmp_path):
    scenario = small("strict", replications=2, weeks=30, burn_in_weeks=10)
    run_scenario(scenario).save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(OUTPUT_FILES)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["root_seed"] == scenario.seed
    assert manifest["replication_seeds"] == replication_seeds(scenario.seed, 2)
    assert manifest["engine"] == "vector"
    resolved = yaml.safe_load((tmp_path / "scenario.resolved.yaml").read_text())
    assert resolved["enforcement"]["prosecution_rate"] == 0.95
    series = pd.read_parquet(tmp_path / "timeseries.parquet")
    assert list(series.columns) == [*ID_COLUMNS, *METRIC_NAMES]


def test_csv_format_replaces_parquet(tmp_path):
    scenario = small("strict", replications=1, weeks=20, burn_in_weeks=5)
    results = run_scenario(scenario)
    results.save(tmp_path, "parquet")
    results.save(tmp_path, "csv")
    assert (tmp_path / "timeseries.csv").exists()
    assert not (tmp_path / "timeseries.parquet").exists()


def test_results_do_not_depend_on_the_number_of_workers():
    scenario = small("baseline_2016", replications=3, weeks=30, burn_in_weeks=10)
    serial = run_scenario(scenario, workers=1)
    parallel = run_scenario(scenario, workers=2)
    pd.testing.assert_frame_equal(serial.timeseries, parallel.timeseries)
    pd.testing.assert_frame_equal(serial.summary, parallel.summary)


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_scenario_runs(name):
    results = run_scenario(small(name, replications=1, weeks=60, burn_in_weeks=10))
    assert len(results.timeseries) == 60
    assert results.summary.active_sellers.iloc[0] > 0
