"""Comparing scenarios: pairing, the compare command, figures and the briefing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import DETER_SIM, deter_sim
from PIL import Image

from sim.errors import OptionError
from sim.experiments.compare import compare, read_inputs
from sim.experiments.statistics import PairingError

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
    # Strict drives counterfeit sales off the platform (some move off it, ODD 4.6).
    strict = table[(table.scenario == "strict") & (table.metric == "platform_sales_cny")].iloc[0]
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
    from sim.experiments.runner import Results

    base, strict = Results.load(folders / "baseline_2016"), Results.load(folders / "strict")
    strict.manifest["weeks"] = 41
    with pytest.raises(PairingError, match="weeks differ"):
        compare([base, strict])


def _with(results, **changes):
    """A copy of loaded results whose scenario has other values (dotted names, as keywords)."""
    from sim.scenario import apply_changes

    dotted = {k.replace("__", "."): v for k, v in changes.items()}
    results.scenario = apply_changes(results.scenario, dotted)
    return results


def test_compare_refuses_results_of_another_model_and_names_the_fields(folders):
    from sim.experiments.runner import Results

    base = Results.load(folders / "baseline_2016")
    other = _with(Results.load(folders / "strict"), population__sellers=5000)
    with pytest.raises(PairingError) as error:
        compare([base, other])
    said = str(error.value)
    assert "population.sellers" in said and "not policy levers" in said, said
    assert "--allow-different population.sellers" in said
    # Allowed by name, the comparison is made; policy levers never need it.
    assert len(compare([base, other], allow_different=["population.sellers"]).table)
    lever = _with(Results.load(folders / "strict"), enforcement__fine_multiple=3.0)
    assert len(compare([base, lever]).table)


@pytest.mark.slow  # about 15 s: a run and two plot commands
def test_a_time_series_of_runs_with_other_seeds_is_drawn_side_by_side(folders, tmp_path):
    other = tmp_path / "other"
    done = subprocess.run(
        [DETER_SIM, "run", "strict", *SMALL, "--seed", "7", "-r", "2", "--out", str(other)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    target = tmp_path / "ts.png"
    base = str(folders / "baseline_2016")
    drawn = deter_sim("plot", base, str(other), "--kind", "timeseries", "-o", str(target))
    assert drawn.returncode == 0, drawn.stderr
    with Image.open(target) as image:
        assert "not paired" in image.info["Description"]
    refused = deter_sim("plot", base, str(other), "--kind", "change", "-o", str(tmp_path / "c.png"))
    assert refused.returncode == 2 and "cannot pair" in refused.stderr


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


def test_plot_reads_the_folder_compare_wrote(folders, tmp_path):
    target = tmp_path / "change.png"
    done = deter_sim("plot", str(folders), "--kind", "change", "-o", str(target))
    assert done.returncode == 0, done.stderr
    with Image.open(target) as image:
        assert "scenarios baseline_2016, strict, certainty_only" in image.info["Description"]


def test_plot_functions_return_axes_with_titles_and_units(folders):
    import matplotlib.pyplot as plt

    from sim.experiments.runner import Results
    from sim.reporting.plots import plot_beliefs, plot_change, plot_funnel, plot_timeseries

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


def test_time_series_start_after_the_warm_up_unless_asked(folders):
    import matplotlib.pyplot as plt

    from sim.experiments.runner import Results
    from sim.reporting.plots import plot_beliefs, plot_timeseries

    comparison = compare([Results.load(folders / n) for n in NAMES])
    burn_in = comparison.burn_in_weeks
    assert burn_in > 0
    for draw in (plot_timeseries, plot_beliefs):
        cropped = draw(comparison.timeseries, burn_in_weeks=burn_in)
        whole = draw(comparison.timeseries, burn_in_weeks=burn_in, warm_up=True)
        assert min(line.get_xdata().min() for line in cropped.get_lines()) == burn_in
        assert min(line.get_xdata().min() for line in whole.get_lines()) == 0
        assert "after the warm-up" in cropped.get_title()
        assert "warm-up of" in whole.get_title() and not cropped.patches
        plt.close("all")


def test_plot_shows_the_warm_up_on_request(folders, tmp_path):
    for flags, words in (((), "after the warm-up"), (("--warm-up",), "warm-up of")):
        target = tmp_path / f"series{len(flags)}.svg"
        done = deter_sim("plot", str(folders), "--kind", "timeseries", *flags, "-o", str(target))
        assert done.returncode == 0, done.stderr
        assert words in target.read_text(encoding="utf-8")


def test_brief_is_a_pdf_with_nine_pages(folders, tmp_path):
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
    # title, findings, table, change, funnel, two series, beliefs, notes
    assert len(pages) == 9
    assert b"deter-sim briefing" in data
    # Page 1: the question, the scenarios in words, and what a reader must know first (3
    # replications, a small population).
    from pypdf import PdfReader

    first = " ".join(PdfReader(target).pages[0].extract_text().split())
    assert "like drunk drivers" in first and "Like drunk driving: near-certain" in first, first
    assert "Only 3 replications" in first, first
    assert "off the calibrated scale" in first and "not the calibrated 250,300" in first, first
    # What the validation says, of these scenarios only.
    pages = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(target).pages[:2])
    assert "What the validation says of these scenarios" in pages
    assert "drunk-driving analogy" in pages and "the certainty levers alone" in pages, pages
    assert "one-year surge" not in pages and "honest sellers lose about 15" not in pages


def test_compare_warns_of_few_replications_and_another_population(folders, tmp_path):
    done = deter_sim("compare", *[str(folders / n) for n in NAMES], "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert "warning: only 3 replications" in said and "not the calibrated 250,300" in said


def test_the_inputs_may_not_name_the_same_scenario_twice():
    with pytest.raises(OptionError, match="given twice.*--set name="):
        read_inputs(["strict", "strict"], [])


def test_a_variant_run_beside_its_base_is_compared_under_its_folders_name(folders, tmp_path):
    import shutil

    variant = tmp_path / "strict5"  # a copy of the strict run, as if run with --set
    shutil.copytree(folders / "strict", variant)
    items = read_inputs([str(folders / "strict"), str(variant)], [])
    assert [r.scenario.name for r in items] == ["strict", "strict5"]
    assert set(items[1].summary.scenario) == {"strict5"}
    assert len(compare(items).table)


@pytest.mark.slow  # about 40 s: four compare and brief runs
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


def test_drift_is_said_in_the_table_findings_and_chart_of_its_scenario_and_metric():
    from types import SimpleNamespace

    from sim.reporting.brief import drift_notes

    moving = (
        "active sellers under strict still moves inside the summary window (+40% from weeks "
        "104-155 to weeks 156-207): its yearly figure averages over a moving level"
    )
    drifting = pd.DataFrame(
        {"scenario": ["strict"], "metric": ["active_sellers"], "warning": [moving]}
    )
    comparison = SimpleNamespace(warnings=["only 3 replications: rough", moving], drifting=drifting)
    assert drift_notes(comparison) == [f"A{moving[1:]}."]
    assert drift_notes(comparison, "strict") == drift_notes(comparison, metric="active_sellers")
    assert drift_notes(comparison, "certainty_only") == []
    assert drift_notes(comparison, metric="counterfeit_sales_cny") == []


def test_parameters_that_differ_are_named_in_words_with_units():
    from sim.reporting.brief import parameter_words, readable_value

    assert parameter_words("platform.criminal_threshold_cny").startswith(
        "Cumulative illegal sales at which a closed store is eligible for criminal referral "
        "(CNY of cumulative sales) [platform.criminal_threshold_cny]"
    )
    assert readable_value(50000.0) == "50,000" and readable_value(0.3683) == "0.3683"
    assert readable_value((0.5, 3.0)) == "0.5 to 3" and readable_value([1.0, 0.8]) == "1, 0.8"
