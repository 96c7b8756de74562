"""Answers over an ensemble of parameter sets (sim.experiments.ensemble, compare --ensemble)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import SERIAL, deter_sim, tiny

from sim.errors import OptionError, ScenarioError
from sim.experiments.compare import compare
from sim.experiments.ensemble import (
    SET_COLUMN,
    compare_on_ensemble,
    ensemble_changes,
    ensemble_points,
    load_ensemble,
)
from sim.experiments.runner import run_scenario
from sim.scenario import field_value

ENSEMBLE = pd.DataFrame(
    {
        SET_COLUMN: [0, 1, 2],
        "enforcement.prosecution_rate": [0.2, 0.3, 0.4],
        "beliefs.w_public": [0.01, 0.02, 0.05],
        "referrals": [4400, 4500, 4600],  # a measured pattern: carried, never applied
    }
)


def _write(tmp_path, table: pd.DataFrame, name: str = "ensemble.csv"):
    path = tmp_path / name
    table.to_csv(path, index=False)
    return path


def test_an_ensemble_file_keeps_the_set_ids_and_the_parameter_columns(tmp_path):
    table = load_ensemble(_write(tmp_path, ENSEMBLE), sets=2)
    assert list(table.columns) == [SET_COLUMN, "enforcement.prosecution_rate", "beliefs.w_public"]
    assert list(table[SET_COLUMN]) == [0, 1]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda t: t.drop(columns=[SET_COLUMN]), "no 'set_id' column"),
        (lambda t: t.assign(set_id=[0, 0, 1]), "distinct whole numbers"),
        (lambda t: t[[SET_COLUMN, "referrals"]], "names no scenario parameter"),
        (lambda t: t.assign(**{"enforcement.prosecution_rate": [0.2, 1.5, 0.3]}), "1.5"),
        (lambda t: t.assign(**{"beliefs.w_public": [0.01, None, 0.02]}), "finite number"),
    ],
    ids=["no set id", "duplicated ids", "no parameter", "out of range", "missing value"],
)
def test_a_bad_ensemble_file_names_the_file_and_the_column(tmp_path, change, said):
    path = _write(tmp_path, change(ENSEMBLE.copy()))
    with pytest.raises(ScenarioError) as error:
        load_ensemble(path)
    assert str(path) in str(error.value) and said in str(error.value), str(error.value)


def test_more_sets_than_the_file_holds_are_refused(tmp_path):
    with pytest.raises(OptionError, match="3"):
        load_ensemble(_write(tmp_path, ENSEMBLE), sets=5)


def test_a_policy_keeps_its_own_values_and_takes_the_sets_for_the_rest():
    baseline, strict = tiny("baseline_2016"), tiny("strict")
    points = ensemble_points([baseline, strict], baseline, ENSEMBLE)
    assert len(points) == 6
    label, changes = points[4]  # strict on set 1
    assert label == "strict/set-1"
    assert changes["enforcement.prosecution_rate"] == field_value(
        strict, "enforcement.prosecution_rate"
    )
    assert changes["beliefs.w_public"] == 0.02
    assert "referrals" not in changes
    _, base_changes = points[1]
    assert base_changes["enforcement.prosecution_rate"] == 0.3


def test_a_scenario_that_differs_in_more_than_its_policy_is_refused():
    with pytest.raises(OptionError, match="weeks"):
        ensemble_points([tiny("baseline_2016"), tiny("strict", "weeks=70")], tiny(), ENSEMBLE)


def test_the_spread_splits_into_parameters_and_noise_as_constructed():
    # Set k changes the metric by effect_k (sd 0.2 across sets) plus noise of sd 0.05 per
    # replication: the parameters' share of the variance of the sets' means is about
    # 0.04 / (0.04 + 0.0025 / 4).
    rng = np.random.default_rng(0)
    rows = []
    effects = rng.normal(-0.3, 0.2, 400)
    for k, effect in enumerate(effects):
        for r in range(4):
            rows.append(
                {"scenario": "base", SET_COLUMN: k, "replication": r, "active_sellers": 100.0}
            )
            value = 100 * (1 + effect + rng.normal(0, 0.05))
            rows.append(
                {"scenario": "policy", SET_COLUMN: k, "replication": r, "active_sellers": value}
            )
    table = ensemble_changes(pd.DataFrame(rows), "base", ["active_sellers"])
    row = table.iloc[0]
    assert row.change_pct == pytest.approx(100 * np.median(effects), abs=1.0)
    assert row.change_pct_low == pytest.approx(100 * np.quantile(effects, 0.05), abs=3.0)
    assert row.share_parameter == pytest.approx(0.04 / (0.04 + 0.0025 / 4), abs=0.01)
    assert row.sets == 400 and row.replications == 4


def test_one_set_at_the_baselines_values_gives_the_ordinary_comparison(tmp_path):
    baseline, strict = tiny("baseline_2016"), tiny("strict")
    at_baseline = pd.DataFrame(
        {SET_COLUMN: [0], "beliefs.w_public": [field_value(baseline, "beliefs.w_public")]}
    )
    over = compare_on_ensemble([baseline, strict], at_baseline, tmp_path / "e", SERIAL)
    plain = compare([run_scenario(s, options=SERIAL) for s in (baseline, strict)])
    for metric in ("active_sellers", "counterfeit_sales_cny", "referrals"):
        a = over.table.set_index("metric").loc[metric, "change_pct"]
        b = plain.table.set_index("metric").loc[metric, "change_pct"]
        assert a == pytest.approx(b, rel=1e-9), metric


def test_runs_of_a_changed_ensemble_are_taken_from_an_earlier_batch_where_identical(tmp_path):
    scenarios = [tiny("baseline_2016"), tiny("strict")]
    old = ENSEMBLE.head(2)
    compare_on_ensemble(scenarios, old, tmp_path / "old", SERIAL)
    # the changed file: the old set 1 comes first (renumbered 0), then a new set
    new = pd.concat([ENSEMBLE.iloc[[1]], ENSEMBLE.iloc[[2]]], ignore_index=True)
    new[SET_COLUMN] = [0, 1]
    reused = compare_on_ensemble(scenarios, new, tmp_path / "new", SERIAL, reuse=tmp_path / "old")
    fresh = compare_on_ensemble(scenarios, new, tmp_path / "fresh", SERIAL)
    index = pd.read_csv(tmp_path / "new" / "run_index.csv")
    labels = pd.read_csv(tmp_path / "new" / "points.csv").set_index("point").label
    taken = set(labels[index.point[index.resumed]])
    assert taken == {"baseline_2016/set-0", "strict/set-0"}  # the shared set only
    pd.testing.assert_frame_equal(reused.table, fresh.table)
    rows = reused.batch.batch.timeseries()
    pd.testing.assert_frame_equal(rows, fresh.batch.batch.timeseries())


def test_runs_to_reuse_from_a_folder_that_holds_none_get_one_line(tmp_path):
    path = _write(tmp_path, ENSEMBLE)
    done = deter_sim(
        "compare", "baseline_2016", "strict", "--ensemble", str(path),
        "--reuse-runs", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 2
    assert "--reuse-runs" in done.stderr and "nothing" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_compare_over_an_ensemble_prints_ranges_and_writes_compare_csv(tmp_path):
    path = _write(tmp_path, ENSEMBLE)
    out = tmp_path / "out"
    done = deter_sim(
        "compare", "baseline_2016", "strict", "--ensemble", str(path), "--sets", "2",
        "--set", "population.sellers=2000", "--weeks", "60", "--set", "burn_in_weeks=20",
        "--replications", "2", "--metrics", "active_sellers,counterfeit_sales_cny",
        "--workers", "2", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "on 2 parameter sets" in done.stdout and "90% of sets" in done.stdout
    table = pd.read_csv(out / "compare.csv")
    assert list(table.metric) == ["active_sellers", "counterfeit_sales_cny"]
    assert (table.sets == 2).all() and (table.replications == 2).all()
    assert (table.change_pct_low <= table.change_pct).all()
    assert (table.change_pct <= table.change_pct_high).all()
    index = pd.read_csv(out / "ensemble" / "run_index.csv")
    assert len(index) == 2 * 2 * 2 and (index.status == "ok").all()
    # Again with --resume: every run is reused and the table is the same.
    before = (out / "compare.csv").read_bytes()
    again = deter_sim(*done.args[1:], "--resume")
    assert again.returncode == 0, again.stderr
    assert pd.read_csv(out / "ensemble" / "run_index.csv").resumed.all()
    assert (out / "compare.csv").read_bytes() == before


def test_elasticities_on_one_set_at_the_baselines_values_are_the_ordinary_ones(tmp_path):
    from sim.experiments.elasticity import run_elasticities

    base = tiny("baseline_2016")
    at_baseline = pd.DataFrame(
        {SET_COLUMN: [7], "beliefs.w_public": [field_value(base, "beliefs.w_public")]}
    )
    levers, metrics = ["enforcement.prosecution_rate"], ["active_sellers"]
    plain = run_elasticities(base, levers, 0.25, metrics, tmp_path / "plain", SERIAL).table
    over = run_elasticities(
        base, levers, 0.25, metrics, tmp_path / "over", SERIAL, ensemble=at_baseline
    )
    assert over.table.elasticity.iloc[0] == pytest.approx(plain.elasticity.iloc[0], rel=1e-12)
    assert over.table.interval.iloc[0] == "90% of sets" and over.table.n.iloc[0] == 1
    per_set = pd.read_csv(tmp_path / "over" / "elasticities_sets.csv")
    assert list(per_set[SET_COLUMN]) == [7]


def test_each_set_moves_the_lever_around_its_own_value_and_the_spread_is_over_sets(tmp_path):
    from sim.experiments.elasticity import run_elasticities

    base = tiny("baseline_2016")
    two = pd.DataFrame({SET_COLUMN: [0, 1], "enforcement.prosecution_rate": [0.2, 0.4]})
    levers = ["enforcement.prosecution_rate"]
    result = run_elasticities(
        base, levers, 0.25, ["active_sellers"], tmp_path / "e", SERIAL, ensemble=two
    )
    per_set = pd.read_csv(tmp_path / "e" / "elasticities_sets.csv").set_index(SET_COLUMN)
    assert per_set.value.to_dict() == {0: 0.2, 1: 0.4}
    assert per_set.low.to_numpy() == pytest.approx([0.15, 0.3])
    row = result.table.iloc[0]
    assert row.elasticity == pytest.approx(per_set.elasticity.median())
    assert row.ci_low == pytest.approx(per_set.elasticity.quantile(0.05))
    assert row.ci_high == pytest.approx(per_set.elasticity.quantile(0.95))


def _at_baseline(base) -> pd.DataFrame:
    return pd.DataFrame(
        {SET_COLUMN: [3], "beliefs.w_public": [field_value(base, "beliefs.w_public")]}
    )


def test_a_run_on_one_set_at_the_baselines_values_is_the_ordinary_run(tmp_path):
    from sim.experiments.ensemble import scenario_over_sets

    base = tiny("baseline_2016")
    per_set, table = scenario_over_sets(base, _at_baseline(base), tmp_path / "e", SERIAL)
    plain = run_scenario(base, options=SERIAL).summary
    for metric in ("active_sellers", "counterfeit_sales_cny", "referrals"):
        row = table.set_index("metric").loc[metric]
        assert row["mean"] == pytest.approx(plain[metric].mean(), rel=1e-12), metric
        assert row.sets == 1
    assert set(per_set[SET_COLUMN]) == {3}


def test_an_intervention_on_one_set_at_the_baselines_values_is_the_ordinary_one(tmp_path):
    from sim.experiments.ensemble import intervention_over_sets
    from sim.experiments.intervention import (
        intervention_scenario,
        run_intervention,
        year_windows,
    )

    base = tiny("baseline_2016", "weeks=90", "burn_in_weeks=20")
    policy = tiny("strict", "weeks=90", "burn_in_weeks=20")
    metrics = ["active_sellers", "counterfeit_sales_cny"]
    plain = run_intervention(base, policy, 30, None, 1, metrics, tmp_path / "p", SERIAL).table
    treated = intervention_scenario(base, policy, 30, None)
    over = intervention_over_sets(
        base, treated, _at_baseline(base), year_windows(30, 1, 90), metrics, tmp_path / "e",
        SERIAL,
    )  # fmt: skip
    both = over.merge(plain, on=["window", "metric"], suffixes=("", "_plain"))
    assert len(both) == 2
    assert both.change_pct.to_numpy() == pytest.approx(both.change_pct_plain.to_numpy(), rel=1e-9)


def test_a_sweep_on_one_set_at_the_baselines_values_is_the_ordinary_sweep(tmp_path):
    from sim.experiments.sweep import run_sweep

    base = tiny("baseline_2016")
    axes = [("enforcement.prosecution_rate", [0.2, 0.5])]
    plain = run_sweep(base, axes, tmp_path / "p", SERIAL).table
    over = run_sweep(base, axes, tmp_path / "e", SERIAL, ensemble=_at_baseline(base)).table
    active = over[over.metric == "active_sellers"].set_index("label")["mean"]
    expected = plain.set_index("label")["active_sellers_mean"]
    assert active.to_dict() == pytest.approx(expected.to_dict(), rel=1e-9)
    per_set = pd.read_csv(tmp_path / "e" / "sweep_sets.csv")
    assert set(per_set["enforcement.prosecution_rate"]) == {0.2, 0.5, 0.2625}


@pytest.mark.parametrize(
    ("command", "table"),
    [
        (["run", "baseline_2016"], "summary.csv"),
        (["intervention", "baseline_2016", "strict", "--at", "20"], "intervention.csv"),
        (["sweep", "baseline_2016", "--grid", "enforcement.prosecution_rate=0.2,0.5"], "sweep.csv"),
        (["elasticity", "baseline_2016", "--param", "enforcement.prosecution_rate"],
         "elasticities.csv"),
    ],
    ids=["run", "intervention", "sweep", "elasticity"],
)  # fmt: skip
def test_each_experiment_command_runs_over_an_ensemble(tmp_path, command, table):
    path = _write(tmp_path, ENSEMBLE)
    out = tmp_path / "out"
    weeks = ["--set", "weeks=80"] if command[0] == "intervention" else ["--weeks", "60"]
    done = deter_sim(
        *command, "--ensemble", str(path), "--sets", "2", "--set", "population.sellers=1500",
        *weeks, "--set", "burn_in_weeks=20", "--replications", "2", "--workers", "2",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 parameter sets" in " ".join(done.stdout.split())
    result = pd.read_csv(out / table)
    assert len(result) and (result["sets" if "sets" in result else "n"] == 2).all()
