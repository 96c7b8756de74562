"""Calibration to observed enforcement figures: the targets, their check and the fit.

A *targets file* (``calibration/targets_2016.yaml``) lists observed yearly figures with their
source; each ``fit`` target names the model metric that measures the same thing.
``target_table`` sets the model's mean yearly value (after the burn-in, with its 95% interval
over replications) beside each target.

``calibrate`` fits chosen scenario parameters to the ``fit`` targets by the simulated method
of moments: the moments are the log ratios of the model's mean yearly figures to the targets
(relative errors, equally weighted); they are evaluated on common random numbers (the same
replication seeds at every trial point, so the objective is a deterministic function of the
parameters) and minimised over the log parameters within bounds by SciPy's trust-region
reflective least-squares solver (``scipy.optimize.least_squares``, method ``trf``). Its
Jacobian is a forward difference whose trial points run as one batch, in parallel, through
the execution layer (``sim.batch``), so every evaluation is stored and a stopped calibration
resumes where it stopped. Only the parameters move; model outputs are never rescaled.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sim import __version__
from sim.batch import Batch
from sim.errors import ScenarioError
from sim.execution import executor
from sim.metrics import METRIC_NAMES
from sim.runner import code_provenance
from sim.scenario import Scenario, _safe_load, apply_changes, field_value, resolved_yaml
from sim.store import write_json, write_table, write_text

TARGETS_DIR = Path(__file__).resolve().parent.parent / "calibration"
DEFAULT_TARGETS = TARGETS_DIR / "targets_2016.yaml"

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


class Target(BaseModel):
    """One observed figure."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    metric: str | None = None
    value: float = Field(gt=0, allow_inf_nan=False)
    use: Literal["fit", "check", "context"]
    tolerance: float = Field(0.10, gt=0, le=1, allow_inf_nan=False)
    figure: str = Field(min_length=1, max_length=200)
    period: str = Field("", max_length=200)
    source: str = Field(min_length=1, max_length=2000)
    note: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _metric_known(self) -> Target:
        if self.metric is not None and self.metric not in METRIC_NAMES:
            raise ValueError(
                f"metric '{self.metric}' is not a model metric; allowed: {', '.join(METRIC_NAMES)}"
            )
        if self.use != "context" and self.metric is None:
            raise ValueError(f"a '{self.use}' target needs the model metric it is compared with")
        return self


class TargetSet(BaseModel):
    """A targets file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    description: str = ""
    targets: list[Target] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TargetSet:
        ids = [t.id for t in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"target ids must be unique: {ids}")
        fitted = [t.metric for t in self.targets if t.use == "fit"]
        if len(set(fitted)) != len(fitted):
            raise ValueError(f"two 'fit' targets measure the same metric: {fitted}")
        return self

    @property
    def fitted(self) -> list[Target]:
        """The targets a calibration matches."""
        return [t for t in self.targets if t.use == "fit"]


def load_targets(path: str | Path) -> TargetSet:
    """Read and validate a targets file.

    Raises:
        ScenarioError: the file is missing, not YAML, or not a valid targets file (the message
            names the file, the field and what is allowed).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise ScenarioError(
            source,
            "",
            "targets file not found"
            if not path.exists()
            else "is not a file (a YAML targets file is expected)",
        )
    try:
        data = _safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ScenarioError(source, "", "is not a UTF-8 text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ScenarioError(source, "", f"invalid YAML{where}") from None
    if not isinstance(data, dict):
        raise ScenarioError(source, "", "a mapping with name and targets is expected")
    try:
        return TargetSet.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ScenarioError(source, field, message) from None


def target_table(stats: pd.DataFrame, targets: TargetSet) -> pd.DataFrame:
    """Each target beside the model's mean yearly value, its 95% interval and relative error.

    Args:
        stats: ``sim.analysis.metric_statistics`` of one scenario (``metric``, ``mean``,
            ``ci_low``, ``ci_high``, ``n``).
        targets: The targets.

    Returns:
        One row per target: ``id, use, figure, period, metric, target, mean, ci_low, ci_high,
        relative_error, tolerance, within, replications, source, note``. ``within`` is empty
        for targets that are not fitted.
    """
    by_metric = stats.set_index("metric")
    rows = []
    for t in targets.targets:
        row: dict[str, Any] = {
            "id": t.id,
            "use": t.use,
            "figure": t.figure,
            "period": t.period,
            "metric": t.metric or "",
            "target": t.value,
        }
        if t.metric is not None and t.metric in by_metric.index:
            s = by_metric.loc[t.metric]
            error = (s["mean"] - t.value) / t.value
            row |= {
                "mean": s["mean"],
                "ci_low": s["ci_low"],
                "ci_high": s["ci_high"],
                "relative_error": error,
                "tolerance": t.tolerance,
                "within": bool(abs(error) <= t.tolerance) if t.use == "fit" else None,
                "replications": int(s["n"]),
            }
        else:
            row |= dict.fromkeys(
                ("mean", "ci_low", "ci_high", "relative_error", "tolerance"), math.nan
            ) | {"within": None, "replications": 0}
        row |= {"source": " ".join(t.source.split()), "note": " ".join(t.note.split())}
        rows.append(row)
    return pd.DataFrame(rows)


# -- the fit -------------------------------------------------------------------------------------
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


def calibrate(
    base: Scenario,
    targets: TargetSet,
    params: list[tuple[str, float, float]],
    out: Path,
    pool_options: dict[str, Any],
    *,
    tolerance: float = 0.02,
    max_evaluations: int = 40,
    step: float = 0.1,
    resume: bool = False,
    force: bool = False,
    engine: str = "vector",
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
        pool_options: ``backend``, ``workers``, ``address`` for ``sim.execution.executor``.
        tolerance: Stop once every fitted target is within this relative error.
        max_evaluations: Most trial points the solver may evaluate (Jacobian points excluded).
        step: Forward-difference step in log parameters (0.1: a 10% change).
        resume: Reuse the evaluations already in ``out`` (same calibration; the tolerance
            and the most evaluations may differ, so a stopped fit can finish with another
            stopping rule).
        force: Replace what ``out`` holds.
        engine: ``vector`` or ``agents``.
        on_evaluation: Called with each trial point's record (parameters, relative errors).
        on_runs: Progress of the runs of the current batch (finished, in all).

    Returns:
        The fitted scenario, its target table, the history of trial points.

    Raises:
        ScenarioError: no fitted target, a bad parameter or bound, or ``out`` holds other
            results.
    """
    from scipy.optimize import least_squares

    from sim.sweep import _is_int_field

    fitted = targets.fitted
    if not fitted:
        raise ScenarioError("targets", "", "no target has use: fit")
    if len(params) > len(fitted):
        raise ScenarioError(
            "--param",
            "",
            f"{len(params)} parameters cannot be identified by {len(fitted)} fitted targets; "
            "fit at most as many parameters as targets",
        )
    names = [name for name, _, _ in params]
    lower = np.log([lo for _, lo, _ in params])
    upper = np.log([hi for _, _, hi in params])
    start = {name: float(field_value(base, name)) for name in names}
    for (name, lo, hi), value in zip(params, start.values(), strict=True):
        if not lo <= value <= hi:
            raise ScenarioError(
                "--param", name, f"the scenario's value {value:g} is outside {lo:g}:{hi:g}"
            )
    goal = np.array([t.value for t in fitted])
    started = time.perf_counter()
    definition = {
        "kind": "calibration",
        "scenario_sha256": hashlib.sha256(resolved_yaml(base).encode()).hexdigest(),
        "targets": targets.model_dump(mode="json"),
        "params": [list(p) for p in params],
        "tolerance": tolerance,
        "max_evaluations": max_evaluations,
        "step": step,
        "engine": engine,
    }
    _prepare(out, definition, resume, force)

    def changes(x: np.ndarray) -> dict[str, Any]:
        values = {}
        for name, v in zip(names, np.exp(x), strict=True):
            values[name] = round(float(v)) if _is_int_field(name) else float(v)
        return values

    cache: dict[tuple, np.ndarray] = {}
    stats_at: dict[tuple, pd.DataFrame] = {}
    history: list[dict[str, Any]] = []
    jacobians: list[tuple[np.ndarray, np.ndarray]] = []
    counter = [0]

    def residuals_of(stats: pd.DataFrame) -> np.ndarray:
        means = stats.set_index("metric")["mean"]
        model = np.array([means[t.metric] for t in fitted])
        return np.log(np.maximum(model, goal * 1e-6) / goal)

    def evaluate(points: list[np.ndarray], kind: str, pool) -> list[np.ndarray]:
        wanted = [x for x in points if _key(x) not in cache]
        if wanted:
            folder = out / "evaluations" / f"{counter[0]:04d}"
            counter[0] += 1
            labels = [(f"{kind}-{i}", changes(x)) for i, x in enumerate(wanted)]
            batch = Batch(
                folder,
                "calibration",
                base,
                labels,
                base.replications,
                {"kind": kind},
                engine,
            )
            batch.prepare(resume=resume, force=False)
            index = batch.execute(pool, on_runs)
            if index.status.ne("ok").any():
                first = index[index.status.ne("ok")].iloc[0]
                raise ScenarioError(
                    str(folder), "", f"a run failed ({first.error}); see run_index.csv"
                )
            stats = batch.point_statistics()
            for point, x in enumerate(wanted):
                point_stats = stats[stats.point == point].drop(columns=["point"])
                r = residuals_of(point_stats)
                cache[_key(x)] = r
                stats_at[_key(x)] = point_stats
                record = {"evaluation": len(history), "kind": kind, "folder": folder.name}
                record |= changes(x)
                record |= {f"error_{t.id}": math.expm1(v) for t, v in zip(fitted, r, strict=True)}
                record["cost"] = 0.5 * float(np.sum(r**2))
                history.append(record)
                if on_evaluation:
                    on_evaluation(record)
        return [cache[_key(x)] for x in points]

    x0 = np.log([start[n] for n in names])
    message, converged = "", False
    with executor(**pool_options) as pool:

        def fun(x: np.ndarray) -> np.ndarray:
            return evaluate([x], "trial", pool)[0]

        def jac(x: np.ndarray) -> np.ndarray:
            f0 = fun(x)
            steps = np.where(x + step <= upper, step, -step)
            shifted = [x + np.eye(len(x))[j] * steps[j] for j in range(len(x))]
            columns = evaluate(shifted, "jacobian", pool)
            matrix = np.column_stack([(fj - f0) / s for fj, s in zip(columns, steps, strict=True)])
            jacobians.append((x.copy(), matrix))
            return matrix

        def within(r: np.ndarray) -> bool:
            return bool(np.all(np.abs(np.expm1(r)) <= tolerance))

        def callback(intermediate_result) -> None:
            if within(intermediate_result.fun):
                raise StopIteration

        if within(fun(x0)):
            message, converged = f"the start is within {tolerance:.1%} of every target", True
        else:
            result = least_squares(
                fun,
                x0,
                jac=jac,
                bounds=(lower, upper),
                method="trf",
                x_scale=1.0,
                xtol=1e-3,
                ftol=1e-4,
                gtol=1e-6,
                max_nfev=max_evaluations,
                callback=callback,
            )
            message = str(result.message)
    # The best point evaluated: the solver's last point, or a Jacobian point that did better
    # (every point is a real run of the model on the same seeds).
    key = min(cache, key=lambda k: float(np.sum(cache[k] ** 2)))
    converged = within(cache[key])
    if converged and not message.startswith("the start"):
        message = f"every target within {tolerance:.1%}"
    best_changes = changes(np.array(key))
    scenario = apply_changes(base, best_changes, source="calibration")
    table = target_table(stats_at[key].assign(scenario=base.name), targets)
    history_frame = pd.DataFrame(history)
    wall = time.perf_counter() - started
    write_table(out / "calibration_history.csv", history_frame)
    write_table(out / "targets.csv", table)
    if jacobians:
        write_table(out / "jacobian.csv", jacobian_table(jacobians[-1], names, fitted, changes))
    header = _header(base, targets, best_changes, table, message)
    write_text(out / "calibrated.yaml", header + resolved_yaml(scenario))
    write_json(
        out / "manifest.json",
        {
            "deter_sim_version": __version__,
            **code_provenance(),
            "kind": "calibration",
            "scenario": base.name,
            "targets": targets.name,
            "method": "simulated method of moments: log relative errors, scipy least_squares "
            "(trf), forward-difference Jacobian on common random numbers",
            "params": [list(p) for p in params],
            "start": start,
            "fitted": best_changes,
            "converged": converged,
            "message": message,
            "evaluations": len(history),
            "replications": base.replications,
            "root_seed": base.seed,
            "engine": engine,
            "wall_time_seconds": round(wall, 3),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
    return Calibration(
        scenario, start, best_changes, table, history_frame, converged, message, out, wall
    )


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


def _key(x: np.ndarray) -> tuple:
    return tuple(round(float(v), 12) for v in x)


def _prepare(out: Path, definition: dict[str, Any], resume: bool, force: bool) -> None:
    marker = out / "calibration.json"
    recorded = json.loads(json.dumps(definition))
    if force and out.exists() and (marker.exists() or not any(out.iterdir())):
        shutil.rmtree(out)
    elif force and out.exists():
        raise ScenarioError(
            str(out), "", "holds no calibration; --force only replaces a calibration folder"
        )
    elif marker.exists():
        if not resume:
            raise ScenarioError(
                str(out),
                "",
                "already holds a calibration; add --resume to finish it, --force to replace "
                "it, or choose another --out",
            )
        # The stopping rule may change on resume: trial points do not depend on it.
        loose = ("tolerance", "max_evaluations")
        earlier = json.loads(marker.read_text(encoding="utf-8"))
        if {k: v for k, v in earlier.items() if k not in loose} != {
            k: v for k, v in recorded.items() if k not in loose
        }:
            raise ScenarioError(
                str(out),
                "",
                "holds a different calibration (scenario, targets, parameters or settings "
                "differ); --resume needs the same command, or choose another --out",
            )
        return
    elif out.exists() and any(out.iterdir()):
        raise ScenarioError(
            str(out), "", "exists and is not empty; choose another --out or add --force"
        )
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, recorded)


def _header(
    base: Scenario,
    targets: TargetSet,
    fitted: dict[str, Any],
    table: pd.DataFrame,
    message: str,
) -> str:
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
