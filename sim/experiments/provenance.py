"""Provenance of results (the manifest every result folder carries) and the memory check.

A manifest says what made a result: the deter-sim version, the git commit and whether the code
differed from it, the scenario, the seeds, the engine and how the runs were executed, the wall
time, and the Python and package versions. Every kind of result (a run, a batch, a
calibration) builds it with ``manifest``, adding what is particular to it.
"""

from __future__ import annotations

import platform as py_platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim._version import __version__
from sim.errors import ResourceError
from sim.model import entry

if TYPE_CHECKING:
    from sim.experiments.execution import ExecutionOptions
    from sim.scenario import Scenario

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the sim package
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


def manifest(
    kind: str,
    scenario: Scenario,
    seeds: list[int],
    options: ExecutionOptions,
    wall_seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """Provenance of a result.

    Args:
        kind: ``run``, ``sweep``, ``sensitivity``, ``elasticity``, ``calibration``, ...
        scenario: The scenario run (the base scenario of a batch).
        seeds: Seed of each replication.
        options: How the runs were executed.
        wall_seconds: Wall time.
        **extra: Fields particular to the kind of result (added after the common ones).

    Returns:
        A JSON-ready mapping.
    """
    return {
        "deter_sim_version": __version__,
        **code_provenance(),
        "kind": kind,
        "scenario": scenario.name,
        "engine": options.engine,
        "backend": options.backend,
        "workers": options.workers,
        "root_seed": scenario.seed,
        "replication_seeds": seeds,
        "replications": len(seeds),
        "weeks": scenario.weeks,
        "burn_in_weeks": scenario.burn_in_weeks,
        **extra,
        "wall_time_seconds": round(wall_seconds, 3),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": py_platform.python_version(),
        "platform": py_platform.platform(terse=True),
        "packages": {name: package_version(name) for name in PACKAGES},
    }


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git(*args: str) -> str | None:
    """Output of a git command run in the package's folder, or None if it fails."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_commit() -> str | None:
    """The commit of the checkout the package runs from (None outside a checkout)."""
    commit = (git("rev-parse", "HEAD") or "").strip()
    return commit or None


def git_dirty() -> bool | None:
    """Whether the package's code differs from its git commit (None outside a checkout)."""
    status = git("status", "--porcelain", "--untracked-files=no", "--", str(PACKAGE_DIR))
    return None if status is None else bool(status.strip())


def code_provenance() -> dict[str, object]:
    """``git_commit`` and ``git_dirty`` of the code that made a result."""
    return {"git_commit": git_commit(), "git_dirty": git_dirty()}


# Peak bytes per seller and per contact of a seller. Vector: the sparse matrix takes 8 bytes per
# contact; the rest, with the perceived sanction chain (ODD 4.4), is at most 248 bytes per
# seller at 20,000 sellers and 8 contacts (tracemalloc, tests/experiments/test_provenance.py),
# less at full scale (``make bench``). Agents: about 1,530 bytes per seller measured as the resident
# size of a 50,000-seller model, rounded up.
# The open model (ODD 4.6 to 4.9) adds the police belief, three flags, the week's draws of the
# channel, police and exit streams and the second channel's temporaries: at most 311 bytes per
# seller of the pool at 20,000 sellers and 8 contacts (tracemalloc), counted as 240 + 9 a contact.
BYTES_PER_SELLER = {"vector": (240, 9), "agents": (1_700, 16)}
# What every worker process holds before its first model: the interpreter, the libraries and
# the compiled kernels (numba and LLVM). ``make bench``: 314 MB resident after a first run of
# 100,000 sellers (352 MB while workers still imported scipy.stats), of which the model is
# about 25 MB; rounded up.
PROCESS_BYTES = 350 * 2**20


def memory_estimate(scenario: Scenario, engine: str = "vector") -> int:
    """Bytes one replication of ``scenario`` needs at its peak (an estimate).

    Args:
        scenario: The scenario.
        engine: ``vector`` or ``agents``.

    Returns:
        Estimated peak bytes of one model, whose arrays hold the initial sellers and every
        newcomer of the run.
    """
    base, per_contact = BYTES_PER_SELLER.get(engine, BYTES_PER_SELLER["agents"])
    per_seller = base + per_contact * scenario.population.network_degree
    # The engines hold the whole pool from the start: every newcomer of the run (ODD 4.8).
    return per_seller * entry.pool_size(scenario)


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
        ResourceError: ``workers`` models of ``scenario`` need more than the memory available.
    """
    free = available_memory()
    if free is None:
        return
    each = memory_estimate(scenario, engine)
    need = (each + PROCESS_BYTES) * max(1, workers)
    if need > 0.9 * free:
        raise ResourceError(
            f"population.sellers: {scenario.population.sellers:,} sellers (a pool of "
            f"{entry.pool_size(scenario):,} with the newcomers of the run) with "
            f"{scenario.population.network_degree} contacts each need about {each / 1e9:.1f} GB "
            f"per replication with the {engine} engine, {need / 1e9:.1f} GB on {workers} "
            f"worker(s) with their {PROCESS_BYTES / 1e9:.2f} GB each of libraries and compiled "
            f"code; {free / 1e9:.1f} GB is available. Use fewer sellers, fewer --workers, "
            "or the vector engine"
        )
