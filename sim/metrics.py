"""Weekly metrics: names, kinds (flow or stock) and units (ODD 7.1).

A flow is counted per week and summarised as its total per year (52 weeks) over the
post-burn-in weeks; a stock is a level and summarised as its post-burn-in mean.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One weekly metric.

    Attributes:
        name: Column name.
        kind: ``"flow"`` or ``"stock"``.
        unit: Unit of the weekly value.
        description: What it measures.
    """

    name: str
    kind: str
    unit: str
    description: str


METRICS: tuple[Metric, ...] = (
    Metric("active_sellers", "stock", "sellers", "Sellers with counterfeit listings up this week"),
    Metric("listings_live", "stock", "listings", "Counterfeit listings live this week"),
    Metric("listings_removed", "flow", "listings", "Listings taken down by the platform"),
    Metric("stores_closed", "flow", "stores", "Stores closed (strike limit or lawsuit)"),
    Metric("referrals", "flow", "cases", "Closed stores referred to law enforcement"),
    Metric("cases_pursued", "flow", "cases", "Referred cases the enforcers took up"),
    Metric("cases_declined", "flow", "cases", "Referred cases reviewed and not pursued"),
    Metric("cases_dropped", "flow", "cases", "Cases dropped after waiting past the expiry"),
    Metric("convictions", "flow", "cases", "Pursued cases ending in a conviction"),
    Metric("jailed", "stock", "people", "Sellers in prison at the end of the week"),
    Metric("prosecuted", "stock", "people", "Sellers whose case is being processed"),
    Metric("suspended", "stock", "sellers", "Sellers waiting to re-enter after a closure"),
    Metric("fines_cny", "flow", "CNY", "Fines imposed on conviction"),
    Metric("lawsuits", "flow", "cases", "Publicised civil lawsuits filed by the platform"),
    Metric("counterfeit_sales_cny", "flow", "CNY", "Counterfeit sales of active sellers"),
    Metric("mean_perceived_risk", "stock", "probability per week", "Mean perceived sanction risk"),
    Metric("true_risk", "stock", "probability per week", "Cases pursued per active seller"),
    Metric(
        "mean_perceived_sentence_years", "stock", "years", "Mean perceived sentence of all sellers"
    ),
    Metric("case_backlog", "stock", "cases", "Referred cases waiting for review"),
    Metric("enforcement_cost_cny", "flow", "CNY", "Cost of cases pursued and prison-weeks"),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
FLOWS: tuple[str, ...] = tuple(m.name for m in METRICS if m.kind == "flow")
STOCKS: tuple[str, ...] = tuple(m.name for m in METRICS if m.kind == "stock")
ID_COLUMNS: tuple[str, ...] = ("scenario", "replication", "seed", "week")


def short_number(value: float) -> str:
    """Three significant digits with a k/M/G suffix, e.g. ``7.38M``; ``n/a`` for NaN."""
    if value != value:  # NaN
        return "n/a"
    magnitude = abs(value)
    for threshold, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if magnitude >= threshold:
            return f"{value / scale:.3g}{suffix}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:,.4g}"
    return f"{value:.3g}"
