"""Calibration and validation: targets, the fit, elasticities, interventions, hysteresis.

Known-answer tests of the reductions, small real runs of each experiment, and the installed
commands on small settings.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import conftest
import numpy as np
import pandas as pd
import pytest
import yaml

from sim.analysis import metric_statistics, summarise_replications
from sim.calibrate import DEFAULT_TARGETS, calibrate, load_targets, target_table
from sim.errors import ScenarioError
from sim.runner import run_scenario
from sim.scenario import load_scenario
from sim.validation import (
    _against,
    elasticity_points,
    elasticity_table,
    hysteresis_path,
    hysteresis_scenario,
    hysteresis_table,
    intervention_scenario,
    policy_changes,
    run_intervention,
    year_windows,
)

DETER_SIM = conftest.DETER_SIM
SERIAL = {"backend": "serial", "workers": 1, "address": None}
TINY = ["population.sellers=3000", "weeks=60", "burn_in_weeks=20", "replications=2"]
TINY_SET = [arg for item in TINY for arg in ("--set", item)]


def deter_sim(*args: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DETER_SIM, *args], capture_output=True, text=True, timeout=300, **options
    )


# strict from week 10 of a 70-week tiny baseline, one year reported, serial backend.
SMALL_INTERVENTION = (
    *("intervention", "baseline_2016", "strict", *TINY_SET, "--weeks", "70"),
    *("--at", "10", "--years", "1", "--backend", "serial"),
)


def tiny(name: str = "baseline_2016", *extra: str):
    return load_scenario(name, [*TINY, *extra])


# -- targets -------------------------------------------------------------------------------------
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


# -- calibration ---------------------------------------------------------------------------------
def _targets_from(stats: pd.DataFrame, metrics: list[str], path: Path) -> Path:
    means = stats.set_index("metric")["mean"]
    data = {
        "name": "synthetic",
        "targets": [
            {
                "id": m,
                "metric": m,
                "value": float(means[m]),
                "use": "fit",
                "figure": m,
                "source": "the model itself at known parameters",
            }
            for m in metrics
        ],
    }
    path.write_text(yaml.safe_dump(data))
    return path


def test_calibration_recovers_known_parameters_from_the_models_own_output(tmp_path):
    # Referrals and cases pursued identify the referral and prosecution rates (each moment
    # moves with its own parameter). Targets: the model's own output at known values, on the
    # same seeds, so the objective is exactly 0 there. At 15,000 sellers a year has about 100
    # referrals and 30 cases pursued, so the objective is rough at the scale of a few percent:
    # the fit must come close, not exact.
    size = ["population.sellers=15000", "replications=3"]
    truth = tiny(
        "baseline_2016",
        *size,
        "platform.referral_rate=0.25",
        "enforcement.prosecution_rate=0.3",
    )
    observed = run_scenario(truth, backend="serial")
    metrics = ["referrals", "cases_pursued"]
    targets = load_targets(_targets_from(observed.summary_stats, metrics, tmp_path / "t.yaml"))
    start = tiny(
        "baseline_2016",
        *size,
        "platform.referral_rate=0.4",
        "enforcement.prosecution_rate=0.18",
    )
    params = [("platform.referral_rate", 0.01, 1.0), ("enforcement.prosecution_rate", 0.01, 1.0)]
    result = calibrate(
        start, targets, params, tmp_path / "cal", SERIAL, tolerance=0.01, max_evaluations=30
    )
    first, best = result.history.cost.iloc[0], result.history.cost.min()
    assert best < first / 20
    # Start 60% and 40% off; the fit lands within 10% of both true values.
    assert result.fitted["platform.referral_rate"] == pytest.approx(0.25, rel=0.1)
    assert result.fitted["enforcement.prosecution_rate"] == pytest.approx(0.3, rel=0.1)
    fit = result.table[result.table.use == "fit"]
    assert (fit.relative_error.abs() <= 0.1).all()
    # The fitted scenario is written back as a loadable scenario with the fitted values.
    written = load_scenario(tmp_path / "cal" / "calibrated.yaml")
    assert written.platform.referral_rate == pytest.approx(result.fitted["platform.referral_rate"])
    assert written.population.sellers == 15000
    manifest = json.loads((tmp_path / "cal" / "manifest.json").read_text())
    assert manifest["converged"] == result.converged
    assert manifest["evaluations"] == len(result.history)
    # Resuming the same calibration reruns nothing and finds the same point.
    again = calibrate(
        start,
        targets,
        params,
        tmp_path / "cal",
        SERIAL,
        tolerance=0.01,
        max_evaluations=30,
        resume=True,
    )
    assert again.fitted == result.fitted
    indexes = list((tmp_path / "cal" / "evaluations").glob("*/run_index.csv"))
    assert indexes and all(pd.read_csv(p).resumed.all() for p in indexes)
    # A looser stopping rule may be given on resume: it replays the stored points and stops
    # sooner, running nothing new.
    folders = sorted((tmp_path / "cal" / "evaluations").iterdir())
    looser = calibrate(start, targets, params, tmp_path / "cal", SERIAL, tolerance=0.2, resume=True)
    assert len(looser.history) < len(result.history)
    assert sorted((tmp_path / "cal" / "evaluations").iterdir()) == folders
    # Without --resume or --force an existing calibration is refused.
    with pytest.raises(ScenarioError, match="already holds a calibration"):
        calibrate(start, targets, params, tmp_path / "cal", SERIAL)


def test_calibration_refuses_more_parameters_than_targets(tmp_path):
    targets = load_targets(DEFAULT_TARGETS)
    params = [
        ("platform.detection_rate", 0.01, 1.0),
        ("platform.referral_rate", 0.01, 1.0),
        ("platform.strike_per_takedown", 1e-4, 0.1),
        ("enforcement.prosecution_rate", 0.01, 1.0),
        ("enforcement.conviction_rate", 1e-3, 1.0),
        ("economics.sales_median_cny", 10, 1e4),
    ]
    with pytest.raises(ScenarioError, match="cannot be identified"):
        calibrate(tiny(), targets, params, tmp_path / "cal", SERIAL)


# -- elasticities --------------------------------------------------------------------------------
def test_arc_elasticity_known_answer():
    base = tiny()
    points = [
        ("reference", {}),
        ("p low", {"enforcement.prosecution_rate": 0.2}),
        ("p high", {"enforcement.prosecution_rate": 0.3}),
    ]
    summary = pd.DataFrame(
        {
            "point": [0, 0, 1, 1, 2, 2],
            "replication": [0, 1, 0, 1, 0, 1],
            "active_sellers": [90.0, 90.0, 100.0, 110.0, 80.0, 90.0],
        }
    )
    table = elasticity_table(summary, points, base, ["active_sellers"]).iloc[0]
    # Replication 0: (-20 / 90) / (0.1 / 0.25); replication 1: (-20 / 100) / 0.4.
    e = np.array([(-20 / 90) / 0.4, (-20 / 100) / 0.4])
    assert table.elasticity == pytest.approx(e.mean())
    half = 12.706204736174703 * e.std(ddof=1) / math.sqrt(2)
    assert table.ci_low == pytest.approx(e.mean() - half)
    assert table.kind == "certainty"
    # -0.53 with an interval of -0.88 to -0.18 (t with 1 degree of freedom) reaches into the
    # -0.3 to -0.1 of the literature.
    assert table.against_literature == "overlaps"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-0.5, -0.4, "stronger"),
        (-0.2, -0.15, "overlaps"),
        (-0.05, -0.01, "weaker"),
        (0.05, 0.2, "opposite sign"),
        (-0.35, -0.05, "overlaps"),
    ],
)
def test_intervals_against_the_certainty_range(low, high, expected):
    assert _against(low, high, (-0.3, -0.1, "")) == expected


def test_elasticity_points_cap_probabilities_and_refuse_zero():
    strict = tiny("strict")
    points = dict(elasticity_points(strict, ["enforcement.prosecution_rate"], 0.25))
    assert points["enforcement.prosecution_rate high"] == {"enforcement.prosecution_rate": 1.0}
    assert points["enforcement.prosecution_rate low"]["enforcement.prosecution_rate"] == (
        pytest.approx(0.95 * 0.75)
    )
    zero = tiny("baseline_2016", "enforcement.fine_multiple=0")
    with pytest.raises(ScenarioError, match="above 0"):
        elasticity_points(zero, ["enforcement.fine_multiple"], 0.25)
    with pytest.raises(ScenarioError, match="step"):
        elasticity_points(strict, ["enforcement.fine_multiple"], 1.5)


def test_elasticity_command_on_a_small_setting(tmp_path):
    out = tmp_path / "el"
    done = deter_sim(
        "elasticity",
        "baseline_2016",
        *TINY_SET,
        "--param",
        "platform.detection_rate",
        "--param",
        "enforcement.max_sentence_years",
        "-o",
        str(out),
        "--backend",
        "serial",
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    table = pd.read_csv(out / "elasticities.csv")
    assert set(table.parameter) == {"platform.detection_rate", "enforcement.max_sentence_years"}
    assert len(table) == 4 and table.n.eq(2).all()
    assert (out / "elasticities.png").stat().st_size > 10_000
    # Raising platform detection by a quarter cuts active sellers at this setting.
    detection = table[(table.parameter == "platform.detection_rate")]
    assert (detection.elasticity < 0).all()


# -- a policy introduced during a run ------------------------------------------------------------
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
    with pytest.raises(ScenarioError, match="outside the run"):
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
    result = run_intervention(
        base, strict, 53, None, 1, ["active_sellers"], tmp_path, {"backend": "serial"}
    )
    table = result.table.set_index("window")
    before = table.loc["year before"]
    assert before.change == 0 and before.change_ci_low == 0  # the same runs up to the policy
    assert table.loc["year 1 after", "change_pct_ci_high"] < 0
    assert (tmp_path / "intervention.png").exists()
    assert (tmp_path / "strict_at_week_53" / "manifest.json").exists()


def test_intervention_command_on_a_small_setting(tmp_path):
    done = deter_sim(*SMALL_INTERVENTION, "-o", str(tmp_path / "iv"))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "iv" / "intervention.csv")
    assert list(table.window.unique()) == ["year 1 after"]
    refused = deter_sim("intervention", "baseline_2016", "baseline_2016", *TINY_SET)
    assert refused.returncode == 2
    assert "does not differ" in refused.stderr and "Traceback" not in refused.stderr


# -- hysteresis ----------------------------------------------------------------------------------
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
    with pytest.raises(ScenarioError, match="cannot change"):
        hysteresis_scenario(tiny(), "population.sellers", [1, 2], 10)
    with pytest.raises(ScenarioError, match="two different"):
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
    for name in conftest_metrics():
        if name not in frame:
            frame[name] = 0.0
    return frame


def conftest_metrics():
    from sim.metrics import METRIC_NAMES

    return METRIC_NAMES


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


# -- the targets command -------------------------------------------------------------------------
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


# -- hostile input and failing disks for these commands -----------------------------------------
def test_elasticity_refuses_a_field_that_is_not_a_model_parameter():
    with pytest.raises(ScenarioError, match="not a model parameter"):
        elasticity_points(tiny(), ["weeks"], 0.25)


def test_a_schedule_only_policy_must_start_at_its_own_week():
    with pytest.raises(ScenarioError, match="use --at 52"):
        intervention_scenario(tiny("baseline_2016", "weeks=200"), tiny("surge", "weeks=200"), 30)
    treated = intervention_scenario(
        tiny("baseline_2016", "weeks=200"), tiny("surge", "weeks=200"), 52
    )
    assert [c.week for c in treated.schedule] == [52]


def test_calibrate_force_replaces_only_a_calibration_folder(tmp_path):
    precious = tmp_path / "results"
    precious.mkdir()
    (precious / "keep.csv").write_text("x")
    targets = load_targets(DEFAULT_TARGETS)
    with pytest.raises(ScenarioError, match="holds no calibration"):
        calibrate(
            tiny(), targets, [("platform.referral_rate", 0.01, 1.0)], precious, SERIAL, force=True
        )
    assert (precious / "keep.csv").exists()


def _small_file_limit():
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))


def test_a_full_disk_gives_one_line_and_exit_2(tmp_path):
    done = deter_sim(*SMALL_INTERVENTION, "-o", str(tmp_path / "iv"), preexec_fn=_small_file_limit)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "File too large" in lines[0], done.stderr
    assert ".saving" not in lines[0]
    assert not (tmp_path / "iv" / "intervention.csv").exists()
