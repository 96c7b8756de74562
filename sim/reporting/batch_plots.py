"""Figures of batches and validation experiments: ``plot_x(table, ..., ax=None) -> Axes``.

The heat map of a sweep, sensitivity bars, elasticities beside the literature, a policy
introduced mid-run, and hysteresis.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from sim.experiments.sweep import swept_parameters
from sim.reporting.canvas import UNITS, new_axes, param_label, short_name, style
from sim.reporting.format import short_number
from sim.reporting.plots import metric_words, plot_timeseries


def plot_heatmap(
    table: pd.DataFrame,
    metric: str = "active_sellers",
    ax: Axes | None = None,
) -> Axes:
    """Change of ``metric`` against the reference over a one- or two-parameter sweep.

    Two parameters: a heat map of the percent change of the metric's mean against the
    reference (the scenario unchanged), each cell labelled, with the contour where the metric
    is halved (-50%). One parameter: the change with its 95% interval, and the -50% line.

    Args:
        table: The sweep table (``sweep.csv``): ``point, label``, the swept parameters, then
            ``<metric>_mean``, ``<metric>_ci_low``, ``<metric>_ci_high`` per metric.
        metric: The metric to show.
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    params = swept_parameters(table)
    if not 1 <= len(params) <= 2:
        raise ValueError(f"a heat map needs one or two swept parameters, not {len(params)}")
    reference = table[table.label == "reference"]
    if reference.empty:
        raise ValueError("the sweep table has no reference row")
    base = float(reference[f"{metric}_mean"].iloc[0])
    cells = table[table.label != "reference"]
    change = 100 * (cells[f"{metric}_mean"] / base - 1)
    ax = new_axes(ax)
    if len(params) == 1:
        (x,) = params
        order = np.argsort(cells[x].to_numpy())
        xs = cells[x].to_numpy()[order]
        low = (100 * (cells[f"{metric}_ci_low"] / base - 1)).to_numpy()[order]
        high = (100 * (cells[f"{metric}_ci_high"] / base - 1)).to_numpy()[order]
        ax.fill_between(xs, low, high, color="0.8", label="95% interval of the mean")
        ax.plot(xs, change.to_numpy()[order], "o-", color="black", label="mean")
        ax.axhline(-50, color="black", linestyle="--", linewidth=1, label="halved (-50%)")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xlabel(param_label(x))
        ax.set_ylabel(f"{metric.replace('_', ' ')}: change against reference (%)")
        ax.legend(frameon=False)
    else:
        x, y = params
        xs, ys = np.sort(cells[x].unique()), np.sort(cells[y].unique())
        grid = np.full((len(ys), len(xs)), np.nan)
        for (xv, yv), value in zip(zip(cells[x], cells[y], strict=True), change, strict=True):
            grid[np.searchsorted(ys, yv), np.searchsorted(xs, xv)] = value
        limit = max(1.0, float(np.nanmax(np.abs(grid))))
        # Cells on an even lattice labelled with the values, whatever their spacing.
        columns, rows = np.arange(len(xs)), np.arange(len(ys))
        mesh = ax.pcolormesh(
            columns, rows, grid, shading="nearest", cmap="RdBu_r", vmin=-limit, vmax=limit
        )
        colorbar = ax.figure.colorbar(mesh, ax=ax)
        colorbar.set_label(f"{metric.replace('_', ' ')}: change against reference (%)")
        if len(xs) > 1 and len(ys) > 1 and np.nanmin(grid) < -50 < np.nanmax(grid):
            contour = ax.contour(columns, rows, grid, levels=[-50], colors="black", linewidths=2.5)
            ax.clabel(contour, fmt={-50: "halved"}, fontsize=10)
        elif np.nanmin(grid) > -50:
            ax.annotate(
                f"no swept point halves {metric.replace('_', ' ')} (all above -50%)",
                xy=(0.5, 1.0),
                xycoords="axes fraction",
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
                style="italic",
            )
        if grid.size <= 150:
            for i in rows:
                for j in columns:
                    if np.isfinite(grid[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{grid[i, j]:+.0f}%",
                            ha="center",
                            va="center",
                            fontsize=9,
                            color="white" if abs(grid[i, j]) > limit * 0.6 else "black",
                        )
        ax.set_xticks(columns, [f"{v:g}" for v in xs])
        ax.set_yticks(rows, [f"{v:g}" for v in ys])
        ax.set_xlabel(param_label(x))
        ax.set_ylabel(param_label(y))
    ax.set_title(
        f"{metric.replace('_', ' ').capitalize()}: change against the scenario as given\n"
        f"(reference mean {base:,.4g} {UNITS.get(metric, '')})",
        pad=18,
    )
    return ax


def plot_sensitivity(indices: pd.DataFrame, metric: str, ax: Axes | None = None) -> Axes:
    """Sensitivity indices of ``metric`` as horizontal bars with 95% intervals (tornado order).

    Args:
        indices: ``sensitivity.csv``: ``metric, parameter, index, value, conf, ...``.
        metric: The metric to show.
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    rows = indices[indices.metric == metric]
    kinds = list(dict.fromkeys(rows["index"]))
    main = "ST" if "ST" in kinds else kinds[0]
    order = rows[rows["index"] == main].sort_values("value")["parameter"].tolist()
    ax = new_axes(ax, (8, 1.2 + 0.6 * len(order)))
    height = 0.8 / len(kinds)
    styles = [
        {"color": "0.25", "hatch": ""},
        {"color": "0.7", "hatch": "//"},
    ]
    for k, kind in enumerate(kinds):
        part = rows[rows["index"] == kind].set_index("parameter").loc[order]
        positions = np.arange(len(order)) + (k - (len(kinds) - 1) / 2) * height
        error = part["conf"].to_numpy()
        ax.barh(
            positions,
            part["value"],
            height=height,
            xerr=np.where(np.isfinite(error), error, 0),
            capsize=3,
            label=kind,
            edgecolor="black",
            **styles[k % len(styles)],
        )
    ax.set_yticks(np.arange(len(order)), [short_name(p) for p in order])
    ax.axvline(0, color="black", linewidth=0.8)
    if main == "ST":
        ax.set_xlabel("share of the variance (S1: alone; ST: with interactions); bars: 95% CI")
    else:
        ax.set_xlabel(
            f"mean absolute elementary effect over the range ({UNITS.get(metric, '')}); "
            "bars: 95% CI"
        )
    ax.set_title(f"What {metric.replace('_', ' ')} depends on")
    ax.legend(frameon=False, loc="lower right")
    return ax


def _interval(table: pd.DataFrame) -> str:
    # What an elasticity table's ci_low/ci_high are: a 95% interval, or 90% of an ensemble.
    if "interval" in table and len(table) and table.interval.iloc[0] == table.interval.iloc[0]:
        return f"{table.interval.iloc[0]} of an ensemble, median"
    return "95% interval"


def plot_elasticities(table: pd.DataFrame, metric: str, ax: Axes | None = None) -> Axes:
    """Arc elasticity of ``metric`` for each parameter, with its 95% interval.

    Shaded behind each: the range the literature reports for that kind of lever (certainty
    or severity).

    Args:
        table: ``sim.validation.elasticity_table`` output.
        metric: The metric.
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    part = table[table.metric == metric].reset_index(drop=True)
    ax = new_axes(ax, (8, 1.5 + 0.7 * len(part)))
    words = metric.removesuffix("_cny").replace("_", " ")
    positions = np.arange(len(part))
    shaded: set[str] = set()
    for i, row in part.iterrows():
        if row.literature_low == row.literature_low:  # not NaN
            label = f"literature, {row.kind}" if row.kind not in shaded else None
            shaded.add(row.kind)
            look = {"certainty": ("#56B4E9", ""), "severity": ("#E69F00", "//")}[row.kind]
            ax.fill_betweenx(
                [i - 0.4, i + 0.4],
                row.literature_low,
                row.literature_high,
                color=look[0],
                alpha=0.35,
                hatch=look[1],
                linewidth=0,
                label=label,
            )
    error = np.vstack([part.elasticity - part.ci_low, part.ci_high - part.elasticity])
    ax.errorbar(
        part.elasticity,
        positions,
        xerr=np.nan_to_num(error),
        fmt="o",
        color="black",
        capsize=4,
        label=f"model ({_interval(part)})",
    )
    for i, row in part.iterrows():
        ax.annotate(
            f"{row.elasticity:+.3f}",
            (row.elasticity, i),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=9,
        )
    ax.axvline(0, color="black", linewidth=0.8)
    labels = [f"{short_name(p)}\n({v:g})" for p, v in zip(part.parameter, part.value, strict=True)]
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"arc elasticity of {words} (% change per % change)")
    where = "over the ensemble" if _interval(part) != "95% interval" else "at the scenario"
    ax.set_title(f"Elasticity of {words} to each lever, {where}")
    ax.legend(frameon=False, loc="best", fontsize=9)
    return ax


def plot_intervention(
    timeseries: pd.DataFrame,
    metric: str,
    at: int,
    until: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """``metric`` per week in a baseline and in the run where a policy starts at week ``at``.

    The weeks the policy is in force are shaded; year marks follow the change.

    Returns:
        The axes.
    """
    ax = plot_timeseries(timeseries, metric, 0, ax=ax)
    end = until if until is not None else int(timeseries.week.max()) + 1
    ax.axvspan(at, end, color="#009E73", alpha=0.08, zorder=0)
    ax.axvline(at, color="#009E73", linewidth=1.2)
    ax.text(at, 0.98, " policy starts", transform=ax.get_xaxis_transform(), va="top", fontsize=9)
    if until is not None:
        ax.axvline(until, color="#009E73", linewidth=1.2, linestyle="--")
        ax.text(
            until, 0.98, " policy ends", transform=ax.get_xaxis_transform(), va="top", fontsize=9
        )
    for k in range(1, 5):
        week = at + 52 * k
        if week <= timeseries.week.max():
            ax.axvline(week, color="0.7", linewidth=0.6, linestyle=":")
            ax.text(
                week, 0.02, f"+{k} y", transform=ax.get_xaxis_transform(), fontsize=8, color="0.4"
            )
    ax.set_title(
        f"{metric.replace('_', ' ').capitalize()} per week: median and 5%-95% of replications"
    )
    return ax


def plot_hysteresis(table: pd.DataFrame, field: str, metric: str, ax: Axes | None = None) -> Axes:
    """``metric`` at each value of ``field`` on the way up and on the way down (95% intervals).

    Two separate curves at the same values mean the system remembers where it came from.

    Args:
        table: ``sim.validation.hysteresis_table`` output.
        field: The parameter stepped.
        metric: The metric.
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    ax = new_axes(ax)
    part = table[table.metric == metric]
    top = part[part.leg == "top"]
    for k, (leg, marker) in enumerate((("up", "o"), ("down", "s"))):
        rows = pd.concat([part[part.leg == leg], top]).sort_values("value")
        look = style(k + 1)
        error = np.vstack([rows["mean"] - rows.ci_low, rows.ci_high - rows["mean"]])
        ax.errorbar(
            rows.value,
            rows["mean"],
            yerr=np.nan_to_num(error),
            marker=marker,
            color=look["color"],
            linestyle=look["linestyle"],
            capsize=3,
            label=f"way {leg}",
        )
    if (part.value > 0).all() and part.value.max() / part.value.min() > 20:
        ax.set_xscale("log")
    ax.set_xlabel(param_label(field))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: short_number(v)))
    ax.set_ylabel(f"{metric.replace('_', ' ')} ({UNITS.get(metric, '')})")
    ax.set_title(
        f"{metric.replace('_', ' ').capitalize()} as {short_name(field)} goes up, then down"
    )
    ax.legend(frameon=False)
    return ax


def plot_lever_map(table: pd.DataFrame, metric: str, ax: Axes | None = None) -> Axes:
    """Where certainty beats severity: the lever map of ``deter-sim lever-map`` for a metric.

    One swept parameter: each lever's elasticity (with its 95% interval) against it. Two: a
    cell per pair of values, coloured by the strongest severity elasticity less the strongest
    certainty one (blue: certainty deters more; red: severity does), labelled with both. The
    scenario's own setting is marked.

    Args:
        table: ``lever_map.csv``.
        metric: The metric.
        ax: Axes to draw on [new figure].

    Returns:
        The axes.
    """
    rows = table[table.metric == metric]
    axes_ = [c for c in rows.columns if "." in c and c != "parameter"]
    noun = metric.replace("_cny", "").replace("_", " ")
    if len(axes_) == 1:
        field = axes_[0]
        ax = new_axes(ax)
        for k, (lever, part) in enumerate(rows.groupby("parameter", sort=False)):
            part = part.sort_values(field)
            look = style(k)
            ax.plot(
                part[field],
                part.elasticity,
                color=look["color"],
                linestyle=look["linestyle"],
                marker="o",
                label=short_name(lever),
            )
            ax.fill_between(part[field], part.ci_low, part.ci_high, color=look["color"], alpha=0.12)
        mine = rows[rows.at_scenario]
        if len(mine):
            ax.axvline(mine[field].iloc[0], color="0.5", linestyle=":", label="the scenario")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel(param_label(field))
        ax.set_ylabel(f"elasticity of {noun}")
        ax.legend(frameon=False)
        ax.set_title(f"Elasticity of {noun} to each lever as {short_name(field)} varies")
        return ax
    if len(axes_) != 2:
        raise ValueError(f"a lever map draws one or two swept parameters, not {len(axes_)}")
    x_field, y_field = axes_
    kinds = rows.assign(kind=rows.kind.replace("", "other"))
    best = kinds.groupby(["cell", "kind"]).elasticity.min().unstack()
    cells = rows.groupby("cell")[[x_field, y_field, "at_scenario"]].first()
    xs, ys = sorted(cells[x_field].unique()), sorted(cells[y_field].unique())
    gap = np.full((len(ys), len(xs)), np.nan)
    labels = []
    ax = new_axes(ax, (8, 6))
    for cell, values in cells.iterrows():
        i, j = ys.index(values[y_field]), xs.index(values[x_field])
        certainty = best.loc[cell].get("certainty", 0.0)
        severity = best.loc[cell].get("severity", 0.0)
        gap[i, j] = severity - certainty
        labels.append((i, j, f"C {certainty:+.3f}\nS {severity:+.3f}"))
        if values.at_scenario:
            ax.add_patch(
                matplotlib.patches.Rectangle(
                    (j - 0.5, i - 0.5), 1, 1, fill=False, linewidth=2.5, edgecolor="black"
                )
            )
    limit = max(float(np.nanmax(np.abs(gap))), 1e-6)
    image = ax.imshow(gap, origin="lower", cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for i, j, text in labels:  # white on the darkest cells, black elsewhere
        dark = abs(gap[i, j]) > 0.6 * limit
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black"
        )
    ax.figure.colorbar(
        image, ax=ax, label="severity less certainty elasticity (> 0: certainty deters more)"
    )
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_xlabel(param_label(x_field))
    ax.set_ylabel(param_label(y_field))
    ax.set_title(f"{noun.capitalize()}: strongest certainty (C) and severity (S) elasticity")
    return ax


def plot_space_left(waves: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """The share of the parameter space not ruled out after each wave (log scale)."""
    ax = new_axes(ax)
    shares = [1.0, *waves.nroy_fraction]
    ax.bar(range(len(shares)), shares, color=["0.7", *["tab:blue"] * len(waves)])
    for i, share in enumerate(shares):
        ax.text(i, share, f"{share:.2g}", ha="center", va="bottom", fontsize=9)
    ax.set_yscale("log")
    ax.set_ylim(min(shares) / 3, 3)
    ax.set_xticks(range(len(shares)), ["searched", *(f"wave {w}" for w in waves.wave)])
    ax.set_ylabel("share of the space left")
    ax.set_title("The plausible space, wave by wave")
    return ax


def plot_parameter_ranges(
    space: pd.DataFrame, ensemble: pd.DataFrame, dimensions: list, ax: Axes | None = None
) -> Axes:
    """Per parameter, the extent of the space left after each wave and the ensemble's sets.

    Positions are shares of the range searched (on a log scale for log-scale parameters).
    """
    ax = new_axes(ax)
    waves = sorted(space.wave.unique())
    colours = matplotlib.colormaps["viridis"](np.linspace(0.15, 0.85, max(len(waves) - 1, 1)))
    labels, shown = [], set()

    def once(label: str) -> str | None:  # each label in the legend once
        if label in shown:
            return None
        shown.add(label)
        return label

    for row, dim in enumerate(dimensions):
        rows = space[space.parameter == dim.name].set_index("wave")
        for k, wave in enumerate(waves[1:]):
            if wave not in rows.index:
                continue
            low, high = dim.unit(np.array([rows.loc[wave, "low"], rows.loc[wave, "high"]]))
            y = row + 0.3 - 0.6 * (k + 1) / len(waves)
            label = once(f"after wave {wave}")
            ax.plot([low, high], [y, y], color=colours[k], linewidth=3, label=label)
        if dim.name in ensemble:
            units = dim.unit(ensemble[dim.name].to_numpy())
            label = once(f"ensemble ({len(ensemble)} sets)")
            ax.plot(units, np.full(len(units), row - 0.35), "|", color="black", label=label)
        scale = ", log" if dim.log else ""
        labels.append(f"{dim.name.split('.')[-1]} ({dim.low:g} to {dim.high:g}{scale})")
    ax.set_yticks(range(len(dimensions)), labels, fontsize=8)
    ax.set_ylim(len(dimensions) - 0.5, -0.6)
    ax.set_xlim(0, 1)
    ax.set_xlabel("position in the range searched (low to high)")
    ax.set_title("Where the plausible settings lie")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_robust(sets: pd.DataFrame, goal: Any, axes: Any = None) -> Any:
    """Each policy on every parameter set: its effect against the goal, its cost per CNY averted.

    Left: the change of the goal's metric in each set (a dot per set), the median (a bar) and
    the goal (dashed). Right: enforcement CNY added per CNY of counterfeit sales averted, on a
    log scale, in the sets where it averts at least 1% of the baseline's counterfeit sales
    (those where it costs nothing more are at the left edge).
    """
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(
            1, 2, figsize=(11, 0.9 * sets.scenario.nunique() + 2.6), layout="constrained"
        )
    left, right = axes
    names = list(dict.fromkeys(sets.scenario))
    rng = np.random.default_rng(0)  # the jitter only; fixed so that the figure is reproducible
    labelled: set[str] = set()
    for row, name in enumerate(names):
        own = sets[sets.scenario == name]
        jitter = rng.uniform(-0.18, 0.18, len(own))
        met = own.meets_goal.to_numpy()
        change = 100 * own.change.to_numpy()
        left.scatter(
            change[met],
            row + jitter[met],
            s=14,
            color="tab:blue",
            alpha=0.7,
            label="meets the goal" if row == 0 else None,
        )
        left.scatter(
            change[~met],
            row + jitter[~met],
            s=14,
            color="tab:red",
            marker="x",
            alpha=0.7,
            label="fails it" if row == 0 else None,
        )
        left.plot([np.nanmedian(change)] * 2, [row - 0.3, row + 0.3], color="black", lw=2)
        value = own.cny_per_cny_averted.to_numpy()
        priced = np.isfinite(value)
        if not priced.any():
            continue
        positive = value[priced & (value > 0)]
        edge = positive.min() / 3 if len(positive) else 0.01
        shown = np.where(value > 0, value, edge)  # a saving that averts sales: the left edge
        for chosen, marker, label in (
            (priced & (value > 0), "o", "sets that avert 1% or more"),
            (priced & (value <= 0), "<", "cost nothing more (left edge)"),
        ):
            if chosen.any():
                right.scatter(
                    shown[chosen],
                    row + jitter[chosen],
                    s=14,
                    marker=marker,
                    color="tab:green",
                    alpha=0.7,
                    label=None if label in labelled else label,
                )
                labelled.add(label)
        right.plot([np.nanmedian(shown[priced])] * 2, [row - 0.3, row + 0.3], color="black", lw=2)
    left.axvline(100 * goal.change, color="0.3", linestyle="--", label=f"goal ({goal.change:+.0%})")
    left.axvline(0, color="0.7", lw=0.8)
    left.set_yticks(range(len(names)), names)
    left.set_ylim(len(names) - 0.5, -0.5)
    left.set_xlabel(f"change of {metric_words(goal.metric)}, % (a dot per parameter set)")
    left.set_title("Effect over the ensemble")
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    right.set_xscale("log")
    right.set_yticks(range(len(names)), [""] * len(names))
    right.set_ylim(len(names) - 0.5, -0.5)
    right.set_xlabel("enforcement CNY added per CNY of counterfeit sales averted")
    right.set_title("Cost-effectiveness (where 1% of sales or more are averted)")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return axes
