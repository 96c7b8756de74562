"""Sweeps: backends agree, failures are recorded, kills are resumed, figures and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import DETER_SIM, SERIAL, run_rows, set_options, tiny
from PIL import Image

from sim.errors import FolderError, OptionError, ScenarioError
from sim.experiments import batch as batch_module
from sim.experiments.execution import ExecutionOptions
from sim.experiments.sweep import (
    grid_points,
    parse_grid,
    run_sweep,
)
from sim.reporting.figures import sweep_figure

# Smaller than helpers.TINY: a sweep runs many points.
SIZE = ("population.sellers=1500", "weeks=30", "burn_in_weeks=10", "replications=2")
GRID = ["enforcement.prosecution_rate=0.2:0.8:2", "enforcement.max_sentence_years=1,7"]


def _sweep(out: Path, backend: str, workers: int, **kwargs):
    axes = [parse_grid(text) for text in GRID]
    options = ExecutionOptions(backend, workers, kwargs.pop("address", None))
    return run_sweep(tiny(size=SIZE), axes, out, options, **kwargs)


# -- parsing ----------------------------------------------------------------------------------
def test_parse_grid_ranges_and_lists():
    assert parse_grid("enforcement.prosecution_rate=0.1:1.0:10") == (
        "enforcement.prosecution_rate",
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    )
    assert parse_grid("enforcement.max_sentence_years=1,3,5") == (
        "enforcement.max_sentence_years",
        [1, 3, 5],
    )
    # Integer fields get integer steps, without duplicates.
    assert parse_grid("platform.strike_limit=2:4:5") == ("platform.strike_limit", [2, 3, 4])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("enforcement.prosecution_rate", "expected field=lo:hi:n"),
        ("enforcment.prosecution_rate=1", "did you mean 'enforcement.prosecution_rate'"),
        ("enforcement.prosecution_rate=a:b:3", "is not lo:hi:n"),
        ("enforcement.prosecution_rate=0:1:0", "between 1 and 1000"),
        ("seed=1,2", "run setting"),
    ],
)
def test_parse_grid_refuses_bad_axes(text, message):
    with pytest.raises(OptionError, match=message):
        parse_grid(text)


def test_grid_points_put_the_reference_first_and_validate_every_cell():
    axes = [parse_grid(text) for text in GRID]
    points = grid_points(tiny(size=SIZE), axes)
    assert points[0] == ("reference", {})
    assert len(points) == 1 + 2 * 2
    with pytest.raises(ScenarioError, match="less than or equal to 1"):
        grid_points(tiny(size=SIZE), [("enforcement.prosecution_rate", [0.5, 1.5])])


# -- backends -----------------------------------------------------------------------------------
def test_sweep_tables_are_identical_across_backends_and_workers(tmp_path):
    serial = _sweep(tmp_path / "serial", "serial", 1)
    one = _sweep(tmp_path / "process1", "process", 1)
    two = _sweep(tmp_path / "process2", "process", 2)
    dask = _sweep(tmp_path / "dask", "dask", 2)  # a real local Dask cluster on loopback
    assert serial.failed == 0 and len(serial.index) == 5 * 2
    reference = pd.read_csv(tmp_path / "serial" / "sweep.csv")
    rows = run_rows(tmp_path / "serial")
    for name in ("process1", "process2", "dask"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name / "sweep.csv"), reference)
        pd.testing.assert_frame_equal(run_rows(tmp_path / name), rows)
    assert json.loads((tmp_path / "dask" / "manifest.json").read_text())["backend"] == "dask"
    assert one.table is not None and two.table is not None and dask.table is not None
    # Every grid point's replication i used the same seed (common random numbers).
    seeds = rows.groupby("replication")["seed"].nunique()
    assert (seeds == 1).all()


def test_sweep_against_an_existing_dask_scheduler(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        result = _sweep(tmp_path / "remote", "dask", 1, address=cluster.scheduler_address)
    local = _sweep(tmp_path / "local", "serial", 1)
    pd.testing.assert_frame_equal(result.table, local.table)


# -- failures, resume ---------------------------------------------------------------------------
def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real = batch_module.run_replication

    def sometimes_fails(scenario, replication, seed, engine):
        if scenario.enforcement.max_sentence_years == 7 and replication == 1:
            raise RuntimeError("deliberate failure")
        return real(scenario, replication, seed, engine)

    monkeypatch.setattr(batch_module, "run_replication", sometimes_fails)
    result = _sweep(tmp_path / "s", "serial", 1)
    failed = result.index[result.index.status == "failed"]
    # The reference (max sentence 7) and the two grid cells with 7 years fail at replication 1.
    assert len(failed) == 3 and result.failed == 3
    assert set(failed.error) == {"RuntimeError: deliberate failure"}
    assert (result.index.status == "ok").sum() == 7
    index = pd.read_csv(tmp_path / "s" / "run_index.csv")
    assert (index.status == "failed").sum() == 3

    # Resumed without the fault: only the failed runs are done again.
    monkeypatch.setattr(batch_module, "run_replication", real)
    again = _sweep(tmp_path / "s", "serial", 1, resume=True)
    assert again.failed == 0
    assert again.index.resumed.sum() == 7
    clean = _sweep(tmp_path / "clean", "serial", 1)
    pd.testing.assert_frame_equal(again.table, clean.table)


def test_resume_refuses_a_different_batch_and_force_replaces(tmp_path):
    _sweep(tmp_path / "s", "serial", 1)
    axes = [parse_grid("enforcement.prosecution_rate=0.5")]
    options = SERIAL
    with pytest.raises(FolderError, match="different batch"):
        run_sweep(tiny(size=SIZE), axes, tmp_path / "s", options, resume=True)
    with pytest.raises(FolderError, match="already holds a batch; add --resume"):
        run_sweep(tiny(size=SIZE), axes, tmp_path / "s", options)
    replaced = run_sweep(tiny(size=SIZE), axes, tmp_path / "s", options, force=True)
    assert len(replaced.table) == 2


def _cli_sweep(out: Path, *extra: str) -> list[str]:
    args = [DETER_SIM, "sweep", "baseline_2016", "--out", str(out)]
    for item in [*SIZE[:3], "replications=2"]:
        args += ["--set", item]
    args += ["--grid", "enforcement.prosecution_rate=0.1:0.9:5"]
    args += ["--grid", "enforcement.max_sentence_years=1,4,7"]
    return args + list(extra)


@pytest.mark.slow  # about 30 s
def test_a_sweep_killed_with_sigkill_and_resumed_has_the_rows_of_an_uninterrupted_one(tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _cli_sweep(killed, "--backend", "process", "--workers", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = list((killed / "runs").glob("point-*/rep-*.parquet"))
        if len(done) >= 4:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list((killed / "runs").glob("point-*/rep-*.parquet")))
    assert 4 <= finished < 32, "the kill came too late to test anything"
    assert not (killed / "sweep.csv").exists()

    resumed = subprocess.run(
        _cli_sweep(killed, "--backend", "process", "--workers", "2", "--resume"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run(
        _cli_sweep(tmp_path / "whole", "--backend", "serial"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert whole.returncode == 0, whole.stderr
    pd.testing.assert_frame_equal(
        pd.read_csv(killed / "sweep.csv"), pd.read_csv(tmp_path / "whole" / "sweep.csv")
    )
    pd.testing.assert_frame_equal(run_rows(killed), run_rows(tmp_path / "whole"))
    index = pd.read_csv(killed / "run_index.csv")
    assert index.resumed.sum() >= finished and (index.status == "ok").all()
    # No temporary file is left looking like a result.
    assert not [p for p in (killed / "runs").rglob("*") if p.suffix == ".tmp"]


# -- figures and the command line ----------------------------------------------------------------
@pytest.mark.slow  # about 18 s: a sweep and three plot commands
def test_plot_command_writes_png_svg_and_pdf(tmp_path):
    sweep_figure(_sweep(tmp_path / "s", "serial", 1))
    with Image.open(tmp_path / "s" / "heatmap.png") as image:
        assert image.format == "PNG"
        assert "sweep of scenario baseline_2016" in image.info["Description"]
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):
        target = tmp_path / f"h{suffix}"
        done = subprocess.run(
            [DETER_SIM, "plot", str(tmp_path / "s"), "--kind", "heatmap", "-o", str(target)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert target.read_bytes().startswith(magic)
    bad = subprocess.run(
        [DETER_SIM, "plot", str(tmp_path / "s"), "--kind", "sensitivity"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "no sensitivity.csv" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_cli_exit_code_1_when_runs_fail(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sim.cli.main import load_app

    def fails(scenario, replication, seed, engine):
        raise ValueError("boom")

    monkeypatch.setattr(batch_module, "run_replication", fails)
    result = CliRunner().invoke(
        load_app(),
        [
            "sweep",
            "baseline_2016",
            *set_options(SIZE),
            "--grid",
            "enforcement.prosecution_rate=0.5",
            "--backend",
            "serial",
            "--out",
            str(tmp_path / "f"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "4 run(s) failed" in result.output and "ValueError: boom" in result.output
