"""The command line, in-process (CliRunner) and as the installed command (subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pandas as pd
import pytest
from helpers import DETER_SIM, ROOT, deter_sim
from typer.testing import CliRunner

from sim._version import __version__
from sim.cli.main import load_app
from sim.experiments.runner import OUTPUT_FILES

app = load_app()  # the deter-sim app with every command registered

SMALL = ["--set", "population.sellers=3000", "--weeks", "40", "--set", "burn_in_weeks=10"]
runner = CliRunner()


def test_installed_command_prints_the_package_version():
    # The console script of this environment runs this package (not another copy): its
    # version is the one of sim._version.
    done = deter_sim("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["deter-sim", __version__]


def test_run_writes_the_five_outputs_and_is_reproducible(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        done = deter_sim(
            "run",
            "scenarios/strict.yaml",
            "--replications",
            "4",
            "--out",
            str(out),
            "--workers",
            "2",
            *SMALL,
        )
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUT_FILES)
    assert (first / "summary.csv").read_bytes() == (second / "summary.csv").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(first / "timeseries.parquet"),
        pd.read_parquet(second / "timeseries.parquet"),
    )
    assert "active_sellers" in done.stdout


def test_run_with_csv_format(tmp_path):
    result = runner.invoke(
        app, ["run", "strict", "-r", "1", "--out", str(tmp_path), "--format", "csv", *SMALL]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "timeseries.csv")
    assert len(table) == 40
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["replications"] == 1


BAD_FILES = {
    "unknown_key.yaml": ("name: x\nenforcment: {prosecution_rate: 0.5}\n", "did you mean"),
    "wrong_type.yaml": ("name: x\npopulation: {sellers: lots}\n", "population.sellers"),
    "out_of_range.yaml": ("name: x\nplatform: {detection_rate: 2}\n", "platform.detection_rate"),
    "malformed.yaml": ("name: x\nweeks: [1\n", "invalid YAML"),
    "empty.yaml": ("", "is empty"),
}


@pytest.mark.parametrize("file_name", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_files_exit_2_with_one_line_and_no_traceback(tmp_path, file_name, command):
    text, expected = BAD_FILES[file_name]
    path = tmp_path / file_name
    path.write_text(text)
    done = deter_sim(command, str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert file_name in lines[0] and expected in lines[0]


def test_cyclic_extends_exits_2(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\nextends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("name: b\nextends: a.yaml\n")
    done = deter_sim("validate", str(tmp_path / "a.yaml"))
    assert done.returncode == 2 and "cyclic extends" in done.stderr


def test_missing_file_exits_2():
    done = deter_sim("run", "no/such/scenario.yaml")
    assert done.returncode == 2
    assert "file not found" in done.stderr and "Traceback" not in done.stderr


def test_bad_set_value_exits_2_naming_set_field_value_and_range(tmp_path):
    done = deter_sim(
        "run", "strict", "--set", "enforcement.prosecution_rate=1.5", "--out", str(tmp_path / "out")
    )
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "--set: enforcement.prosecution_rate" in line and "1.5" in line and "<= 1" in line
    assert not (tmp_path / "out").exists()


def test_bad_input_leaves_earlier_results_untouched(tmp_path):
    out = tmp_path / "out"
    assert (
        runner.invoke(app, ["run", "strict", "-r", "1", "--out", str(out), *SMALL]).exit_code == 0
    )
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = runner.invoke(app, ["run", "strict", "--out", str(out), "--set", "weeks=-3"])
    assert result.exit_code == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_validate_accepts_every_bundled_scenario():
    done = deter_sim("validate", *sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml")))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ok ") == 7


def test_scenarios_lists_the_bundled_scenarios():
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    for name in ("baseline_2016", "strict", "surge"):
        assert name in result.output


def test_schema_prints_a_json_schema():
    done = deter_sim("schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert "enforcement" in schema["properties"]


def test_run_never_overwrites_results_silently(tmp_path):
    out = tmp_path / "out"
    first = runner.invoke(app, ["run", "strict", "-r", "1", "--out", str(out), *SMALL])
    assert first.exit_code == 0, first.output
    before = (out / "manifest.json").read_text()
    again = runner.invoke(app, ["run", "strict", "-r", "1", "--out", str(out), *SMALL])
    assert again.exit_code == 2 and "already holds results; add --force" in again.output
    assert (out / "manifest.json").read_text() == before
    forced = runner.invoke(app, ["run", "strict", "-r", "1", "--out", str(out), "--force", *SMALL])
    assert forced.exit_code == 0, forced.output


def test_run_without_out_goes_to_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        done = runner.invoke(app, ["run", "strict", "-r", "1", *SMALL])
        assert done.exit_code == 0, done.output
    assert (tmp_path / "results" / "strict" / "manifest.json").is_file()
    assert (tmp_path / "results" / "strict-2" / "manifest.json").is_file()


def test_an_unwritable_output_folder_is_refused_before_the_run(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    done = deter_sim("run", "strict", "--out", str(blocked / "out"), *SMALL)
    assert done.returncode == 2
    assert "cannot write the results here" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["compare", "run", "brief", "sweep", "calibrate", "plot"])
def test_help_shows_defaults_in_brackets_and_flags_without_a_type(command):
    done = subprocess.run(
        [DETER_SIM, command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "<bool>" not in text
    assert not re.search(r"\w \.(\s|$)", text), "a default in brackets vanished"
    if command == "compare":
        assert "[the first]" in text and "[all]" in text
