"""Throughput of sweeps on the execution backends (``make bench``).

Runs the same sweep (baseline_2016 at 100,000 sellers over its own 208 weeks, a 2 x 4 grid of
prosecution rate and maximum sentence plus the reference, 2 replications: 18 runs) with the
process pool on 1 and 2 workers and with a local Dask cluster of 2 workers, and prints runs
per second (median of several repeats, wall time including starting the workers) and the
ratios: the speed-up from a second worker (``sweep_speedup_2_workers``), and the time on Dask
over the time on the process pool (``dask_over_pool``). ``--weeks`` shortens the runs, which
shows the fixed part: starting the workers (imports, about 1.5 s; the compiled kernels'
cache, about 0.4 s) is paid once whatever the number of workers. The figures are added to
``results/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_FILE = ROOT / "results" / "bench.json"


def sweep_seconds(backend: str, workers: int, sellers: int, weeks: int | None) -> tuple[float, int]:
    """Wall time of one sweep (workers started and stopped inside), and its number of runs."""
    from sim.experiments.execution import ExecutionOptions
    from sim.experiments.sweep import parse_grid, run_sweep
    from sim.scenario import load_scenario

    changes = [f"population.sellers={sellers}", "replications=2"]
    if weeks is not None:
        changes += [f"weeks={weeks}", "burn_in_weeks=0"]
    base = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml", changes)
    axes = [
        parse_grid("enforcement.prosecution_rate=0.2:0.8:2"),
        parse_grid("enforcement.max_sentence_years=1,3,5,7"),
    ]
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        options = ExecutionOptions(backend, workers)
        result = run_sweep(base, axes, Path(folder) / "s", options)
        seconds = time.perf_counter() - started
    assert result.failed == 0
    return seconds, len(result.index)


def scenario_weeks() -> int:
    """Weeks of a run of ``baseline_2016`` as its file gives them."""
    from sim.scenario import load_scenario

    return load_scenario(ROOT / "scenarios" / "baseline_2016.yaml").weeks


def main() -> None:
    """Print the figures and add them to ``results/bench.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--weeks", type=int, help="weeks per run [the scenario's, 208]")
    parser.add_argument("--out", type=Path, default=BENCH_FILE)
    args = parser.parse_args()
    sellers, weeks = (2_000, 8) if args.quick else (100_000, args.weeks)
    repeats = 1 if args.quick else args.repeats
    configs = (("process", 1), ("process", 2), ("dask", 2))
    times: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    runs = 0
    for _ in range(repeats):  # interleaved, so that all see the same machine load
        for backend, workers in configs:
            seconds, runs = sweep_seconds(backend, workers, sellers, weeks)
            times[(backend, workers)].append(seconds)
    length = "the scenario's weeks" if weeks is None else f"{weeks} weeks"
    print(f"sweep of {runs} runs ({sellers:,} sellers, {length} each), medians of {repeats}:")
    rate = {}
    for (backend, workers), values in times.items():
        median = statistics.median(values)
        rate[(backend, workers)] = runs / median
        spread = ", ".join(f"{v:.1f}" for v in values)
        print(
            f"  {backend:7s} backend, {workers} worker(s): {median:6.1f} s, "
            f"{runs / median:5.2f} runs/s ({spread} s)"
        )
    speedup = rate[("process", 2)] / rate[("process", 1)]
    # Ratios within each repeat (same machine load), then their median.
    over = statistics.median(
        dask / pool for dask, pool in zip(times[("dask", 2)], times[("process", 2)], strict=True)
    )
    print(f"  2 workers against 1 (process pool): {speedup:.2f}x the throughput")
    print(f"  Dask (local cluster) against process pool, 2 workers: {over:.2f}x the time")
    figures = json.loads(args.out.read_text()) if args.out.exists() else {}
    figures.update(
        {
            "sweep_runs": runs,
            "sweep_runs_per_s_process_1": rate[("process", 1)],
            "sweep_runs_per_s_process_2": rate[("process", 2)],
            "sweep_runs_per_s_dask_2": rate[("dask", 2)],
            "sweep_sellers": sellers,
            "sweep_weeks": weeks or scenario_weeks(),
            "sweep_speedup_2_workers": speedup,
            "dask_over_pool": over,
            "sweep_dask_overhead": over - 1,
        }
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from sim.experiments.store import write_json

    write_json(args.out, figures)
    print(f"figures added to {args.out}")


if __name__ == "__main__":
    main()
