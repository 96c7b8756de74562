"""History matching with Gaussian-process emulators (Vernon, Goldstein & Bower 2010).

A simulator maps a point ``x`` of an uncertain parameter space to outputs ``f(x)``; each
output is held against an observation ``z`` (a value, or a range that research has
established) with an observation variance that includes the model's discrepancy. A wave runs
the simulator at a space-filling design, fits one emulator per output (a Gaussian process of
scikit-learn with an ARD squared-exponential kernel and a nugget, the nugget being the
variance of one stochastic run) and rules out every point whose *implausibility*

    I_j(x) = d(E[f_j(x)], z_j) / sqrt(Var_emulator_j(x) + Var_observation_j + Var_simulation_j)

exceeds ``CUTOFF`` (3, Pukelsheim's three-sigma rule) for any output ``j``, where ``d`` is the
distance to ``z_j`` (to the nearer end of a range, 0 inside it). The next wave's design fills
the space not ruled out yet (NROY), and its emulators, trained where the space is left, are
sharper there. Waves stop when the NROY space stops shrinking. This module knows nothing of
the model: ``sim.experiments.history`` runs it on the model's patterns.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.linalg import cho_solve
from scipy.stats import qmc

CUTOFF = 3.0
# Candidates drawn per round when looking for points of the NROY space (in chunks).
CANDIDATES = 100_000
CHUNK = 20_000


@dataclass(frozen=True)
class Dimension:
    """An uncertain parameter and the range searched (uniform on a log scale if ``log``)."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"{self.name}: low {self.low} must be below high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.name}: a log-scale range must be above 0")

    def value(self, unit: np.ndarray) -> np.ndarray:
        """Parameter values of points of the unit interval."""
        if self.log:
            return np.exp(np.log(self.low) + unit * (np.log(self.high) - np.log(self.low)))
        return self.low + unit * (self.high - self.low)

    def unit(self, value: np.ndarray) -> np.ndarray:
        """Points of the unit interval of parameter values."""
        value = np.asarray(value, dtype=float)
        if self.log:
            return (np.log(value) - np.log(self.low)) / (np.log(self.high) - np.log(self.low))
        return (value - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class Observation:
    """What an output is held against, on the scale it is emulated on.

    A point observation has ``low == high``; a range is respected anywhere inside it.
    ``variance`` is the observation's (and the model discrepancy's) variance.
    """

    id: str
    low: float
    high: float
    variance: float

    def distance(self, mean: np.ndarray) -> np.ndarray:
        """How far ``mean`` is from the observation (0 inside a range)."""
        centre, half = (self.low + self.high) / 2, (self.high - self.low) / 2
        return np.maximum(np.abs(np.asarray(mean) - centre) - half, 0.0)


class Emulator:
    """An emulator of one output over the unit cube: a linear mean plus a Gaussian process.

    The mean is a least-squares plane (Vernon et al. 2010 use a regression surface), whose
    coefficients' uncertainty adds to the variance; the Gaussian process (ARD squared
    exponential kernel plus a nugget, hyperparameters by maximum likelihood) emulates what
    the plane leaves. The nugget is the variance of one stochastic run.

    Args:
        points: Design points (n, d) in the unit cube.
        values: The output at each point (one stochastic run each).
        seed: Seed of the optimiser's restarts (the fit is deterministic).
    """

    def __init__(self, points: np.ndarray, values: np.ndarray, seed: int = 0) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        self.points = np.asarray(points, dtype=float)
        self.values = np.asarray(values, dtype=float)
        n, d = self.points.shape
        # A plane only when the points leave residual degrees of freedom to the process.
        self.linear = n >= 2 * (d + 1)
        design = self._regressors(self.points)
        if self.linear:
            self.beta, *_ = np.linalg.lstsq(design, self.values, rcond=None)
            self.xtx_inv = np.linalg.pinv(design.T @ design)
        else:
            self.beta = np.array([self.values.mean()])
            self.xtx_inv = np.array([[1.0 / n]])
        residuals = self.values - design @ self.beta
        kernel = ConstantKernel(1.0, (1e-4, 1e4)) * RBF(np.full(d, 0.5), (0.05, 100.0))
        kernel += WhiteKernel(1e-2, (1e-6, 10.0))
        self.gp = GaussianProcessRegressor(
            kernel, normalize_y=True, n_restarts_optimizer=2, random_state=seed
        )
        with warnings.catch_warnings():  # a bound reached is a fit, not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp.fit(self.points, residuals)
        self.residuals = residuals

    def _regressors(self, points: np.ndarray) -> np.ndarray:
        ones = np.ones((len(points), 1))
        return np.hstack([ones, points]) if self.linear else ones

    @property
    def simulation_variance(self) -> float:
        """The nugget: the variance of one run around the emulated mean."""
        return float(self.gp.kernel_.k2.noise_level * self.gp._y_train_std**2)

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Emulated mean and the emulator's own variance (the nugget excluded) at ``points``."""
        design = self._regressors(points)
        mean, sd = self.gp.predict(points, return_std=True)
        plane = np.einsum("ij,jk,ik->i", design, self.xtx_inv, design) * self.simulation_variance
        return design @ self.beta + mean, np.maximum(sd**2 - self.simulation_variance, 0) + plane

    def leave_one_out(self) -> pd.DataFrame:
        """Leave-one-out predictions at the design points, in closed form (Rasmussen 5.4.2).

        The process is left without each point in turn (the plane and the hyperparameters
        kept). ``standardised`` is the error over its predicted sd (nugget included): about
        95% within 2 and none far beyond 3 for an emulator that can be trusted.
        """
        k_inv = cho_solve((self.gp.L_, True), np.eye(len(self.points)))
        scale = float(self.gp._y_train_std)
        sd = scale / np.sqrt(np.diag(k_inv))
        mean = self.values - scale * self.gp.alpha_ / np.diag(k_inv)
        return pd.DataFrame(
            {
                "value": self.values,
                "loo_mean": mean,
                "loo_sd": sd,
                "standardised": (self.values - mean) / sd,
            }
        )


def implausibility(
    emulators: dict[str, Emulator], observations: Sequence[Observation], points: np.ndarray
) -> np.ndarray:
    """Implausibility of each output (columns, in the order of ``observations``) at ``points``."""
    columns = []
    for obs in observations:
        emulator = emulators[obs.id]
        mean, emulator_var = emulator.predict(points)
        total = emulator_var + obs.variance + emulator.simulation_variance
        columns.append(obs.distance(mean) / np.sqrt(total))
    return np.column_stack(columns) if columns else np.zeros((len(points), 0))


@dataclass
class Wave:
    """One wave: its design, the simulator's outputs there, its emulators and what is left.

    Attributes:
        index: 1 for the first wave.
        design: The design points (unit cube), one row per point.
        outputs: The simulator's outputs at the design points (a column per observation).
        emulators: One per observation, trained on every run so far inside this wave's space.
        nroy_fraction: The estimated share of the original space not ruled out after this
            wave (1 before the first).
        extent: The smallest and largest value (unit cube) of each parameter in the space
            left after this wave (rows: low, high).
    """

    index: int
    design: np.ndarray
    outputs: pd.DataFrame
    emulators: dict[str, Emulator] = field(default_factory=dict)
    nroy_fraction: float = 1.0
    diagnostics: pd.DataFrame = field(default_factory=pd.DataFrame)
    extent: np.ndarray = field(default_factory=lambda: np.empty((2, 0)))


def plausible(waves: Sequence[Wave], observations: Sequence[Observation], points: np.ndarray):
    """Whether each point is not ruled out by any wave's emulators."""
    keep = np.ones(len(points), dtype=bool)
    for wave in waves:
        if not keep.any():
            break
        idx = np.flatnonzero(keep)
        worst = implausibility(wave.emulators, observations, points[idx]).max(axis=1)
        keep[idx[worst > CUTOFF]] = False
    return keep


@dataclass
class Region:
    """Candidates of the space left after some waves, and the box they were drawn in.

    Attributes:
        points: Candidates not ruled out (unit cube).
        fraction: Estimated share of the whole space left.
        low, high: The box of the next draw: the candidates' bounding box, widened.
    """

    points: np.ndarray
    fraction: float
    low: np.ndarray
    high: np.ndarray


def whole_space(dimensions: int) -> Region:
    """The space before any wave."""
    return Region(np.empty((0, dimensions)), 1.0, np.zeros(dimensions), np.ones(dimensions))


def sample_plausible(
    waves: Sequence[Wave],
    observations: Sequence[Observation],
    before: Region,
    rng: np.random.Generator,
    candidates: int = CANDIDATES,
    at_least: int = 0,
) -> Region:
    """Candidates of the space not ruled out by ``waves``, drawn in ``before``'s box.

    The space left after a wave lies inside the space left before it, so uniform draws in
    the box of the earlier region estimate its share (the box's volume times the share of
    draws kept). Draws continue (up to ten times ``candidates``) until ``at_least`` are kept.
    """
    kept, drawn = [], 0
    d = len(before.low)
    rounds = max(1, math.ceil(candidates / CHUNK))
    while drawn < 10 * rounds * CHUNK:
        for _ in range(rounds):
            points = before.low + rng.random((CHUNK, d)) * (before.high - before.low)
            kept.append(points[plausible(waves, observations, points)])
        drawn += rounds * CHUNK
        if sum(map(len, kept)) >= at_least:
            break
    points = np.concatenate(kept) if kept else np.empty((0, d))
    fraction = float(np.prod(before.high - before.low)) * len(points) / drawn
    if len(points):
        margin = 0.05 * (points.max(axis=0) - points.min(axis=0)) + 0.01
        low = np.maximum(points.min(axis=0) - margin, 0.0)
        high = np.minimum(points.max(axis=0) + margin, 1.0)
    else:
        low, high = before.low, before.high
    return Region(points, fraction, low, high)


def topped_up(
    matching: Matching,
    observations: Sequence[Observation],
    k: int,
    rng: np.random.Generator,
    draws: int = CANDIDATES,
) -> np.ndarray:
    """``k`` space-filling points of the final space left, drawing more where it has fewer.

    The first are the final region's own (``maximin``, all of them when there are at most
    ``k``); the rest a space-filling choice among new draws in the region's box that no wave
    rules out (at least three times as many as are missing, when the draws find them).
    """
    region = matching.region
    chosen = maximin(region.points, k, rng)
    missing = k - len(chosen)
    if missing <= 0 or not len(region.points):
        return chosen
    more = sample_plausible(matching.waves, observations, region, rng, draws, 3 * missing)
    return np.vstack([chosen, maximin(more.points, missing, rng)])


def maximin(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A space-filling subset of ``k`` points (greedy farthest-point, from a random start)."""
    if len(points) <= k:
        return points
    chosen = [int(rng.integers(len(points)))]
    distance = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return points[np.sort(chosen)]


def first_design(dimensions: int, n: int, seed: int) -> np.ndarray:
    """A Latin hypercube of ``n`` points, optimised for space filling (random-cd)."""
    return qmc.LatinHypercube(d=dimensions, optimization="random-cd", seed=seed).random(n)


def fit_wave(
    wave: Wave, earlier: Sequence[Wave], observations: Sequence[Observation], seed: int
) -> None:
    """Fit the wave's emulators on every run so far that earlier waves did not rule out."""
    runs = [*earlier, wave]
    points = np.concatenate([w.design for w in runs])
    outputs = pd.concat([w.outputs for w in runs], ignore_index=True)
    inside = plausible(earlier, observations, points)
    rows = []
    for obs in observations:
        values = outputs[obs.id].to_numpy(dtype=float)
        use = inside & np.isfinite(values)
        if use.sum() < 3:
            raise ValueError(f"wave {wave.index}: too few runs with a value of {obs.id}")
        emulator = Emulator(points[use], values[use], seed)
        wave.emulators[obs.id] = emulator
        loo = emulator.leave_one_out()
        rows.append(
            {
                "wave": wave.index,
                "output": obs.id,
                "runs": int(use.sum()),
                "simulation_sd": math.sqrt(emulator.simulation_variance),
                "observation_sd": math.sqrt(obs.variance),
                "loo_rmse": float(np.sqrt(np.mean((loo.value - loo.loo_mean) ** 2))),
                "loo_within_2sd": float(np.mean(np.abs(loo.standardised) <= 2)),
                "loo_beyond_3sd": int(np.sum(np.abs(loo.standardised) > 3)),
                "kernel": str(emulator.gp.kernel_),
            }
        )
    wave.diagnostics = pd.DataFrame(rows)


Simulate = Callable[[int, np.ndarray], pd.DataFrame]


@dataclass
class Matching:
    """The waves of a history matching and what they left."""

    waves: list[Wave]
    stopped: str
    region: Region

    @property
    def nroy_fractions(self) -> list[float]:
        """The share of the space left after each wave."""
        return [w.nroy_fraction for w in self.waves]


def history_match(
    dimensions: Sequence[Dimension],
    observations: Sequence[Observation],
    simulate: Simulate,
    *,
    wave_size: int,
    max_waves: int,
    seed: int,
    stop_ratio: float = 0.8,
    candidates: int = CANDIDATES,
    on_wave: Callable[[Wave], None] | None = None,
) -> Matching:
    """Run waves until the space left stops shrinking (or is empty, or ``max_waves``).

    Each wave's design is a space-filling set of ``wave_size`` points of the space left, a
    tenth of them (at least two) run twice, on other seeds, so that the emulators can tell
    the noise of a run from the shape of the output.

    Args:
        dimensions: The uncertain parameters.
        observations: The outputs matched (the simulator returns a column for each id).
        simulate: Called with the wave's number and its design (unit cube); returns the
            outputs, one row per design point (NaN where a run gave no value). It may read
            earlier results from disk: the designs are fixed by ``seed`` and the outputs.
        wave_size: Design points per wave, repeats included.
        max_waves: Most waves.
        seed: Fixes every design and every fit.
        stop_ratio: Stop once a wave keeps more than this share of the space it started with.
        candidates: Candidates drawn to find the space left (more: a finer estimate).
        on_wave: Called with each finished wave.

    Returns:
        The waves, the space left after the last, and why they stopped.
    """
    d = len(dimensions)
    rng = np.random.default_rng(seed)
    repeats = max(2, wave_size // 10)
    waves: list[Wave] = []
    region = whole_space(d)
    stopped = f"{max_waves} waves run"
    for index in range(1, max_waves + 1):
        fresh = wave_size - repeats
        design = maximin(region.points, fresh, rng) if waves else first_design(d, fresh, seed)
        design = np.vstack([design, design[:repeats]])
        outputs = simulate(index, design).reset_index(drop=True)
        wave = Wave(index, design, outputs)
        fit_wave(wave, waves, observations, seed)
        waves.append(wave)
        before = region.fraction
        region = sample_plausible(waves, observations, region, rng, candidates, wave_size)
        wave.nroy_fraction = region.fraction
        if len(region.points):
            wave.extent = np.vstack([region.points.min(axis=0), region.points.max(axis=0)])
        if on_wave:
            on_wave(wave)
        if region.fraction == 0:
            stopped = f"wave {index} ruled out the whole space"
            break
        if len(waves) > 1 and region.fraction > stop_ratio * before:
            stopped = (
                f"wave {index} kept {region.fraction / before:.0%} of the space left by "
                f"wave {index - 1} (more than {stop_ratio:.0%}): the space stopped shrinking"
            )
            break
    return Matching(waves, stopped, region)


def to_values(dimensions: Sequence[Dimension], unit: np.ndarray) -> pd.DataFrame:
    """The parameter values of unit-cube points, a column per dimension."""
    return pd.DataFrame({dim.name: dim.value(unit[:, j]) for j, dim in enumerate(dimensions)})


def to_unit(dimensions: Sequence[Dimension], values: pd.DataFrame) -> np.ndarray:
    """Unit-cube points of parameter values."""
    return np.column_stack([dim.unit(values[dim.name].to_numpy()) for dim in dimensions])
