"""Batches of runs that survive interruption: the engine of ``sweep`` and ``sensitivity``.

A batch is a list of *points* (scenarios that differ in some parameters) times replications.
Every run is known before anything executes: its id, point, replication and seed (replication
``i`` of every point uses the ``i``-th child seed of the scenario's root seed, so points are
compared on common random numbers). Workers run a replication, write its weekly rows to the
store themselves (``runs/point-NNNNN/rep-NNNN.parquet``, atomically: a temporary file, then a
rename) and return a small record. A batch started again with ``resume`` skips the runs whose
file exists, so an interrupted batch (Ctrl-C, SIGKILL, a crashed worker) ends with exactly the
rows of an uninterrupted one. A run that raises is recorded with its error and the batch goes
on; the run index (``run_index.csv``) says which runs failed. A run whose rows cannot be written
(a full disk) stops the batch at once with ``UnwritableError``: every other run would fail the
same way; the runs already written are kept for ``resume``.

Layout of a batch folder::

    batch.json          what was asked for (checked on --resume)
    points.csv          one row per point: point, label, and the parameters that vary
    runs/point-*/rep-*.parquet   weekly rows of each run (partitioned by point)
    run_index.csv       one row per run: run_id, point, replication, seed, status, error, ...
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim._version import __version__
from sim.errors import DeterSimError, FolderError
from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import claim_batch_folder
from sim.experiments.provenance import manifest
from sim.experiments.runner import run_replication
from sim.experiments.statistics import metric_statistics, summarise_replications
from sim.experiments.store import read_table, write_json, write_table
from sim.model.metrics import ID_COLUMNS, METRIC_NAMES
from sim.model.streams import replication_seeds
from sim.scenario import Scenario, apply_changes, field_value, resolved_yaml, validate_data

BATCH_FILE = "batch.json"
POINTS_FILE = "points.csv"
INDEX_FILE = "run_index.csv"
RUNS_DIR = "runs"
RUN_COLUMNS = ("run_id", "point", *ID_COLUMNS)


@dataclass(frozen=True)
class RunSpec:
    """One run of a batch, fixed before it executes."""

    run_id: int
    point: int
    replication: int
    seed: int
    scenario: Scenario
    path: str
    engine: str = "vector"


@dataclass
class RunRecord:
    """What a worker reports about a run (the rows themselves are in the store)."""

    run_id: int
    point: int
    replication: int
    seed: int
    status: str
    error: str
    seconds: float
    rows: int
    worker: str
    resumed: bool = False


class RunWriteError(OSError):
    """A worker could not write a run's rows to the store (a full disk, a lost permission).

    Not a failure of the run: every other run would fail the same way, so the batch stops.
    """


class WorkerLostError(DeterSimError):
    """A worker process died (killed, out of memory): the pool is broken, its runs lost."""


# How many times a batch starts new workers after losing one, before it gives up.
WORKER_RETRIES = 3


def execute_retrying(
    batch: Batch,
    options: ExecutionOptions,
    on_done: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """``batch.execute`` on new workers each time a worker process dies, at most 3 times.

    The runs a dead worker held are run again (their rows were never written, so nothing
    is counted twice); the rows of the other runs are kept. The run index marks as resumed
    only the runs that were on disk before this call.

    Raises:
        WorkerLostError: workers died more than ``WORKER_RETRIES`` times.
    """
    before = {s.run_id for s in batch.specs() if Path(s.path).exists()}
    for attempt in range(WORKER_RETRIES + 1):
        try:
            with options.executor() as pool:
                index = batch.execute(pool, on_done)
            break
        except WorkerLostError as exc:
            if attempt == WORKER_RETRIES:
                raise WorkerLostError(
                    f"{batch.out}: worker processes died {WORKER_RETRIES + 1} times (the last: "
                    f"{exc}); the same command with --resume goes on from there"
                ) from None
            logging.getLogger(__name__).warning(
                "%s; starting new workers for the runs left (retry %d of %d)",
                exc,
                attempt + 1,
                WORKER_RETRIES,
            )
    resumed = index.run_id.isin(before)
    if not resumed.equals(index.resumed):  # runs rerun after a worker died are not resumed
        index["resumed"] = resumed
        try:
            write_table(batch.out / INDEX_FILE, index)
        except OSError as exc:
            raise UnwritableError(batch.out, exc) from exc
    return index


class UnwritableError(FolderError):
    """The batch folder cannot be written; the command line reports it as one line (exit 2)."""

    def __init__(self, folder: Path, exc: OSError, detail: str = "") -> None:
        super().__init__(folder, f"cannot write the results ({exc.strerror or exc}){detail}")


def execute_run(spec: RunSpec) -> RunRecord:
    """Run one replication and write its weekly rows to ``spec.path`` (in a worker).

    Exceptions of the model are caught and reported in the record, so that one failing run
    does not stop the batch.

    Args:
        spec: The run.

    Returns:
        The run's record.

    Raises:
        RunWriteError: the rows could not be written (this stops the batch).
    """
    import socket

    started = time.perf_counter()
    try:
        frame = run_replication(spec.scenario, spec.replication, spec.seed, spec.engine)
        frame.insert(0, "point", spec.point)
        frame.insert(0, "run_id", spec.run_id)
    except Exception as exc:
        status, error, rows = "failed", f"{type(exc).__name__}: {exc}", 0
    else:
        try:
            write_table(Path(spec.path), frame)
        except OSError as exc:
            raise RunWriteError(exc.errno, exc.strerror or str(exc), spec.path) from None
        status, error, rows = "ok", "", len(frame)
    return RunRecord(
        spec.run_id,
        spec.point,
        spec.replication,
        spec.seed,
        status,
        error,
        round(time.perf_counter() - started, 4),
        rows,
        socket.gethostname(),
    )


@dataclass
class Batch:
    """A batch of points times replications, bound to its folder.

    Args:
        out: The batch folder.
        kind: ``sweep`` or ``sensitivity``.
        base: The scenario every point starts from.
        points: Per point, a label and the dotted parameter changes.
        replications: Replications per point.
        definition: What was asked for, recorded and compared on resume.
        engine: ``vector`` or ``agents``.
        seed_groups: Per point, its group: points of a group share their replication seeds
            (common random numbers), groups do not. ``None``: one group.

    A point's changes may hold ``schedule``: the list of its policy changes (which replaces
    the base's schedule).
    """

    out: Path
    kind: str
    base: Scenario
    points: list[tuple[str, dict[str, Any]]]
    replications: int
    definition: dict[str, Any]
    engine: str = "vector"
    seed_groups: list[int] | None = None

    def __post_init__(self) -> None:
        self.scenarios = [point_scenario(self.base, label, c) for label, c in self.points]
        groups = self.seed_groups or [0] * len(self.points)
        r = self.replications
        seeds = replication_seeds(self.base.seed, (max(groups, default=0) + 1) * r)
        self.seeds = seeds[:r]
        self.point_seeds = [seeds[g * r : (g + 1) * r] for g in groups]

    # -- the definition on disk --------------------------------------------------------------
    def signature(self) -> dict[str, Any]:
        """What identifies the batch: a resumed batch must match it exactly."""
        text = resolved_yaml(self.base)
        return {
            "kind": self.kind,
            "definition": self.definition,
            "base_scenario_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "replications": self.replications,
            "seeds": self.seeds,
            "engine": self.engine,
            "points": [[label, changes] for label, changes in self.points],
        } | ({"seed_groups": self.seed_groups} if self.seed_groups is not None else {})

    def prepare(self, resume: bool, force: bool) -> None:
        """Create the folder, or check that it holds this batch when resuming.

        The rule is ``sim.experiments.folders.claim_batch_folder``: the folder's
        ``batch.json`` records the batch; only the same batch is resumed, and ``force``
        replaces only a batch folder.

        Raises:
            FolderError: the folder holds other results and neither ``resume`` (for the
                same batch) nor ``force`` was given, or it cannot be written.
        """
        record = {"deter_sim_version": __version__, "signature": self.signature()}
        resumed = claim_batch_folder(
            self.out, BATCH_FILE, record, resume, force, "batch", loose=("deter_sim_version",)
        )
        try:
            if resumed:
                # Files that a killed worker was writing: never renamed, never taken as runs.
                for stale in (self.out / RUNS_DIR).glob("point-*/.*.tmp"):
                    stale.unlink(missing_ok=True)
            if not (self.out / POINTS_FILE).exists():  # new, or the first attempt could not
                write_table(self.out / POINTS_FILE, self.points_table())
        except OSError as exc:
            raise UnwritableError(self.out, exc) from exc

    def adopt(self, source: Path) -> int:
        """Take the runs another batch folder already made that this batch would make again.

        A run is the same when the batch's base scenario, the engine, the point's changes and
        the seed are: it would give the same rows (runs are reproducible), so they are copied
        with this batch's run and point numbers. Only runs the source finished are taken;
        those already here are kept. Call after ``prepare``.

        Returns:
            The runs taken.

        Raises:
            FolderError: ``source`` is not a batch folder.
        """
        import json

        try:
            record = json.loads((source / BATCH_FILE).read_text())["signature"]
            index = read_table(source / "run_index.csv")
        except (OSError, ValueError, KeyError) as exc:
            raise FolderError(
                source, f"not a finished batch folder to take runs from ({exc})"
            ) from None
        mine = self.signature()
        if (record.get("base_scenario_sha256"), record.get("engine")) != (
            mine["base_scenario_sha256"],
            self.engine,
        ):
            return 0

        def key(changes: Any, seed: int) -> str:
            return json.dumps([changes, int(seed)], sort_keys=True)

        theirs = {}
        for row in index[index.status == "ok"].itertuples():
            path = (
                source / RUNS_DIR / f"point-{row.point:05d}" / f"rep-{row.replication:04d}.parquet"
            )
            if path.exists():
                theirs[key(record["points"][row.point][1], row.seed)] = path
        mine_points = json.loads(json.dumps(mine["points"]))  # as batch.json reads back
        taken = 0
        for spec in self.specs():
            path = Path(spec.path)
            found = theirs.get(key(mine_points[spec.point][1], spec.seed))
            if found is None or path.exists():
                continue
            frame = read_table(found)
            frame["run_id"], frame["point"] = spec.run_id, spec.point
            path.parent.mkdir(parents=True, exist_ok=True)
            write_table(path, frame)
            taken += 1
        return taken

    def points_table(self) -> pd.DataFrame:
        """One row per point: its number, label and the value of every varied parameter."""
        names = list(dict.fromkeys(n for _, changes in self.points for n in changes))
        names = [n for n in names if n != "schedule"]
        labels = [label for label, _ in self.points]
        rows = []
        for point, (scenario, label) in enumerate(zip(self.scenarios, labels, strict=True)):
            row = {"point": point, "label": label}
            for name in names:
                row[name] = field_value(scenario, name)
            rows.append(row)
        return pd.DataFrame(rows)

    # -- runs --------------------------------------------------------------------------------
    def specs(self) -> list[RunSpec]:
        """Every run of the batch, in a fixed order."""
        specs = []
        for point, scenario in enumerate(self.scenarios):
            for replication, seed in enumerate(self.point_seeds[point]):
                run_id = point * self.replications + replication
                specs.append(
                    RunSpec(
                        run_id,
                        point,
                        replication,
                        seed,
                        scenario,
                        str(self.run_path(point, replication)),
                        self.engine,
                    )
                )
        return specs

    def run_path(self, point: int, replication: int) -> Path:
        """Where the rows of a run are stored."""
        return self.out / RUNS_DIR / f"point-{point:05d}" / f"rep-{replication:04d}.parquet"

    def execute(
        self,
        pool: Executor,
        on_done: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """Run every run whose rows are not in the store yet, and write the run index.

        Args:
            pool: Where to run (``sim.experiments.execution.executor``).
            on_done: Called with (runs finished, runs in the batch) as runs finish.

        Returns:
            The run index: one row per run.

        Raises:
            UnwritableError: a run's rows or the index could not be written (a full disk):
                the batch stops at once; the runs finished are kept for ``resume``.
        """
        specs = self.specs()
        done = [s for s in specs if Path(s.path).exists()]
        pending = [s for s in specs if not Path(s.path).exists()]
        records = {s.run_id: _existing_record(s) for s in done}
        total, finished = len(specs), len(done)
        if on_done:
            on_done(finished, total)
        futures = {pool.submit(execute_run, spec): spec for spec in pending}
        try:
            for future in as_completed(futures):
                spec = futures[future]
                try:
                    record = future.result()
                except RunWriteError as exc:
                    raise UnwritableError(
                        self.out,
                        exc,
                        f"; {finished} of {total} runs are finished and kept: the same command "
                        "with --resume goes on from there",
                    ) from None
                except BrokenProcessPool as exc:
                    raise WorkerLostError(
                        f"a worker process died ({exc or 'killed'}); {finished} of {total} runs "
                        "are finished and kept"
                    ) from None
                except Exception as exc:
                    record = RunRecord(
                        spec.run_id,
                        spec.point,
                        spec.replication,
                        spec.seed,
                        "failed",
                        f"{type(exc).__name__}: {exc}",
                        0.0,
                        0,
                        "",
                    )
                records[spec.run_id] = record
                finished += 1
                if on_done:
                    on_done(finished, total)
        finally:
            for future in futures:
                future.cancel()
        index = pd.DataFrame([asdict(records[s.run_id]) for s in specs])
        try:
            write_table(self.out / INDEX_FILE, index)
        except OSError as exc:
            raise UnwritableError(self.out, exc) from exc
        return index

    def timeseries(self) -> pd.DataFrame:
        """Weekly rows of every finished run, ordered by run."""
        files = sorted((self.out / RUNS_DIR).glob("point-*/rep-*.parquet"))
        if not files:
            return pd.DataFrame(columns=[*RUN_COLUMNS, *METRIC_NAMES])
        frame = pd.concat((read_table(path) for path in files), ignore_index=True)
        return frame.sort_values(["run_id", "week"], ignore_index=True)

    def replication_summaries(self) -> pd.DataFrame:
        """Per point and replication, each metric's post-burn-in yearly value (``point`` column)."""
        parts = []
        for point, rows in self.timeseries().groupby("point", sort=True):
            burn_in = self.scenarios[int(point)].burn_in_weeks
            summary = summarise_replications(rows.drop(columns=["run_id", "point"]), burn_in)
            parts.append(summary.assign(point=int(point)))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def point_statistics(self, timeseries: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per point and metric: mean, 95% interval and spread over replications (long form)."""
        frame = self.timeseries() if timeseries is None else timeseries
        parts = []
        for point, rows in frame.groupby("point", sort=True):
            burn_in = self.scenarios[int(point)].burn_in_weeks
            summary = summarise_replications(rows.drop(columns=["run_id", "point"]), burn_in)
            stats = metric_statistics(summary)
            stats.insert(0, "point", int(point))
            parts.append(stats.drop(columns=["scenario"]))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def point_scenario(base: Scenario, label: str, changes: dict[str, Any]) -> Scenario:
    """The scenario of a point: ``base`` with its changes (and its own schedule, if given)."""
    changes = dict(changes)
    schedule = changes.pop("schedule", None)
    scenario = apply_changes(base, changes, source=label)
    if schedule is None:
        return scenario
    data = scenario.model_dump(mode="python", exclude={"extends"}) | {"schedule": schedule}
    return validate_data(data, label)


def _existing_record(spec: RunSpec) -> RunRecord:
    """The record of a run finished by an earlier, interrupted invocation."""
    import pyarrow.parquet as pq

    rows = pq.read_metadata(spec.path).num_rows
    return RunRecord(
        spec.run_id,
        spec.point,
        spec.replication,
        spec.seed,
        "ok",
        "",
        float("nan"),
        rows,
        "",
        resumed=True,
    )


def wide_statistics(
    long: pd.DataFrame, points: pd.DataFrame, metrics: Iterable[str] | None = None
) -> pd.DataFrame:
    """One row per point: its parameters, then mean, ci_low, ci_high and n of each metric.

    Args:
        long: ``Batch.point_statistics`` output.
        points: ``points.csv`` (point, label, parameters).
        metrics: Metrics to keep [all].

    Returns:
        The wide table, ordered by point.
    """
    keep = list(metrics) if metrics else list(METRIC_NAMES)
    long = long[long.metric.isin(keep)]
    wide = long.pivot(index="point", columns="metric", values=["mean", "ci_low", "ci_high"])
    wide.columns = [f"{metric}_{stat}" for stat, metric in wide.columns]
    ordered = [f"{m}_{s}" for m in keep for s in ("mean", "ci_low", "ci_high")]
    wide = wide[ordered]
    n = long.groupby("point")["n"].first().rename("replications")
    table = points.set_index("point").join(n).join(wide).reset_index()
    return table


@dataclass
class BatchResult:
    """What a batch (a sweep, a sensitivity or elasticity analysis) produced.

    Attributes:
        batch: The batch.
        table: Its result table, or None when runs failed (the table needs every run).
        index: The run index.
        out: The batch folder.
        wall_seconds: Wall time of this invocation.
    """

    batch: Batch
    table: pd.DataFrame | None
    index: pd.DataFrame
    out: Path
    wall_seconds: float

    @property
    def failed(self) -> int:
        """Number of runs that failed."""
        return int(self.index.status.ne("ok").sum())

    @property
    def complete(self) -> bool:
        """Whether every run finished without error."""
        return self.failed == 0


Outputs = Callable[[Batch, pd.DataFrame], pd.DataFrame | None]


def run_batch(
    batch: Batch,
    options: ExecutionOptions,
    outputs: Outputs,
    resume: bool = False,
    force: bool = False,
    on_done: Callable[[int, int], None] | None = None,
    reuse: Path | None = None,
) -> BatchResult:
    """Prepare the folder, run what is not done yet, write the result tables and the manifest.

    Args:
        batch: The batch.
        options: How to execute the runs.
        outputs: Computes (and writes) the batch's result table from the finished runs.
        resume: Finish an interrupted batch in its folder.
        force: Replace the batch its folder holds.
        on_done: Progress callback (runs finished, runs in all).
        reuse: Another batch folder whose identical runs are taken instead of run again
            (``Batch.adopt``).

    Returns:
        The result.
    """
    started = time.perf_counter()
    batch.prepare(resume=resume, force=force)
    if reuse is not None:
        batch.adopt(reuse)
    index = execute_retrying(batch, options, on_done)
    table = outputs(batch, index)
    wall = time.perf_counter() - started
    write_json(
        batch.out / "manifest.json",
        manifest(
            batch.kind,
            batch.base,
            batch.seeds,
            options,
            wall,
            points=len(batch.points),
            runs=len(index),
            runs_failed=int(index.status.ne("ok").sum()),
            runs_resumed=int(index.resumed.sum()),
        ),
    )
    return BatchResult(batch, table, index, batch.out, wall)
