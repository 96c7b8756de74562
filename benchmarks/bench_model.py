"""Speed of the full model (vector engine): counterfeiter-weeks per second.

Run with ``make bench``. Prints the median of several runs at 10,000 and 1,000,000 sellers
(baseline_2016, all mechanisms on) and the time of one full-scale baseline replication of
104 weeks. Figures are printed, not asserted: timings on a shared machine vary.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from sim.model import DeterrenceModel
from sim.scenario import apply_changes, load_scenario
from sim.streams import replication_seeds

ROOT = Path(__file__).resolve().parent.parent


def weeks_per_second(sellers: int, weeks: int, repeats: int) -> tuple[float, float, list[float]]:
    """Median counterfeiter-weeks per second of ``repeats`` runs, and the set-up time."""
    base = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml")
    scenario = apply_changes(
        base, {"population.sellers": sellers, "weeks": weeks, "burn_in_weeks": 0}
    )
    rates, setups = [], []
    for seed in replication_seeds(1, repeats):
        started = time.perf_counter()
        model = DeterrenceModel(scenario, seed)
        built = time.perf_counter()
        model.run()
        finished = time.perf_counter()
        model.release()
        setups.append(built - started)
        rates.append(sellers * weeks / (finished - built))
    return statistics.median(rates), statistics.median(setups), rates


def full_scale_replication(weeks: int) -> float:
    """Wall time of one baseline replication at its full population, set-up included."""
    base = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml")
    scenario = apply_changes(base, {"weeks": weeks, "burn_in_weeks": 0})
    started = time.perf_counter()
    model = DeterrenceModel(scenario, replication_seeds(2, 1)[0])
    model.run()
    model.release()
    return time.perf_counter() - started


def main() -> None:
    """Print the benchmark figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weeks", type=int, default=52)
    args = parser.parse_args()
    for sellers, repeats in ((10_000, args.repeats), (1_000_000, max(3, args.repeats // 2))):
        rate, setup, rates = weeks_per_second(sellers, args.weeks, repeats)
        spread = ", ".join(f"{r / 1e6:.2f}" for r in rates)
        print(
            f"vector engine, {sellers:>9,} sellers: {rate / 1e6:6.2f} M counterfeiter-weeks/s "
            f"(median of {repeats}: {spread}); set-up {setup:.2f} s"
        )
    seconds = full_scale_replication(104)
    print(
        f"full-scale baseline_2016 (400,000 sellers), one replication of 104 weeks: {seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
