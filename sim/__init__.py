"""deter-sim: an agent-based simulation of counterfeit-deterrence policy.

The Python API used by the command line and by notebooks::

    import sim
    scenario = sim.load_scenario("scenarios/strict.yaml", ["enforcement.prosecution_rate=0.9"])
    results = sim.run_scenario(scenario, workers=2)
    results.summary_stats
"""

__version__ = "0.1.0"

from sim.errors import ScenarioError
from sim.runner import Results, run_replication, run_scenario
from sim.scenario import Scenario, load_scenario

__all__ = [
    "Results",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "run_replication",
    "run_scenario",
]
