"""deter-sim as an EMA Workbench model (``sim.experiments.ema``; the ``ema`` extra)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.errors import OptionError
from sim.experiments.ema import (
    behavioural_fields,
    ema_model,
    parameter_fields,
    prim_box,
    schema_bounds,
)
from sim.model.metrics import METRIC_NAMES
from sim.model.paired import POLICY_LEVERS
from sim.scenario.schema import SECTIONS

SMALL_RUN = ["population.sellers=500", "replications=1", "weeks=20", "burn_in_weeks=5"]


def test_the_uncertainties_are_the_behavioural_parameters_with_bounds():
    fields = behavioural_fields()
    assert "beliefs.w_own" in fields and "economics.weekly_discount" in fields
    assert not [f for f in fields if f.split(".")[0] in ("population", "platform", "enforcement")]
    every_bounded = [
        f"{s}.{n}"
        for s in SECTIONS
        if s in ("economics", "beliefs")
        for n in SECTIONS[s].model_fields
        if schema_bounds(f"{s}.{n}")
    ]
    assert set(every_bounded) <= set(fields)


def test_bounds_come_from_the_schema():
    assert schema_bounds("beliefs.memory") == (0.0, 1.0)
    low, high = schema_bounds("economics.weekly_discount")  # gt=0: just above zero
    assert 0 < low < 1e-300 and high == 1.0
    assert schema_bounds("population.region_shares") is None  # a list


def test_ema_names_are_identifiers_for_every_lever_and_uncertainty():
    fields = parameter_fields()
    assert all(name.isidentifier() for name in fields)
    assert {lever.field for lever in POLICY_LEVERS} <= set(fields.values())


def test_a_range_outside_the_schema_is_refused():
    pytest.importorskip("ema_workbench")
    with pytest.raises(OptionError, match="w_own"):
        ema_model("baseline_2016", SMALL_RUN, ranges={"w_own": (-1.0, 5.0)})
    with pytest.raises(OptionError, match="not a lever or uncertainty"):
        ema_model("baseline_2016", SMALL_RUN, ranges={"sellers": (10, 20)})


@pytest.mark.integration
def test_experiments_and_prim_run_on_a_small_population():
    pytest.importorskip("ema_workbench")
    from ema_workbench import perform_experiments

    model = ema_model("baseline_2016", SMALL_RUN, ranges={"w_own": (1.0, 50.0)})
    assert [o.name for o in model.outcomes] == list(METRIC_NAMES)
    assert len(model.levers) == len(POLICY_LEVERS)
    experiments, outcomes = perform_experiments(model, scenarios=8, policies=2)
    assert len(experiments) == 16
    assert set(outcomes) == set(METRIC_NAMES)
    assert np.isfinite(outcomes["active_sellers"]).all()

    few_sellers = outcomes["active_sellers"] <= np.median(outcomes["active_sellers"])
    box = prim_box(experiments, few_sellers, threshold=0.5)
    assert len(box.peeling_trajectory) >= 1
