"""``deter-sim explore``: what it refuses before starting the page (the installed command).

The page itself is driven in a real browser by ``tests/model/test_app.py`` (integration).
"""

from __future__ import annotations

from helpers import deter_sim


def test_an_unknown_scenario_is_one_line_and_exit_code_2(tmp_path):
    done = deter_sim("explore", "no_such_scenario", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: no_such_scenario: file not found")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_bad_override_is_refused_before_the_page_starts(tmp_path):
    done = deter_sim("explore", "--set", "enforcement.prosecution_rate=2", cwd=tmp_path)
    assert done.returncode == 2
    assert "enforcement.prosecution_rate" in done.stderr and "Traceback" not in done.stderr


def test_the_page_is_bound_to_this_machine_by_default():
    done = deter_sim("explore", "--help")
    assert done.returncode == 0
    assert "127.0.0.1" in done.stdout
