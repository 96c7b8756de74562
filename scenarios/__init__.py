"""The bundled scenarios, installed as the data package ``sim.data.scenarios`` (pyproject.toml)."""
