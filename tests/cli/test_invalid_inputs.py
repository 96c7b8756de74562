"""The corpus of invalid scenario files (``tests/invalid/``): every command answers each with
exit code 2, one clear line naming the file and the problem, no traceback, and writes nothing.

``tests/invalid/expected.json`` maps each file to a fragment its message must contain.
"""

from __future__ import annotations

import json
import subprocess

import pytest
from helpers import DETER_SIM, TESTS
from typer.testing import CliRunner

from sim.cli.main import load_app

app = load_app()  # the deter-sim app with every command registered

CORPUS = TESTS / "invalid"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())

COMMANDS = {
    "run": ["run", "{file}", "--out", "{out}"],
    "sweep": ["sweep", "{file}", "--grid", "enforcement.prosecution_rate=0.5", "--out", "{out}"],
    "sensitivity": [
        "sensitivity",
        "{file}",
        "--param",
        "platform.detection_rate=0.1:0.3",
        "--out",
        "{out}",
    ],
    "compare": ["compare", "strict", "{file}", "--out", "{out}"],
    "brief": ["brief", "strict", "{file}", "-o", "{out}/brief.pdf", "--out", "{out}"],
}


def test_the_corpus_has_at_least_40_files_each_with_its_message():
    assert len(EXPECTED) >= 40
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "expected.json"}
    assert on_disk == set(EXPECTED) - {"missing_file.yaml"}


# The installed command in a subprocess for a sample of the corpus (each start costs about a
# second); every file goes through every command in process below.
SAMPLE = sorted(EXPECTED)[::3]


@pytest.mark.parametrize("name", SAMPLE)
def test_validate_with_the_installed_command(name):
    done = subprocess.run(
        [DETER_SIM, "validate", name], cwd=CORPUS, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert name.split(".")[0] in lines[0] and EXPECTED[name] in lines[0], lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_command_refuses_it_and_writes_nothing(command, name, tmp_path, monkeypatch):
    monkeypatch.chdir(CORPUS)
    out = tmp_path / "out"
    args = [a.format(file=name, out=out) for a in COMMANDS[command]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    expected = EXPECTED[name]
    if command in ("compare", "brief") and name == "a_directory.yaml":
        expected = "not a result folder"  # these commands read folders as results of `run`
    assert expected in result.output and "Traceback" not in result.output
    assert not out.exists()
