"""Data shipped with deter-sim, installed from the root folders of the repository.

``sim.data.scenarios`` is the folder ``scenarios/`` (the bundled scenarios) and
``sim.data.calibration`` the folder ``calibration/`` (the observed 2016 figures): the packaging
maps them here without moving them (``pyproject.toml``), so a checkout, an editable install and
a wheel all find them with ``importlib.resources``. ``sim.scenario.bundled`` reads them.
"""
