"""Where a week of the vector engine spends its time, phase by phase (``make bench``).

Runs ``baseline_2016`` (all mechanisms on, burn-in off) at 1,000,000 sellers for 52 weeks in
this process, once the compiled kernels are loaded by a tiny run, and times each phase of
every week (``DeterrenceModel.step``: the decision, trade, the platform, police leads, the
enforcers, legitimate stores, learning, timers, the record and the market). Prints the
milliseconds a week of each phase, averaged over the weeks, and the whole week; the figures
are printed, not asserted. ``--sellers`` and ``--weeks`` change the size.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _timed(totals: dict[str, float], name: str, function):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        totals[name] += time.perf_counter() - started
        return result

    return timed


def main() -> None:
    """Print milliseconds a week by phase."""
    from sim.model.model import DeterrenceModel
    from sim.scenario import apply_changes, load_scenario

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sellers", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=52)
    args = parser.parse_args()
    base = load_scenario(ROOT / "scenarios" / "baseline_2016.yaml")

    def scenario(sellers: int, weeks: int):
        changes = {"population.sellers": sellers, "weeks": weeks, "burn_in_weeks": 0}
        return apply_changes(base, changes)

    DeterrenceModel(scenario(1_000, 2), 1).run()  # loads the compiled kernels
    model = DeterrenceModel(scenario(args.sellers, args.weeks), 1)
    totals: dict[str, float] = defaultdict(float)
    pop = model.population
    phases = {
        "decide (phase 1)": (pop, "decide"),
        "trade (phase 2)": (model, "_trade"),
        "platform (phase 3)": (model.platform, "step"),
        "police leads": (model.police, "step"),
        "legitimate stores": (model.legitimate, "step"),
        "learning (phase 5)": (pop, "update_beliefs"),
        "timers (phase 6)": (pop, "advance_timers"),
        "record": (model, "_record"),
        "market": (model.market, "clear"),
        "start of the week": (model, "_start_week"),
    }
    for name, (owner, method) in phases.items():
        setattr(owner, method, _timed(totals, name, getattr(owner, method)))
    for enforcer in model.enforcers:
        enforcer.step = _timed(totals, "enforcers (phase 4)", enforcer.step)
    started = time.perf_counter()
    model.run()
    whole = time.perf_counter() - started
    weeks = args.weeks
    print(f"baseline_2016, {args.sellers:,} sellers, {weeks} weeks: milliseconds a week by phase")
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {name:<20} {1e3 * seconds / weeks:7.1f}")
    rest = whole - sum(totals.values())
    print(f"  {'the rest':<20} {1e3 * rest / weeks:7.1f}")
    print(
        f"  {'a week':<20} {1e3 * whole / weeks:7.1f}  "
        f"({args.sellers * weeks / whole / 1e6:.2f} million counterfeiter-weeks/s)"
    )


if __name__ == "__main__":
    main()
