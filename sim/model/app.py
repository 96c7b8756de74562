"""The explore page: Mesa's SolaraViz on a policy and its baseline (``deter-sim explore``).

Mesa's convention: the page lives in ``app.py`` beside ``model.py`` and ``agents.py``, and the
model never imports it. Serve it with ``deter-sim explore [SCENARIO]`` (which runs
``solara run`` on this file, bound to 127.0.0.1) or ``solara run sim/model/app.py``.

The sidebar holds Mesa's controls (Reset, play, Step) and a slider for each policy lever
(``sim.model.paired.POLICY_LEVERS``); moving a slider and pressing Reset re-creates the
``PairedModel``: the scenario's regime through a warm-up, then the levers' values as an
announced policy change in the *policy* run, beside the *baseline* run of the scenario as
written, on the same seed. The main area shows the latest numbers, the charts (active sellers,
the enforcement funnel, perceived against actual risk, and the sales channels when the model
has them), and a button that runs the current settings at full scale through the normal runner.

This module is the one deliberate exception to the layers (``docs/ARCHITECTURE.md``): a page
of the model layer that calls the runner of the experiments layer (``run_scenario``) for its
full-scale button, so that the page's full-scale results are exactly those of ``deter-sim
run``. Nothing imports this module; ``tests/test_architecture.py`` names it.

The page reads its settings from the environment variable ``DETER_SIM_EXPLORE`` (JSON, written
by ``deter-sim explore``): the scenario, the ``--set`` overrides of the full-scale run, the
interactive number of sellers and the workers of the full-scale run.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pandas as pd
import solara
from matplotlib.figure import Figure
from mesa.visualization import Slider, SolaraViz

from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import claim_folder, default_folder
from sim.experiments.runner import Results, run_scenario
from sim.model.metrics import METRIC_NAMES, METRICS
from sim.model.paired import INTERACTIVE_SELLERS, POLICY_LEVERS, PairedModel, lever_values
from sim.scenario import apply_changes, load_scenario

SETTINGS_VARIABLE = "DETER_SIM_EXPLORE"
# The latest numbers shown (those of the model that exist).
SHOWN = (
    "active_sellers",
    "listings_live",
    "stores_closed",
    "referrals",
    "cases_pursued",
    "convictions",
    "mean_perceived_risk",
    "true_risk",
    "counterfeit_sales_cny",
    "offplatform_sellers",
    "price_index",
    "legit_stores_closed",
)
FUNNEL = ("stores_closed", "referrals", "cases_pursued", "convictions")
# The channel chart appears once the model has these metrics (the open model, ODD 1).
CHANNELS = ("offplatform_sellers", "platform_sales_cny", "offplatform_sales_cny")
UNMOVED = "as written (move a slider, then press Reset)"
SHOWN_WARMUP_WEEKS = 26  # weeks of the warm-up shown before the change
POLICY_COLOUR, BASELINE_COLOUR = "#c0392b", "#7f8c8d"


def settings() -> dict[str, Any]:
    """The page's settings: scenario, overrides, interactive sellers, workers."""
    given = json.loads(os.environ.get(SETTINGS_VARIABLE) or "{}")
    return {
        "scenario": given.get("scenario", "baseline_2016"),
        "overrides": list(given.get("overrides", [])),
        "sellers": int(given.get("sellers", INTERACTIVE_SELLERS)),
        "workers": int(given.get("workers", 1)),
        "seed": given.get("seed"),
    }


def model_params(config: dict[str, Any]) -> dict[str, Any]:
    """SolaraViz's ``model_params``: fixed settings and a slider per lever."""
    start = lever_values(load_scenario(config["scenario"], config["overrides"]))
    params: dict[str, Any] = {
        "scenario_file": config["scenario"],
        "overrides": config["overrides"],
        "sellers": config["sellers"],
        "seed": config["seed"],
        "announce": {"type": "Checkbox", "value": True, "label": "Announce the change"},
    }
    for lever in POLICY_LEVERS:
        value = min(max(start[lever.name], lever.low), lever.high)
        params[lever.name] = Slider(lever.label, value, lever.low, lever.high, lever.step)
    return params


# -- what the page shows ----------------------------------------------------------------------
def numbers_table(model: PairedModel) -> str:
    """The latest numbers as an HTML table (policy, baseline, difference)."""
    latest = model.latest()
    since = model.timeseries()
    since = since[since["week"] >= 0]
    unit = {m.name: m for m in METRICS}
    rows = []
    for name in (n for n in SHOWN if n in METRIC_NAMES):
        if unit[name].kind == "flow":  # flows: total since the change
            policy = since.loc[since["run"] == "policy", name].sum()
            baseline = since.loc[since["run"] == "baseline", name].sum()
            label = f"{name} (since change)"
        else:
            policy, baseline = latest["policy"][name], latest["baseline"][name]
            label = name
        rows.append(
            f'<tr data-metric="{name}"><td>{label}</td>'
            f'<td class="policy">{_number(policy)}</td>'
            f'<td class="baseline">{_number(baseline)}</td>'
            f'<td class="difference">{_change(policy, baseline)}</td></tr>'
        )
    week = model.weeks_since_change
    written = lever_values(model.baseline_scenario)
    moved = [
        f"{lever.label.lower()} {_number(written[lever.name])} &rarr; "
        f"{_number(model.levers()[lever.name])}"
        for lever in POLICY_LEVERS
        if model.levers()[lever.name] != written[lever.name]
    ]
    return (
        f'<p class="deter-week">Week {week} after the policy change '
        f"({model.baseline_scenario.population.sellers:,} sellers, seed {model.seed_value})</p>"
        f'<p class="deter-levers">Policy: {"; ".join(moved) or UNMOVED}</p>'
        '<table class="deter-numbers"><tr><th>metric</th><th>policy</th><th>baseline</th>'
        f"<th>change</th></tr>{''.join(rows)}</table>"
    )


def _number(value: float) -> str:
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2e}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _change(policy: float, baseline: float) -> str:
    if baseline == 0:
        return "" if policy == 0 else "new"
    return f"{100 * (policy / baseline - 1):+.1f}%"


def charts(model: PairedModel) -> Figure:
    """The page's charts, drawn from the two runs' weekly metrics."""
    frame = model.timeseries()
    frame = frame[frame["week"] >= -SHOWN_WARMUP_WEEKS]
    channels = [name for name in CHANNELS if name in METRIC_NAMES]
    rows = 3 if channels else 2
    figure = Figure(figsize=(8.4, 2.9 * rows), layout="constrained")
    axes = figure.subplots(rows, 2).ravel()
    policy = frame[frame["run"] == "policy"]
    baseline = frame[frame["run"] == "baseline"]

    ax = axes[0]
    ax.plot(baseline["week"], baseline["active_sellers"], color=BASELINE_COLOUR, label="baseline")
    ax.plot(policy["week"], policy["active_sellers"], color=POLICY_COLOUR, label="policy")
    _policy_line(ax)
    ax.set(title="Active sellers", xlabel="weeks since the change", ylabel="sellers")
    ax.legend(loc="lower left", fontsize="small")

    ax = axes[1]
    after = frame[frame["week"] >= 0]
    totals = after.groupby("run")[list(FUNNEL)].sum()
    positions = range(len(FUNNEL))
    sides = ((-0.2, "baseline", BASELINE_COLOUR), (0.2, "policy", POLICY_COLOUR))
    for offset, run, colour in sides:
        values = totals.loc[run] if run in totals.index else pd.Series(0.0, index=list(FUNNEL))
        ax.bar([p + offset for p in positions], values.clip(lower=0.5), 0.4, color=colour)
    ax.set_yscale("log")
    ax.set_xticks(list(positions), ["closed", "referred", "pursued", "convicted"])
    ax.set(title="Enforcement funnel since the change", ylabel="cases (log)")

    for ax, metric, title in (
        (axes[2], "mean_perceived_risk", "Perceived risk of pursuit"),
        (axes[3], "true_risk", "Actual risk of pursuit (8-week mean)"),
    ):
        for run, colour in (("baseline", BASELINE_COLOUR), ("policy", POLICY_COLOUR)):
            rows_of_run = frame[frame["run"] == run]
            window = 8 if metric == "true_risk" else 1
            values = rows_of_run[metric].rolling(window, min_periods=1).mean()
            ax.plot(rows_of_run["week"], values, color=colour, label=run)
        _policy_line(ax)
        ax.set(title=title, xlabel="weeks since the change", ylabel="per week")
        ax.set_ylim(bottom=0)

    if channels:
        for ax, name in zip(axes[4:], channels, strict=False):
            ax.plot(baseline["week"], baseline[name], color=BASELINE_COLOUR)
            ax.plot(policy["week"], policy[name], color=POLICY_COLOUR)
            _policy_line(ax)
            ax.set(title=name, xlabel="weeks since the change")
        for ax in axes[4 + len(channels) :]:
            ax.set_visible(False)
    return figure


def _policy_line(ax: Any) -> None:
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")


# -- the full-scale run -----------------------------------------------------------------------
def full_scale_scenario(config: dict[str, Any], levers: dict[str, float]) -> Any:
    """The scenario with its ``--set`` overrides and the levers' values, from week 0."""
    scenario = load_scenario(config["scenario"], config["overrides"])
    changes = {lever.field: levers[lever.name] for lever in POLICY_LEVERS if lever.name in levers}
    return apply_changes(scenario, changes, source="explore page")


def table_bytes(frame: pd.DataFrame) -> bytes:
    """A table as CSV bytes (for a download button)."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


@solara.lab.task(prefer_threaded=True)
def full_run(config: dict[str, Any], levers: dict[str, float]) -> tuple[Results, str]:
    """Run the current settings at full scale (in a thread); save and return the results."""
    scenario = full_scale_scenario(config, levers)
    options = ExecutionOptions("process", config["workers"]).at_most(scenario.replications)
    full_run.progress = 0.0

    def on_done(done: int) -> None:
        full_run.progress = 100.0 * done / scenario.replications

    results = run_scenario(scenario, on_done=on_done, options=options)
    folder = claim_folder(None, default_folder(scenario.name, "explore"), False)
    results.save(folder)
    return results, str(folder)


# The page's components are plain functions of the model: Mesa wraps each in a component that
# redraws after every step (``mesa.visualization.utils.update_counter``).
def numbers(model: PairedModel) -> None:
    """The latest numbers of both runs."""
    with solara.Card("Latest numbers"):
        solara.HTML(tag="div", unsafe_innerHTML=numbers_table(model), classes=["deter-numbers"])


def plots(model: PairedModel) -> None:
    """The charts of both runs."""
    with solara.Card("Policy (red) against baseline (grey), same seed"):
        solara.FigureMatplotlib(charts(model), format="png", dpi=80)


def numbers_and_full_scale(model: PairedModel) -> None:
    """The latest numbers, then the full-scale button (one column beside the charts)."""
    numbers(model)
    full_scale(model)


def full_scale(model: PairedModel) -> None:
    """The button that runs the current levers at full scale, its progress and downloads."""
    config = settings()
    levers = model.levers()
    scenario = load_scenario(config["scenario"], config["overrides"])
    with solara.Card("Full scale"):
        solara.Markdown(
            f"Runs the policy run's levers (as of the last Reset) through the normal runner "
            f"(`deter-sim run`): "
            f"{scenario.population.sellers:,} sellers, {scenario.replications} replications of "
            f"{scenario.weeks} weeks, the levers in force from week 0."
        )
        solara.Button(
            "Run at full scale",
            color="primary",
            on_click=lambda: full_run(config, levers),
            disabled=full_run.pending,
        )
        if full_run.pending:
            solara.Text(f"running: {full_run.progress or 0:.0f}% of the replications done")
            solara.ProgressLinear(full_run.progress or True)
        elif full_run.error:
            solara.Error(f"the full-scale run failed: {full_run.exception}")
        elif full_run.finished and full_run.value is not None:
            results, folder = full_run.value
            solara.Success(f"done: saved in {folder}")
            name = results.scenario.name
            for label, frame in (
                ("summary_stats", results.summary_stats),
                ("summary", results.summary),
                ("timeseries", results.timeseries),
            ):
                solara.FileDownload(
                    table_bytes(frame), filename=f"{name}_{label}.csv", label=f"{label}.csv"
                )


CONFIG = settings()
model = PairedModel(
    scenario_file=CONFIG["scenario"],
    overrides=CONFIG["overrides"],
    sellers=CONFIG["sellers"],
    seed=CONFIG["seed"],
)
page = SolaraViz(
    model,
    components=[plots, numbers_and_full_scale],
    model_params=model_params(CONFIG),
    name=f"deter-sim explore: {model.baseline_scenario.name}",
)
