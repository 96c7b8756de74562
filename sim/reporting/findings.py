"""Sentences written from the numbers of a comparison: key findings and provenance lines."""

from __future__ import annotations

import pandas as pd

from sim._version import __version__
from sim.experiments.compare import Comparison
from sim.model.metrics import FLOWS

KEY_METRICS = ("active_sellers", "counterfeit_sales_cny", "convictions", "enforcement_cost_cny")


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


def spoken_number(value: float) -> str:
    """A number as it is said: ``7.38 million``, ``4,500``, ``0.25``."""
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
            before, after = spoken_number(row.baseline_mean), spoken_number(row["mean"])
            return (
                f"{noun} {verb} from {before} to {after}"
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
