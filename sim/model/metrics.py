"""Weekly metrics: names, kinds (flow or stock) and units, declared once (ODD 7.1).

A flow is counted per week and summarised as its total per year (52 weeks) over the
post-burn-in weeks; a stock is a level and summarised as its post-burn-in mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import OptionError


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
    Metric(
        "counterfeit_sales_cny", "flow", "CNY", "Counterfeit sales of active sellers, all channels"
    ),
    Metric(
        "mean_perceived_risk",
        "stock",
        "probability per week",
        "Perceived weekly chance of pursuit if active, mean over sellers at liberty",
    ),
    Metric("true_risk", "stock", "probability per week", "Cases pursued per active seller"),
    Metric(
        "mean_perceived_sentence_years",
        "stock",
        "years",
        "Perceived prison term of a conviction in one's tier, mean over sellers at liberty",
    ),
    Metric("case_backlog", "stock", "cases", "Referred cases waiting for review"),
    Metric("enforcement_cost_cny", "flow", "CNY", "Cost of cases pursued and prison-weeks"),
    Metric(
        "mean_perceived_sanction_cny",
        "stock",
        "CNY per week",
        "Expected criminal cost a seller perceives, mean over sellers at liberty",
    ),
    Metric(
        "exposed_sellers",
        "stock",
        "sellers",
        "Active sellers whose sales since their last sanction reach the criminal threshold",
    ),
    Metric("entrants", "flow", "sellers", "Newcomers selling counterfeits for the first time"),
    Metric("exits", "flow", "sellers", "Idle sellers who left the market for good"),
    Metric(
        "offplatform_sellers",
        "stock",
        "sellers",
        "Active sellers selling off the platform this week (social commerce, offline)",
    ),
    Metric("platform_sales_cny", "flow", "CNY", "Counterfeit sales on the platform"),
    Metric("offplatform_sales_cny", "flow", "CNY", "Counterfeit sales off the platform"),
    Metric(
        "offplatform_cases",
        "flow",
        "cases",
        "Off-platform sellers at the threshold found by police leads and handed to enforcers",
    ),
    Metric(
        "price_index",
        "stock",
        "multiple of the 2016 price",
        "Price index of counterfeits this week (1: the 2016 price)",
    ),
    Metric(
        "legit_listings_removed",
        "flow",
        "listings",
        "Listings of legitimate stores wrongly taken down (false positives)",
    ),
    Metric(
        "legit_stores_closed",
        "flow",
        "stores",
        "Legitimate stores closed after wrongful strikes reached the limit",
    ),
    Metric(
        "legit_sales_lost_cny",
        "flow",
        "CNY",
        "Sales legitimate stores lost to wrongful takedowns and closures",
    ),
)

METRIC_NAMES: tuple[str, ...] = tuple(m.name for m in METRICS)
FLOWS: tuple[str, ...] = tuple(m.name for m in METRICS if m.kind == "flow")
STOCKS: tuple[str, ...] = tuple(m.name for m in METRICS if m.kind == "stock")
ID_COLUMNS: tuple[str, ...] = ("scenario", "replication", "seed", "week")


def check_metrics(names: list[str], option: str = "--metrics") -> list[str]:
    """``names`` if every one is a metric, else an ``OptionError`` naming the first unknown one.

    Args:
        names: Metric names asked for.
        option: The option or field they came from, named in the message.

    Returns:
        The names, unchanged.

    Raises:
        OptionError: a name is not a metric, or no name is given.
    """
    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown or not names:
        shown = f"'{unknown[0]}'" if unknown else "(none)"
        raise OptionError(option, "", f"unknown metric {shown}; allowed: {', '.join(METRIC_NAMES)}")
    return names
