"""The package's architecture, read from its source: layers, no import circles, no private names.

Every ``import`` and ``from ... import`` of every module of ``sim`` is read with ``ast``, at
module level and inside functions alike. Imports under ``if TYPE_CHECKING:`` are left out: they
never run, and exist only so that type hints can name a class of a module above.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sim"

# Each layer may import the layers before it in this list, and itself.
LAYERS = ("base", "scenario", "model", "experiments", "reporting", "cli")
BASE = {"sim", "sim._version", "sim.errors", "sim.__main__", "sim.data"}
# The one deliberate exception to the layers: the explore page (Mesa's convention puts it in
# ``app.py`` beside the model) calls the runner for its full-scale button, so that its results
# are exactly those of ``deter-sim run``. Nothing may import the page (checked below).
EXCEPTIONS = {"sim.model.app": ("experiments",)}


def allowed_exception(source: str, target: str) -> bool:
    return layer(target) in EXCEPTIONS.get(source, ())


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    if module in BASE:
        return "base"
    return module.split(".")[1]


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """Line numbers of the statements inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
            (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
            or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
        ):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def imports(path: Path, known: set[str]) -> list[tuple[str, str, int]]:
    """``(module imported, name imported or "", line)`` for each import of a ``sim`` module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_blocks(tree)
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, "", node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in known:  # ``from sim.model import rules`` imports a module
                    found.append((submodule, "", node.lineno))
                else:
                    found.append((node.module, alias.name, node.lineno))
    return [(m, name, line) for m, name, line in found if m == "sim" or m.startswith("sim.")]


def graph() -> dict[str, set[str]]:
    known = set(modules())
    edges: dict[str, set[str]] = {}
    for name, path in modules().items():
        edges[name] = {target for target, _, _ in imports(path, known) if target != name}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of its modules, or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if colour.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if colour.get(target) is None:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(edges):
        if colour.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def test_the_package_has_no_import_circle():
    cycle = find_cycle(graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_circle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_each_layer_imports_only_the_layers_below_it():
    wrong = []
    for source, targets in graph().items():
        if source in ("sim", "sim.__main__"):
            continue  # the lazy re-exports and ``python -m sim`` sit on top
        for target in targets:
            if target == "sim":
                wrong.append(f"{source} imports the package sim (use sim._version or the module)")
            elif allowed_exception(source, target):
                continue
            elif LAYERS.index(layer(target)) > LAYERS.index(layer(source)):
                wrong.append(f"{source} ({layer(source)}) imports {target} ({layer(target)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_the_model_imports_nothing_above_it():
    for source, targets in graph().items():
        if layer(source) == "model":
            above = [
                t
                for t in targets
                if layer(t) in ("experiments", "reporting", "cli")
                and not allowed_exception(source, t)
            ]
            assert not above, f"{source} imports {above}"


def test_nothing_imports_the_exceptions():
    importers = [s for s, targets in graph().items() if set(EXCEPTIONS) & targets]
    assert not importers, f"{importers} import a layer exception ({', '.join(EXCEPTIONS)})"


def test_no_module_imports_a_private_name_of_another():
    known = set(modules())
    wrong = []
    for source, path in modules().items():
        for target, name, line in imports(path, known):
            private_module = any(p.startswith("_") for p in target.split(".")[1:])
            if name.startswith("_") and name != "__version__":
                wrong.append(f"{source}:{line} imports {target}.{name}")
            elif private_module and target != "sim._version":
                wrong.append(f"{source}:{line} imports the private module {target}")
    assert not wrong, "\n".join(wrong)


def test_no_module_is_longer_than_about_600_lines():
    # The parameter table (one line per parameter and its metadata) is the one exception.
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 650
        and name != "sim.scenario.schema"
    }
    assert not long, long


def test_the_checks_see_imports_inside_functions(tmp_path):
    source = tmp_path / "sim" / "model" / "thing.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sim.cli.app import app\n"
        "def f():\n    from sim.experiments.runner import _private\n",
        encoding="utf-8",
    )
    found = imports(source, set())
    assert found == [("sim.experiments.runner", "_private", 5)]


@pytest.mark.parametrize(
    ("statement", "heavy"),
    [
        ("import sim.model.rules", ("pandas", "mesa", "sim.experiments.runner")),
        ("import sim", ("pandas", "mesa", "numpy", "sim.experiments.runner")),
        ("import sim.cli.main", ("pandas", "mesa", "numpy", "matplotlib", "scipy")),
    ],
)
def test_light_imports_stay_light(statement, heavy):
    code = f"import sys; {statement}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"`{statement}` loads {loaded}"
