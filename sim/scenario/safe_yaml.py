"""Safe YAML: duplicate keys refused, alias bombs and recursive aliases refused before building.

Only ``yaml.SafeLoader`` is used (no Python objects from YAML); a document is composed first and
its size with every alias expanded is counted on the node graph before it is constructed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate keys."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from exc
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

MAX_YAML_VALUES = 100_000  # values a scenario file may expand to, aliases followed


def safe_load(text: str) -> Any:
    """Load YAML safely, refusing alias bombs ("billion laughs") and recursive aliases.

    The document is composed first; its size with every alias expanded is counted on the node
    graph (without building it), and only a document of at most ``MAX_YAML_VALUES`` values is
    constructed.
    """
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    except RecursionError:
        raise Unreadable("it is nested too deeply (hundreds of levels)") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise Unreadable(f"a value cannot be read ({str(exc).split(';')[0]})") from None
    finally:
        loader.dispose()


class Unreadable(yaml.YAMLError):
    """A document PyYAML parses but cannot build safely; ``problem`` says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = None


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int]) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise yaml.composer.ComposerError(
            None, None, "recursive alias (a value that contains itself)", node.start_mark
        )
    open_nodes.add(key)
    if isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    elif isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    else:
        children = []
    size = 1 + sum(_expanded_size(child, sizes, open_nodes) for child in children)
    open_nodes.discard(key)
    if size > MAX_YAML_VALUES:
        raise yaml.composer.ComposerError(
            None,
            None,
            f"expands to more than {MAX_YAML_VALUES:,} values through aliases (an alias "
            "bomb?); write the values out",
            node.start_mark,
        )
    sizes[key] = size
    return size


def load_model_file(path: str | Path, model: type[M], what: str) -> M:
    """Read a YAML file and validate it as ``model`` (a targets or patterns file).

    Args:
        path: The file.
        model: The pydantic model of its content.
        what: What the file is, for messages ("targets file").

    Raises:
        ScenarioError: the file is missing, not UTF-8 YAML, or invalid (the message names the
            file, the field and what is allowed).
    """
    from sim.errors import ScenarioError

    path = Path(path)
    source = str(path)
    if not path.is_file():
        detail = f"{what} not found" if not path.exists() else f"is not a file (a YAML {what})"
        raise ScenarioError(source, "", detail)
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(source, "", "is not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(source, "", f"invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ScenarioError(source, "", f"a mapping is expected (a YAML {what})")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ScenarioError(source, field, message) from None
