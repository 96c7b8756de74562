"""Observed figures the model is held against: the targets file and the model beside it.

A *targets file* (``calibration/targets_2016.yaml``) lists observed yearly figures with their
source; each ``fit`` target names the model metric that measures the same thing, ``check``
targets are out of sample (never fitted), ``context`` figures are shown only. ``target_table``
sets the model's mean yearly value (after the burn-in, with its 95% interval over
replications) beside each target; ``run_targets`` runs a scenario for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import clear
from sim.experiments.runner import Results, run_scenario
from sim.experiments.store import write_table
from sim.model.metrics import METRIC_NAMES
from sim.scenario import Scenario, load_scenario
from sim.scenario.bundled import calibration_file
from sim.scenario.safe_yaml import load_model_file

DEFAULT_TARGETS = calibration_file("targets_2016.yaml")  # bundled: found from any folder
# Replications of a scenario run to be set beside the targets, unless the user says otherwise:
# enough for 95% intervals of a few percent on the 2016 figures at full scale.
DEFAULT_REPLICATIONS = 20
OUTPUT_FILE = "targets.csv"


class Target(BaseModel):
    """One observed figure."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    metric: str | None = None
    value: float = Field(gt=0, allow_inf_nan=False)
    use: Literal["fit", "check", "context"]
    tolerance: float = Field(0.10, gt=0, le=1, allow_inf_nan=False)
    figure: str = Field(min_length=1, max_length=200)
    period: str = Field("", max_length=200)
    source: str = Field(min_length=1, max_length=2000)
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _metric_known(self) -> Target:
        if self.metric is not None and self.metric not in METRIC_NAMES:
            raise ValueError(
                f"metric '{self.metric}' is not a model metric; allowed: {', '.join(METRIC_NAMES)}"
            )
        if self.use != "context" and self.metric is None:
            raise ValueError(f"a '{self.use}' target needs the model metric it is compared with")
        return self


class TargetSet(BaseModel):
    """A targets file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TargetSet:
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"target ids must be unique: {ids}")
        fitted = [t.metric for t in self.targets if t.use == "fit"]
        if len(set(fitted)) != len(fitted):
            raise ValueError(f"two 'fit' targets measure the same metric: {fitted}")
        return self

    @property
    def fitted(self) -> list[Target]:
        """The targets a calibration matches."""
        return [t for t in self.targets if t.use == "fit"]


def load_targets(path: str | Path) -> TargetSet:
    """Read and validate a targets file.

    Raises:
        ScenarioError: the file is missing, not YAML, or not a valid targets file (the message
            names the file, the field and what is allowed).
    """
    return load_model_file(path, TargetSet, "targets file")


def target_table(stats: pd.DataFrame, targets: TargetSet) -> pd.DataFrame:
    """Each target beside the model's mean yearly value, its 95% interval and relative error.

    Args:
        stats: ``sim.experiments.statistics.metric_statistics`` of one scenario (``metric``,
            ``mean``, ``ci_low``, ``ci_high``, ``n``).
        targets: The targets.

    Returns:
        One row per target: ``id, use, figure, period, metric, target, mean, ci_low, ci_high,
        relative_error, tolerance, within, replications, source, note``. ``within`` is empty
        for targets that are not fitted.
    """
    by_metric = stats.set_index("metric")
    rows = []
    for t in targets.targets:
        row: dict[str, Any] = {
            "id": t.id,
            "use": t.use,
            "figure": t.figure,
            "period": t.period,
            "metric": t.metric or "",
            "target": t.value,
        }
        if t.metric is not None and t.metric in by_metric.index:
            s = by_metric.loc[t.metric]
            error = (s["mean"] - t.value) / t.value
            row |= {
                "mean": s["mean"],
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
                "relative_error": error,
                "tolerance": t.tolerance,
                "within": bool(abs(error) <= t.tolerance) if t.use == "fit" else None,
                "replications": int(s["n"]),
            }
        else:
            row |= dict.fromkeys(
                ("mean", "ci_low", "ci_high", "relative_error", "tolerance"), math.nan
            ) | {"within": None, "replications": 0}
        row |= {"source": " ".join(t.source.split()), "note": " ".join(t.note.split())}
        rows.append(row)
    return pd.DataFrame(rows)


def targets_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Load a scenario to be set beside the targets.

    It gets ``DEFAULT_REPLICATIONS`` replications unless the overrides name another number.

    Raises:
        ScenarioError: the scenario or an override cannot be used.
    """
    overrides = list(overrides or [])
    if not any(text.partition("=")[0].strip() == "replications" for text in overrides):
        overrides.append(f"replications={DEFAULT_REPLICATIONS}")
    return load_scenario(path, overrides)


def run_targets(
    scenario: Scenario,
    targets: TargetSet,
    out: Path,
    options: ExecutionOptions,
    on_done: Callable[[int], None] | None = None,
) -> tuple[Results, pd.DataFrame]:
    """Run ``scenario``, save it to ``out`` and write ``targets.csv`` beside it.

    Args:
        scenario: The scenario (with the replications wanted; ``DEFAULT_REPLICATIONS`` is what
            the command line asks for when none is given).
        targets: The targets.
        out: The result folder.
        options: How to execute the runs.
        on_done: Progress callback (replications finished).

    Returns:
        The results and the target table.
    """
    clear(out, [OUTPUT_FILE])
    results = run_scenario(scenario, on_done=on_done, options=options)
    results.save(out)
    return results, write_targets(results, targets, out)


def write_targets(results: Results, targets: TargetSet, out: Path) -> pd.DataFrame:
    """The target table of ``results``, written to ``out/targets.csv``."""
    table = target_table(results.summary_stats, targets)
    write_table(out / OUTPUT_FILE, table)
    return table
