"""Refinement of history matching's candidates: a Gauss-Newton step towards the figures.

A candidate that misses a fitted figure takes one step on the parameters the patterns file
lists under ``refine`` (the rates the figures pin), along the figures' log-linear slopes fitted
over every wave's design points (``figure_slopes``); a candidate stepped before has its slopes
corrected by Broyden's update (``broyden``). ``sim.experiments.history`` runs the rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.errors import DeterSimError
from sim.experiments.matching import to_unit, to_values
from sim.experiments.patterns import PatternSet, emulated

MAX_STEP = 0.25  # the largest move of one refined parameter in one step, on the unit cube


class TooFewRunsError(DeterSimError):
    """Too many runs of a wave failed for its emulators (or the slopes) to be trusted."""


@dataclass(frozen=True)
class Slopes:
    """The fitted figures' log-linear slopes in the refined parameters.

    ``matrix[j, k]``: the change of figure j on its emulated scale per unit of refined
    parameter k on the unit cube; ``table``: the slopes with each fit's R^2 and residual
    standard deviation (one row per figure).
    """

    matrix: np.ndarray
    columns: list[int]
    table: pd.DataFrame


def figure_slopes(patterns: PatternSet, design: pd.DataFrame) -> Slopes:
    """Least-squares slopes of the fitted figures over every wave's design points.

    Each figure on its emulated scale (log for counts) is regressed on all the uncertain
    parameters on the unit cube (log-scale ranges are linear in the log), with an intercept,
    over the design points where every figure was measured.
    """
    figures, dims = patterns.figures, patterns.dimensions
    outputs = np.column_stack([emulated(p, design[p.id].to_numpy(float)) for p in figures])
    ok = np.isfinite(outputs).all(axis=1)
    unit = to_unit(dims, design.loc[ok, patterns.fields].reset_index(drop=True))
    if ok.sum() <= unit.shape[1] + 1:
        raise TooFewRunsError(
            f"refinement needs more than {unit.shape[1] + 1} design points with every figure "
            f"measured, not {int(ok.sum())}"
        )
    x = np.column_stack([np.ones(len(unit)), unit])
    coef, *_ = np.linalg.lstsq(x, outputs[ok], rcond=None)
    residuals = outputs[ok] - x @ coef
    columns = [patterns.fields.index(f) for f in patterns.refine]
    matrix = coef[1:][columns].T
    table = pd.DataFrame(matrix, columns=patterns.refine)
    table.insert(0, "pattern", [p.id for p in figures])
    table["r2"] = 1 - residuals.var(axis=0) / outputs[ok].var(axis=0)
    table["residual_sd"] = residuals.std(axis=0)
    table["points"] = int(ok.sum())
    return Slopes(matrix, columns, table)


def to_refine(patterns: PatternSet, table: pd.DataFrame) -> pd.DataFrame:
    """The candidates of a round that a refinement step may fix.

    Those not kept that miss at least one fitted figure and have every figure measured (a
    candidate that misses only a range pattern has nothing for the step to aim at).
    """
    figures = patterns.figures
    measured = np.isfinite(table[[p.id for p in figures]].to_numpy(float)).all(axis=1)
    missed = ~table[[f"{p.id}_met" for p in figures]].to_numpy(bool).all(axis=1)
    return table[~table.kept.to_numpy(bool) & measured & missed].reset_index(drop=True)


@dataclass(frozen=True)
class Track:
    """A refined candidate's slopes and where its last step started.

    ``unit``: its refined coordinates on the unit cube; ``figures``: its figures on their
    emulated scale.
    """

    matrix: np.ndarray
    unit: np.ndarray
    figures: np.ndarray


def refined(
    patterns: PatternSet,
    table: pd.DataFrame,
    slopes: Slopes,
    tracks: dict[int, Track] | None = None,
) -> pd.DataFrame:
    """Each candidate of ``table`` after one Gauss-Newton step towards the fitted figures.

    The step is the least-squares (minimum-norm) solution of ``matrix @ step = observed -
    measured`` on the figures' emulated scale, taken on the unit cube, shortened so that no
    parameter moves more than ``MAX_STEP`` of its range, and kept inside the ranges searched.
    ``matrix`` starts as the slopes fitted over the waves; a candidate stepped before (in
    ``tracks``, by its ``candidate`` number) has it corrected by Broyden's update with what
    its last step did to its figures. ``tracks`` is updated with this step.

    Returns:
        The parameters, one row per candidate.
    """
    figures, dims = patterns.figures, patterns.dimensions
    tracks = {} if tracks is None else tracks
    unit = to_unit(dims, table[patterns.fields])
    target = np.array([(o.low + o.high) / 2 for o in (p.observation() for p in figures)])
    measured = np.column_stack([emulated(p, table[p.id].to_numpy(float)) for p in figures])
    numbers = table["candidate"] if "candidate" in table else pd.Series(range(len(table)))
    for i, number in enumerate(numbers.to_numpy(int)):
        here, now = unit[i, slopes.columns].copy(), measured[i]
        track = tracks.get(number)
        matrix = slopes.matrix if track is None else broyden(track, here, now)
        step, *_ = np.linalg.lstsq(matrix, target - now, rcond=None)
        step *= min(1.0, MAX_STEP / max(float(np.abs(step).max()), 1e-12))
        unit[i, slopes.columns] = np.clip(here + step, 0.0, 1.0)
        tracks[number] = Track(matrix, here, now)
    return to_values(dims, unit)


def broyden(track: Track, unit: np.ndarray, figures: np.ndarray) -> np.ndarray:
    """Broyden's (1965) rank-one update of ``track``'s slopes by the step that led to ``unit``.

    The updated slopes reproduce the change of the figures over the step exactly and are
    unchanged across it.
    """
    moved = unit - track.unit
    length = float(moved @ moved)
    if length == 0.0:
        return track.matrix
    change = figures - track.figures
    return track.matrix + np.outer(change - track.matrix @ moved, moved) / length
