"""deter-sim: an agent-based simulation of counterfeit-deterrence policy.

The Python API used by the command line and by notebooks::

    import sim
    scenario = sim.load_scenario("strict", ["enforcement.prosecution_rate=0.9"])
    results = sim.run_scenario(scenario, workers=2)
    results.summary_stats

The names below are imported on first use, so that ``import sim.model.rules`` (numpy only) or
``deter-sim --help`` do not load the model, pandas and the runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim._version import __version__

_EXPORTS = {
    "DeterSimError": "sim.errors",
    "ScenarioError": "sim.errors",
    "Scenario": "sim.scenario",
    "load_scenario": "sim.scenario",
    "DeterrenceModel": "sim.model.model",
    "Results": "sim.experiments.runner",
    "run_replication": "sim.experiments.runner",
    "run_scenario": "sim.experiments.runner",
    "compare": "sim.experiments.compare",
}

__all__ = [
    "DeterSimError",
    "DeterrenceModel",
    "Results",
    "Scenario",
    "ScenarioError",
    "__version__",
    "compare",
    "load_scenario",
    "run_replication",
    "run_scenario",
]

if TYPE_CHECKING:
    from sim.errors import DeterSimError, ScenarioError
    from sim.experiments.runner import Results, run_replication, run_scenario
    from sim.model.model import DeterrenceModel
    from sim.scenario import Scenario, load_scenario


def __getattr__(name: str) -> Any:
    """Import a public name of the API on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
