"""The explore page's model: a policy run beside its baseline on the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.metrics import METRIC_NAMES
from sim.model.paired import POLICY_LEVERS, PairedModel, lever_values, policy_scenario
from sim.scenario import load_scenario, schedulable_fields

SMALL = {"sellers": 1500, "weeks": 12, "overrides": ["burn_in_weeks=8"]}


def test_every_lever_is_a_schedulable_field_within_the_schema():
    for lever in POLICY_LEVERS:
        assert lever.field in schedulable_fields()
        assert lever.low < lever.high


def test_without_a_moved_lever_both_runs_are_the_same():
    model = PairedModel(**SMALL)
    for _ in range(4):
        model.step()
    frame = model.timeseries()
    policy = frame[frame.run == "policy"][list(METRIC_NAMES)].to_numpy()
    baseline = frame[frame.run == "baseline"][list(METRIC_NAMES)].to_numpy()
    np.testing.assert_array_equal(policy, baseline)


def test_a_moved_lever_changes_only_the_weeks_after_the_warm_up():
    model = PairedModel(prosecution_rate=1.0, **SMALL)
    assert model.weeks_since_change == 0
    for _ in range(10):
        model.step()
    frame = model.timeseries()
    before = frame[frame.week < 0]
    assert (
        before[before.run == "policy"]["cases_pursued"].to_numpy()
        == before[before.run == "baseline"]["cases_pursued"].to_numpy()
    ).all()
    after = frame[frame.week >= 0].groupby("run")["cases_pursued"].sum()
    assert after["policy"] > after["baseline"]
    assert model.levers()["prosecution_rate"] == 1.0


def test_the_change_is_a_scheduled_announced_policy_change():
    baseline = load_scenario("baseline_2016")
    changed = policy_scenario(baseline, 52, {"max_sentence_years": 10.0, "fine_multiple": 1.0})
    (change,) = changed.schedule[len(baseline.schedule) :]
    assert change.week == 52 and change.announce
    assert change.set == {"enforcement.max_sentence_years": 10.0}  # fine_multiple is unchanged
    assert policy_scenario(baseline, 52, lever_values(baseline)) is baseline
    # A slider shows 0.0265 as 0.03 (its step is 0.01): within half a step is not a change.
    assert policy_scenario(baseline, 52, {"conviction_rate": 0.03}) is baseline


def test_the_model_stops_at_its_last_week():
    model = PairedModel(**{**SMALL, "weeks": 2})
    model.step()
    assert model.running
    model.step()
    assert not model.running


def test_a_bad_lever_value_names_the_field():
    with pytest.raises(ValueError, match="prosecution_rate"):
        PairedModel(prosecution_rate=1.5, **SMALL)
