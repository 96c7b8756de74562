"""The README's Python example runs as a script without a guard and from standard input.

Workers use "spawn", which runs the main program again: the runner notices when it cannot
(no file, or no ``if __name__ == "__main__":`` guard) and runs serially with a warning.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import DETER_SIM, ROOT

SMALL = '"population.sellers=1500", "weeks=30", "burn_in_weeks=10", "replications=2", '


def readme_example() -> str:
    """The README's first Python block, shrunk to a small population."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(import sim\n\nscenario = .*?)```", text, re.S).group(1)
    assert 'sim.load_scenario("strict", [' in block
    return block.replace('sim.load_scenario("strict", [', f'sim.load_scenario("strict", [{SMALL}')


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("readme")
    done = subprocess.run(
        [DETER_SIM, "run", "baseline_2016", "--set", "population.sellers=1500", "--weeks", "30",
         "--set", "burn_in_weeks=10", "-r", "2", "--out", str(out / "results" / "baseline_2016")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize(
    "how",
    [pytest.param("script", marks=pytest.mark.slow), "stdin"],  # about 10 s each
)
def test_the_python_example_runs_without_a_guard(folder, how):
    code = readme_example() + "\nprint(comparison.table.shape[0] > 0)\n"
    script = folder / "example.py"
    script.write_text(code)
    args = [sys.executable, str(script)] if how == "script" else [sys.executable, "-"]
    done = subprocess.run(
        args,
        input=code if how == "stdin" else None,
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("True")
    assert "runs serially" in done.stderr and "Traceback" not in done.stderr
    assert (folder / "results" / "strict_08" / "summary.csv").is_file()


@pytest.mark.slow  # about 15 s: two spawned workers
def test_a_guarded_script_uses_worker_processes(folder):
    code = "if __name__ == '__main__':\n" + "".join(
        f"    {line}\n" for line in readme_example().splitlines()
    )
    script = folder / "guarded.py"
    script.write_text(code.replace('results.save("results/strict_08")', "pass"))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "runs serially" not in done.stderr
