"""The commands of ``deter-sim``, one module per group, registered on ``sim.cli.app.app``."""
