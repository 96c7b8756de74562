"""Reading scenario files: safe YAML, ``extends`` chains, ``--set`` overrides, bundled names."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from sim.errors import ScenarioError
from sim.scenario.bundled import scenario_files, scenario_folder
from sim.scenario.document import Scenario, all_fields, set_dotted, validate_data
from sim.scenario.messages import short_repr, suggest
from sim.scenario.safe_yaml import safe_load

MAX_EXTENDS_DEPTH = 32


def _usable_path(path: Path, source: str, field: str) -> Path:
    """``path`` resolved, or a ScenarioError if the system refuses the name."""
    try:
        path.exists()
        return path.resolve()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(
            source, field, f"{short_repr(str(path))} is not a usable file name ({reason})"
        ) from None


def _read_yaml(path: Path, source: str) -> dict[str, Any]:
    if not path.exists():
        raise ScenarioError(source, "", "file not found")
    if path.is_dir():
        raise ScenarioError(source, "", "is a directory, not a scenario file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(
            source, "", "is not a UTF-8 text file (a YAML scenario is expected)"
        ) from None
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot be read ({exc.strerror})") from None
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(source, "", f"invalid YAML{where}: {problem}") from None
    if data is None:
        raise ScenarioError(source, "", "is empty (a mapping of scenario fields is expected)")
    if not isinstance(data, dict):
        raise ScenarioError(
            source, "", f"is a {type(data).__name__}, but a mapping of scenario fields is expected"
        )
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _resolve_extends(path: Path, chain: tuple[Path, ...]) -> tuple[dict[str, Any], list[str]]:
    """Read ``path`` and merge it over its ``extends`` chain; return the data and the sources."""
    path = _usable_path(path, short_repr(str(path)), "")
    source = _display(path)
    if path in chain:
        cycle = " -> ".join(_display(p) for p in (*chain, path))
        raise ScenarioError(source, "extends", f"cyclic extends: {cycle}")
    if len(chain) >= MAX_EXTENDS_DEPTH:
        raise ScenarioError(source, "extends", f"more than {MAX_EXTENDS_DEPTH} levels of extends")
    data = _read_yaml(path, source)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, [source]
    if not isinstance(base_name, str) or not base_name.strip():
        raise ScenarioError(source, "extends", f"{short_repr(base_name)} is not a file name")
    base_path = _find_base(path.parent, base_name, source)
    if base_path is None:
        raise ScenarioError(
            source,
            "extends",
            f"base scenario '{base_name}' not found next to the file or among the bundled "
            f"scenarios{suggest(base_name.removesuffix('.yaml'), bundled_names())}",
        )
    base, sources = _resolve_extends(base_path, (*chain, path))
    base.pop("label", None)  # a plain name for readers belongs to its own file, never inherited
    return _deep_merge(base, data), [*sources, source]


def _find_base(folder: Path, name: str, source: str) -> Path | None:
    """The file ``extends: name`` means: next to the file, then bundled; ``.yaml`` optional."""
    names = [name] if name.endswith((".yaml", ".yml")) else [name, f"{name}.yaml"]
    for parent in (folder, scenario_folder()):
        for candidate in names:
            path = _usable_path(parent / candidate, source, "extends")
            if path.is_file():
                return path
    return None


def bundled_names() -> list[str]:
    """The names of the bundled scenarios (``strict`` for ``strict.yaml``)."""
    return sorted(p.stem for p in scenario_files())


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one ``--set dotted.key=value`` string; the value is read as YAML (safely).

    Args:
        text: ``"section.field=value"``.

    Returns:
        The dotted key and the parsed value.

    Raises:
        ScenarioError: the text is not of the form ``key=value`` or names an unknown field.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(
            "--set", text, "expected dotted.field=value, e.g. enforcement.prosecution_rate=0.9"
        )
    if key not in all_fields():
        raise ScenarioError("--set", key, f"unknown field{suggest(key, all_fields())}")
    try:
        value = safe_load(raw)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError("--set", key, f"value {raw!r} is not valid YAML: {problem}") from None
    return key, value


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Load a scenario file, resolve ``extends`` and apply ``--set`` overrides.

    Args:
        path: Scenario YAML file. A bare name such as ``strict`` or ``strict.yaml`` that is not
            a file is looked up among the bundled scenarios.
        overrides: ``"section.field=value"`` strings applied after ``extends``.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: the file, an ``extends`` base or an override is invalid.
    """
    path = Path(path)
    _usable_path(path, short_repr(str(path)), "")
    if not path.exists():
        bundled = scenario_folder()
        for candidate in (bundled / path.name, bundled / f"{path.name}.yaml"):
            if path.parent == Path(".") and candidate.is_file():
                path = candidate
                break
        else:
            if path.parent == Path("."):
                hint = suggest(path.name.removesuffix(".yaml"), bundled_names())
                names = ", ".join(bundled_names())
                raise ScenarioError(
                    str(path), "", f"file not found, nor a bundled scenario{hint}; bundled: {names}"
                )
    data, sources = _resolve_extends(path, ())
    source = sources[-1]
    data = _with_overrides(data, overrides or [])
    try:
        return validate_data(data, source)
    except ScenarioError as exc:
        keys = [text.partition("=")[0].strip() for text in overrides or []]
        if any(exc.field == k or exc.field.startswith(k + ".") for k in keys):
            raise ScenarioError("--set", exc.field, exc.detail) from None
        timing = [k for k in keys if k in ("weeks", "burn_in_weeks")]
        if timing and exc.detail.startswith("burn_in_weeks"):
            # The option that made the run too short for the file's burn-in is at fault.
            raise ScenarioError(
                "--weeks" if timing[-1] == "weeks" else "--set",
                "" if timing[-1] == "weeks" else timing[-1],
                f"{exc.detail}; give more weeks, or a shorter burn-in with --set burn_in_weeks=N",
            ) from None
        raise


def _with_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    data = copy.deepcopy(data)
    for text in overrides:
        key, value = parse_override(text)
        set_dotted(data, key, value)
    return data


def bundled_scenarios() -> list[Path]:
    """The scenario files shipped with deter-sim (``sim.scenario.bundled``)."""
    return scenario_files()
