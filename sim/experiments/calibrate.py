"""Calibration to observed figures by the simulated method of moments (``deter-sim calibrate``).

The moments are the log ratios of the model's mean yearly figures to the ``fit`` targets of a
targets file (``sim.experiments.targets``): relative errors, equally weighted. They are
evaluated on common random numbers (the same replication seeds at every trial point, so the
objective is a deterministic function of the parameters) and minimised over the log
parameters within bounds by SciPy's trust-region reflective least-squares solver
(``scipy.optimize.least_squares``, method ``trf``). Its Jacobian is a forward difference whose
trial points run as one batch, in parallel, through the execution layer
(``sim.experiments.batch``), so every evaluation is stored and a stopped calibration resumes
where it stopped. Only the parameters move; model outputs are never rescaled.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim._version import __version__
from sim.errors import DeterSimError, OptionError
from sim.experiments.batch import Batch
from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import claim_batch_folder
from sim.experiments.provenance import manifest
from sim.experiments.store import write_json, write_table, write_text
from sim.experiments.targets import Target, TargetSet, target_table
from sim.model.streams import replication_seeds
from sim.scenario import Scenario, apply_changes, field_value, is_int_field, resolved_yaml

# The parameters that no source fixes, one per 2016 figure. Referral, prosecution and
# conviction rates are identified by referrals, cases pursued and convictions almost one to
# one; strikes move the listings removed; detection is identified only weakly, through
# deterrence, and stores closed hardly respond to any of them (docs/VALIDATION.md 1.2).
# Bounds are those searched.
DEFAULT_PARAMS: tuple[tuple[str, float, float], ...] = (
    ("platform.detection_rate", 0.01, 1.0),
    ("platform.strike_per_takedown", 1e-4, 0.1),
    ("platform.referral_rate", 0.01, 1.0),
    ("enforcement.prosecution_rate", 0.01, 1.0),
    ("enforcement.conviction_rate", 1e-3, 1.0),
)
MARKER = "calibration.json"


class RunFailedError(DeterSimError):
    """A run of a trial point failed: the objective cannot be evaluated there."""


@dataclass
class Calibration:
    """What a calibration found."""

    scenario: Scenario
    start: dict[str, float]
    fitted: dict[str, float]
    table: pd.DataFrame
    history: pd.DataFrame
    converged: bool
    message: str
    out: Path
    wall_seconds: float

    @property
    def evaluations(self) -> int:
        """Trial points evaluated."""
        return len(self.history)


def check_params(
    base: Scenario, targets: TargetSet, params: list[tuple[str, float, float]]
) -> dict[str, float]:
    """Check the fitted parameters against the targets and the scenario; return their start.

    Raises:
        OptionError: no fitted target, more parameters than fitted targets, a lower bound
            not above 0, or the scenario's value outside the bounds.
    """
    fitted = targets.fitted
    if not fitted:
        raise OptionError("targets", "", "no target has use: fit")
    if len(params) > len(fitted):
        raise OptionError(
            "--param",
            "",
            f"{len(params)} parameters cannot be identified by {len(fitted)} fitted targets; "
            "fit at most as many parameters as targets",
        )
    start = {}
    for name, lo, hi in params:
        if lo <= 0:
            raise OptionError(
                "--param", name, "the lower bound must be above 0 (the search is over logs)"
            )
        value = float(field_value(base, name))
        if not lo <= value <= hi:
            raise OptionError(
                "--param", name, f"the scenario's value {value:g} is outside {lo:g}:{hi:g}"
            )
        start[name] = value
    return start


class Objective:
    """The moments at trial points: runs them as batches, remembers every evaluation.

    Args:
        base: The scenario calibrated.
        fitted: The fitted targets.
        names: The fitted parameters (dotted fields).
        out: The calibration folder (evaluations go to ``out/evaluations/NNNN``).
        options: How to execute the runs.
        resume: Reuse evaluations already on disk.
        on_evaluation: Called with each trial point's record.
        on_runs: Progress of the runs of the current batch (finished, in all).
    """

    def __init__(
        self,
        base: Scenario,
        fitted: list[Target],
        names: list[str],
        out: Path,
        options: ExecutionOptions,
        resume: bool,
        on_evaluation: Callable[[dict[str, Any]], None] | None = None,
        on_runs: Callable[[int, int], None] | None = None,
    ) -> None:
        self.base, self.fitted, self.names, self.out = base, fitted, names, out
        self.options, self.resume = options, resume
        self.on_evaluation, self.on_runs = on_evaluation, on_runs
        self.goal = np.array([t.value for t in fitted])
        self.residuals: dict[tuple, np.ndarray] = {}
        self.stats: dict[tuple, pd.DataFrame] = {}
        self.history: list[dict[str, Any]] = []
        self.batches = 0

    def changes(self, x: np.ndarray) -> dict[str, Any]:
        """The parameter values of a point ``x`` of log parameters (integers rounded)."""
        values = {}
        for name, v in zip(self.names, np.exp(x), strict=True):
            values[name] = round(float(v)) if is_int_field(name) else float(v)
        return values

    def residuals_of(self, stats: pd.DataFrame) -> np.ndarray:
        """Log ratios of the model's means to the targets."""
        means = stats.set_index("metric")["mean"]
        model = np.array([means[t.metric] for t in self.fitted])
        return np.log(np.maximum(model, self.goal * 1e-6) / self.goal)

    def evaluate(self, points: list[np.ndarray], kind: str, pool: Any) -> list[np.ndarray]:
        """Residuals at ``points``; the points not seen yet run as one batch.

        Raises:
            RunFailedError: a run failed.
        """
        wanted = [x for x in points if key(x) not in self.residuals]
        if wanted:
            self._run(wanted, kind, pool)
        return [self.residuals[key(x)] for x in points]

    def _run(self, wanted: list[np.ndarray], kind: str, pool: Any) -> None:
        folder = self.out / "evaluations" / f"{self.batches:04d}"
        self.batches += 1
        labels = [(f"{kind}-{i}", self.changes(x)) for i, x in enumerate(wanted)]
        batch = Batch(
            folder,
            "calibration",
            self.base,
            labels,
            self.base.replications,
            {"kind": kind},
            self.options.engine,
        )
        batch.prepare(resume=self.resume, force=False)
        index = batch.execute(pool, self.on_runs)
        if index.status.ne("ok").any():
            first = index[index.status.ne("ok")].iloc[0]
            raise RunFailedError(f"{folder}: a run failed ({first.error}); see run_index.csv")
        stats = batch.point_statistics()
        for point, x in enumerate(wanted):
            point_stats = stats[stats.point == point].drop(columns=["point"])
            self._record(x, kind, folder.name, point_stats)

    def _record(self, x: np.ndarray, kind: str, folder: str, stats: pd.DataFrame) -> None:
        r = self.residuals_of(stats)
        self.residuals[key(x)] = r
        self.stats[key(x)] = stats
        record = {"evaluation": len(self.history), "kind": kind, "folder": folder}
        record |= self.changes(x)
        record |= {f"error_{t.id}": math.expm1(v) for t, v in zip(self.fitted, r, strict=True)}
        record["cost"] = 0.5 * float(np.sum(r**2))
        self.history.append(record)
        if self.on_evaluation:
            self.on_evaluation(record)

    def best(self) -> tuple:
        """The point evaluated with the smallest cost (any trial or Jacobian point)."""
        return min(self.residuals, key=lambda k: float(np.sum(self.residuals[k] ** 2)))


def solve(
    objective: Objective,
    x0: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    tolerance: float,
    max_evaluations: int,
    step: float,
) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """Minimise the moments from ``x0`` with ``least_squares`` (trf), a batch per Jacobian.

    Returns:
        The solver's message and the Jacobians it computed (point, matrix).
    """
    from scipy.optimize import least_squares

    jacobians: list[tuple[np.ndarray, np.ndarray]] = []
    with objective.options.executor() as pool:

        def fun(x: np.ndarray) -> np.ndarray:
            return objective.evaluate([x], "trial", pool)[0]

        def jac(x: np.ndarray) -> np.ndarray:
            f0 = fun(x)
            steps = np.where(x + step <= bounds[1], step, -step)
            shifted = [x + np.eye(len(x))[j] * steps[j] for j in range(len(x))]
            columns = objective.evaluate(shifted, "jacobian", pool)
            matrix = np.column_stack([(fj - f0) / s for fj, s in zip(columns, steps, strict=True)])
            jacobians.append((x.copy(), matrix))
            return matrix

        def callback(intermediate_result) -> None:
            if within(intermediate_result.fun, tolerance):
                raise StopIteration

        if within(fun(x0), tolerance):
            return f"the start is within {tolerance:.1%} of every target", jacobians
        result = least_squares(
            fun,
            x0,
            jac=jac,
            bounds=bounds,
            method="trf",
            x_scale=1.0,
            xtol=1e-3,
            ftol=1e-4,
            gtol=1e-6,
            max_nfev=max_evaluations,
            callback=callback,
        )
    return str(result.message), jacobians


def within(residuals: np.ndarray, tolerance: float) -> bool:
    """Whether every relative error is within ``tolerance``."""
    return bool(np.all(np.abs(np.expm1(residuals)) <= tolerance))


def calibrate(
    base: Scenario,
    targets: TargetSet,
    params: list[tuple[str, float, float]],
    out: Path,
    options: ExecutionOptions,
    *,
    tolerance: float = 0.02,
    max_evaluations: int = 40,
    step: float = 0.1,
    resume: bool = False,
    force: bool = False,
    on_evaluation: Callable[[dict[str, Any]], None] | None = None,
    on_runs: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Fit ``params`` of ``base`` to the ``fit`` targets (simulated method of moments).

    Args:
        base: The scenario; its parameters are the starting point, its replications and seed
            are used at every trial point (common random numbers).
        targets: The targets file.
        params: ``(field, lo, hi)`` for each fitted parameter (``lo > 0``: the search is over
            log values).
        out: The calibration folder: ``evaluations/NNNN/`` (one batch per trial or Jacobian
            step), ``calibration_history.csv``, ``targets.csv``, ``calibrated.yaml``,
            ``jacobian.csv`` (elasticities of the moments at the last Jacobian: how well
            the targets identify the parameters), ``manifest.json``.
        options: How to execute the runs.
        tolerance: Stop once every fitted target is within this relative error.
        max_evaluations: Most trial points the solver may evaluate (Jacobian points excluded).
        step: Forward-difference step in log parameters (0.1: a 10% change).
        resume: Reuse the evaluations already in ``out`` (same calibration; the tolerance
            and the most evaluations may differ, so a stopped fit can finish with another
            stopping rule).
        force: Replace what ``out`` holds.
        on_evaluation: Called with each trial point's record (parameters, relative errors).
        on_runs: Progress of the runs of the current batch (finished, in all).

    Returns:
        The fitted scenario, its target table, the history of trial points.

    Raises:
        OptionError: no fitted target, or a bad parameter or bound.
        FolderError: ``out`` holds other results.
        RunFailedError: a run of a trial point failed.
    """
    start = check_params(base, targets, params)
    names = [name for name, _, _ in params]
    definition = {
        "kind": "calibration",
        "scenario_sha256": hashlib.sha256(resolved_yaml(base).encode()).hexdigest(),
        "targets": targets.model_dump(mode="json"),
        "params": [list(p) for p in params],
        "tolerance": tolerance,
        "max_evaluations": max_evaluations,
        "step": step,
        "engine": options.engine,
    }
    # The stopping rule may change on resume: trial points do not depend on it.
    loose = ("tolerance", "max_evaluations")
    claim_batch_folder(out, MARKER, definition, resume, force, "calibration", loose)
    started = time.perf_counter()
    objective = Objective(base, targets.fitted, names, out, options, resume, on_evaluation, on_runs)
    bounds = (np.log([lo for _, lo, _ in params]), np.log([hi for _, _, hi in params]))
    x0 = np.log([start[n] for n in names])
    message, jacobians = solve(objective, x0, bounds, tolerance, max_evaluations, step)
    # The best point evaluated: the solver's last point, or a Jacobian point that did better
    # (every point is a real run of the model on the same seeds).
    best = objective.best()
    converged = within(objective.residuals[best], tolerance)
    if converged and not message.startswith("the start"):
        message = f"every target within {tolerance:.1%}"
    fitted = objective.changes(np.array(best))
    scenario = apply_changes(base, fitted, source="calibration")
    table = target_table(objective.stats[best].assign(scenario=base.name), targets)
    history = pd.DataFrame(objective.history)
    wall = time.perf_counter() - started
    write_table(out / "calibration_history.csv", history)
    write_table(out / "targets.csv", table)
    if jacobians:
        jacobian = jacobian_table(jacobians[-1], names, targets.fitted, objective.changes)
        write_table(out / "jacobian.csv", jacobian)
    header = calibrated_header(base, targets, fitted, table, message)
    write_text(out / "calibrated.yaml", header + resolved_yaml(scenario))
    write_json(
        out / "manifest.json",
        manifest(
            "calibration",
            base,
            objective_seeds(base),
            options,
            wall,
            targets=targets.name,
            method="simulated method of moments: log relative errors, scipy least_squares "
            "(trf), forward-difference Jacobian on common random numbers",
            params=[list(p) for p in params],
            start=start,
            fitted=fitted,
            converged=converged,
            message=message,
            evaluations=len(history),
        ),
    )
    return Calibration(scenario, start, fitted, table, history, converged, message, out, wall)


def objective_seeds(base: Scenario) -> list[int]:
    """The replication seeds used at every trial point."""
    return replication_seeds(base.seed, base.replications)


def jacobian_table(
    jacobian: tuple[np.ndarray, np.ndarray],
    names: list[str],
    fitted: list[Target],
    changes: Callable[[np.ndarray], dict[str, Any]],
) -> pd.DataFrame:
    """The solver's last Jacobian as elasticities of each target's moment to each parameter.

    ``d log(model mean) / d log(parameter)``: a row with no large entry is a target that the
    parameters hardly move; two proportional columns are parameters the targets cannot tell
    apart. The condition number of the matrix is in every row (large: weak identification).
    """
    x, matrix = jacobian
    point = changes(x)
    condition = float(np.linalg.cond(matrix)) if matrix.size else math.nan
    rows = []
    for i, target in enumerate(fitted):
        row: dict[str, Any] = {"target": target.id, "metric": target.metric}
        row |= {name: float(matrix[i, j]) for j, name in enumerate(names)}
        row["condition_number"] = condition
        row["at"] = ", ".join(f"{k}={v:.6g}" for k, v in point.items())
        rows.append(row)
    return pd.DataFrame(rows)


def key(x: np.ndarray) -> tuple:
    """A point of log parameters as a dictionary key (rounded to 12 decimals)."""
    return tuple(round(float(v), 12) for v in x)


def calibrated_header(
    base: Scenario,
    targets: TargetSet,
    fitted: dict[str, Any],
    table: pd.DataFrame,
    message: str,
) -> str:
    """The comment block on top of ``calibrated.yaml``: where the values come from."""
    lines = [
        f"# Calibrated by deter-sim {__version__} calibrate ({time.strftime('%Y-%m-%d')}) from "
        f"scenario '{base.name}'",
        f"# to the targets '{targets.name}' ({message}); "
        f"{base.replications} replications, seed {base.seed}.",
        "# Fitted parameters (the rest are the scenario's):",
    ]
    lines += [f"#   {name}: {value:.6g}" for name, value in fitted.items()]
    lines.append("# Fitted targets at this point (model mean against target):")
    for row in table[table.use == "fit"].itertuples():
        lines.append(
            f"#   {row.id}: {row.mean:,.4g} against {row.target:,.4g} ({row.relative_error:+.1%})"
        )
    return "\n".join(lines) + "\n"
