"""Elasticities of the model's outputs to its deterrence parameters, against the literature."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers import TINY_SET, deter_sim, tiny

from sim.errors import OptionError
from sim.experiments.elasticity import against_literature, elasticity_points, elasticity_table


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
    assert against_literature(low, high, (-0.3, -0.1, "")) == expected


def test_elasticity_points_cap_probabilities_and_refuse_zero():
    strict = tiny("strict")
    points = dict(elasticity_points(strict, ["enforcement.prosecution_rate"], 0.25))
    assert points["enforcement.prosecution_rate high"] == {"enforcement.prosecution_rate": 1.0}
    assert points["enforcement.prosecution_rate low"]["enforcement.prosecution_rate"] == (
        pytest.approx(0.95 * 0.75)
    )
    zero = tiny("baseline_2016", "enforcement.fine_multiple=0")
    with pytest.raises(OptionError, match="above 0"):
        elasticity_points(zero, ["enforcement.fine_multiple"], 0.25)
    with pytest.raises(OptionError, match="step"):
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


def test_elasticity_refuses_a_field_that_is_not_a_model_parameter():
    with pytest.raises(OptionError, match="not a model parameter"):
        elasticity_points(tiny(), ["weeks"], 0.25)
