"""Compare scenarios: gather their results, pair them on common seeds, write the briefing.

``deter-sim compare`` and ``deter-sim brief`` accept scenario files (run here) or result folders
written by ``deter-sim run``. Results are only paired when their replications used the same
seeds, weeks and burn-in; otherwise the comparison is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim import __version__
from sim.analysis import PairingError, paired_differences
from sim.errors import ScenarioError
from sim.metrics import FLOWS
from sim.runner import Results, check_memory, run_scenario
from sim.scenario import Scenario, load_scenario

KEY_METRICS = ("active_sellers", "counterfeit_sales_cny", "convictions", "enforcement_cost_cny")


def gather(
    inputs: list[str],
    overrides: list[str],
    out: Path,
    run_options: dict[str, Any],
    on_start: Callable[[Scenario], Callable[[int], None] | None] | None = None,
) -> list[Results]:
    """Results of each input: a result folder is read, a scenario is run and saved in ``out``.

    Args:
        inputs: Scenario files or bundled names, or result folders.
        overrides: ``--set`` style overrides applied to scenarios that are run.
        out: Where the results of scenarios that are run are saved (``out/<name>``).
        run_options: ``workers``, ``backend``, ``address``, ``engine`` for ``run_scenario``.
        on_start: Called with each scenario before it runs; returns a progress callback.

    Returns:
        One ``Results`` per input, in order.
    """
    scenarios: list[Scenario | Results] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            scenarios.append(Results.load(path))
        else:
            scenarios.append(load_scenario(item, overrides))
    names = [s.scenario.name if isinstance(s, Results) else s.name for s in scenarios]
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise ScenarioError(
            "compare", "", f"scenario name(s) {', '.join(sorted(duplicated))} given twice"
        )
    if not run_options.get("address"):
        for item in scenarios:
            if not isinstance(item, Results):
                workers = min(run_options.get("workers", 1), item.replications)
                check_memory(item, workers, run_options.get("engine", "vector"))
    results = []
    for item in scenarios:
        if isinstance(item, Results):
            results.append(item)
            continue
        progress = on_start(item) if on_start else None
        result = run_scenario(item, on_done=progress, **run_options)
        result.save(out / item.name)
        results.append(result)
    return results


def check_pairable(results: list[Results], baseline: str) -> None:
    """Refuse results that cannot be paired replication by replication, saying why.

    Raises:
        PairingError: seeds, weeks or burn-in differ from the baseline's.
    """
    base = next(r for r in results if r.scenario.name == baseline)
    for other in results:
        if other is base:
            continue
        a, b = base.manifest, other.manifest
        for key, what in (
            ("weeks", "weeks"),
            ("burn_in_weeks", "burn-in weeks"),
            ("replication_seeds", "replication seeds"),
        ):
            if a.get(key) != b.get(key):
                detail = (
                    f"{a.get(key)} against {b.get(key)}"
                    if key != "replication_seeds"
                    else f"root seeds {a.get('root_seed')} and {b.get('root_seed')}, "
                    f"{len(a.get(key, []))} and {len(b.get(key, []))} replications"
                )
                raise PairingError(
                    f"cannot pair '{other.scenario.name}' with '{baseline}': their {what} "
                    f"differ ({detail}); run both with the same seed, replications, weeks and "
                    "burn-in"
                )


@dataclass
class Comparison:
    """Scenarios compared with a baseline on common seeds."""

    results: list[Results]
    baseline: str
    table: pd.DataFrame

    @property
    def summary_stats(self) -> pd.DataFrame:
        """Per-scenario statistics, all scenarios."""
        return pd.concat([r.summary_stats for r in self.results], ignore_index=True)

    @property
    def timeseries(self) -> pd.DataFrame:
        """Weekly rows, all scenarios."""
        return pd.concat([r.timeseries for r in self.results], ignore_index=True)

    @property
    def burn_in_weeks(self) -> int:
        """Burn-in of the baseline (the same for all, checked)."""
        return self.results[0].scenario.burn_in_weeks


def compare(
    results: list[Results], baseline: str | None = None, metrics: list[str] | None = None
) -> Comparison:
    """Pair every scenario with the baseline (the first unless named).

    Raises:
        PairingError: the baseline is unknown or a scenario cannot be paired with it.
    """
    names = [r.scenario.name for r in results]
    baseline = baseline or names[0]
    if baseline not in names:
        raise PairingError(f"--baseline '{baseline}' is not one of {', '.join(names)}")
    check_pairable(results, baseline)
    summary = pd.concat([r.summary for r in results], ignore_index=True)
    table = paired_differences(summary, baseline, metrics)
    return Comparison(results, baseline, table)


NOUNS = {
    "active_sellers": ("Active sellers", True),
    "counterfeit_sales_cny": ("Counterfeit sales", True),
    "convictions": ("Convictions", True),
    "referrals": ("Referrals", True),
    "cases_pursued": ("Cases pursued", True),
    "stores_closed": ("Store closures", True),
    "listings_removed": ("Listings removed", True),
    "enforcement_cost_cny": ("Enforcement cost", False),
}


def _number(value: float) -> str:
    for threshold, scale, suffix in ((1e9, 1e9, " billion"), (1e6, 1e6, " million")):
        if abs(value) >= threshold:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def finding(row: pd.Series) -> str:
    """One sentence of a key finding, written from the numbers of a comparison row.

    E.g. "Active sellers fall by 58% (95% CI 55-61%) under strict compared with baseline_2016."
    """
    noun, plural = NOUNS.get(row.metric, (row.metric.replace("_", " ").capitalize(), False))
    low, high, pct = row.change_pct_ci_low, row.change_pct_ci_high, row.change_pct
    against = f"under {row.scenario} compared with {row.baseline}"
    if pct != pct:  # NaN: the baseline mean is zero
        return f"{noun}: {row['mean']:,.4g} {against} (none under the baseline)."
    digits = 0 if round(low) != round(high) else 1
    if high < 0:
        verb = "fall" if plural else "falls"
        return (
            f"{noun} {verb} by {-pct:.{digits}f}% (95% CI {-high:.{digits}f}-{-low:.{digits}f}%) "
            f"{against}."
        )
    if low > 0:
        verb = "rise" if plural else "rises"
        if pct >= 100:  # say "3.2 times" rather than "+220%"
            times = f"{1 + pct / 100:.1f} times (95% CI {1 + low / 100:.1f}-{1 + high / 100:.1f})"
            return (
                f"{noun} {verb} from {_number(row.baseline_mean)} to {_number(row['mean'])}"
                f"{' a year' if row.metric in FLOWS else ''}, {times}, {against}."
            )
        return (
            f"{noun} {verb} by {pct:.{digits}f}% (95% CI {low:.{digits}f}-{high:.{digits}f}%) "
            f"{against}."
        )
    verb = "change" if plural else "changes"
    return (
        f"{noun} {verb} by {pct:+.0f}% (95% CI {low:+.0f} to {high:+.0f}%) {against}: not "
        "distinguishable from no change."
    )


def provenance(comparison: Comparison) -> str:
    """Footer line: scenarios, replications, seed and version."""
    first = comparison.results[0].manifest
    names = ", ".join(r.scenario.name for r in comparison.results)
    return (
        f"deter-sim {__version__} | scenarios {names} | {first.get('replications')} "
        f"replications each, root seed {first.get('root_seed')}, paired on common seeds | "
        f"baseline {comparison.baseline}"
    )
