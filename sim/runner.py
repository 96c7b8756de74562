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
import platform as py_platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sim import __version__
from sim.analysis import metric_statistics, summarise_replications
from sim.execution import executor
from sim.metrics import ID_COLUMNS, METRIC_NAMES
from sim.model import ENGINES, DeterrenceModel
from sim.scenario import Scenario, resolved_yaml
from sim.store import write_json, write_table, write_text
from sim.streams import replication_seeds

OUTPUT_FILES = (
    "timeseries.parquet",
    "summary.csv",
    "summary_stats.csv",
    "scenario.resolved.yaml",
    "manifest.json",
)
PACKAGES = (
    "mesa",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "pydantic",
    "pyyaml",
    "typer",
    "matplotlib",
    "SALib",
    "dask",
    "distributed",
)


def run_replication(
    scenario: Scenario, replication: int, seed: int, engine: str | type = "vector"
) -> pd.DataFrame:
    """Run one replication of ``scenario``.

    Args:
        scenario: Validated scenario.
        replication: Replication index (recorded in the rows).
        seed: The replication's seed.
        engine: ``"vector"`` or ``"agents"`` (``sim.model.ENGINES``), or a population class.

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
            ScenarioError: the folder is not a complete result folder.
        """
        from sim.errors import ScenarioError
        from sim.scenario import load_scenario
        from sim.store import read_table

        out = Path(folder)
        manifest_file = out / "manifest.json"
        if not manifest_file.is_file():
            raise ScenarioError(
                str(out), "", "not a result folder of `deter-sim run` (no manifest.json)"
            )
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
        missing = [name for name in manifest.get("files", []) if not (out / name).is_file()]
        if missing:
            raise ScenarioError(str(out), "", f"incomplete results: {', '.join(missing)} missing")
        series = out / (
            "timeseries.parquet" if "timeseries.parquet" in manifest["files"] else "timeseries.csv"
        )
        return cls(
            load_scenario(out / "scenario.resolved.yaml"),
            read_table(series),
            read_table(out / "summary.csv"),
            read_table(out / "summary_stats.csv"),
            manifest,
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
) -> Results:
    """Run every replication of ``scenario`` and reduce them to summaries.

    Replication ``i`` uses the ``i``-th child seed of ``scenario.seed``; results do not depend on
    the number of workers.

    Args:
        scenario: Validated scenario (``replications``, ``seed`` and ``weeks`` are taken from it).
        workers: Processes to use; 1 runs in this process.
        on_done: Called with the number of replications finished so far.
        engine: ``"vector"`` (default) or ``"agents"``; both compute the same model.
        backend: ``"serial"``, ``"process"`` (default) or ``"dask"`` (``sim.execution``).
        address: Address of a running Dask scheduler (``dask`` only).

    Returns:
        The tables and the manifest.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    started = time.perf_counter()
    seeds = replication_seeds(scenario.seed, scenario.replications)
    frames = _run_all(scenario, seeds, workers, on_done, engine, backend, address)
    timeseries = pd.concat(frames, ignore_index=True)
    timeseries = timeseries.sort_values(["replication", "week"], ignore_index=True)
    timeseries = timeseries[[*ID_COLUMNS, *METRIC_NAMES]]
    summary = summarise_replications(timeseries, scenario.burn_in_weeks)
    stats = metric_statistics(summary)
    manifest = build_manifest(scenario, seeds, workers, time.perf_counter() - started, engine)
    manifest["backend"] = backend
    return Results(scenario, timeseries, summary, stats, manifest)


def _run_all(
    scenario: Scenario,
    seeds: list[int],
    workers: int,
    on_done: Callable[[int], None] | None,
    engine: str,
    backend: str,
    address: str | None,
) -> list[pd.DataFrame]:
    if backend == "process" and (workers <= 1 or len(seeds) == 1):
        backend = "serial"  # one worker: no pool to start
    frames: list[pd.DataFrame] = []
    with executor(backend, min(workers, len(seeds)), address) as pool:
        futures = [
            pool.submit(run_replication, scenario, index, seed, engine)
            for index, seed in enumerate(seeds)
        ]
        for future in as_completed(futures):
            frames.append(future.result())
            if on_done:
                on_done(len(frames))
    return frames


def build_manifest(
    scenario: Scenario,
    seeds: list[int],
    workers: int,
    wall_seconds: float,
    engine: str = "vector",
) -> dict[str, Any]:
    """Provenance of a run.

    Args:
        scenario: The scenario as run.
        seeds: Seed of each replication.
        workers: Worker processes used.
        wall_seconds: Wall time of the run.
        engine: The engine used.

    Returns:
        A JSON-ready mapping.
    """
    return {
        "deter_sim_version": __version__,
        "git_commit": _git_commit(),
        "git_dirty": git_dirty(),
        "scenario": scenario.name,
        "engine": engine,
        "root_seed": scenario.seed,
        "replication_seeds": seeds,
        "replications": scenario.replications,
        "weeks": scenario.weeks,
        "burn_in_weeks": scenario.burn_in_weeks,
        "workers": workers,
        "wall_time_seconds": round(wall_seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": py_platform.python_version(),
        "platform": py_platform.platform(terse=True),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str) -> str | None:
    """Output of a git command run in the package's folder, or None if it fails."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _git_commit() -> str | None:
    commit = (_git("rev-parse", "HEAD") or "").strip()
    return commit or None


def git_dirty() -> bool | None:
    """Whether the package's code differs from its git commit (None outside a checkout)."""
    here = str(Path(__file__).resolve().parent)
    status = _git("status", "--porcelain", "--untracked-files=no", "--", here)
    return None if status is None else bool(status.strip())


def code_provenance() -> dict[str, object]:
    """``git_commit`` and ``git_dirty`` of the code that made a result."""
    return {"git_commit": _git_commit(), "git_dirty": git_dirty()}


# Peak bytes per seller and per contact of a seller. Vector: 189 bytes per seller at the default
# 8 contacts (``make bench``), the sparse matrix taking 8 bytes per contact. Agents: about 1,530
# bytes per seller measured as the resident size of a 50,000-seller model, rounded up.
BYTES_PER_SELLER = {"vector": (120, 9), "agents": (1_600, 16)}


def memory_estimate(scenario: Scenario, engine: str = "vector") -> int:
    """Bytes one replication of ``scenario`` needs at its peak (an estimate).

    Args:
        scenario: The scenario.
        engine: ``vector`` or ``agents``.

    Returns:
        Estimated peak bytes of one model.
    """
    base, per_contact = BYTES_PER_SELLER.get(engine, BYTES_PER_SELLER["agents"])
    per_seller = base + per_contact * scenario.population.network_degree
    return per_seller * scenario.population.sellers


def available_memory() -> int | None:
    """Memory available to new processes (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(scenario: Scenario, workers: int, engine: str = "vector") -> None:
    """Refuse up front a run whose models would not fit in memory, with the estimate.

    Raises:
        ScenarioError: ``workers`` models of ``scenario`` need more than the memory available.
    """
    from sim.errors import ScenarioError

    free = available_memory()
    if free is None:
        return
    each = memory_estimate(scenario, engine)
    need = each * max(1, workers)
    if need > 0.9 * free:
        raise ScenarioError(
            "population.sellers",
            "",
            f"{scenario.population.sellers:,} sellers with {scenario.population.network_degree} "
            f"contacts each need about {each / 1e9:.1f} GB per replication with the {engine} "
            f"engine, {need / 1e9:.1f} GB on {workers} worker(s); {free / 1e9:.1f} GB is "
            "available. Use fewer sellers, fewer --workers, or the vector engine",
        )
