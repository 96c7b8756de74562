"""Strategies and settings shared by the property tests (hypothesis).

Used by ``model/test_bookkeeping_properties.py`` (random valid scenarios),
``scenario/test_loader_properties.py`` (random invalid files and ``--set`` strings) and
``cli/test_validate_properties.py`` (the ``validate`` command on the same input).

By default the examples are derandomized and no example database is kept, so a run is
deterministic. ``HYPOTHESIS_PROFILE=thorough`` runs 25 times as many examples, drawn at random
(new ones each run; a failure prints how to reproduce it)::

    HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/model/test_bookkeeping_properties.py \\
        tests/scenario/test_loader_properties.py tests/cli/test_validate_properties.py

The random strategies cover the schema's full ranges: they read each field's bounds from the
parameter table.
"""

from __future__ import annotations

import math
import os
from functools import cache
from pathlib import Path
from typing import Any, get_args

import yaml
from helpers import BUNDLED, SCENARIOS, small
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from sim.errors import ScenarioError
from sim.scenario import (
    SCHEDULABLE_SECTIONS,
    SECTIONS,
    Scenario,
    all_fields,
    load_scenario,
)

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def budget(n: int) -> settings:
    """Settings of a property test: ``n`` derandomized examples, or 25 n random ones."""
    common = {
        "deadline": None,
        "database": None,
        "suppress_health_check": [
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    }
    if THOROUGH:
        return settings(max_examples=25 * n, derandomize=False, print_blob=True, **common)
    return settings(max_examples=n, derandomize=True, **common)


@cache
def base_scenario(name: str) -> Scenario:
    """A bundled scenario shrunk like ``helpers.small`` (loaded once per name)."""
    return small(name)


# -- values anywhere in the ranges the schema allows -------------------------------------------

NEAR_EDGES = (1e-12, 1e-6, 1e-3)


def _limits(metadata: list[Any]) -> tuple[Any, Any, bool, bool]:
    """``(low, high, low_open, high_open)`` from a field's constraints (``ge``, ``gt``, ...)."""
    low = high = None
    low_open = high_open = False
    for meta in metadata:
        for attr, is_low, is_open in (
            ("ge", True, False),
            ("gt", True, True),
            ("le", False, False),
            ("lt", False, True),
        ):
            value = getattr(meta, attr, None)
            if value is None:
                continue
            if is_low:
                low, low_open = value, is_open
            else:
                high, high_open = value, is_open
    return low, high, low_open, high_open


def _bounds(section: str, name: str) -> tuple[Any, Any, bool, bool, type]:
    """``(low, high, low_open, high_open, type)`` of a scalar field, read from the schema."""
    info = SECTIONS[section].model_fields[name]
    return (*_limits(info.metadata), info.annotation)


def _item_bounds(section: str, name: str) -> tuple[Any, Any, bool, bool, type]:
    """The same for the items of a list field (``list[Annotated[float, Field(...)]]``)."""
    (item,) = get_args(SECTIONS[section].model_fields[name].annotation)
    kind, *metadata = get_args(item)
    constraints = [m for info in metadata for m in getattr(info, "metadata", [info])]
    return (*_limits(constraints), kind)


def range_values(low: Any, high: Any, low_open: bool, high_open: bool, kind: type):
    """Values anywhere in ``[low, high]`` (ends open or not), edges and near-edges included."""
    assert low is not None and high is not None, "a field without bounds"
    if kind is int:
        return st.one_of(
            st.sampled_from([low, high]),
            st.integers(low, min(high, low + 10)),
            st.integers(low, high),
        )
    first = math.nextafter(low, math.inf) if low_open else float(low)
    last = math.nextafter(high, -math.inf) if high_open else float(high)
    edges = {first, last}
    edges.update(e for e in (low + d for d in NEAR_EDGES) if first <= e <= last)
    edges.update(e for e in (high - d * max(1.0, abs(high)) for d in NEAR_EDGES) if first <= e)
    options = [st.sampled_from(sorted(edges)), st.floats(first, last)]
    if last > 10 * max(first, 1e-9):  # a wide range: also spread over orders of magnitude
        lo_exp, hi_exp = math.log10(max(first, 1e-9)), math.log10(last)
        options.append(st.floats(lo_exp, hi_exp).map(lambda e: min(max(10.0**e, first), last)))
    return st.one_of(options)


def field_values(section: str, name: str) -> st.SearchStrategy:
    """Values of a scalar field anywhere in the range the schema allows."""
    return range_values(*_bounds(section, name))


def _scalar_fields(sections: tuple[str, ...]) -> list[str]:
    return [
        f"{s}.{f}"
        for s in sections
        for f, info in SECTIONS[s].model_fields.items()
        if info.annotation in (int, float) and f"{s}.{f}" != "population.sellers"
    ]


SCALAR_FIELDS = _scalar_fields(tuple(SECTIONS))
SCHEDULABLE_SCALARS = _scalar_fields(SCHEDULABLE_SECTIONS)


# -- invalid input ----------------------------------------------------------------------------

TOP_FIELDS = [f for f in Scenario.model_fields if f not in SECTIONS]
NESTED_FIELDS = {s: list(model.model_fields) for s, model in SECTIONS.items()}
junk_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),  # NaN and infinities included
    st.text(max_size=30),
    st.sampled_from(
        [
            "1e3",
            "0.5",
            "50%",
            "1,000",
            "1_000",
            "0x1F",
            "yes",
            "~",
            ".inf",
            "-.nan",
            "",
            " ",
            "2016-08-01",
            "twelve",
            "[1, 2]",
            "{a: 1}",
            "&a b",
            "*a",
            "!!python/name:os.system",
        ]
    ),
)
# Text that PyYAML parses but cannot build: an integer of more than 4,300 digits (Python's
# int_max_str_digits) and nesting deeper than Python's recursion limit (written as text: the
# dumper cannot produce either), and a hexadecimal literal of thousands of digits (built,
# since int_max_str_digits exempts that base, and refused by the schema).
unbuildable = st.sampled_from(
    [
        "9" * 5000,
        "0x" + "f" * 3600,
        "-" + "1" * 4301,
        "[" * 600 + "]" * 600,
        "{a: " * 600 + "1" + "}" * 600,
        "- " * 1000 + "x",
        "[" * 600,
    ]
)
junk = st.recursive(
    junk_scalars,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=12), st.integers(), st.booleans()), kids, max_size=4
        ),
    ),
    max_leaves=12,
)


@st.composite
def out_of_range(draw, section: str, name: str) -> Any:
    """A value just outside, or far outside, the range of a field, or not a finite number."""
    info = SECTIONS[section].model_fields[name]
    values: list[Any] = [math.nan, math.inf, -math.inf, 1e308, -1e308, "0.5 CNY", True, [1]]
    if info.annotation in (int, float):
        low, high, *_ = _bounds(section, name)
        values += [low - 1, high + 1, low - 1e-9, high * 10, -abs(high)]
        if info.annotation is int:
            values.append(low + 0.5)
    return draw(st.sampled_from(values))


@st.composite
def mutated_scenarios(draw) -> dict[str, Any]:
    """A valid scenario's data with one to four random mutations."""
    data = base_scenario(draw(st.sampled_from(BUNDLED))).model_dump(
        mode="json", exclude={"extends"}
    )
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(
                [
                    "junk value",
                    "out of range",
                    "unknown key",
                    "delete key",
                    "junk section",
                    "regions",
                    "schedule",
                    "top field",
                ]
            )
        )
        section = draw(st.sampled_from(list(SECTIONS)))
        name = draw(st.sampled_from(NESTED_FIELDS[section]))
        if not isinstance(data.get(section), dict):
            data[section] = {}
        if kind == "junk value":
            data[section][name] = draw(junk)
        elif kind == "out of range":
            data[section][name] = draw(out_of_range(section, name))
        elif kind == "unknown key":
            target = data if draw(st.booleans()) else data[section]
            target[draw(st.text(min_size=1, max_size=20))] = draw(junk)
        elif kind == "delete key":
            data[section].pop(name, None)
        elif kind == "junk section":
            data[section] = draw(junk)
        elif kind == "regions":
            count = draw(st.integers(0, 70))
            if not isinstance(data.get("population"), dict):
                data["population"] = {}
            data["population"]["region_shares"] = draw(
                st.lists(st.floats(-1, 2), min_size=count, max_size=count)
            )
        elif kind == "schedule":
            entry = st.dictionaries(
                st.sampled_from(["week", "until_week", "label", "set", "when"]),
                st.one_of(
                    junk,
                    st.integers(-2, 300),
                    st.dictionaries(
                        st.sampled_from([*all_fields(), "population.sellers", "x.y"]),
                        st.one_of(junk, st.floats(-1, 2)),
                        max_size=3,
                    ),
                ),
                max_size=5,
            )
            data["schedule"] = draw(st.one_of(st.lists(entry, max_size=3), junk))
        else:
            data[draw(st.sampled_from(TOP_FIELDS))] = draw(st.one_of(junk, st.integers(-5, 6000)))
    return data


random_mappings = st.dictionaries(
    st.one_of(st.sampled_from([*TOP_FIELDS, *SECTIONS]), st.text(max_size=15), st.integers()),
    st.one_of(
        junk,
        st.dictionaries(
            st.sampled_from([f for fields in NESTED_FIELDS.values() for f in fields]), junk
        ),
    ),
    max_size=8,
)


def _dump(data: Any, flow: bool) -> str:
    return yaml.safe_dump(data, allow_unicode=True, default_flow_style=flow, sort_keys=False)


@st.composite
def text_mutations(draw) -> str:
    """The text of a valid scenario with random characters inserted, deleted or replaced."""
    text = (SCENARIOS / f"{draw(st.sampled_from(BUNDLED))}.yaml").read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 3))
        insert = draw(
            st.one_of(
                st.text(max_size=3),
                st.sampled_from(["\t", ":", "-", "[", "'", "&x"]),
                unbuildable.map(lambda text: f" {text}\n"),
            )
        )
        text = text[:at] + insert + text[at + cut :]
    return text


@st.composite
def documents(draw) -> tuple[str | bytes, dict[str, Any] | None]:
    """A scenario file's content (text or bytes), and the extends base to write beside it."""
    kind = draw(
        st.sampled_from(
            ["mutation", "mapping", "junk", "text", "bytes", "text mutation", "unbuildable"]
        )
    )
    if kind == "bytes":
        return draw(st.binary(max_size=200)), None
    if kind == "text":
        return draw(st.text(max_size=200)), None
    if kind == "text mutation":
        return draw(text_mutations()), None
    if kind == "unbuildable":  # a valid scenario with one value PyYAML cannot build
        data = base_scenario(draw(st.sampled_from(BUNDLED))).model_dump(
            mode="json", exclude={"extends"}
        )
        key = draw(st.sampled_from([*TOP_FIELDS, *SECTIONS]))
        data.pop(key, None)
        return f"{_dump(data, False)}{key}: {draw(unbuildable)}\n", None
    data = draw({"mutation": mutated_scenarios(), "mapping": random_mappings, "junk": junk}[kind])
    base = None
    if isinstance(data, dict) and draw(st.booleans()):
        # An extends chain: bundled, missing, itself, a base beside it (perhaps invalid, or
        # extending the file back), not a file name at all, or one the operating system refuses
        # (a NUL byte, more than 255 bytes).
        choice = draw(
            st.sampled_from(
                [
                    "baseline_2016.yaml",
                    "missing.yaml",
                    "scenario.yaml",
                    "base.yaml",
                    "base\0.yaml",
                    "b" * 300 + ".yaml",
                    "x/" * 2100 + "base.yaml",
                ]
            )
        )
        data["extends"] = draw(st.one_of(st.just(choice), junk_scalars))
        if data["extends"] == "base.yaml":
            base = draw(st.one_of(mutated_scenarios(), random_mappings))
            if draw(st.booleans()):
                base["extends"] = "scenario.yaml"  # a cycle
    return _dump(data, draw(st.booleans())), base


FILE_NAMES = st.sampled_from(["scenario.yaml", "my scenario.yaml", "場景.yaml", "s.yml"])


def _write(folder: Path, name: str, content: str | bytes, base: dict[str, Any] | None) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    if base is not None:
        (folder / "base.yaml").write_text(_dump(base, False), encoding="utf-8")
    if name != "scenario.yaml":  # extends chains name the file "scenario.yaml"
        (folder / "scenario.yaml").write_bytes(path.read_bytes())
    return path


def load_or_error(path: Path | str, overrides: list[str], sources: list[Path]):
    """``load_scenario``: a valid scenario, or a ``ScenarioError`` naming one of ``sources``.

    Any other exception propagates and fails the test.
    """
    try:
        scenario = load_scenario(path, overrides)
    except ScenarioError as exc:
        message = str(exc)
        assert message.startswith(f"{exc.source}: "), message
        named = [p for p in sources if Path(exc.source).resolve() == p.resolve()]
        assert named or (exc.source == "--set" and overrides), f"names no file: {message}"
        assert exc.detail, message
        return None, exc
    assert isinstance(scenario, Scenario)
    return scenario, None


def _yaml_value(value: Any) -> str:
    """``value`` as YAML on one line (without the end-of-document marker)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    return text.removesuffix("\n").removesuffix("...").strip()


@st.composite
def random_overrides(draw) -> str:
    """A ``--set`` string: a field (or not), ``=`` (or not), and a value (often wrong)."""
    fields = all_fields()
    key = draw(
        st.one_of(
            st.sampled_from(fields),
            st.sampled_from(fields).map(lambda f: f[:-1] or "x"),  # a typo
            st.sampled_from(["", " ", ".", "population.", ".sellers", "a.b.c", "extends"]),
            st.text(max_size=20),
        )
    )
    value = draw(
        st.one_of(
            junk.map(_yaml_value),
            junk.map(lambda v: _dump(v, True)),  # with "..." on a second line
            st.text(max_size=30),
            st.sampled_from(["", "0", "-1", "1e9", "1e400", ".nan", "[", "{", "'", "&a [*a]"]),
            unbuildable,
            st.sampled_from(fields).flatmap(
                lambda f: out_of_range(*f.split(".")).map(str) if "." in f else st.just("0")
            ),
        )
    )
    separator = draw(st.sampled_from(["=", "=", "=", "", "==", " = "]))
    return f"{key}{separator}{value}"


# Valid overrides too, so that accepted ones are checked (and mixed with invalid ones).
overrides = st.one_of(
    st.sampled_from(SCALAR_FIELDS).flatmap(
        lambda key: field_values(*key.split(".")).map(lambda v: f"{key}={_yaml_value(v)}")
    ),
    random_overrides(),
)
