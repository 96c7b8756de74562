"""The package as installed: its package list, its data found by name from any folder.

The bundled scenarios and calibration files stay in the root folders ``scenarios/`` and
``calibration/`` and are installed as the data packages ``sim.data.scenarios`` and
``sim.data.calibration`` (``pyproject.toml``). A wheel installed outside the checkout is tried
by ``.ci/wheel-smoke`` (``make test-wheel``).
"""

from __future__ import annotations

import tomllib

from helpers import BUNDLED, ROOT, deter_sim

from sim.scenario.bundled import calibration_file, calibration_folder, scenario_folder

DATA_PACKAGES = {"sim.data.scenarios": "scenarios", "sim.data.calibration": "calibration"}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_package_list_names_every_package_under_sim():
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "sim").rglob("__init__.py")
    }
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    assert listed == on_disk | set(DATA_PACKAGES)


def test_the_data_packages_are_the_root_folders():
    assert pyproject()["tool"]["setuptools"]["package-dir"] == DATA_PACKAGES


def test_a_checkout_reads_its_own_scenario_and_calibration_folders():
    assert scenario_folder().resolve() == (ROOT / "scenarios").resolve()
    assert calibration_folder().resolve() == (ROOT / "calibration").resolve()
    assert calibration_file("targets_2016.yaml").is_file()


def test_bundled_names_are_found_from_any_folder(tmp_path):
    listed = deter_sim("scenarios", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert all(name in listed.stdout for name in BUNDLED)
    checked = deter_sim("validate", "strict", "baseline_2016.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr


def test_python_3_11_and_later_may_install_it():
    assert pyproject()["project"]["requires-python"] == ">=3.11"
    mesa = [d for d in pyproject()["project"]["dependencies"] if d.lower().startswith("mesa")]
    assert mesa == ["mesa[network]>=3.3.1,<4"]


def test_exact_pins_live_only_in_the_constraints():
    dependencies = pyproject()["project"]["dependencies"]
    assert not [d for d in dependencies if "==" in d]
    pins = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    assert 'Mesa==3.3.1; python_version < "3.12"' in pins
