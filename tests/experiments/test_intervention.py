"""A policy introduced during a run: the scheduled scenario, the yearly windows, the command."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import SERIAL, TINY_SET, deter_sim, small_files_only, tiny

from sim.errors import OptionError, ScenarioError
from sim.experiments.intervention import (
    intervention_scenario,
    policy_changes,
    run_intervention,
    year_windows,
)
from sim.reporting.figures import intervention_figure

# strict from week 10 of a 70-week tiny baseline, one year reported, serial backend.
SMALL_INTERVENTION = (
    *("intervention", "baseline_2016", "strict", *TINY_SET, "--weeks", "70"),
    *("--at", "10", "--years", "1", "--backend", "serial"),
)


def test_intervention_scenario_schedules_the_policys_differences():
    base, strict = tiny(), tiny("strict")
    changes = policy_changes(base, strict)
    assert changes["enforcement.prosecution_rate"] == 0.95
    assert changes["platform.criminal_threshold_cny"] == 10_000
    assert "name" not in changes and "seed" not in changes
    treated = intervention_scenario(base, strict, 30)
    assert treated.enforcement.prosecution_rate == base.enforcement.prosecution_rate
    (entry,) = treated.schedule
    assert entry.week == 30 and entry.set == changes
    assert (treated.seed, treated.weeks, treated.replications) == (
        base.seed,
        base.weeks,
        base.replications,
    )
    with pytest.raises(ScenarioError, match="does not differ"):
        intervention_scenario(base, base, 30)
    bigger = tiny("strict", "population.sellers=5000")
    with pytest.raises(ScenarioError, match="population.sellers"):
        intervention_scenario(base, bigger, 30)
    with pytest.raises(OptionError, match="outside the run"):
        intervention_scenario(base, strict, 60)


def test_year_windows():
    assert year_windows(52, 3, 208) == [
        ("year before", 0, 52),
        ("year 1 after", 52, 104),
        ("year 2 after", 104, 156),
        ("year 3 after", 156, 208),
    ]
    assert year_windows(30, 3, 100) == [("year 1 after", 30, 82)]


def test_intervention_changes_nothing_before_the_policy_and_something_after(tmp_path):
    base = tiny("baseline_2016", "weeks=110", "population.sellers=6000")
    strict = tiny("strict", "weeks=110", "population.sellers=6000")
    result = run_intervention(base, strict, 53, None, 1, ["active_sellers"], tmp_path, SERIAL)
    table = result.table.set_index("window")
    before = table.loc["year before"]
    assert before.change == 0 and before.change_ci_low == 0  # the same runs up to the policy
    assert table.loc["year 1 after", "change_pct_ci_high"] < 0
    assert (tmp_path / "intervention.csv").exists()
    assert intervention_figure(result) == tmp_path / "intervention.png"
    assert (tmp_path / "strict_at_week_53" / "manifest.json").exists()


def test_intervention_command_on_a_small_setting(tmp_path):
    done = deter_sim(*SMALL_INTERVENTION, "-o", str(tmp_path / "iv"))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "iv" / "intervention.csv")
    assert list(table.window.unique()) == ["year 1 after"]
    refused = deter_sim("intervention", "baseline_2016", "baseline_2016", *TINY_SET)
    assert refused.returncode == 2
    assert "does not differ" in refused.stderr and "Traceback" not in refused.stderr


def test_a_schedule_only_policy_must_start_at_its_own_week():
    with pytest.raises(OptionError, match="use --at 52"):
        intervention_scenario(tiny("baseline_2016", "weeks=200"), tiny("surge", "weeks=200"), 30)
    treated = intervention_scenario(
        tiny("baseline_2016", "weeks=200"), tiny("surge", "weeks=200"), 52
    )
    assert [c.week for c in treated.schedule] == [52]


def test_a_full_disk_gives_one_line_and_exit_2(tmp_path):
    done = deter_sim(
        *SMALL_INTERVENTION, "-o", str(tmp_path / "iv"), preexec_fn=small_files_only(8192)
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "File too large" in lines[0], done.stderr
    assert ".saving" not in lines[0]
    assert not (tmp_path / "iv" / "intervention.csv").exists()
