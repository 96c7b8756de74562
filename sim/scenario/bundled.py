"""The data shipped with deter-sim: bundled scenarios and calibration files, found by name.

They live in the repository's root folders ``scenarios/`` and ``calibration/``, which the
packaging installs as the data packages ``sim.data.scenarios`` and ``sim.data.calibration``
(``pyproject.toml``). ``importlib.resources`` finds them wherever deter-sim is installed: in a
checkout (an editable install reads the checkout's own folders), from a wheel, with ``pipx``;
so a bare name such as ``strict`` works from any folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SCENARIOS_PACKAGE = "sim.data.scenarios"
CALIBRATION_PACKAGE = "sim.data.calibration"
DATA_SUFFIXES = (".yaml", ".yml")


def _folder(package: str) -> Path:
    """The folder of a data package, as a path on disk.

    deter-sim is installed unzipped (a wheel, an editable install, a checkout), so the folder is
    a real directory that scenario files can name in ``extends``.
    """
    return Path(str(resources.files(package)))


def scenario_folder() -> Path:
    """The folder of the bundled scenarios (``scenarios/`` of a checkout)."""
    return _folder(SCENARIOS_PACKAGE)


def calibration_folder() -> Path:
    """The folder of the calibration files (``calibration/`` of a checkout)."""
    return _folder(CALIBRATION_PACKAGE)


def scenario_files() -> list[Path]:
    """The bundled scenario files, sorted by name."""
    return sorted(p for p in scenario_folder().iterdir() if p.suffix in DATA_SUFFIXES)


def calibration_file(name: str) -> Path:
    """A calibration file by name, e.g. ``targets_2016.yaml`` (it need not exist)."""
    return calibration_folder() / name
