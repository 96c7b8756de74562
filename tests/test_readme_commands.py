"""Every ``deter-sim`` command in the README's shell blocks runs, at a small scale.

The commands are read from README.md, so the command a reader copies is the command tested.
Each runs as written, in order, in one scratch folder that sees the repository's
``scenarios/`` and ``calibration/``, with options appended that shrink the runs (400 sellers,
a 10-week burn-in, 40 weeks; the last ``--set`` of a field wins). A few commands are not run
here, each for the reason given in ``NOT_HERE``; the test fails if one of those disappears
from the README, so the list cannot go stale.
"""

from __future__ import annotations

import re
import shlex

import pytest
from helpers import ROOT, deter_sim

pytestmark = pytest.mark.slow  # about 4 minutes: twenty small commands

SHRINK = ["--set", "population.sellers=400", "--set", "burn_in_weeks=10"]
WEEKS = ["--weeks", "40"]
# Commands that take --set and --weeks (intervention and hysteresis set their own weeks from
# the weeks they are given and their path; plot, validate, schema and scenarios run nothing).
SCALED = {
    "run",
    "compare",
    "brief",
    "sweep",
    "sensitivity",
    "targets",
    "elasticity",
    "lever-map",
    "robust",
}
NOT_HERE = {
    "deter-sim explore": "a web server: tests/model/test_app.py drives the page in a real "
    "browser (make test-integration)",
    "--address tcp://scheduler-host:8786": "needs a remote Dask scheduler; the Dask backend is "
    "tested on a local cluster (tests/experiments/test_execution.py)",
    "calibrate baseline_2016 -r 4": "the least-squares fit iterates until it meets the targets "
    "(hours at full scale); tests/experiments/test_calibrate.py runs it small",
    "--method history-matching": "waves of runs (hours at full scale); "
    "tests/experiments/test_history.py runs it small and resumes it",
    "--ensemble calibration/ensemble_2016.csv": "each set of the ensemble fixes its own "
    "population (150,000 to 400,000 sellers), so --set cannot shrink these runs (200 "
    "full-scale runs; the README gives their time); tests/experiments/test_ensemble.py runs "
    "compare --ensemble and tests/experiments/test_robust.py runs robust on small ensembles",
}


def readme_commands() -> list[str]:
    """The ``deter-sim`` command lines of the README's ``sh`` blocks, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("deter-sim "):
                commands.append(" ".join(line.split()))
    return commands


COMMANDS = readme_commands()
RUN_HERE = [c for c in COMMANDS if not any(skip in c for skip in NOT_HERE)]


def test_the_readme_lists_the_commands_not_run_here():
    assert len(COMMANDS) > 20
    for skip in NOT_HERE:
        assert any(skip in c for c in COMMANDS), f"{skip!r} is no longer in the README"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A scratch folder with the repository's scenarios and calibration files, and a
    ``my_scenario.yaml`` for the README's ``validate`` example."""
    out = tmp_path_factory.mktemp("readme-commands")
    for name in ("scenarios", "calibration"):
        (out / name).symlink_to(ROOT / name, target_is_directory=True)
    (out / "my_scenario.yaml").write_text(
        "name: my_scenario\nextends: strict\nenforcement:\n  max_sentence_years: 5\n",
        encoding="utf-8",
    )
    return out


@pytest.mark.parametrize("command", RUN_HERE, ids=[c[10:60] for c in RUN_HERE])
def test_a_readme_command_runs(folder, command):
    args = shlex.split(command)[1:]
    if args[0] in SCALED:
        args += SHRINK + WEEKS
    elif args[0] in ("intervention", "hysteresis"):
        args += SHRINK
    done = deter_sim(*args, cwd=folder, timeout=900)
    assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
