"""Speed of the vector engine in several checkouts of deter-sim, measured in turn in one run.

Usage: ``python benchmarks/bench_checkouts.py PATH [PATH ...]`` with the roots of checkouts
(``git worktree add ../old COMMIT`` makes one). Each round runs ``baseline_2016`` of each
checkout at 1,000,000 sellers for 52 weeks (burn-in off) in a fresh process, in the order
given; three rounds. Prints each checkout's counterfeit-weeks per second (median and runs) and
the ratios of every later checkout to the first, and the last to each other, round by round,
so that the machine's load, which varies by a factor of two over a day here, cancels out.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

RUN = r"""
import sys, time
root = sys.argv[1]
sys.path.insert(0, root)
from pathlib import Path
from sim.scenario import apply_changes, load_scenario
from sim.model.model import DeterrenceModel
base = load_scenario(Path(root) / "scenarios" / "baseline_2016.yaml")
sellers, weeks = int(sys.argv[2]), int(sys.argv[3])
scenario = apply_changes(base, {"population.sellers": sellers, "weeks": weeks, "burn_in_weeks": 0})
model = DeterrenceModel(scenario, 1, "vector")
started = time.perf_counter()
model.run()
print(sellers * weeks / (time.perf_counter() - started))
"""


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", help="checkout roots, the reference first")
    parser.add_argument("--sellers", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rates: list[list[float]] = [[] for _ in args.roots]
    for _ in range(args.rounds):
        for k, root in enumerate(args.roots):
            done = subprocess.run(
                [sys.executable, "-c", RUN, root, str(args.sellers), str(args.weeks)],
                capture_output=True,
                text=True,
                check=True,
            )
            rates[k].append(float(done.stdout.split()[-1]))
    for root, values in zip(args.roots, rates, strict=True):
        runs = ", ".join(f"{v / 1e6:.2f}" for v in values)
        print(f"{root}: {statistics.median(values) / 1e6:.2f} M cw/s ({runs})")
    last = len(args.roots) - 1
    pairs = [(0, k) for k in range(1, last + 1)] + [(k, last) for k in range(1, last)]
    for base, other in pairs:
        ratios = [b / a for a, b in zip(rates[base], rates[other], strict=True)]
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        print(
            f"{args.roots[other]} / {args.roots[base]}: {statistics.median(ratios):.2f}x ({shown})"
        )


if __name__ == "__main__":
    main()
