"""Shared fixtures of every test folder.

The test folders (``model/``, ``scenario/``, ``experiments/``, ``reporting/``, ``cli/``) mirror
the package. Their shared plain helpers live in ``helpers.py`` (and the property tests'
strategies in ``strategies.py``), beside this file: it puts this folder on ``sys.path`` so that
``from helpers import small`` works in any folder (pytest's default import mode would do it
too, as it inserts the folder of this conftest; saying so here keeps it from being an accident).
Test files have unique names across folders: the folders are not packages.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from helpers import small  # noqa: E402

from sim.scenario import Scenario  # noqa: E402


@pytest.fixture
def small_baseline() -> Scenario:
    return small("baseline_2016")


@pytest.fixture
def small_strict() -> Scenario:
    return small("strict")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder for the many small files of one module's property tests."""
    return tmp_path_factory.mktemp("properties")
