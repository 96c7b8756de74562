"""The briefing: a multi-page PDF for decision makers (``deter-sim brief``).

Page 1 states the question, the scenarios in plain words, the model and the caveats; page 2
the key findings in sentences written from the numbers; then the comparison table, the charts
(change against the baseline, the enforcement funnel, active sellers and off-platform sellers
over time, perceived against true risk), and a last page of assumptions, the parameters that
differ between the scenarios, and provenance.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

from sim._version import __version__
from sim.experiments.compare import Comparison
from sim.reporting.batch_plots import plot_robust
from sim.reporting.findings import (
    ENSEMBLE_METRICS,
    FINDING_METRICS,
    KEY_METRICS,
    displacement,
    ensemble_finding,
    finding,
    headline,
    honest_harm,
    percent_digits,
    provenance,
)
from sim.reporting.format import short_number as _fmt
from sim.reporting.plots import (
    metric_words,
    plot_beliefs,
    plot_change,
    plot_funnel,
    plot_timeseries,
)
from sim.scenario import all_fields, field_value

PAGE = (11.69, 8.27)  # A4 landscape, inches
TABLE_METRICS = (
    "active_sellers",
    "counterfeit_sales_cny",
    "listings_removed",
    "stores_closed",
    "referrals",
    "cases_pursued",
    "convictions",
    "jailed",
    "mean_perceived_risk",
    "true_risk",
    "enforcement_cost_cny",
)


TEXT_TOP, TEXT_BOTTOM = 0.86, 0.05  # where a text page's lines start and must end


def _text_page(pdf: PdfPages, title: str, paragraphs: list[str], footer: str) -> None:
    # Three sizes (smaller type, longer lines): the largest whose lines, and the gaps of a
    # third of a line between paragraphs, fit between the title and the footer; what does
    # not fit even in the smallest goes on to a page of its own.
    def height(step: float, width: int) -> float:
        lines = sum(len(textwrap.wrap(p.strip("*"), width) or [""]) for p in paragraphs)
        return step * (lines + len(paragraphs) / 3)

    sizes = ((11, 0.03, 120), (9, 0.024, 145), (8, 0.019, 165))
    size, step, width = next(
        (s for s in sizes if height(s[1], s[2]) <= TEXT_TOP - TEXT_BOTTOM), sizes[-1]
    )

    def start(heading: str):
        figure = plt.figure(figsize=PAGE)
        figure.text(0.06, 0.93, heading, fontsize=20, weight="bold", va="top")
        figure.text(0.06, 0.03, footer, fontsize=8, color="0.35")
        return figure

    figure, y = start(title), TEXT_TOP
    for paragraph in paragraphs:
        bold = paragraph.startswith("**")
        for line in textwrap.wrap(paragraph.strip("*"), width) or [""]:
            if y - step < TEXT_BOTTOM:
                pdf.savefig(figure)
                plt.close(figure)
                figure, y = start(f"{title} (continued)"), TEXT_TOP
            figure.text(0.06, y, line, fontsize=size, va="top", weight="bold" if bold else None)
            y -= step
        y -= step / 3
    pdf.savefig(figure)
    plt.close(figure)


def _chart_page(pdf: PdfPages, draw, footer: str, columns: int = 1) -> None:
    # ``draw`` gets the axes (an array of ``columns`` side by side when more than one).
    figure, ax = plt.subplots(1, columns, figsize=PAGE, layout="constrained")
    draw(ax)
    figure.get_layout_engine().set(rect=(0, 0.04, 1, 0.96))
    figure.text(0.01, 0.01, footer, fontsize=8, color="0.35")
    pdf.savefig(figure)
    plt.close(figure)


def _table_page(pdf: PdfPages, comparison: Comparison, footer: str) -> None:
    stats = comparison.summary_stats.set_index(["scenario", "metric"])
    table = comparison.table.set_index(["scenario", "metric"])
    names = [r.scenario.name for r in comparison.results]
    header = ["metric (per year, or mean level)", *names]
    rows = []
    for metric in TABLE_METRICS:
        row = [metric_words(metric)]
        for name in names:
            mean = stats.loc[(name, metric), "mean"]
            if name == comparison.baseline:
                row.append(_fmt(mean))
            else:
                c = table.loc[(name, metric)]
                if c.change_pct != c.change_pct:
                    row.append(_fmt(mean))
                elif c.change_pct >= 100:  # a multiple reads better than +6677%
                    row.append(
                        f"{_fmt(mean)}\nx{1 + c.change_pct / 100:.3g} "
                        f"({1 + c.change_pct_ci_low / 100:.3g} to "
                        f"{1 + c.change_pct_ci_high / 100:.3g})"
                    )
                else:
                    digits = percent_digits(c.change_pct)
                    parts = [
                        _signed(v, digits)
                        for v in (c.change_pct, c.change_pct_ci_low, c.change_pct_ci_high)
                    ]
                    row.append(f"{_fmt(mean)}\n{parts[0]}% ({parts[1]} to {parts[2]}%)")
        rows.append(row)
    figure = plt.figure(figsize=PAGE)
    ax = figure.add_axes((0.04, 0.08, 0.92, 0.8))
    ax.axis("off")
    ax.set_title(
        f"Mean over replications; under each scenario, the change against {comparison.baseline} "
        "(percent, or x times for\nrises of 100% or more) with its 95% interval, paired on "
        "common seeds",
        fontsize=11,
        loc="left",
    )
    widths = [0.3, *[0.7 / len(names)] * len(names)]
    drawn = ax.table(
        cellText=rows, colLabels=header, colWidths=widths, loc="upper left", cellLoc="center"
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    drawn.scale(1, 2.3)
    for (r, c), cell in drawn.get_celld().items():
        if r == 0:
            cell.set_text_props(weight="bold")
        if c == 0:
            cell.set_text_props(ha="left")
    notes = drift_notes(comparison)
    if notes:
        wrapped = textwrap.fill("Still moving: " + " ".join(notes), 170)
        figure.text(0.06, 0.06, wrapped, fontsize=7.5, va="bottom", color="0.2")
    figure.text(0.06, 0.03, footer, fontsize=8, color="0.35")
    pdf.savefig(figure)
    plt.close(figure)


def _series(comparison: Comparison, metric: str, ax, warm_up: bool) -> None:
    """A time-series chart, with a note where a level still moves inside the window."""
    plot_timeseries(comparison.timeseries, metric, comparison.burn_in_weeks, ax=ax, warm_up=warm_up)
    notes = drift_notes(comparison, metric=metric)
    if notes:  # under the axis, where it covers no line
        ax.set_xlabel(f"week\n\n{textwrap.fill(' '.join(notes), 150)}", fontsize=9)


def _signed(value: float, digits: int) -> str:
    """``+3.0``, ``-64.0``; ``0`` when it rounds to nothing (never ``-0``)."""
    text = f"{value:+.{digits}f}"
    return "0" if float(text) == 0 else text


def readable_value(value: object) -> str:
    """A parameter's value for readers: ``50,000``, ``0.3683``, ``0.5 to 3``, ``yes``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"
    if isinstance(value, tuple) and len(value) == 2:  # a range
        return " to ".join(readable_value(v) for v in value)
    if isinstance(value, tuple | list):
        return ", ".join(readable_value(v) for v in value)
    return str(value)


def parameter_words(name: str) -> str:
    """A dotted field in words, from the schema: its description and unit, then the field."""
    from sim.scenario.schema import SECTIONS

    section, _, field = name.partition(".")
    model = SECTIONS.get(section)
    info = model.model_fields.get(field) if model is not None else None
    if info is None or not info.description:
        return name
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    unit = f" ({extra['unit']})" if extra.get("unit") else ""
    return f"{info.description.split(' [')[0]}{unit} [{name}]"


def differing_parameters(comparison: Comparison) -> list[str]:
    """Lines ``parameter in words: value in each scenario`` for every parameter that differs."""
    lines = []
    scenarios = [r.scenario for r in comparison.results]
    for name in all_fields():
        if name in ("name", "description", "label", "schedule", "seed", "replications"):
            continue
        values = [field_value(s, name) for s in scenarios]
        if any(v != values[0] for v in values):
            shown = "; ".join(
                f"{s.name} {readable_value(v)}" for s, v in zip(scenarios, values, strict=True)
            )
            lines.append(f"{parameter_words(name)}: {shown}")
    for s in scenarios:
        if s.schedule:
            changes = "; ".join(
                f"week {c.week}"
                + (f" to {c.until_week}" if c.until_week is not None else "")
                + f": {c.set}"
                for c in s.schedule
            )
            lines.append(f"{s.name} schedule: {changes}")
    return lines


# What docs/VALIDATION.md says of each bundled scenario; a brief shows only its scenarios'.
VALIDATION_NOTES = {
    "baseline_2016": "reproduces the five 2016 enforcement figures within 2.6% (20 "
    "replications); the 2017 closures, out of sample, come out 27% short (section 1).",
    "strict": "run from week 52 as an intervention (the drunk-driving analogy), it cuts active "
    "sellers by about 13% in the first year and 41% in the second, short of the 40% "
    "first-year fall seen with drunk driving (section 3); where its deterred sellers go, the "
    "price rise and honest sellers' losses are in section 7.",
    "severity_only": "the severity lever alone: its elasticity against the research range "
    "(section 2, measured with the model before the open model) and its effects in the open "
    "model (section 7).",
    "certainty_only": "the certainty levers alone: their elasticities against the research "
    "range (section 2, measured with the model before the open model).",
    "platform_only": "three quarters of what the platform's tighter rules remove moves off the "
    "platform, and honest sellers lose about 15 times the baseline's sales to wrongful "
    "takedowns (section 7).",
    "surge": "a one-year surge of prosecutions leaves no lasting change (section 4.1, measured "
    "with the model before the open model).",
}


def drift_notes(
    comparison: Comparison, scenario: str | None = None, metric: str | None = None
) -> list[str]:
    """The warnings of levels still moving inside the summary window (``Comparison.drifting``).

    Args:
        comparison: The scenarios compared.
        scenario: Only this scenario's [all].
        metric: Only this metric's [all].
    """
    rows = comparison.drifting
    if rows.empty:
        return []
    if scenario is not None:
        rows = rows[rows.scenario == scenario]
    if metric is not None:
        rows = rows[rows.metric == metric]
    return [f"{w[0].upper()}{w[1:]}." for w in rows.warning]


QUESTION = (
    'If lawmakers punish counterfeiters "like drunk drivers" (near-certain, moderate '
    "punishment), what does each lever buy, how fast, at what cost, and how sure are we?"
)


def title_page(comparison: Comparison) -> list[str]:
    """The paragraphs of the title page: the question, the scenarios, the model, the caveats."""
    from sim.scenario.schema import PopulationParams

    first = comparison.results[0]
    calibrated = PopulationParams.model_fields["sellers"].default
    sellers = first.scenario.population.sellers
    scale = (
        f"The baseline is calibrated to Alibaba's 2016 enforcement figures at {calibrated:,} "
        "potential sellers (docs/VALIDATION.md of deter-sim)."
        if sellers == calibrated
        else f"This briefing runs at {sellers:,} potential sellers, off the calibrated scale "
        f"of {calibrated:,}: its counts are not comparable with the 2016 figures."
    )
    paragraphs = [
        f"Question: {QUESTION}",
        f"Prepared {time.strftime('%d %B %Y')} with deter-sim {__version__} (git commit "
        f"{first.manifest.get('git_commit') or 'unknown'}), an agent-based model of counterfeit "
        f"sellers on a large e-commerce platform. {scale}",
        "**The scenarios**",
    ]
    for result in comparison.results:
        scenario = result.scenario
        label = scenario.label or scenario.name
        baseline = scenario.name == comparison.baseline and "baseline" not in label
        role = " (the baseline)" if baseline else ""
        text = " ".join(scenario.description.split())
        paragraphs.append(f"{label}{role} [{scenario.name}]: {text}")
    notes = [
        f"{result.scenario.label or result.scenario.name} [{result.scenario.name}]: "
        f"{VALIDATION_NOTES[result.scenario.name]}"
        for result in comparison.results
        if result.scenario.name in VALIDATION_NOTES
    ]
    if notes:
        paragraphs.append("**What the validation says of these scenarios (docs/VALIDATION.md)**")
        paragraphs += notes
    paragraphs.append("**Read with care**")
    paragraphs += [f"{warning[0].upper()}{warning[1:]}." for warning in comparison.warnings]
    paragraphs.append(
        "Behavioural parameters (how sellers perceive sanctions, how they discount prison, "
        "entry, displacement off the platform, demand) are assumptions that no 2016 figure "
        "fixes; large falls are upper limits under them. The figures are comparisons between "
        "scenarios on common random numbers, not forecasts."
    )
    return paragraphs


def ensemble_page(robust: Any) -> list[str]:
    """The paragraphs of the page 'How sure are we': the answers over the ensemble."""
    comparison = robust.comparison
    sets = len(comparison.ensemble)
    replications = int(comparison.summary.replication.nunique())
    paragraphs = [
        f"The five 2016 figures fix the enforcement rates; how sellers respond (how they "
        f"perceive sanctions, discount prison, enter, move off the platform; how demand "
        f"responds) no figure fixes. History matching kept the settings of those parameters "
        f"that reproduce the 2016 figures and the ranges research gives together "
        f"(docs/VALIDATION.md). Each scenario was run on {sets} of them, its own policy on top, "
        f"{replications} replication(s) each on common seeds; the ranges below are over the "
        "settings, not confidence intervals.",
    ]
    for scenario, rows in comparison.table.groupby("scenario", sort=False):
        paragraphs.append(f"**{scenario} against {comparison.baseline}**")
        for metric in ENSEMBLE_METRICS:
            paragraphs += [ensemble_finding(r) for _, r in rows[rows.metric == metric].iterrows()]
    paragraphs.append(f"**Which policy, and where it fails (goal: {robust.goal.words()})**")
    paragraphs += robust.findings()
    return paragraphs


def write_brief(
    comparison: Comparison, path: Path, warm_up: bool = False, robust: Any = None
) -> Path:
    """Write the briefing PDF for ``comparison`` to ``path`` (atomically).

    Args:
        comparison: The scenarios compared.
        path: The PDF to write.
        warm_up: Show the warm-up in the time-series charts [they start after it].
        robust: The same scenarios over an ensemble (``sim.experiments.robust.Robust``): adds
            the pages 'How sure are we' (findings over the ensemble, the ranking, where each
            policy fails) and its chart, after the key findings.

    Returns:
        The path written.
    """
    from sim.experiments.store import atomic_write

    footer = provenance(comparison)
    findings = []
    for scenario, rows in comparison.table.groupby("scenario", sort=False):
        findings.append(f"**{scenario} against {comparison.baseline}**")
        findings += [line for line in (headline(rows),) if line]
        for metric in FINDING_METRICS:
            findings += [finding(row) for _, row in rows[rows.metric == metric].iterrows()]
        findings += [line for line in (displacement(rows), honest_harm(rows)) if line]
        findings += drift_notes(comparison, str(scenario))
    first = comparison.results[0]
    intro = (
        f"What the simulated policies change against {comparison.baseline}: each scenario was "
        f"run {first.manifest.get('replications')} times for {first.scenario.weeks} weeks "
        f"({first.scenario.population.sellers:,} potential sellers); figures are yearly flows or "
        f"mean levels after a burn-in of {first.scenario.burn_in_weeks} weeks. Replication i "
        "of every scenario used the same random seed, so the changes are paired; intervals "
        "are 95% confidence intervals of the mean change."
    )
    assumptions = [
        "Model: counterfeit sellers choose each week between selling on the platform, selling "
        "off it, and an outside option, "
        "weighing the margin against platform takedowns, store closures and the perceived risk "
        "and cost of criminal sanction (fine, discounted prison time, stigma). Perceived risk "
        "is learnt from own experience, contacts and publicity; enforcers have limited weekly "
        "capacity. The full description is docs/ODD.md of deter-sim.",
        "Read the numbers as comparisons between scenarios on common random numbers, not as "
        "forecasts: the 2016 baseline's enforcement rates are fitted to the 2016 figures "
        "(deter-sim calibrate), and behavioural parameters are assumptions.",
        "Where deterred sellers go: newcomers arrive and idle sellers leave; sellers can move "
        "to one aggregated off-platform channel (social commerce, offline) with lower reach and "
        "its own police risk; the price of counterfeits rises when supply falls, which draws "
        "sellers back; and the platform's detection wrongly takes down honest listings. The "
        "strength of each (displacement, demand elasticity, entry) is an assumption that no "
        "2016 figure pins: read large falls with that in mind (docs/VALIDATION.md).",
        "Parameters that differ between the scenarios:",
        *[f"  {line}" for line in differing_parameters(comparison)],
        "Provenance: deter-sim "
        f"{__version__}, git commit {first.manifest.get('git_commit') or 'unknown'}, "
        f"root seed {first.manifest.get('root_seed')} (replication i uses its i-th "
        "SeedSequence child; every manifest.json lists them), written "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}.",
    ]

    def write(tmp: Path) -> None:
        metadata = {"Title": "deter-sim briefing", "Subject": footer, "Creator": "deter-sim"}
        with PdfPages(tmp, metadata=metadata) as pdf:
            _text_page(pdf, "What each enforcement lever buys", title_page(comparison), footer)
            _text_page(pdf, "Key findings", [intro, *findings], footer)
            if robust is not None:
                sets = len(robust.comparison.ensemble)
                title = f"How sure are we: across {sets} plausible settings of the model"
                over = (  # the scenarios are named on the page: a footer of one line
                    f"deter-sim {__version__} | {len(robust.comparison.scenarios)} scenarios"
                    f" on {sets} parameter sets of {robust.comparison.source or 'an ensemble'}, "
                    f"{robust.comparison.summary.replication.nunique()} replication(s) each, "
                    f"paired on common seeds | baseline {robust.comparison.baseline}"
                )
                _text_page(pdf, title, ensemble_page(robust), over)
                _chart_page(pdf, lambda axes: plot_robust(robust.sets, robust.goal, axes), over, 2)
            _table_page(pdf, comparison, footer)
            _chart_page(
                pdf, lambda ax: plot_change(comparison.table, list(KEY_METRICS), ax=ax), footer
            )
            _chart_page(pdf, lambda ax: plot_funnel(comparison.summary_stats, ax=ax), footer)
            _chart_page(
                pdf,
                lambda ax: _series(comparison, "active_sellers", ax, warm_up),
                footer,
            )
            _chart_page(
                pdf,
                lambda ax: _series(comparison, "offplatform_sellers", ax, warm_up),
                footer,
            )
            _chart_page(
                pdf,
                lambda ax: plot_beliefs(
                    comparison.timeseries, comparison.burn_in_weeks, ax=ax, warm_up=warm_up
                ),
                footer,
            )
            _text_page(pdf, "Assumptions, differences and provenance", assumptions, footer)

    atomic_write(path, write)
    return path
