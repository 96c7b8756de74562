"""Scenario loading: extends, overrides, schema and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import BUNDLED

from sim.errors import ScenarioError
from sim.scenario import (
    Scenario,
    all_fields,
    apply_changes,
    bundled_scenarios,
    field_value,
    json_schema,
    load_scenario,
    parse_override,
    resolved_yaml,
    validate_data,
)

BOUNDS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")
REQUIRED_FIELDS = [
    "population.sellers",
    "enforcement.prosecution_rate",
    "enforcement.conviction_rate",
    "enforcement.max_sentence_years",
    "enforcement.fine_multiple",
    "enforcement.capacity_per_week",
    "platform.detection_rate",
    "platform.criminal_threshold_cny",
]


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_fields_named_in_the_issue_exist():
    assert set(REQUIRED_FIELDS) <= set(all_fields())


def test_every_field_has_a_unit_and_a_source():
    schema = json_schema()
    for section in (
        "PopulationParams",
        "EconomicsParams",
        "PlatformParams",
        "EnforcementParams",
        "BeliefsParams",
    ):
        for name, spec in schema["$defs"][section]["properties"].items():
            assert spec.get("unit"), f"{section}.{name} has no unit"
            assert spec.get("source"), f"{section}.{name} has no source"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenarios_validate(name):
    scenario = load_scenario(f"scenarios/{name}.yaml")
    assert scenario.name == name
    assert scenario.description


def test_all_bundled_scenarios_are_listed():
    assert sorted(p.stem for p in bundled_scenarios()) == sorted(BUNDLED)


def test_bare_names_find_bundled_scenarios():
    assert load_scenario("strict").name == "strict"


def test_extends_overrides_only_what_it_sets():
    strict = load_scenario("scenarios/strict.yaml")
    base = load_scenario("scenarios/baseline_2016.yaml")
    assert strict.enforcement.prosecution_rate == 0.95
    assert strict.population.sellers == base.population.sellers
    assert strict.economics == base.economics


def test_set_overrides_a_field_through_validation():
    scenario = load_scenario("strict", ["enforcement.prosecution_rate=0.5"])
    assert scenario.enforcement.prosecution_rate == 0.5


def test_set_out_of_range_names_set_field_value_and_range():
    with pytest.raises(ScenarioError) as info:
        load_scenario("strict", ["enforcement.prosecution_rate=1.5"])
    message = str(info.value)
    assert message.startswith("--set: enforcement.prosecution_rate:")
    assert "1.5" in message and "<= 1" in message


def test_set_unknown_field_suggests_the_right_one():
    with pytest.raises(ScenarioError, match="did you mean 'enforcement.prosecution_rate'"):
        load_scenario("strict", ["enforcement.prosecution_rat=0.5"])


def test_set_without_equals_sign_is_rejected():
    with pytest.raises(ScenarioError, match="expected dotted.field=value"):
        load_scenario("strict", ["enforcement.prosecution_rate"])


def test_unknown_key_in_file_names_file_field_and_suggestion(tmp_path):
    path = write(tmp_path, "typo.yaml", "name: typo\nenforcment:\n  prosecution_rate: 0.5\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "typo.yaml" in message
    assert "enforcment" in message and "did you mean 'enforcement'" in message


def test_wrong_type_names_the_value_and_the_type(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\npopulation:\n  sellers: many\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "population.sellers" in message and "'many'" in message and "int" in message


def test_probability_above_one_is_rejected(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nplatform:\n  detection_rate: 1.2\n")
    with pytest.raises(ScenarioError, match=r"platform.detection_rate: value 1.2 .*<= 1"):
        load_scenario(path)


def test_nan_is_rejected(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nenforcement:\n  fine_multiple: .nan\n")
    with pytest.raises(ScenarioError, match="enforcement.fine_multiple"):
        load_scenario(path)


def test_burn_in_must_be_shorter_than_the_run(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nweeks: 10\nburn_in_weeks: 10\n")
    with pytest.raises(ScenarioError, match="burn_in_weeks"):
        load_scenario(path)


def test_cyclic_extends_is_reported_with_the_chain(tmp_path):
    write(tmp_path, "a.yaml", "name: a\nextends: b.yaml\n")
    write(tmp_path, "b.yaml", "name: b\nextends: a.yaml\n")
    with pytest.raises(ScenarioError, match="cyclic extends: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_scenario(tmp_path / "a.yaml")


def test_missing_extends_base_is_reported(tmp_path):
    path = write(tmp_path, "a.yaml", "name: a\nextends: nowhere.yaml\n")
    with pytest.raises(ScenarioError, match="extends: base scenario 'nowhere.yaml' not found"):
        load_scenario(path)


def test_extends_finds_a_bundled_scenario_by_its_name(tmp_path):
    path = write(tmp_path, "mine.yaml", "name: mine\nextends: strict\nweeks: 150\n")
    scenario = load_scenario(path)
    strict = load_scenario("strict")
    assert scenario.weeks == 150
    assert scenario.enforcement == strict.enforcement


def test_a_misspelt_base_or_name_suggests_the_bundled_one(tmp_path):
    path = write(tmp_path, "mine.yaml", "name: mine\nextends: strcit\n")
    with pytest.raises(ScenarioError, match="did you mean 'strict'"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="did you mean 'strict'"):
        load_scenario("strcit")


def test_every_problem_of_a_file_is_shown(tmp_path):
    text = "name: x\nplatform:\n  detection_rate: 2\nenforcement:\n  conviction_rate: -1\n"
    path = write(tmp_path, "two.yaml", text)
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    said = str(error.value)
    assert "platform.detection_rate" in said and "enforcement.conviction_rate" in said
    assert "more problem" not in said


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "true", "false"])
def test_a_yes_no_value_for_a_number_is_refused(word):
    with pytest.raises(ScenarioError, match="yes/no value"):
        load_scenario("baseline_2016", [f"enforcement.prosecution_rate={word}"])


def test_a_bad_name_says_what_is_allowed_in_words():
    with pytest.raises(ScenarioError) as error:
        load_scenario("baseline_2016", ["name=a b"])
    assert "letters, digits" in str(error.value) and "^[" not in str(error.value)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "absent.yaml")


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nweeks: [1, 2\n")
    with pytest.raises(ScenarioError, match="invalid YAML at line"):
        load_scenario(path)


def test_duplicate_keys_are_rejected(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nweeks: 10\nweeks: 20\n")
    with pytest.raises(ScenarioError, match="duplicate key 'weeks'"):
        load_scenario(path)


def test_python_object_tags_are_refused(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(path)


def test_a_list_instead_of_a_mapping_is_rejected(tmp_path):
    path = write(tmp_path, "bad.yaml", "- name: bad\n")
    with pytest.raises(ScenarioError, match="mapping of scenario fields is expected"):
        load_scenario(path)


def test_regional_leniency_must_match_the_regions(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: bad\nenforcement:\n  regional_leniency: [1.0]\n")
    with pytest.raises(ScenarioError, match="one per region"):
        load_scenario(path)


def test_schedule_rejects_unknown_and_unschedulable_fields(tmp_path):
    text = "name: bad\nschedule:\n  - week: 5\n    set: {population.sellers: 10}\n"
    with pytest.raises(ScenarioError, match="cannot schedule 'population.sellers'"):
        load_scenario(write(tmp_path, "bad.yaml", text))


def test_schedule_rejects_out_of_range_values(tmp_path):
    text = "name: bad\nschedule:\n  - week: 5\n    set: {enforcement.prosecution_rate: 2}\n"
    with pytest.raises(ScenarioError, match="enforcement.prosecution_rate"):
        load_scenario(write(tmp_path, "bad.yaml", text))


def test_name_cannot_leave_the_results_folder(tmp_path):
    path = write(tmp_path, "bad.yaml", "name: ../../etc\n")
    with pytest.raises(ScenarioError, match="name"):
        load_scenario(path)


def test_apply_changes_returns_a_validated_copy():
    base = load_scenario("baseline_2016")
    changed = apply_changes(base, {"enforcement.prosecution_rate": 0.9})
    assert changed.enforcement.prosecution_rate == 0.9
    assert base.enforcement.prosecution_rate == 0.2625
    with pytest.raises(ScenarioError):
        apply_changes(base, {"enforcement.prosecution_rate": -1})


def test_resolved_yaml_round_trips(tmp_path):
    scenario = load_scenario("surge")
    path = write(tmp_path, "resolved.yaml", resolved_yaml(scenario))
    assert load_scenario(path) == scenario


def _schema_fields(schema: dict) -> dict[str, dict]:
    """The fields of the JSON schema by dotted name (sections read through ``$defs``)."""
    fields = {}
    for name, spec in schema["properties"].items():
        if "$ref" in spec:
            section = schema["$defs"][spec["$ref"].rsplit("/", 1)[1]]
            fields.update({f"{name}.{field}": s for field, s in section["properties"].items()})
        else:
            fields[name] = spec
    return fields


def _outside(bound: str, value: float, kind: str) -> float:
    """A value the schema's ``bound`` excludes: just beyond it, or on it if it is exclusive."""
    if bound.startswith("exclusive"):
        return value
    step = 1 if kind == "integer" else max(1e-9, abs(value) * 1e-9)
    return value + step if bound == "maximum" else value - step


def test_the_json_schema_has_every_field_with_unit_source_and_the_validators_bounds():
    schema = json.loads(json.dumps(json_schema()))  # as `deter-sim schema` prints it
    fields = _schema_fields(schema)
    assert set(fields) - {"extends"} == set(all_fields())
    for name, spec in fields.items():
        assert spec.get("unit") and spec.get("source"), f"{name} has no unit or source"
    base = load_scenario("baseline_2016")
    checked = []
    for name, spec in fields.items():
        if spec.get("type") not in ("integer", "number"):
            continue
        bounds = {b: spec[b] for b in BOUNDS if b in spec}
        assert {"minimum", "exclusiveMinimum"} & set(bounds), f"{name} has no lower bound"
        assert {"maximum", "exclusiveMaximum"} & set(bounds), f"{name} has no upper bound"
        for bound, value in bounds.items():
            # What the schema excludes, validation refuses (and names the field).
            with pytest.raises(ScenarioError, match=re.escape(name)):
                apply_changes(base, {name: _outside(bound, value, spec["type"])})
            checked.append((name, bound))
    assert len(checked) >= 2 * 40


def test_defaults_are_a_valid_scenario_with_the_2016_parameters():
    defaults = Scenario()
    # Pydantic does not validate defaults: validate them as a scenario file would be.
    data = defaults.model_dump(mode="json", exclude={"extends"})
    assert validate_data(data, "defaults") == defaults
    # The parameter table's defaults are the 2016 baseline (calibrated rates included).
    baseline = load_scenario("baseline_2016")
    differing = {
        name: (field_value(defaults, name), field_value(baseline, name))
        for name in all_fields()
        if "." in name and field_value(defaults, name) != field_value(baseline, name)
    }
    assert differing == {}


BILLION_LAUGHS = (
    "".join(
        f"{chr(97 + level)}: &{chr(97 + level)} [{', '.join([f'*{chr(96 + level)}'] * 9)}]\n"
        if level
        else 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
        for level in range(9)
    )
    + "name: lol\ndescription: *i\n"
)


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path):
    path = write(tmp_path, "lol.yaml", BILLION_LAUGHS)
    with pytest.raises(ScenarioError, match="expands to more than 100,000 values"):
        load_scenario(path)


def test_a_recursive_alias_is_refused(tmp_path):
    path = write(tmp_path, "rec.yaml", "name: r\ndescription: &a [*a]\n")
    with pytest.raises(ScenarioError, match="recursive alias"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="recursive alias"):
        parse_override("description=&a [*a]")


def test_a_few_aliases_are_fine(tmp_path):
    path = write(tmp_path, "ok.yaml", "name: ok\nplatform: &p {detection_rate: 0.2}\n")
    assert load_scenario(path).platform.detection_rate == 0.2


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path):
    path = write(tmp_path, "tag.yaml", 'name: x\nseed: !!python/object/apply:os.system ["id"]\n')
    with pytest.raises(ScenarioError, match="could not determine a constructor"):
        load_scenario(path)
