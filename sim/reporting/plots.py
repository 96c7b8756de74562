"""Figures of scenarios compared: ``plot_x(table, ..., ax=None) -> Axes``.

Time series, change, funnel and beliefs, drawn from the tables of ``sim.experiments.compare``
and ``sim.experiments.runner``.
"""

from __future__ import annotations

import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from sim.reporting.canvas import FUNNEL, UNITS, new_axes, style
from sim.reporting.format import short_number, tick_label


def summary_window(
    timeseries: pd.DataFrame, burn_in_weeks: int, warm_up: bool
) -> tuple[pd.DataFrame, str]:
    """The weeks a time-series chart shows, and a note on them for its title.

    The policies compared are in force and settled from the end of the warm-up (the burn-in),
    where the summaries start: the chart starts there too, unless ``warm_up`` asks for the
    warm-up, shaded.
    """
    if not burn_in_weeks:
        return timeseries, ""
    if warm_up:
        return timeseries, f", warm-up of {burn_in_weeks} weeks shaded"
    return (
        timeseries[timeseries.week >= burn_in_weeks],
        f", from week {burn_in_weeks} (after the warm-up)",
    )


def _shade_warm_up(ax: Axes, burn_in_weeks: int, warm_up: bool) -> None:
    if burn_in_weeks and warm_up:
        ax.axvspan(0, burn_in_weeks, color="0.9", zorder=0)
        ax.text(
            burn_in_weeks / 2,
            1.0,
            "warm-up",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=9,
            color="0.4",
        )


def plot_timeseries(
    timeseries: pd.DataFrame,
    metric: str = "active_sellers",
    burn_in_weeks: int = 0,
    ax: Axes | None = None,
    warm_up: bool = False,
) -> Axes:
    """Weekly ``metric`` per scenario: the median over replications and the 5%-95% band.

    Args:
        timeseries: Weekly rows of one or more scenarios (``scenario, replication, week``, ...).
        metric: The metric.
        burn_in_weeks: Weeks of warm-up (burn-in, not used in the summaries).
        ax: Axes to draw on [new figure].
        warm_up: Draw the warm-up too, shaded [only the weeks after it].

    Returns:
        The axes.
    """
    ax = new_axes(ax)
    timeseries, note = summary_window(timeseries, burn_in_weeks, warm_up)
    for k, (scenario, rows) in enumerate(timeseries.groupby("scenario", sort=False)):
        weekly = rows.groupby("week")[metric]
        median = weekly.median()
        low, high = weekly.quantile(0.05), weekly.quantile(0.95)
        look = style(k)
        ax.fill_between(median.index, low, high, color=look["color"], alpha=0.15, linewidth=0)
        ax.plot(
            median.index,
            median,
            color=look["color"],
            linestyle=look["linestyle"],
            linewidth=2,
            label=scenario,
        )
    _shade_warm_up(ax, burn_in_weeks, warm_up)
    ax.set_xlabel("week")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: short_number(v)))
    ax.set_ylabel(
        f"{metric.replace('_', ' ')} ({UNITS.get(metric, '').replace(' per year', ' per week')})"
    )
    ax.set_title(
        f"{metric.replace('_', ' ').capitalize()} per week: median and 5%-95% of replications{note}"
    )
    ax.legend(frameon=False)
    return ax


def change_tick(ratio: float) -> str:
    """A tick of the change axis: a fall as a percentage, a rise as a multiple (``x2``)."""
    if ratio < 1:
        return f"{100 * (ratio - 1):.3g}%".replace("-", "\u2212")
    return "0" if ratio == 1 else f"\u00d7{ratio:,g}"


def change_words(pct: float) -> str:
    """A change as a reader says it: ``-96%``, ``+39%``, ``x2.5``, ``x340``; ``0%`` if tiny."""
    if abs(pct) < 0.5:
        return "0%"
    if pct < 100:
        return f"{pct:+.0f}%".replace("-", "\u2212")
    times = 1 + pct / 100
    return f"\u00d7{times:.2g}" if times < 10 else f"\u00d7{times:,.0f}"


def plot_change(
    comparison: pd.DataFrame, metrics: list[str] | None = None, ax: Axes | None = None
) -> Axes:
    """Each metric of each scenario as a ratio to the baseline, on a log axis, with 95% intervals.

    A fall to a quarter and a rise to four times are bars of the same length on either side
    of "no change", so a -96% reads as the larger change it is beside a +483%. Each bar is
    labelled with its value; whiskers are the paired 95% intervals (on the log of the ratio,
    so they are never cut at -100%).

    Args:
        comparison: ``sim.experiments.statistics.paired_differences`` output.
        metrics: Metrics to show [those in the table].
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    metrics = metrics or list(dict.fromkeys(comparison.metric))
    scenarios = list(dict.fromkeys(comparison.scenario))
    ax = new_axes(ax, (9, 1.5 + 0.5 * len(metrics) * max(1, len(scenarios))))
    height = 0.8 / len(scenarios)
    shown = comparison[comparison.metric.isin(metrics)]
    floor = 1e-3  # a fall of 99.9% or more is drawn at the floor
    ends = 1 + shown[["change_pct_ci_low", "change_pct_ci_high", "change_pct"]].to_numpy() / 100
    ends = ends[np.isfinite(ends)]
    low = max(float(np.min(ends, initial=1.0)), floor) / 1.6
    high = float(np.max(ends, initial=1.0)) * 1.6
    for k, scenario in enumerate(scenarios):
        part = comparison[comparison.scenario == scenario].set_index("metric").reindex(metrics)
        positions = np.arange(len(metrics)) - 0.4 + height * (k + 0.5)
        ratio = np.maximum(1 + part.change_pct.to_numpy() / 100, floor)
        lower = np.maximum(1 + part.change_pct_ci_low.to_numpy() / 100, floor)
        upper = np.maximum(1 + part.change_pct_ci_high.to_numpy() / 100, floor)
        error = np.nan_to_num(np.vstack([ratio - lower, upper - ratio]))
        look = style(k + 1)
        ax.barh(
            positions,
            ratio - 1,
            left=1,
            height=height,
            xerr=np.maximum(error, 0),
            capsize=3,
            color=look["color"],
            hatch=look["hatch"],
            edgecolor="black",
            label=scenario,
        )
        ends = zip(positions, ratio, lower, upper, part.change_pct, strict=True)
        for y, value, below, above, pct in ends:
            if pct != pct:
                continue
            ax.annotate(
                change_words(pct),
                (below if value < 1 else above, y),  # beyond the whisker
                xytext=(-4 if value < 1 else 4, 0),
                textcoords="offset points",
                ha="right" if value < 1 else "left",
                va="center",
                fontsize=8,
            )
    ax.set_xscale("log")
    ax.set_xlim(low / 2.5, high * 2.5)  # room for the labels beyond the whiskers
    ax.axvline(1, color="black", linewidth=0.8)
    ticks = [10.0**k for k in range(-3, 5)] + [0.25]
    if np.log10(high / low) < 2.5:
        ticks += [0.5, 2, 4]
    ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(sorted(ticks)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: change_tick(v)))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(np.arange(len(metrics)), [metric_words(m) for m in metrics])
    ax.invert_yaxis()
    baseline = comparison.baseline.iloc[0]
    ax.set_xlabel(
        f"change against {baseline} (log scale: \u221275% as long as \u00d74); whiskers: 95% "
        "intervals"
    )
    ax.set_title(f"What each scenario changes, against {baseline}")
    ax.legend(frameon=False, loc="lower right")
    return ax


def metric_words(metric: str) -> str:
    """A metric's name in words with its unit: ``counterfeit sales (CNY/yr)``."""
    words = metric.removesuffix("_cny").replace("_", " ")
    unit = UNITS.get(metric, "")
    if not unit or unit.split()[0] in words.split():
        return words
    return f"{words} ({unit})"


def plot_funnel(summary_stats: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The enforcement funnel per scenario, per year on a log scale, with 95% intervals.

    Listings removed, stores closed, cases referred, pursued and convicted.

    Args:
        summary_stats: ``metric_statistics`` rows of one or more scenarios.
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    ax = new_axes(ax)
    scenarios = list(dict.fromkeys(summary_stats.scenario))
    width = 0.8 / len(scenarios)
    for k, scenario in enumerate(scenarios):
        part = (
            summary_stats[summary_stats.scenario == scenario].set_index("metric").loc[list(FUNNEL)]
        )
        positions = np.arange(len(FUNNEL)) - 0.4 + width * (k + 0.5)
        values = part["mean"].to_numpy()
        error = np.vstack([values - part.ci_low, part.ci_high - values])
        look = style(k)
        ax.bar(
            positions,
            values,
            width=width,
            yerr=np.nan_to_num(error),
            capsize=2,
            color=look["color"],
            hatch=look["hatch"],
            edgecolor="black",
            label=scenario,
        )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: tick_label(v)))
    ax.set_xticks(
        np.arange(len(FUNNEL)),
        ["listings\nremoved", "stores\nclosed", "cases\nreferred", "cases\npursued", "convictions"],
    )
    ax.set_ylabel("per year (log scale)")
    ax.set_title("The enforcement funnel: from takedowns to convictions")
    ax.legend(frameon=False)
    return ax


def plot_beliefs(
    timeseries: pd.DataFrame,
    burn_in_weeks: int = 0,
    ax: Axes | None = None,
    warm_up: bool = False,
) -> Axes:
    """Perceived against true weekly risk of sanction over time, per scenario (medians).

    Args:
        timeseries: Weekly rows of one or more scenarios.
        burn_in_weeks: Weeks of warm-up (burn-in).
        ax: Axes to draw on [new figure].
        warm_up: Draw the warm-up too, shaded [only the weeks after it].

    Returns:
        The axes.
    """
    ax = new_axes(ax)
    timeseries, note = summary_window(timeseries, burn_in_weeks, warm_up)
    for k, (scenario, rows) in enumerate(timeseries.groupby("scenario", sort=False)):
        weekly = rows.groupby("week")
        look = style(k)
        ax.plot(
            weekly["mean_perceived_risk"].median(),
            color=look["color"],
            linewidth=2,
            label=f"{scenario}: perceived",
        )
        true = weekly["true_risk"].median().rolling(4, min_periods=1).mean()
        ax.plot(
            true,
            color=look["color"],
            linewidth=1.2,
            linestyle=":",
            label=f"{scenario}: true (4-week mean)",
        )
    _shade_warm_up(ax, burn_in_weeks, warm_up)
    ax.set_yscale("log")
    ax.set_xlabel("week")
    ax.set_ylabel("chance per week of a case being pursued (log scale)")
    ax.set_title(
        f"Risk of prosecution as sellers perceive it and as it is{note}\n"
        "perceived: sellers' mean belief that a week of selling leads to a pursued case; "
        "true: cases pursued per active seller",
        fontsize=10,
    )
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
