"""Speed and memory of the model's two engines (``make bench``).

Prints, measured in this one run on ``baseline_2016`` (all mechanisms on, burn-in off):

* counterfeiter-weeks per second of both engines at 10,000 sellers, and their ratio;
* counterfeiter-weeks per second of the vector engine at 1,000,000 sellers;
* peak memory per seller of a 1,000,000-seller run, network included (peak resident memory of
  a fresh process, less what the process held before building the model);
* resident memory across 20 consecutive runs in one process, with ``model.release()`` (what
  the runner does) and without it (Mesa 3.3.1 keeps every finished model in ``Agent._ids``).

Each speed figure is the median of several runs; the spread is printed beside it. Figures
are printed, not asserted: timings on a shared machine vary. The figures are also written to
``results/bench.json``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_FILE = ROOT / "results" / "bench.json"


def _scenario(sellers: int, weeks: int):
    from sim.scenario import apply_changes, load_scenario

    base = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml")
    return apply_changes(base, {"population.sellers": sellers, "weeks": weeks, "burn_in_weeks": 0})


def weeks_per_second(engine: str, sellers: int, weeks: int, repeats: int) -> list[float]:
    """Counterfeiter-weeks per second of ``repeats`` runs (set-up excluded)."""
    from sim.model import DeterrenceModel
    from sim.streams import replication_seeds

    scenario = _scenario(sellers, weeks)
    rates = []
    for seed in replication_seeds(1, repeats):
        model = DeterrenceModel(scenario, seed, engine)
        started = time.perf_counter()
        model.run()
        rates.append(sellers * weeks / (time.perf_counter() - started))
        model.release()
    return rates


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak_memory_child(sellers: int, weeks: int, queue) -> None:
    from sim.model import DeterrenceModel

    scenario = _scenario(sellers, weeks)
    gc.collect()
    before = _rss_bytes()
    model = DeterrenceModel(scenario, 3)
    model.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put((before, peak))


def peak_bytes_per_seller(sellers: int, weeks: int) -> float:
    """Peak resident memory of building and running a model, per seller (fresh process)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory_child, args=(sellers, weeks, queue))
    process.start()
    before, peak = queue.get()
    process.join()
    return (peak - before) / sellers


def repeated_runs(runs: int, sellers: int, weeks: int, release: bool) -> list[float]:
    """Resident memory (MB) after each of ``runs`` consecutive runs in this process."""
    import mesa

    from sim.model import DeterrenceModel

    scenario = _scenario(sellers, weeks)
    sizes = []
    for seed in range(runs):
        model = DeterrenceModel(scenario, seed)
        model.run()
        if release:
            model.release()
        del model
        gc.collect()
        sizes.append(_rss_bytes() / 1e6)
    if not release:
        mesa.Agent._ids.clear()
        gc.collect()
    return sizes


def _fmt(rates: list[float]) -> str:
    return ", ".join(f"{r / 1e6:.2f}" for r in rates)


def main() -> None:
    """Print the benchmark figures and write them to ``results/bench.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per speed figure")
    parser.add_argument("--weeks", type=int, default=52, help="weeks per run")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    args = parser.parse_args()
    small, large = (2_000, 50_000) if args.quick else (10_000, 1_000_000)
    weeks = 8 if args.quick else args.weeks
    repeats = 2 if args.quick else args.repeats

    print(f"deter-sim benchmarks: baseline_2016, {weeks} weeks per run, medians of runs")
    # Interleave the engines so that both see the same machine load.
    vector, agents = [], []
    for _ in range(repeats):
        vector += weeks_per_second("vector", small, weeks, 1)
        agents += weeks_per_second("agents", small, weeks, 1)
    v10, a10 = statistics.median(vector), statistics.median(agents)
    print(f"vector engine, {small:>9,} sellers: {v10 / 1e6:8.3f} M cw/s ({_fmt(vector)})")
    print(f"agents engine, {small:>9,} sellers: {a10 / 1e6:8.3f} M cw/s ({_fmt(agents)})")
    print(f"ratio vector / agents at {small:,} sellers: {v10 / a10:.0f}x")

    big = weeks_per_second("vector", large, weeks, max(3, repeats // 2))
    v1m = statistics.median(big)
    print(f"vector engine, {large:>9,} sellers: {v1m / 1e6:8.3f} M cw/s ({_fmt(big)})")

    per_seller = peak_bytes_per_seller(large, weeks)
    print(f"peak memory at {large:,} sellers: {per_seller:.0f} bytes per seller")

    runs, mid = 20, 100_000 if not args.quick else 20_000
    released = repeated_runs(runs, mid, 10, release=True)
    leaked = repeated_runs(runs, mid, 10, release=False)
    print(
        f"resident memory over {runs} runs of {mid:,} sellers in one process (MB, after runs "
        f"1/5/10/20): with release {released[0]:.0f}/{released[4]:.0f}/{released[9]:.0f}/"
        f"{released[19]:.0f}; without release (Mesa's Agent._ids keeps each model) "
        f"{leaked[0]:.0f}/{leaked[4]:.0f}/{leaked[9]:.0f}/{leaked[19]:.0f}"
    )

    figures = {
        "agents_weeks_per_s_10k": a10,
        "vector_weeks_per_s_10k": v10,
        "ratio_10k": v10 / a10,
        "vector_weeks_per_s_1m": v1m,
        "bytes_per_seller_1m": per_seller,
        "rss_mb_repeated_runs_released": released,
        "rss_mb_repeated_runs_unreleased": leaked,
        "sellers_small": small,
        "sellers_large": large,
        "weeks": weeks,
        "repeats": repeats,
        "python": sys.version.split()[0],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    BENCH_FILE.parent.mkdir(exist_ok=True)
    from sim.store import write_json

    write_json(BENCH_FILE, figures)
    print(f"figures written to {BENCH_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
