"""The documentation stays true to the code: every parameter and metric, the sweep commands."""

from __future__ import annotations

from helpers import ROOT

from sim.model.metrics import METRIC_NAMES
from sim.scenario import SECTIONS


def test_every_parameter_is_documented_in_the_odd():
    text = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    missing = [
        f"{section}.{name}"
        for section, model in SECTIONS.items()
        for name in model.model_fields
        if f"`{section}.{name}`" not in text
    ]
    assert not missing, f"not in docs/ODD.md: {missing}"


def test_every_metric_is_documented():
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for metric in METRIC_NAMES:
        assert f"`{metric}`" in odd, metric
        assert f"`{metric}`" in readme, metric


def test_readme_documents_the_sweep_and_dask_usage():
    text = (ROOT / "README.md").read_text()
    assert "deter-sim sweep" in text and "--backend dask --address" in text
