"""Calibration targets, installed as the data package ``sim.data.calibration`` (pyproject.toml)."""
