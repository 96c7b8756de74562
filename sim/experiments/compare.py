"""Compare scenarios: gather their results and pair them on common seeds.

``deter-sim compare`` and ``deter-sim brief`` accept scenario files (run here) or result folders
written by ``deter-sim run``. Results are only paired when their replications used the same
seeds, weeks and burn-in; otherwise the comparison is refused with the reason. The sentences
and the briefing written from a comparison are in ``sim.reporting``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import OptionError
from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import RESULTS, check_writable, claim_folder
from sim.experiments.intervention import policy_changes
from sim.experiments.provenance import check_memory
from sim.experiments.runner import Results, run_scenario
from sim.experiments.statistics import PairingError, paired_differences, window_drift
from sim.model.metrics import check_metrics
from sim.scenario import NAME_PATTERN, Scenario, field_value, load_scenario

DEFAULT_FOLDER = RESULTS / "compare"
NAME = re.compile(NAME_PATTERN)


def read_inputs(inputs: list[str], overrides: list[str]) -> list[Scenario | Results]:
    """Each input read: a result folder as its ``Results``, else a scenario (with overrides).

    Raises:
        ScenarioError: a scenario cannot be loaded.
        FolderError: a folder is not a complete result of ``run``.
        OptionError: two inputs have the same scenario name.
    """
    items: list[Scenario | Results] = []
    for item in inputs:
        path = Path(item)
        items.append(Results.load(path) if path.is_dir() else load_scenario(item, overrides))
    names = [s.scenario.name if isinstance(s, Results) else s.name for s in items]
    # Two result folders of one scenario (a variant run with --set beside its base): each
    # takes the name of its folder, when those differ and make valid names.
    for i, (item, name) in enumerate(zip(items, names, strict=True)):
        folder = Path(inputs[i]).resolve().name
        unique = folder not in names and NAME.fullmatch(folder)
        if names.count(name) > 1 and isinstance(item, Results) and unique:
            items[i], names[i] = item.renamed(folder), folder
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        raise OptionError(
            "compare",
            "",
            f"scenario name(s) {', '.join(sorted(duplicated))} given twice; give a variant its "
            "own name (deter-sim run ... --set name=strict5) or its own result folder",
        )
    return items


def run_folders(folders: list[Path]) -> list[Path]:
    """Result folders of ``run``, a comparison folder standing for the runs it holds.

    A folder written by ``compare`` (``compare.csv`` beside a folder per scenario) gives its
    runs in the comparison's order: the baseline first, then the others as in the table.
    """
    expanded: list[Path] = []
    for folder in folders:
        table = folder / "compare.csv"
        if (folder / "manifest.json").exists() or not table.is_file():
            expanded.append(folder)
            continue
        rows = pd.read_csv(table, usecols=["scenario", "baseline"])
        names = list(dict.fromkeys([*rows.baseline.astype(str), *rows.scenario.astype(str)]))
        inside = [folder / n for n in names if (folder / n / "manifest.json").exists()]
        expanded.extend(inside or [folder])
    return expanded


def comparison_folder(
    items: list[Scenario | Results], out: Path | None, force: bool, files: list[str]
) -> Path:
    """The folder a comparison saves its runs (``<folder>/<name>``) and ``files`` in.

    The rule of ``sim.experiments.folders.claim_folder``, where what a folder holds is the
    files and the run folders this comparison would write: without ``out`` the next free
    ``results/compare-N``; an ``out`` that holds them is refused unless ``force``.
    """
    names = [item.name for item in items if isinstance(item, Scenario)]

    def taken(folder: Path) -> list[str]:
        held = [f for f in files if (folder / f).exists()]
        held += [n for n in names if (folder / n).is_dir() and any((folder / n).iterdir())]
        return held

    if not names and not files:  # nothing will be written
        return out if out is not None else DEFAULT_FOLDER
    return claim_folder(out, DEFAULT_FOLDER, force, taken)


def gather(
    items: list[Scenario | Results],
    out: Path,
    options: ExecutionOptions,
    on_start: Callable[[Scenario], Callable[[int], None] | None] | None = None,
) -> list[Results]:
    """Results of each input: a result is kept, a scenario is run and saved in ``out``.

    Args:
        items: ``read_inputs`` output.
        out: Where the results of scenarios that are run are saved (``out/<name>``).
        options: How to execute the runs.
        on_start: Called with each scenario before it runs; returns a progress callback.

    Returns:
        One ``Results`` per input, in order.

    Raises:
        ResourceError: a scenario would not fit in this machine's memory.
    """
    if not options.remote:
        for item in items:
            if isinstance(item, Scenario):
                check_memory(item, options.at_most(item.replications).workers, options.engine)
    check_writable(out)
    results = []
    for item in items:
        if isinstance(item, Results):
            results.append(item)
            continue
        progress = on_start(item) if on_start else None
        result = run_scenario(item, on_done=progress, options=options)
        result.save(out / item.name)
        results.append(result)
    return results


# What a policy may change: the platform's and the state's measures (and a schedule of them).
# Everything else describes the sellers and the market: two runs that differ there are two
# models, not two policies.
POLICY_SECTIONS = ("platform", "enforcement")


def model_differences(a: Scenario, b: Scenario) -> dict[str, tuple[Any, Any]]:
    """The fields outside the policy sections in which two scenarios differ (a's, b's value)."""
    return {
        name: (field_value(a, name), field_value(b, name))
        for name in policy_changes(a, b)
        if name.partition(".")[0] not in POLICY_SECTIONS
    }


def check_pairable(
    results: list[Results], baseline: str, allow_different: list[str] | None = None
) -> None:
    """Refuse results that cannot be paired replication by replication, saying why.

    Args:
        results: The results compared.
        baseline: The name of the baseline.
        allow_different: Fields outside the policy sections that may differ
            (``--allow-different``).

    Raises:
        PairingError: seeds, weeks or burn-in differ from the baseline's, or the scenarios
            differ in a field that is not a policy lever (the population, the sellers'
            economics and beliefs, the channels, the market) and not allowed.
    """
    allowed = set(allow_different or [])
    base = next(r for r in results if r.scenario.name == baseline)
    for other in results:
        if other is base:
            continue
        differ = {
            k: v
            for k, v in model_differences(base.scenario, other.scenario).items()
            if k not in allowed
        }
        if differ:
            shown = "; ".join(f"{k} {a!r} against {b!r}" for k, (a, b) in list(differ.items())[:3])
            more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
            raise PairingError(
                f"cannot compare '{other.scenario.name}' with '{baseline}': they differ in "
                f"{shown}{more}, which are not policy levers (only platform and enforcement "
                "fields may differ); run both with the same model, or add --allow-different "
                + " --allow-different ".join(differ)
            )
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
    warnings: list[str] = field(default_factory=list)
    # The levels still moving inside the summary window (``drifting_levels``).
    drifting: pd.DataFrame = field(default_factory=pd.DataFrame)

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


# Below this many replications a t-interval rests on too few degrees of freedom to be read.
MIN_REPLICATIONS = 5
# Metrics whose drift inside the summary window is reported.
DRIFT_METRICS = ("active_sellers", "counterfeit_sales_cny")


def drifting_levels(results: list[Results]) -> pd.DataFrame:
    """The ``DRIFT_METRICS`` that still move inside the summary window, with their warning.

    Returns:
        The rows of ``statistics.window_drift`` that drift, each with a ``warning`` in words.
    """
    first = results[0]
    burn_in, weeks = first.scenario.burn_in_weeks, first.scenario.weeks
    timeseries = pd.concat([r.timeseries for r in results], ignore_index=True)
    drift = window_drift(timeseries, burn_in, list(DRIFT_METRICS))
    drift = drift[drift.drifts].reset_index(drop=True)
    drift["warning"] = [
        f"{row.metric.replace('_cny', '').replace('_', ' ')} under {row.scenario} still "
        f"moves inside the summary window ({row.change_pct:+,.0f}% from weeks "
        f"{burn_in}-{row.second_from - 1} to weeks {row.second_from}-{weeks - 1}): its "
        "yearly figure averages over a moving level; read the time series, or run longer"
        for row in drift.itertuples()
    ]
    return drift


def comparison_warnings(results: list[Results], drifting: pd.DataFrame) -> list[str]:
    """What a reader of a comparison must be told: few replications, drift, an off-scale model.

    Drift is a level still moving inside the summary window (``drifting_levels``). The
    calibrated population is the schema's default (the 2016 baseline's); counts of a run at
    another size are not comparable with the 2016 figures, and enforcement capacity, which is
    per region, binds differently.
    """
    from sim.scenario.schema import PopulationParams

    warnings = []
    first = results[0]
    n = int(first.manifest.get("replications") or len(first.summary))
    if n < MIN_REPLICATIONS:
        warnings.append(
            f"only {n} replication{'s' if n != 1 else ''}: the intervals are rough; use "
            f"{MIN_REPLICATIONS} or more (--replications)"
        )
    warnings += list(drifting.warning)
    calibrated = PopulationParams.model_fields["sellers"].default
    sellers = first.scenario.population.sellers
    if sellers != calibrated:
        warnings.append(
            f"{sellers:,} potential sellers, not the calibrated {calibrated:,}: counts are not "
            "comparable with the 2016 figures, and the enforcers' capacity binds differently"
        )
    return warnings


def compare(
    results: list[Results],
    baseline: str | None = None,
    metrics: list[str] | None = None,
    allow_different: list[str] | None = None,
) -> Comparison:
    """Pair every scenario with the baseline (the first unless named).

    ``allow_different`` names fields outside the policy sections that may differ.

    Raises:
        PairingError: the baseline is unknown or a scenario cannot be paired with it.
        OptionError: a metric is unknown.
    """
    if metrics is not None:
        check_metrics(metrics)
    names = [r.scenario.name for r in results]
    baseline = baseline or names[0]
    if baseline not in names:
        raise PairingError(f"--baseline '{baseline}' is not one of {', '.join(names)}")
    check_pairable(results, baseline, allow_different)
    summary = pd.concat([r.summary for r in results], ignore_index=True)
    table = paired_differences(summary, baseline, metrics)
    drifting = drifting_levels(results)
    return Comparison(results, baseline, table, comparison_warnings(results, drifting), drifting)
