"""Comparing scenarios: pairing, the compare command, figures and the briefing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import DETER_SIM
from PIL import Image

from sim.analysis import PairingError
from sim.compare import compare, finding, gather

SMALL = [
    "--set",
    "population.sellers=2000",
    "--weeks",
    "40",
    "--set",
    "burn_in_weeks=10",
    "-r",
    "3",
]
NAMES = ("baseline_2016", "strict", "certainty_only")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    done = subprocess.run(
        [DETER_SIM, "compare", *NAMES, *SMALL, "--out", str(out), "--backend", "serial"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "strict against baseline_2016 (3 paired replications)" in done.stdout
    return out


def test_compare_writes_paired_changes_for_every_scenario(folders):
    table = pd.read_csv(folders / "compare.csv")
    assert set(table.scenario) == {"strict", "certainty_only"}
    assert set(table.baseline) == {"baseline_2016"}
    strict = table[(table.scenario == "strict") & (table.metric == "active_sellers")].iloc[0]
    assert strict.change_pct < 0 and strict.change_pct_ci_low <= strict.change_pct
    assert strict.change_pct <= strict.change_pct_ci_high < 0
    for name in NAMES:
        assert (folders / name / "manifest.json").is_file()


def test_compare_accepts_result_folders_and_a_named_baseline(folders, tmp_path):
    done = subprocess.run(
        [
            DETER_SIM,
            "compare",
            str(folders / "baseline_2016"),
            str(folders / "strict"),
            "--baseline",
            "strict",
            "--metrics",
            "active_sellers,convictions",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "compare.csv")
    assert list(table.metric) == ["active_sellers", "convictions"]
    assert set(table.scenario) == {"baseline_2016"} and set(table.baseline) == {"strict"}


def test_compare_refuses_runs_on_different_seeds(folders, tmp_path):
    other = tmp_path / "other"
    done = subprocess.run(
        [DETER_SIM, "run", "strict", *SMALL, "--seed", "7", "--out", str(other), "-w", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    refused = subprocess.run(
        [DETER_SIM, "compare", str(folders / "baseline_2016"), str(other), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "cannot pair 'strict' with 'baseline_2016'" in refused.stderr
    assert "replication seeds differ" in refused.stderr and "Traceback" not in refused.stderr


def test_compare_refuses_different_weeks(folders):
    from sim.runner import Results

    base, strict = Results.load(folders / "baseline_2016"), Results.load(folders / "strict")
    strict.manifest["weeks"] = 41
    with pytest.raises(PairingError, match="weeks differ"):
        compare([base, strict])


@pytest.mark.parametrize("kind", ["timeseries", "change", "funnel", "beliefs"])
def test_plot_kinds_write_valid_images_with_footer(folders, tmp_path, kind):
    target = tmp_path / f"{kind}.png"
    done = subprocess.run(
        [DETER_SIM, "plot", *[str(folders / n) for n in NAMES], "--kind", kind, "-o", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size[0] >= 1000
        assert "scenarios baseline_2016, strict, certainty_only" in image.info["Description"]


def test_plot_functions_return_axes_with_titles_and_units(folders):
    import matplotlib.pyplot as plt

    from sim.plots import plot_beliefs, plot_change, plot_funnel, plot_timeseries
    from sim.runner import Results

    comparison = compare([Results.load(folders / n) for n in NAMES])
    drawn = {
        "timeseries": plot_timeseries(comparison.timeseries, "active_sellers", 10),
        "change": plot_change(comparison.table, ["active_sellers", "convictions"]),
        "funnel": plot_funnel(comparison.summary_stats),
        "beliefs": plot_beliefs(comparison.timeseries, 10),
    }
    for kind, ax in drawn.items():
        assert ax.get_title(), kind
        assert ax.get_xlabel() or kind == "funnel", kind
        assert ax.get_ylabel() or kind == "change", kind
        scenarios = len(NAMES) - 1 if kind == "change" else len(NAMES)
        assert len(ax.get_legend().get_texts()) >= scenarios, kind
        plt.close(ax.figure)
    assert "sellers" in drawn["timeseries"].get_ylabel()
    assert "%" in drawn["change"].get_xlabel()
    assert plot_funnel(comparison.summary_stats).get_yscale() == "log"


def test_brief_is_a_pdf_with_seven_pages(folders, tmp_path):
    target = tmp_path / "brief.pdf"
    done = subprocess.run(
        [DETER_SIM, "brief", *[str(folders / n) for n in NAMES], "-o", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = target.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", data)
    assert len(pages) == 7
    assert b"deter-sim briefing" in data


def test_findings_are_written_from_the_numbers():
    row = pd.Series(
        {
            "scenario": "strict",
            "baseline": "baseline_2016",
            "metric": "active_sellers",
            "baseline_mean": 100.0,
            "mean": 42.0,
            "change_pct": -58.0,
            "change_pct_ci_low": -61.0,
            "change_pct_ci_high": -55.0,
        }
    )
    assert finding(row) == (
        "Active sellers fall by 58% (95% CI 55-61%) under strict compared with baseline_2016."
    )
    row = row.copy()
    row["change_pct_ci_low"], row["change_pct_ci_high"] = -70.0, 3.0
    assert "not distinguishable from no change" in finding(row)
    rise = row.copy()
    rise["metric"], rise["mean"] = "convictions", 330.0
    rise["change_pct"], rise["change_pct_ci_low"], rise["change_pct_ci_high"] = 230, 200, 260
    assert finding(rise) == (
        "Convictions rise from 100 to 330 a year, 3.3 times (95% CI 3.0-3.6), under strict "
        "compared with baseline_2016."
    )


def test_gather_refuses_the_same_scenario_twice(tmp_path):
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match="given twice"):
        gather(["strict", "strict"], [], tmp_path, {})


def test_compare_and_brief_never_replace_results_silently(folders, tmp_path):
    """A second compare into the same --out is refused; without --out a new folder is used."""
    run = ["compare", "baseline_2016", "strict", *SMALL, "--backend", "serial"]
    out = tmp_path / "cmp"
    first = subprocess.run([DETER_SIM, *run, "--out", str(out)], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    before = (out / "compare.csv").read_bytes()
    again = subprocess.run([DETER_SIM, *run, "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 2
    assert "already holds" in again.stderr and "--force" in again.stderr
    assert "Traceback" not in again.stderr
    assert (out / "compare.csv").read_bytes() == before
    forced = subprocess.run(
        [DETER_SIM, *run, "--out", str(out), "--force"], capture_output=True, text=True
    )
    assert forced.returncode == 0, forced.stderr
    # Default folder: results/compare, then results/compare-2.
    for expected in ("compare", "compare-2"):
        done = subprocess.run([DETER_SIM, *run], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "results" / expected / "compare.csv").exists()
    # brief: an existing PDF is kept unless --force.
    pdf = tmp_path / "brief.pdf"
    pdf.write_bytes(b"%PDF-earlier")
    inputs = [str(folders / n) for n in NAMES]
    kept = subprocess.run(
        [DETER_SIM, "brief", *inputs, "-o", str(pdf)], capture_output=True, text=True
    )
    assert kept.returncode == 2 and "already exists" in kept.stderr
    assert pdf.read_bytes() == b"%PDF-earlier"
    replaced = subprocess.run(
        [DETER_SIM, "brief", *inputs, "-o", str(pdf), "--force"], capture_output=True, text=True
    )
    assert replaced.returncode == 0, replaced.stderr
    assert pdf.read_bytes() != b"%PDF-earlier"
