"""Tables printed by the commands (rich), from the tables the library returns."""

from __future__ import annotations

from rich.table import Table

from sim.model.metrics import METRICS
from sim.reporting.format import short_number as _fmt


def summary_table(stats, name: str) -> Table:
    """Per metric of a run: mean, 95% interval, spread over runs and unit."""
    table = Table(title=f"{name}: per year after burn-in (flows) or mean level (stocks)")
    table.add_column("metric", no_wrap=True)
    table.add_column("mean", justify="right")
    table.add_column("95% CI of mean", justify="right")
    table.add_column("5%-95% of runs", justify="right")
    table.add_column("unit")
    units = {m.name: m.unit + (" / year" if m.kind == "flow" else "") for m in METRICS}
    for row in stats.itertuples():
        table.add_row(
            row.metric,
            _fmt(row.mean),
            f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)}" if row.n > 1 else "n/a",
            f"{_fmt(row.q05)} to {_fmt(row.q95)}",
            units[row.metric],
        )
    return table


def compare_table(rows) -> Table:
    """One scenario against its baseline: each metric's change with its 95% interval."""
    first = rows.iloc[0]
    table = Table(
        title=f"{first.scenario} against {first.baseline} ({first.n} paired replications)"
    )
    for column in (
        "metric",
        first.baseline,
        first.scenario,
        "change",
        "change %",
        "95% CI of change %",
    ):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows.itertuples(index=False):
        table.add_row(
            row.metric,
            _fmt(row.baseline_mean),
            _fmt(row.mean),
            _fmt(row.change),
            f"{row.change_pct:+.1f}%" if row.change_pct == row.change_pct else "n/a",
            f"{row.change_pct_ci_low:+.1f} to {row.change_pct_ci_high:+.1f}%"
            if row.change_pct_ci_low == row.change_pct_ci_low
            else "n/a",
        )
    return table


def ensemble_table(rows) -> Table:
    """One scenario against its baseline over an ensemble: median change, range over sets."""
    first = rows.iloc[0]
    table = Table(
        title=f"{first.scenario} against {first.baseline} on {first.sets} parameter sets "
        f"({first.replications} paired replication(s) each)"
    )
    columns = (
        "metric",
        f"{first.baseline} (median)",
        f"{first.scenario} (median)",
        "change % (median)",
        "90% of sets",
        "spread: parameters / noise",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in rows.itertuples(index=False):
        known = row.change_pct == row.change_pct
        share = row.share_parameter
        table.add_row(
            row.metric,
            _fmt(row.baseline_median),
            _fmt(row.median),
            f"{row.change_pct:+.1f}%" if known else "n/a",
            f"{row.change_pct_low:+.1f} to {row.change_pct_high:+.1f}%" if known else "n/a",
            f"{share:.0%} / {1 - share:.0%}" if share == share else "n/a (1 replication)",
        )
    return table


def ensemble_summary_table(summary, name: str) -> Table:
    """One scenario over an ensemble: each metric's median over the sets and its range."""
    sets = int(summary.sets.iloc[0]) if len(summary) else 0
    table = Table(title=f"{name} on {sets} parameter sets (means over the replications)")
    for column in ("metric", "median", "90% of sets", "spread: parameters / noise"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in summary.itertuples(index=False):
        share = row.share_parameter
        table.add_row(
            row.metric,
            _fmt(row.mean),
            f"{_fmt(row.mean_low)} to {_fmt(row.mean_high)}",
            f"{share:.0%} / {1 - share:.0%}" if share == share else "n/a",
        )
    return table


def ensemble_sweep_table(table, name: str) -> Table:
    """A sweep over an ensemble: active sellers and counterfeit sales per point, over the sets."""
    sets = int(table.sets.iloc[0]) if len(table) else 0
    out = Table(title=f"{name} sweep over {sets} parameter sets: median (90% of sets)")
    out.add_column("point")
    out.add_column("active sellers", justify="right")
    out.add_column("counterfeit sales CNY/yr", justify="right")
    wide = table.set_index(["label", "metric"])
    for label in dict.fromkeys(table.label):
        cells = []
        for metric in ("active_sellers", "counterfeit_sales_cny"):
            row = wide.loc[(label, metric)]
            cells.append(f"{_fmt(row['mean'])} ({_fmt(row.mean_low)} to {_fmt(row.mean_high)})")
        out.add_row(label, *cells)
    return out


def robust_table(ranking, sets: int) -> Table:
    """Policies ranked over an ensemble: effect, goal met, value, how often best."""
    first = ranking.iloc[0]
    table = Table(title=f"Policies over {sets} parameter sets; goal: {first.goal}")
    columns = (
        "policy",
        "change (median)",
        "90% of sets",
        "meets goal",
        "CNY per CNY averted",
        "90% of sets ",
        "best effect",
        "best value",
    )
    for column in columns:
        if column == "policy":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for row in ranking.itertuples(index=False):
        valued = row.cny_per_cny_averted == row.cny_per_cny_averted and row.share_averting >= 0.5
        table.add_row(
            row.scenario,
            f"{row.change_pct:+.1f}%",
            f"{row.change_pct_low:+.1f} to {row.change_pct_high:+.1f}%",
            f"{row.share_meets_goal:.0%}",
            f"{row.cny_per_cny_averted:.2g}" if valued else "averts < 1%",
            f"{row.cny_per_cny_low:.2g} to {row.cny_per_cny_high:.2g}" if valued else "",
            f"{row.share_best_effect:.0%}",
            f"{row.share_best_value:.0%}",
        )
    return table


def sweep_table(table, name: str) -> Table:
    """Active sellers and counterfeit sales at each point of a sweep."""
    from sim.experiments.sweep import swept_parameters

    params = swept_parameters(table)
    out = Table(title=f"{name} sweep: active sellers and counterfeit sales per point")
    for param in params:
        out.add_column(param.rsplit(".", 1)[-1], justify="right")
    out.add_column("active sellers (95% CI)", justify="right")
    out.add_column("counterfeit sales CNY/yr (95% CI)", justify="right")
    for values in table.to_dict("records"):
        cells = ["reference" if values["label"] == "reference" else _fmt(values[p]) for p in params]
        for metric in ("active_sellers", "counterfeit_sales_cny"):
            cells.append(
                f"{_fmt(values[f'{metric}_mean'])} ({_fmt(values[f'{metric}_ci_low'])} to "
                f"{_fmt(values[f'{metric}_ci_high'])})"
            )
        out.add_row(*cells)
    return out


def sensitivity_table(table) -> Table:
    """Sensitivity indices with their 95% intervals."""
    out = Table(title="Sensitivity indices (95% confidence interval)")
    for column in ("metric", "parameter", "index", "value", "95% CI"):
        out.add_column(column, justify="right" if column in ("value", "95% CI") else "left")
    for row in table.itertuples(index=False):
        out.add_row(
            row.metric,
            row.parameter,
            row.index,
            f"{row.value:.3g}",
            f"{row.ci_low:.3g} to {row.ci_high:.3g}" if row.conf == row.conf else "n/a",
        )
    return out


def targets_table(table, name: str, goals: str) -> Table:
    """The model's mean yearly figures beside the observed targets."""
    reps = int(table.replications.max())
    out = Table(
        title=f"{name} against the targets '{goals}' (model: mean yearly value after the "
        f"burn-in over {reps} replications)"
    )
    for column, justify in (
        ("target", "left"),
        ("use", "left"),
        ("observed", "right"),
        ("model mean", "right"),
        ("95% CI", "right"),
        ("rel. error", "right"),
        ("", "left"),
    ):
        out.add_column(column, justify=justify, no_wrap=column != "target")
    for row in table.itertuples():
        has_model = row.mean == row.mean
        mark = ""
        if row.use == "fit":
            mark = "ok" if row.within else "[red]outside[/]"
        elif row.use == "check":
            mark = "out of sample"
        else:
            mark = "context only"
        out.add_row(
            f"{row.figure} ({row.period})" if row.period else row.figure,
            row.use,
            f"{row.target:,.0f}",
            _fmt(row.mean) if has_model else "-",
            f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)}" if has_model else "-",
            f"{row.relative_error:+.1%}" if has_model else "-",
            mark,
        )
    return out


def percent(value: float) -> str:
    """A percent change; rises of 100% or more as multiples (x2.5)."""
    if value != value:
        return "n/a"
    return f"x{1 + value / 100:.3g}" if value >= 100 else f"{value:+.1f}%"


def elasticity_table(table, name: str) -> Table:
    """Arc elasticities with their 95% intervals, beside the literature."""
    ensemble = "interval" in table and len(table) and table.interval.iloc[0] == "90% of sets"
    if ensemble:
        title = f"{name}: arc elasticities over {int(table.n.iloc[0])} parameter sets (median)"
        spread = "90% of sets"
    else:
        title, spread = f"{name}: arc elasticities (paired runs, 95% t-interval)", "95% CI"
    out = Table(title=title)
    for column in ("lever", "at", "runs at", "metric", "elasticity", spread, "literature", ""):
        out.add_column(column, justify="left" if column in ("lever", "metric", "") else "right")
    for row in table.itertuples():
        has_lit = row.literature_low == row.literature_low
        out.add_row(
            row.parameter.rpartition(".")[2],
            f"{row.value:g}",
            f"{row.low:.3g}, {row.high:.3g}",
            row.metric.replace("_cny", "").replace("_", " "),
            f"{row.elasticity:+.3f}",
            f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]",
            f"{row.literature_low:+.2f} to {row.literature_high:+.2f}" if has_lit else "-",
            row.against_literature,
        )
    return out


def intervention_table(table, policy: str, baseline: str, at: int) -> Table:
    """Change per year window of a policy introduced mid-run."""
    out = Table(
        title=f"{policy} from week {at} against {baseline}: change per year window (paired, 95% CI)"
    )
    for column in ("window", "weeks", "metric", "baseline", "with policy", "change", "95% CI"):
        out.add_column(column, justify="right" if column not in ("window", "metric") else "left")
    for row in table.itertuples():
        out.add_row(
            row.window,
            f"{row.first_week}-{row.end_week - 1}",
            row.metric,
            _fmt(row.baseline_mean),
            _fmt(row.mean),
            percent(row.change_pct),
            f"{percent(row.change_pct_ci_low)} to {percent(row.change_pct_ci_high)}",
        )
    return out


def hysteresis_table(table, field: str) -> Table:
    """Levels on the way up and down, and the paired change at each value."""
    out = Table(title=f"Levels as {field} goes up then down (mean of the second half of each hold)")
    for column in ("level", "value", "leg", "metric", "mean", "95% CI", "down vs up", "95% CI "):
        out.add_column(column, justify="left" if column in ("leg", "metric") else "right")
    for row in table.itertuples():
        down = row.leg == "down"
        out.add_row(
            str(row.level),
            f"{row.value:g}",
            row.leg,
            row.metric,
            _fmt(row.mean),
            f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)}",
            percent(row.change_pct) if down else "",
            f"{percent(row.change_pct_ci_low)} to {percent(row.change_pct_ci_high)}"
            if down
            else "",
        )
    return out


def lever_table(table) -> Table:
    """The elasticity of each metric to each lever at each cell of a lever map."""
    fields = [c for c in table.columns if "." in c and c != "parameter"]
    out = Table(title="Elasticities by lever across the map (95% t-interval; *: the scenario)")
    for column in [
        *(f.rpartition(".")[2] for f in fields),
        "metric",
        "lever",
        "elasticity",
        "95% CI",
    ]:
        out.add_column(column, justify="right" if column in ("elasticity", "95% CI") else "left")
    for row in table.to_dict("records"):
        cells = [f"{row[f]:g}" + ("*" if row["at_scenario"] else "") for f in fields]
        out.add_row(
            *cells,
            row["metric"].replace("_cny", "").replace("_", " "),
            row["parameter"].rpartition(".")[2],
            f"{row['elasticity']:+.3f}",
            f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]",
        )
    return out
