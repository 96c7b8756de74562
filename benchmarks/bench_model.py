"""Speed and memory of the model's two engines (``make bench``).

Prints, measured in this one run on ``baseline_2016`` (all mechanisms on, burn-in off):

* counterfeiter-weeks per second of both engines at 10,000 sellers, and their ratio;
* counterfeiter-weeks per second of the vector engine at 1,000,000 sellers;
* peak memory per seller of a 1,000,000-seller run, network included (peak resident memory,
  VmHWM, of a fresh process, less what the process held before building the model, once its
  compiled kernels were loaded by a tiny run);
* seconds of one full-scale replication of the vector engine (400,000 sellers, 208 weeks, one
  core, set-up included);
* seconds ``deter-sim --help`` takes beyond a bare Python start (fresh processes);
* resident memory across 20 consecutive runs in one fresh process, for each engine, with
  ``model.release()`` (what the runner does) and without it (Mesa 3.3.1 keeps every
  finished model alive in ``Agent._ids``);
* the machine: its processor as the compiler sees it (``machine``: the kernels run 16 sellers
  to an instruction where it has AVX-512, 8 with AVX2), its cores and its processor model,
  since the same code runs about twice as fast on one 2-core machine as on another.

Each speed figure is the median of several runs; the spread is printed beside it. Figures
are printed, not asserted: timings on a shared machine vary. The figures are also written to
``results/bench.json``.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import resource
import statistics
import subprocess
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
    from sim.model.model import DeterrenceModel
    from sim.model.streams import replication_seeds

    scenario = _scenario(sellers, weeks)
    rates = []
    for seed in replication_seeds(1, repeats):
        model = DeterrenceModel(scenario, seed, engine)
        started = time.perf_counter()
        model.run()
        rates.append(sellers * weeks / (time.perf_counter() - started))
        model.release()
    return rates


def replication_seconds(sellers: int, weeks: int, repeats: int) -> list[float]:
    """Wall time of whole replications of the vector engine, set-up included."""
    from sim.model.model import DeterrenceModel
    from sim.model.streams import replication_seeds

    scenario = _scenario(sellers, weeks)
    seconds = []
    for seed in replication_seeds(2, repeats):
        started = time.perf_counter()
        model = DeterrenceModel(scenario, seed)
        model.run()
        seconds.append(time.perf_counter() - started)
        model.release()
    return seconds


def help_seconds(repeats: int) -> list[float]:
    """Seconds ``deter-sim --help`` takes beyond ``python -c pass``, fresh processes each."""
    command = str(Path(sys.executable).parent / "deter-sim")
    extra = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare = time.perf_counter() - started
        started = time.perf_counter()
        subprocess.run([command, "--help"], check=True, capture_output=True)
        extra.append(time.perf_counter() - started - bare)
    return extra


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _peak_rss_bytes() -> int:
    # VmHWM belongs to this process's address space. ru_maxrss would not do: on Linux it
    # carries over the parent's resident size at fork, even across exec.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found in /proc/self/status")


def _peak_memory_child(sellers: int, weeks: int, queue) -> None:
    from sim.model.model import DeterrenceModel

    # The compiled kernels are loaded on first use (numba and LLVM: a fixed 150 to 200 MB per
    # process, whatever the population): a tiny run loads them before the baseline is taken.
    DeterrenceModel(_scenario(1_000, 2), 3).run()
    scenario = _scenario(sellers, weeks)
    gc.collect()
    before = _rss_bytes()
    model = DeterrenceModel(scenario, 3)
    model.run()
    peak = _peak_rss_bytes()
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


def _repeated_child(engine: str, runs: int, sellers: int, weeks: int, release: bool, queue):
    import mesa

    from sim.model.model import DeterrenceModel

    scenario = _scenario(sellers, weeks)
    sizes = []
    for seed in range(runs):
        model = DeterrenceModel(scenario, seed, engine)
        model.run()
        if release:
            model.release()
        del model
        gc.collect()
        sizes.append(_rss_bytes() / 1e6)
    queue.put((sizes, len(getattr(mesa.Agent, "_ids", ()))))  # Mesa 3.4+ has no _ids


def repeated_runs(
    engine: str, runs: int, sellers: int, weeks: int, release: bool
) -> tuple[list[float], int]:
    """Resident memory (MB) after each of ``runs`` consecutive runs in one fresh process.

    Returns:
        The sizes, and the number of models Mesa still references at the end.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    args = (engine, runs, sellers, weeks, release, queue)
    process = context.Process(target=_repeated_child, args=args)
    process.start()
    sizes, kept = queue.get()
    process.join()
    return sizes, kept


def machine() -> dict[str, object]:
    """The processor the kernels were compiled for, its vector width, cores and model name."""
    from llvmlite import binding

    features = binding.get_host_cpu_features()
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    vectors = "AVX-512" if features.get("avx512f") else "AVX2" if features.get("avx2") else "SSE"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": binding.get_host_cpu_name(), "model": model, "vectors": vectors, "cores": cores}


def _fmt(rates: list[float]) -> str:
    return ", ".join(f"{r / 1e6:.2f}" for r in rates)


def main() -> None:
    """Print the benchmark figures and write them to ``results/bench.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per speed figure")
    parser.add_argument("--weeks", type=int, default=52, help="weeks per run")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=BENCH_FILE, help="JSON file of the figures")
    args = parser.parse_args()
    small, large = (2_000, 50_000) if args.quick else (10_000, 1_000_000)
    weeks = 8 if args.quick else args.weeks
    repeats = 2 if args.quick else args.repeats

    host = machine()
    print(f"deter-sim benchmarks: baseline_2016, {weeks} weeks per run, medians of runs")
    print(f"machine: {host['model']} ({host['cpu']}, {host['vectors']}), {host['cores']} cores")
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

    full_sellers, full_weeks = (20_000, 20) if args.quick else (400_000, 208)
    full = replication_seconds(full_sellers, full_weeks, 1 if args.quick else 3)
    print(
        f"one replication of {full_sellers:,} sellers, {full_weeks} weeks, one core: "
        f"{statistics.median(full):.1f} s ({', '.join(f'{s:.1f}' for s in full)})"
    )
    helps = help_seconds(3 if args.quick else 5)
    print(
        f"deter-sim --help beyond a bare Python start: {statistics.median(helps):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in helps)})"
    )

    runs = 20
    memory = {}
    for engine, sellers, run_weeks in (("vector", 100_000, 10), ("agents", 5_000, 5)):
        if args.quick:
            sellers //= 10
        for release in (True, False):
            sizes, kept = repeated_runs(engine, runs, sellers, run_weeks, release)
            memory[(engine, release)] = sizes
            how = "with model.release()" if release else "without release()"
            print(
                f"{engine} engine, {runs} runs of {sellers:,} sellers in one process, {how}: "
                f"resident MB after runs 1/5/10/20 {sizes[0]:.0f}/{sizes[4]:.0f}/"
                f"{sizes[9]:.0f}/{sizes[19]:.0f}; models kept by Mesa's Agent._ids: {kept}"
            )

    figures = {
        "agents_weeks_per_s_10k": a10,
        "vector_weeks_per_s_10k": v10,
        "ratio_10k": v10 / a10,
        "vector_weeks_per_s_1m": v1m,
        "bytes_per_seller_1m": per_seller,
        "seconds_per_full_replication": statistics.median(full),
        "full_replication": {"sellers": full_sellers, "weeks": full_weeks},
        "help_import_s": statistics.median(helps),
        "rss_mb_20_runs_vector_released": memory[("vector", True)],
        "rss_mb_20_runs_vector_unreleased": memory[("vector", False)],
        "rss_mb_20_runs_agents_released": memory[("agents", True)],
        "rss_mb_20_runs_agents_unreleased": memory[("agents", False)],
        "sellers_small": small,
        "sellers_large": large,
        "weeks": weeks,
        "repeats": repeats,
        "python": sys.version.split()[0],
        "machine": host,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from sim.experiments.store import write_json

    write_json(args.out, figures)
    print(f"figures written to {args.out}")


if __name__ == "__main__":
    main()
