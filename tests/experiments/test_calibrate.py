"""Calibration: the fit recovers known parameters, and refuses what it cannot identify."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import SERIAL, tiny

from sim.errors import FolderError, OptionError
from sim.experiments.calibrate import calibrate
from sim.experiments.runner import run_scenario
from sim.experiments.targets import DEFAULT_TARGETS, load_targets
from sim.scenario import load_scenario


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


@pytest.mark.slow  # about 60 s: a whole fit
def test_calibration_recovers_known_parameters_from_the_models_own_output(tmp_path):
    # Referrals and cases pursued identify the referral and prosecution rates (each moment
    # moves with its own parameter). Targets: the model's own output at known values, on the
    # same seeds, so the objective is exactly 0 there. At 15,000 sellers the 40 summarised
    # weeks of 3 replications hold about 300 referrals and 190 cases pursued (a sampling error
    # of about 7% on the pursued), so the objective is rough at that scale: the fit must come
    # within about two sampling errors, not be exact.
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
    # Start 60% and 40% off; the fit lands within 15% of both true values.
    assert result.fitted["platform.referral_rate"] == pytest.approx(0.25, rel=0.15)
    assert result.fitted["enforcement.prosecution_rate"] == pytest.approx(0.3, rel=0.15)
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
    with pytest.raises(FolderError, match="already holds a calibration"):
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
    with pytest.raises(OptionError, match="cannot be identified"):
        calibrate(tiny(), targets, params, tmp_path / "cal", SERIAL)


def test_calibrate_force_replaces_only_a_calibration_folder(tmp_path):
    precious = tmp_path / "results"
    precious.mkdir()
    (precious / "keep.csv").write_text("x")
    targets = load_targets(DEFAULT_TARGETS)
    with pytest.raises(FolderError, match="holds no calibration"):
        calibrate(
            tiny(), targets, [("platform.referral_rate", 0.01, 1.0)], precious, SERIAL, force=True
        )
    assert (precious / "keep.csv").exists()
