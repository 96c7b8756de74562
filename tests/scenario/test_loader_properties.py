"""Property tests (hypothesis) of scenario loading: random invalid input never escapes.

Random YAML documents, mutations of a valid scenario (in its data and in its text), values
PyYAML cannot build (integers of thousands of digits, nesting hundreds of levels deep),
``extends`` names the operating system refuses, random text and bytes, random ``--set``
overrides: ``load_scenario`` returns a valid scenario or raises ``ScenarioError`` naming the
file (or ``--set``, for an error in or inside a field an override sets), never anything else.
The same input through the ``validate`` command is in ``tests/cli/test_validate_properties.py``.

The file ends with regression tests of the bugs these properties found in ``sim/``, now fixed:
deep nesting and huge integer literals, and errors inside an overridden field put on the file.

Settings and strategies are in ``tests/strategies.py`` (``HYPOTHESIS_PROFILE=thorough`` runs
25 times as many random examples).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from helpers import BUNDLED, SCENARIOS
from hypothesis import given
from hypothesis import strategies as st
from strategies import FILE_NAMES, _write, budget, documents, load_or_error, overrides

from sim.scenario import Scenario, load_scenario, parse_override, resolved_yaml


def _round_trip(scenario: Scenario, folder: Path) -> None:
    # A valid scenario survives its resolved YAML: what `run` saves loads back the same.
    path = folder / "resolved.yaml"
    path.write_text(resolved_yaml(scenario), encoding="utf-8")
    again = load_scenario(path)
    assert again.model_dump() == scenario.model_dump()


@given(document=documents(), name=FILE_NAMES)
@budget(200)
def test_random_files_give_a_scenario_or_a_scenario_error(document, name, scratch):
    content, base = document
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        folder = Path(folder)
        path = _write(folder, name, content, base)
        sources = [path, folder / "scenario.yaml", folder / "base.yaml", *SCENARIOS.glob("*.yaml")]
        scenario, _ = load_or_error(path, [], sources)
        if scenario is not None:
            _round_trip(scenario, folder)


@given(name=st.sampled_from(BUNDLED), sets=st.lists(overrides, min_size=1, max_size=3))
@budget(200)
def test_random_overrides_give_a_scenario_or_a_scenario_error(name, sets):
    path = SCENARIOS / f"{name}.yaml"
    scenario, error = load_or_error(path, sets, list(SCENARIOS.glob("*.yaml")))
    if error is not None:
        # The bundled file is valid: an error in a field an override sets, or inside it (an
        # item of a list, an entry of the schedule), is put on --set.
        keys = [text.partition("=")[0].strip() for text in sets]
        if any(error.field == k or error.field.startswith(f"{k}.") for k in keys):
            assert error.source == "--set", str(error)
        return
    # An override that was accepted is in force (for numbers: the number given; the last
    # override of a field wins).
    given_values = dict(parse_override(text) for text in sets)
    for key, value in given_values.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and "." in key:
            section, field = key.split(".")
            assert getattr(getattr(scenario, section), field) == value, key


# -- regressions: bugs these properties found in sim/ (fixed) ------------------------------


def _load_with(where: str, value: str, field: str, tmp_path: Path):
    """Load ``field: value`` from a file, or the bundled strict scenario with ``--set``."""
    if where == "file":
        path = tmp_path / "scenario.yaml"
        path.write_text(f"{field}: {value}\n")
        return load_or_error(path, [], [path])
    strict = SCENARIOS / "strict.yaml"
    return load_or_error(strict, [f"{field}={value}"], [strict])


@pytest.mark.parametrize("where", ["file", "--set"])
@pytest.mark.parametrize(
    "value",
    ["[" * 1000 + "]" * 1000, "{a: " * 600 + "1" + "}" * 600, "[" * 1000],
    ids=["lists", "mappings", "unclosed"],
)
def test_deeply_nested_yaml_is_a_scenario_error(where, value, tmp_path):
    # Fixed: RecursionError from PyYAML's composer escaped as a traceback.
    _, error = _load_with(where, value, "name", tmp_path)
    assert error is not None
    assert "nested too deeply" in error.detail, str(error)
    if where == "--set":
        assert error.source == "--set"


@pytest.mark.parametrize("where", ["file", "--set"])
@pytest.mark.parametrize(
    "digits",
    [
        "9" * 5000,
        "-" + "1" * 4301,
        "0x" + "f" * 3600,
    ],
    ids=["decimal", "negative", "hexadecimal"],
)
def test_a_huge_integer_literal_is_a_scenario_error(where, digits, tmp_path):
    # Fixed: int() of more than 4,300 decimal digits raised ValueError (int_max_str_digits);
    # a hexadecimal literal is built, and its repr in the message raised the same error.
    _, error = _load_with(where, digits, "seed", tmp_path)
    assert error is not None
    expected = "hexadecimal digits is invalid" if digits.startswith("0x") else "cannot be read"
    assert expected in error.detail, str(error)
    if where == "--set":  # (the message repeats the value given, as for any invalid YAML)
        assert error.source == "--set"


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("enforcement.tier1_sentence_years=[1]", "enforcement.tier1_sentence_years"),
        ("enforcement.tier1_sentence_years=[1, x]", "enforcement.tier1_sentence_years.1"),
        ("population.region_shares=[1, -1]", "population.region_shares.1"),
        ("schedule=[{week: 1}]", "schedule.0"),
        ("schedule=[{week: 1, set: {beliefs.memory: 2}}]", "schedule.0"),
    ],
)
def test_an_override_error_is_put_on_the_override(override, field):
    # Fixed: an error reported inside the field an override sets was put on the file.
    strict = SCENARIOS / "strict.yaml"
    _, error = load_or_error(strict, [override], [strict])
    assert error is not None
    assert error.source == "--set", str(error)
    assert error.field.startswith(field), str(error)


def test_an_error_in_the_file_stays_on_the_file(tmp_path):
    # ... and one in a field that only starts like an override's key stays on the file.
    path = tmp_path / "scenario.yaml"
    path.write_text("extends: strict.yaml\nenforcement: {tier1_sentence_years: [1]}\n")
    _, error = load_or_error(path, ["enforcement.tier1=1"], [path])
    assert error is not None and error.source == "--set"  # tier1 is not a field
    _, error = load_or_error(path, ["enforcement.max_sentence_years=20"], [path])
    assert error is not None and Path(error.source).name == "scenario.yaml", str(error)
