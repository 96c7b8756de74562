"""The benchmark script runs and writes its figures (a smoke test at small sizes, not a timing)."""

from __future__ import annotations

import json
import subprocess
import sys

import mesa
import pytest
from helpers import ROOT

KEYS = (
    "agents_weeks_per_s_10k",
    "vector_weeks_per_s_10k",
    "ratio_10k",
    "vector_weeks_per_s_1m",
    "bytes_per_seller_1m",
    "seconds_per_full_replication",
    "help_import_s",
)


@pytest.mark.slow  # about 55 s: the whole benchmark at a small size
def test_bench_script_prints_and_writes_its_figures(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_model.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "ratio vector / agents" in result.stdout
    assert "bytes per seller" in result.stdout
    figures = json.loads(out.read_text())
    for key in KEYS:
        assert figures[key] > 0, key
    # The machine the figures were measured on: processor, vector width, cores.
    host = figures["machine"]
    assert host["vectors"] in ("AVX-512", "AVX2", "SSE") and host["cores"] >= 1 and host["cpu"]
    assert f"machine: {host['model']} ({host['cpu']}, {host['vectors']})" in result.stdout
    # With release() the finished models are freed: Mesa keeps none of them. Without it Mesa
    # 3.3.1 keeps all 20 in Agent._ids; newer Mesa has no _ids and keeps none.
    assert "models kept by Mesa's Agent._ids: 0" in result.stdout
    if hasattr(mesa.Agent, "_ids"):
        assert "models kept by Mesa's Agent._ids: 20" in result.stdout


@pytest.mark.slow  # about 20 s: starts a Dask cluster
def test_sweep_bench_prints_throughput_and_dask_overhead(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_sweep.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "2 workers against 1" in result.stdout and "Dask" in result.stdout
    figures = json.loads(out.read_text())
    assert figures["sweep_runs_per_s_process_2"] > 0 and figures["sweep_runs"] == 18
    assert figures["sweep_speedup_2_workers"] > 0 and figures["dask_over_pool"] > 0


@pytest.mark.slow  # about 15 s: four small runs in fresh processes
def test_checkout_bench_prints_speeds_and_ratios():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_checkouts.py"), str(ROOT), str(ROOT),
         "--sellers", "2000", "--weeks", "4", "--rounds", "2"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("M cw/s") == 2 and f"{ROOT} / {ROOT}:" in result.stdout


def test_the_phase_benchmark_accounts_for_the_whole_week():
    script = ROOT / "benchmarks" / "bench_phases.py"
    result = subprocess.run(
        [sys.executable, str(script), "--sellers", "5000", "--weeks", "6"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()[1:]
    figures = {line[:22].strip(): float(line[22:].split()[0]) for line in lines}
    assert {"decide (phase 1)", "platform (phase 3)", "learning (phase 5)"} <= set(figures)
    week = figures.pop("a week")
    assert sum(figures.values()) == pytest.approx(week, abs=0.1 * len(figures))  # rounding
    assert figures["the rest"] < 0.25 * week  # the phases timed are the week's work
    assert "million counterfeiter-weeks/s" in lines[-1]
