"""The calibration targets: the targets file, the comparison table and the targets command."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from helpers import TINY_SET, deter_sim

from sim.errors import ScenarioError
from sim.experiments.statistics import metric_statistics, summarise_replications
from sim.experiments.targets import DEFAULT_TARGETS, load_targets, target_table


def test_the_targets_file_has_the_five_2016_figures_with_sources():
    targets = load_targets(DEFAULT_TARGETS)
    fitted = {t.metric: t.value for t in targets.fitted}
    assert fitted == {
        "referrals": 4500,
        "cases_pursued": 1184,
        "convictions": 33,
        "stores_closed": 180_000,
        "listings_removed": 380_000_000,
    }
    assert all(t.source.strip() for t in targets.targets)
    uses = {t.id: t.use for t in targets.targets}
    assert uses["stores_closed_2017"] == "check"
    assert uses["leads_2017"] == uses["arrests_2017"] == "context"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ntargets: []\n", "targets"),
        ("name: x\ntargets:\n  - {id: a, value: 1, use: fit, figure: f, source: s}\n", "metric"),
        (
            "name: x\ntargets:\n  - {id: a, metric: nope, value: 1, use: fit, figure: f, "
            "source: s}\n",
            "not a model metric",
        ),
        (
            "name: x\ntargets:\n  - {id: a, metric: referrals, value: -1, use: fit, figure: f, "
            "source: s}\n",
            "value",
        ),
        (
            "name: x\ntargets:\n  - {id: a, metric: referrals, value: 1, use: fit, figure: f, "
            "source: s, colour: red}\n",
            "colour",
        ),
        ("name: x\ntargets: [\n", "invalid YAML"),
        ("- 1\n- 2\n", "mapping"),
    ],
)
def test_a_bad_targets_file_names_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_targets(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_a_missing_targets_file_is_refused(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        load_targets(tmp_path / "none.yaml")


def test_target_table_relative_errors_and_tolerance():
    targets = load_targets(DEFAULT_TARGETS)
    stats = pd.DataFrame(
        {
            "metric": ["referrals", "cases_pursued", "convictions", "stores_closed"],
            "mean": [4400.0, 1400.0, 33.0, 200_000.0],
            "ci_low": [4300.0, 1390.0, 30.0, 199_000.0],
            "ci_high": [4500.0, 1410.0, 36.0, 201_000.0],
            "n": [20, 20, 20, 20],
        }
    )
    table = target_table(stats, targets).set_index("id")
    assert table.loc["referrals_2016", "relative_error"] == pytest.approx(-100 / 4500)
    assert table.loc["referrals_2016", "within"]
    assert table.loc["pursued_2016", "relative_error"] == pytest.approx(216 / 1184)
    assert not table.loc["pursued_2016", "within"]
    assert table.loc["convictions_2016", "relative_error"] == 0
    # A metric the model did not report, and context figures, have no model value.
    assert math.isnan(table.loc["listings_removed_2016", "mean"])
    assert math.isnan(table.loc["leads_2017", "mean"])
    # The out-of-sample row is compared, never judged against a tolerance.
    assert table.loc["stores_closed_2017", "relative_error"] == pytest.approx(-40 / 240)
    assert table.loc["stores_closed_2017", "within"] is None


def test_targets_command_runs_a_scenario_and_reads_a_result_folder(tmp_path):
    out = tmp_path / "tg"
    done = deter_sim("targets", "baseline_2016", *TINY_SET, "-o", str(out), "--backend", "serial")
    assert done.returncode == 0, done.stderr
    assert "outside their tolerance" in done.stdout  # 3,000 sellers cannot reach 2016's figures
    table = pd.read_csv(out / "targets.csv")
    assert len(table) == 8 and table.replications.max() == 2
    summary = summarise_replications(pd.read_parquet(out / "timeseries.parquet"), 20)
    stats = metric_statistics(summary).set_index("metric")
    row = table.set_index("id").loc["referrals_2016"]
    assert row["mean"] == pytest.approx(stats.loc["referrals", "mean"])
    again = deter_sim("targets", str(out))
    assert again.returncode == 0, again.stderr
    bad = deter_sim("targets", str(out), "--targets", str(tmp_path / "missing.yaml"))
    assert bad.returncode == 2 and "not found" in bad.stderr
