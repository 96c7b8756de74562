"""Sentences written from the numbers of a comparison: key findings and provenance lines."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim._version import __version__
from sim.experiments.compare import Comparison
from sim.model.metrics import FLOWS

KEY_METRICS = (
    "active_sellers",
    "counterfeit_sales_cny",
    "platform_sales_cny",
    "offplatform_sales_cny",
    "price_index",
    "convictions",
    "enforcement_cost_cny",
    "legit_sales_lost_cny",
)


# The findings written on the first page of the briefing (the others are in the change chart);
# sales by channel and the harm to honest sellers are stated by ``displacement`` and
# ``honest_harm``.
FINDING_METRICS = (
    "active_sellers",
    "counterfeit_sales_cny",
    "price_index",
    "convictions",
    "enforcement_cost_cny",
)

NOUNS = {
    "active_sellers": ("Active sellers", True),
    "counterfeit_sales_cny": ("Counterfeit sales", True),
    "convictions": ("Convictions", True),
    "referrals": ("Referrals", True),
    "cases_pursued": ("Cases pursued", True),
    "stores_closed": ("Store closures", True),
    "listings_removed": ("Listings removed", True),
    "enforcement_cost_cny": ("Enforcement cost", False),
    "platform_sales_cny": ("Counterfeit sales on the platform", True),
    "offplatform_sales_cny": ("Counterfeit sales off the platform", True),
    "offplatform_sellers": ("Sellers off the platform", True),
    "price_index": ("The price of counterfeits", False),
    "entrants": ("Newcomers", True),
    "exits": ("Sellers leaving for good", True),
    "legit_listings_removed": ("Honest listings wrongly taken down", True),
    "legit_stores_closed": ("Honest stores wrongly closed", True),
    "legit_sales_lost_cny": ("Sales honest sellers lose to false positives", True),
}


def spoken_number(value: float) -> str:
    """A number as it is said: ``7.38 million``, ``4,500``, ``0.25``."""
    for threshold, scale, suffix in ((1e9, 1e9, " billion"), (1e6, 1e6, " million")):
        if abs(value) >= threshold:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def percent_digits(pct: float) -> int:
    """Decimals of a percentage and its interval: one below 100%, none above, two below 1%."""
    magnitude = abs(pct)
    return 0 if magnitude >= 100 else 1 if magnitude >= 1 else 2


def finding(row: pd.Series) -> str:
    """One sentence of a key finding, written from the numbers of a comparison row.

    E.g. "Active sellers fall by 58% (95% CI 55-61%) under strict compared with baseline_2016."
    """
    noun, plural = NOUNS.get(row.metric, (row.metric.replace("_", " ").capitalize(), False))
    low, high, pct = row.change_pct_ci_low, row.change_pct_ci_high, row.change_pct
    against = f"under {row.scenario} compared with {row.baseline}"
    if pct != pct:  # NaN: the baseline mean is zero
        return f"{noun}: {row['mean']:,.4g} {against} (none under the baseline)."
    digits = percent_digits(pct)
    if high < 0:
        verb = "fall" if plural else "falls"
        return (
            f"{noun} {verb} by {-pct:.{digits}f}% (95% CI {-high:.{digits}f}-{-low:.{digits}f}%) "
            f"{against}."
        )
    if low > 0:
        verb = "rise" if plural else "rises"
        if pct >= 100:  # say "3.2 times" rather than "+220%"
            spec = ".1f" if pct < 900 else ",.0f"  # 3.3 times; 226 times
            times = (
                f"{1 + pct / 100:{spec}} times (95% CI {1 + low / 100:{spec}}-"
                f"{1 + high / 100:{spec}})"
            )
            currency = " CNY" if row.metric.endswith("_cny") else ""
            before = spoken_number(row.baseline_mean) + currency
            after = spoken_number(row["mean"]) + currency
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
        f"{noun} {verb} by {pct:+.{digits}f}% (95% CI {low:+.{digits}f} to {high:+.{digits}f}%) "
        f"{against}: not distinguishable from no change."
    )


def displacement(rows: pd.DataFrame) -> str | None:
    """Where the counterfeit sales that left the platform went, from one scenario's rows.

    E.g. "Of the 120 million CNY of counterfeit sales a year that left the platform under
    strict, 35% moved off it (social commerce, offline); the rest went away."

    Args:
        rows: The comparison rows of one scenario against the baseline (one per metric).

    Returns:
        The sentence, or None when platform sales fell by less than 1%.
    """
    by_metric = rows.set_index("metric")
    if not {"platform_sales_cny", "offplatform_sales_cny"} <= set(by_metric.index):
        return None
    on, off = by_metric.loc["platform_sales_cny"], by_metric.loc["offplatform_sales_cny"]
    left = on.baseline_mean - on["mean"]
    if not left > 0.01 * on.baseline_mean:  # platform sales fell by less than 1%: nothing left
        return None
    moved = off["mean"] - off.baseline_mean
    share = max(moved, 0.0) / left
    scenario = on.scenario
    sentence = (
        f"Of the {spoken_number(left)} CNY of counterfeit sales a year that left the platform "
        f"under {scenario}, {100 * share:.0f}% moved off it (social commerce, offline)"
    )
    if "price_index" in by_metric.index:
        price = by_metric.loc["price_index"]
        sentence += (
            f"; the price of counterfeits went from {price.baseline_mean:.2f} to "
            f"{price['mean']:.2f} times the 2016 price"
        )
    return sentence + "."


def honest_harm(rows: pd.DataFrame) -> str | None:
    """What false positives cost honest sellers under one scenario, if not the baseline's."""
    by_metric = rows.set_index("metric")
    if "legit_sales_lost_cny" not in by_metric.index:
        return None
    lost = by_metric.loc["legit_sales_lost_cny"]
    if abs(lost["mean"] - lost.baseline_mean) <= 0.005 * abs(lost.baseline_mean):
        return None  # unchanged (or none): nothing to say
    return (
        f"Honest sellers lose {spoken_number(lost['mean'])} CNY of sales a year to wrongful "
        f"takedowns and closures under {lost.scenario}, against "
        f"{spoken_number(lost.baseline_mean)} under {lost.baseline}."
    )


def headline(rows: pd.DataFrame) -> str | None:
    """What one policy buys and at what cost, in one sentence (from its comparison rows).

    E.g. "strict: 91,000 fewer active sellers (-64%) and 1.31 billion CNY less counterfeit
    sales a year (-38%), for 510 million CNY more enforcement a year: 5,600 CNY per seller
    deterred and 0.39 CNY per CNY of counterfeit sales averted."
    """
    by_metric = rows.set_index("metric")
    needed = ("active_sellers", "counterfeit_sales_cny", "enforcement_cost_cny")
    if not all(m in by_metric.index for m in needed):
        return None
    sellers, sales, cost = (by_metric.loc[m] for m in needed)
    deterred = sellers.baseline_mean - sellers["mean"]
    averted = sales.baseline_mean - sales["mean"]
    spent = cost["mean"] - cost.baseline_mean
    name = sellers.scenario

    def change(row: pd.Series) -> str:
        return f"{row.change_pct:+.{percent_digits(row.change_pct)}f}%"

    def clear(row: pd.Series) -> bool:  # the interval of the change excludes no change
        low, high = row.get("change_pct_ci_low", np.nan), row.get("change_pct_ci_high", np.nan)
        return not (low <= 0 <= high)

    bought = (
        f"{name}: {spoken_number(rounded(abs(deterred)))} "
        f"{'fewer' if deterred >= 0 else 'more'} active sellers ({change(sellers)}) and "
        f"{spoken_number(rounded(abs(averted)))} CNY {'less' if averted >= 0 else 'more'} "
        f"counterfeit sales a year ({change(sales)})"
    )
    if spent <= 0 or not clear(cost):
        return f"{bought}, with no more spent on enforcement beyond the noise."
    spent = rounded(spent)
    if deterred <= 0 or averted <= 0 or not (clear(sellers) and clear(sales)):
        return (
            f"{bought}, for {spoken_number(spent)} CNY more enforcement a year: it buys no "
            "fall to set the cost against."
        )
    return (
        f"{bought}, for {spoken_number(spent)} CNY more enforcement a year: "
        f"{spoken_number(rounded(spent / deterred))} CNY per seller deterred and "
        f"{spent / averted:.2g} CNY per CNY of counterfeit sales averted."
    )


def rounded(value: float, figures: int = 3) -> float:
    """``value`` to ``figures`` significant figures (91,001 -> 91,000)."""
    if value == 0 or value != value:
        return value
    return round(value, figures - 1 - int(np.floor(np.log10(abs(value)))))


def provenance(comparison: Comparison) -> str:
    """Footer line: scenarios, replications, seed and version."""
    first = comparison.results[0].manifest
    names = ", ".join(r.scenario.name for r in comparison.results)
    if comparison.table.empty:  # drawn side by side, not paired
        runs = ", ".join(
            f"{r.scenario.name} {m.get('replications')} (seed {m.get('root_seed')})"
            for r, m in ((r, r.manifest) for r in comparison.results)
        )
        return f"deter-sim {__version__} | scenarios {names} | replications: {runs}; not paired"
    return (
        f"deter-sim {__version__} | scenarios {names} | {first.get('replications')} "
        f"replications each, root seed {first.get('root_seed')}, paired on common seeds | "
        f"baseline {comparison.baseline}"
    )


ENSEMBLE_METRICS = ("counterfeit_sales_cny", "active_sellers", "enforcement_cost_cny")


def ensemble_finding(row: pd.Series) -> str:
    """One sentence of a change over an ensemble, from a row of ``ensemble_changes``.

    E.g. "Across 100 plausible settings of the model, strict cuts counterfeit sales by 38%
    (90% of settings: 20 to 52%); parameter uncertainty is 97% of the spread."
    """
    noun, _ = NOUNS.get(row.metric, (row.metric.replace("_", " ").capitalize(), False))
    noun = noun[0].lower() + noun[1:]
    pct, low, high = row.change_pct, row.change_pct_low, row.change_pct_high
    settings = f"Across {row.sets} plausible settings of the model, {row.scenario}"
    if pct != pct:
        return f"{settings} leaves {noun} undefined (none under {row.baseline})."
    digits = percent_digits(pct)
    if high < 0:
        said = (
            f"cuts {noun} by {-pct:.{digits}f}% (90% of settings: {-high:.{digits}f} to "
            f"{-low:.{digits}f}%)"
        )
    elif low > 0 and pct >= 100:  # "3.2 times" rather than "+220%"
        said = (
            f"multiplies {noun} by {1 + pct / 100:.1f} (90% of settings: {1 + low / 100:.1f} "
            f"to {1 + high / 100:.1f})"
        )
    elif low > 0:
        said = (
            f"raises {noun} by {pct:.{digits}f}% (90% of settings: {low:.{digits}f} to "
            f"{high:.{digits}f}%)"
        )
    else:
        said = (
            f"changes {noun} by {pct:+.{digits}f}% (90% of settings: {low:+.{digits}f} to "
            f"{high:+.{digits}f}%; a rise in some settings, a fall in others)"
        )
    share = row.share_parameter
    spread = (
        f"; parameter uncertainty is {share:.0%} of the spread, Monte Carlo noise the rest"
        if share == share
        else ""
    )
    return f"{settings} {said} against {row.baseline}{spread}."
