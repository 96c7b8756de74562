"""Plain helpers shared by the tests of every folder: paths, small scenarios, the installed command.

``tests/conftest.py`` puts this folder on ``sys.path``, so a test anywhere under ``tests/``
imports them with ``from helpers import ...``. Fixtures are in ``conftest.py``; the strategies
of the property tests are in ``strategies.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import pandas as pd

from sim.experiments.execution import ExecutionOptions
from sim.scenario import Scenario, apply_changes, load_scenario

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SCENARIOS = ROOT / "scenarios"
# The installed console script of this environment (its bin folder need not be on PATH).
DETER_SIM = str(Path(sys.executable).parent / "deter-sim")

# Every bundled scenario, by name (sorted; test_all_bundled_scenarios_are_listed checks the list).
BUNDLED = (
    "baseline_2016",
    "certainty_only",
    "exemplary",
    "platform_only",
    "severity_only",
    "strict",
    "surge",
)

# The options of a batch run in this process, one run after another.
SERIAL = ExecutionOptions(backend="serial", workers=1)

SMALL = {
    "population.sellers": 4000,
    "weeks": 80,
    "burn_in_weeks": 20,
    "replications": 2,
}


def small(name: str = "baseline_2016", **changes: object) -> Scenario:
    """A bundled scenario shrunk to a few thousand sellers, with extra dotted changes."""
    overrides = [f"{key}={value}" for key, value in SMALL.items()]
    scenario = load_scenario(SCENARIOS / f"{name}.yaml", overrides)
    return apply_changes(scenario, changes) if changes else scenario


# The open model switched off (ODD 4.6 to 4.9): no entry or exit, no off-platform channel, a
# fixed price, no false positives; the model of the perception issue, exactly.
CLOSED = {
    "population.entry_rate": 0.0,
    "population.exit_hazard": 0.0,
    "channels.offplatform_margin_ratio": 0.0,
    "market.price_adjustment": 0.0,
    "platform.legitimate_stores": 0,
}


# The size of the experiments' tests (calibration, elasticities, interventions, ...).
TINY = ("population.sellers=3000", "weeks=60", "burn_in_weeks=20", "replications=2")


def tiny(name: str = "baseline_2016", *extra: str, size: Sequence[str] = TINY) -> Scenario:
    """A bundled scenario at ``size`` (``--set`` overrides), then the overrides ``extra``."""
    return load_scenario(name, [*size, *extra])


def set_options(overrides: Iterable[str]) -> list[str]:
    """``--set`` options of the command line for ``overrides``."""
    return [arg for item in overrides for arg in ("--set", item)]


TINY_SET = set_options(TINY)  # the command line's options for the size TINY


def deter_sim(
    *args: str, cwd: Path | None = None, timeout: float = 300, **options
) -> subprocess.CompletedProcess:
    """Run the installed command (in ``cwd``, the repository by default); never raises on exit."""
    return subprocess.run(
        [DETER_SIM, *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        check=False,
        **options,
    )


def small_files_only(limit: int) -> Callable[[], None]:
    """A preexec_fn: files may not grow beyond ``limit`` bytes (writes fail with EFBIG)."""

    def limit_files() -> None:
        import resource  # POSIX only: imported where it is used
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_files


def run_files(out: Path) -> list[Path]:
    """The run files of a batch folder (``runs/point-*/rep-*.parquet``)."""
    return sorted((out / "runs").glob("point-*/rep-*.parquet"))


def run_rows(out: Path) -> pd.DataFrame:
    """The weekly rows of every run of a batch folder, by run and week."""
    frames = [pd.read_parquet(path) for path in run_files(out)]
    return pd.concat(frames).sort_values(["run_id", "week"], ignore_index=True)
