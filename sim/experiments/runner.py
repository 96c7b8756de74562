"""Run a scenario's replications and collect or save their tables.

This is the Python API that the command line uses::

    from sim import load_scenario, run_scenario
    results = run_scenario(load_scenario("strict", ["enforcement.prosecution_rate=0.9"]))
    results.summary_stats  # a DataFrame
    results.save("results/strict")
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from sim.errors import FolderError
from sim.experiments.execution import ExecutionOptions
from sim.experiments.provenance import manifest
from sim.experiments.statistics import metric_statistics, summarise_replications
from sim.experiments.store import read_table, write_json, write_table, write_text
from sim.model.metrics import ID_COLUMNS, METRIC_NAMES
from sim.model.model import DeterrenceModel
from sim.model.streams import replication_seeds
from sim.scenario import Scenario, load_scenario, resolved_yaml

OUTPUT_FILES = (
    "timeseries.parquet",
    "summary.csv",
    "summary_stats.csv",
    "scenario.resolved.yaml",
    "manifest.json",
)


def run_replication(
    scenario: Scenario, replication: int, seed: int, engine: str | type = "vector"
) -> pd.DataFrame:
    """Run one replication of ``scenario``.

    Args:
        scenario: Validated scenario.
        replication: Replication index (recorded in the rows).
        seed: The replication's seed.
        engine: ``"vector"`` or ``"agents"`` (``sim.model.model.ENGINES``), or a population class.

    Returns:
        One row per week: ``scenario, replication, seed, week`` and the metric columns.
    """
    model = DeterrenceModel(scenario, seed, engine)
    try:
        frame = model.run()
    finally:
        model.release()
    frame.insert(0, "seed", seed)
    frame.insert(0, "replication", replication)
    frame.insert(0, "scenario", scenario.name)
    return frame


@dataclass
class Results:
    """Tables of a scenario's replications.

    Attributes:
        scenario: The scenario as run (after ``extends`` and overrides).
        timeseries: One row per replication and week.
        summary: One row per replication (flows per year, stocks as means).
        summary_stats: Per metric: mean, median, quantiles and 95% interval.
        manifest: Provenance: version, seeds, engine, wall time, packages.
    """

    scenario: Scenario
    timeseries: pd.DataFrame
    summary: pd.DataFrame
    summary_stats: pd.DataFrame
    manifest: dict[str, Any] = field(default_factory=dict)

    def renamed(self, name: str) -> Results:
        """The same results under another scenario name (in the scenario and every table)."""
        tables = [
            t.assign(scenario=name) if "scenario" in t else t
            for t in (self.timeseries, self.summary, self.summary_stats)
        ]
        scenario = self.scenario.model_copy(update={"name": name})
        return Results(scenario, *tables, {**self.manifest, "scenario": name})

    def save(self, out_dir: str | Path, table_format: str = "parquet") -> Path:
        """Write the five output files to ``out_dir``, all or none.

        The files are written to a hidden folder inside ``out_dir`` first and moved into place
        only once all of them are complete, the manifest last; a save that fails or is
        interrupted (a full disk, Ctrl-C) leaves none of them, and results that ``out_dir``
        already held stay as they were unless the move itself fails, which first removes their
        manifest.

        Args:
            out_dir: Folder to write to (created if needed).
            table_format: ``"parquet"`` or ``"csv"`` for the time series.

        Returns:
            The folder written.

        Raises:
            OSError: a file could not be written (nothing new is left in ``out_dir``).
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        suffix = "parquet" if table_format == "parquet" else "csv"
        for leftover in out.glob(".saving-*"):  # of a save killed before it could clean up
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=out))
        try:
            write_table(staging / f"timeseries.{suffix}", self.timeseries)
            write_table(staging / "summary.csv", self.summary)
            write_table(staging / "summary_stats.csv", self.summary_stats)
            write_text(staging / "scenario.resolved.yaml", resolved_yaml(self.scenario))
            write_json(staging / "manifest.json", {**self.manifest, "files": self._files(suffix)})
            _move_into(staging, out, self._files(suffix))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return out

    @classmethod
    def load(cls, folder: str | Path) -> Results:
        """Read the results that ``save`` (``deter-sim run``) wrote to ``folder``.

        Raises:
            FolderError: the folder is not a complete result folder.
        """
        out = Path(folder)
        manifest_file = out / "manifest.json"
        if not manifest_file.is_file():
            raise FolderError(out, "not a result folder of `deter-sim run` (no manifest.json)")
        recorded = json.loads(manifest_file.read_text(encoding="utf-8"))
        missing = [name for name in recorded.get("files", []) if not (out / name).is_file()]
        if missing:
            raise FolderError(out, f"incomplete results: {', '.join(missing)} missing")
        series = out / (
            "timeseries.parquet" if "timeseries.parquet" in recorded["files"] else "timeseries.csv"
        )
        return cls(
            load_scenario(out / "scenario.resolved.yaml"),
            read_table(series),
            read_table(out / "summary.csv"),
            read_table(out / "summary_stats.csv"),
            recorded,
        )

    @staticmethod
    def _files(suffix: str) -> list[str]:
        return [f"timeseries.{suffix}", *OUTPUT_FILES[1:]]


def _move_into(staging: Path, out: Path, files: list[str]) -> None:
    """Move the complete ``files`` (the manifest last) from ``staging`` into ``out``.

    The manifest of results already in ``out`` goes first, so that they never look complete
    mixed with new files; a move that fails or is interrupted takes the new files back out.
    """
    (out / "manifest.json").unlink(missing_ok=True)
    for stale in ("timeseries.parquet", "timeseries.csv"):
        if stale not in files:
            (out / stale).unlink(missing_ok=True)
    moved: list[Path] = []
    try:
        for name in files:  # the manifest is the last of them
            os.replace(staging / name, out / name)
            moved.append(out / name)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        raise


def run_scenario(
    scenario: Scenario,
    workers: int = 1,
    on_done: Callable[[int], None] | None = None,
    engine: str = "vector",
    backend: str = "process",
    address: str | None = None,
    *,
    options: ExecutionOptions | None = None,
) -> Results:
    """Run every replication of ``scenario`` and reduce them to summaries.

    Replication ``i`` uses the ``i``-th child seed of ``scenario.seed``; results do not depend on
    the number of workers.

    Args:
        scenario: Validated scenario (``replications``, ``seed`` and ``weeks`` are taken from it).
        workers: Processes to use; 1 runs in this process.
        on_done: Called with the number of replications finished so far.
        engine: ``"vector"`` (default) or ``"agents"``; both compute the same model.
        backend: ``"serial"``, ``"process"`` (default) or ``"dask"``
            (``sim.experiments.execution``).
        address: Address of a running Dask scheduler (``dask`` only).
        options: ``workers``, ``engine``, ``backend`` and ``address`` at once (as the other
            experiments take them); when given, those four arguments are not used.

    Returns:
        The tables and the manifest.
    """
    if options is None:
        options = ExecutionOptions(backend, workers, address, engine)
    options = options.at_most(scenario.replications)
    pool_options = options
    if options.backend == "process" and options.workers == 1:
        pool_options = replace(options, backend="serial")  # one worker: no pool to start
    started = time.perf_counter()
    seeds = replication_seeds(scenario.seed, scenario.replications)
    frames: list[pd.DataFrame] = []
    with pool_options.executor() as pool:
        futures = [
            pool.submit(run_replication, scenario, index, seed, options.engine)
            for index, seed in enumerate(seeds)
        ]
        for future in as_completed(futures):
            frames.append(future.result())
            if on_done:
                on_done(len(frames))
    timeseries = pd.concat(frames, ignore_index=True)
    timeseries = timeseries.sort_values(["replication", "week"], ignore_index=True)
    timeseries = timeseries[[*ID_COLUMNS, *METRIC_NAMES]]
    summary = summarise_replications(timeseries, scenario.burn_in_weeks)
    stats = metric_statistics(summary)
    recorded = manifest("run", scenario, seeds, options, time.perf_counter() - started)
    return Results(scenario, timeseries, summary, stats, recorded)
