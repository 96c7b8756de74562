"""Experiments: runs of the model and the tables they give.

The runner, batches, sweeps, sensitivity, calibration, validation experiments and comparisons,
all behind one execution layer. Nothing here draws figures (``sim.reporting`` does).
"""
