"""History matching of the model to its patterns (`calibrate --method history-matching`).

Waves of ``sim.experiments.matching`` over the uncertain parameters of a patterns file
(``sim.experiments.patterns``): each wave's design runs as one batch
(``sim.experiments.batch``: resumable, on every backend), one run per design point and
variant, the variants of a point on the point's own seeds and the points on different seeds
(so that the emulators' nuggets measure the noise of one run). When the space not ruled out
stops shrinking, candidates drawn from it are *confirmed* by the simulator itself on fresh
seeds: a candidate whose every matched pattern, measured over its replications, is within
the pattern's uncertainty (even after two standard errors of the Monte Carlo mean) joins the
ensemble. Held-out patterns are measured and reported, never used to choose.

*Refinement* (``refine_rounds``; the step is ``sim.experiments.refinement``): a candidate
that misses a fitted figure takes one Gauss-Newton step on the parameters the patterns file
lists under ``refine`` (the rates the figures pin), along the figures' log-linear slopes fitted
over every wave's design points, and is confirmed again on fresh seeds; up to
``refine_rounds`` times. Its other parameters are kept, so the ensemble still spans the space
left; the range patterns are judged again at the refined point. *Recheck*
(``recheck_replications``): every kept candidate runs again on seeds of its own, and the
ensemble keeps those whose mean over these runs meets every fitted figure.

Layout of a history-matching folder::

    history_matching.json   what was asked for (checked on --resume)
    waves/wave-NN/          the batch of wave NN (design.csv: its points)
    waves.csv               per wave: points, runs failed, the share of the space left
    space.csv               per wave and parameter: the extent of the space left
    diagnostics.csv         per wave and pattern: emulator nugget, leave-one-out checks
    design.csv              every design point of every wave, with its measured patterns
    confirm/                the batch of the confirmation runs
    confirm-refine-K/       the batch of refinement round K (if --refine)
    refine.csv              the figures' slopes the refinement steps along (if --refine)
    confirmation.csv        per candidate and round: parameters, patterns measured, kept or not
    recheck/round-K/        the batch rechecking round K's kept candidates (if --recheck)
    recheck.csv             per kept candidate: its figures over the recheck's fresh runs
    ensemble.csv            the accepted parameter sets (set_id, parameters, patterns)
    manifest.json
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

from sim.experiments.batch import Batch, execute_retrying
from sim.experiments.execution import ExecutionOptions
from sim.experiments.folders import claim_batch_folder
from sim.experiments.matching import (
    CANDIDATES,
    CUTOFF,
    Matching,
    Wave,
    history_match,
    implausibility,
    to_unit,
    to_values,
    topped_up,
)
from sim.experiments.patterns import (
    PatternSet,
    check_patterns,
    emulated,
    measure,
    policies_of,
    set_changes,
    variant_point,
    variants,
)
from sim.experiments.provenance import manifest
from sim.experiments.refinement import (
    TooFewRunsError,
    Track,
    figure_slopes,
    refined,
    to_refine,
)
from sim.experiments.store import write_json, write_table
from sim.scenario import Scenario, resolved_yaml

MARKER = "history_matching.json"
SET_COLUMN = "set_id"
# Settings a resumed history matching may change: they do not choose the waves' designs.
LOOSE = (
    "held_out",
    "candidates",
    "confirm_replications",
    "confirm",
    "max_waves",
    "stop_ratio",
    "refine",
    "refine_rounds",
    "recheck_replications",
)
CONFIRM = ("all", "fit")
REFINE_SEEDS = 1000  # the seed of refinement round k is wave_seed(root, REFINE_SEEDS + k)
RECHECK_SEEDS = 2000  # the recheck of round k runs on wave_seed(wave_seed(root, RECHECK_SEEDS), k)


@dataclass
class HistoryMatching:
    """What a history matching found."""

    matching: Matching
    confirmation: pd.DataFrame
    ensemble: pd.DataFrame
    recheck: pd.DataFrame | None
    waves: pd.DataFrame
    space: pd.DataFrame
    diagnostics: pd.DataFrame
    out: Path
    wall_seconds: float


def wave_seed(root: int, wave: int) -> int:
    """The root seed of wave ``wave`` (0: the confirmation runs), distinct for each wave."""
    state = np.random.SeedSequence([root, wave]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


class PatternRuns:
    """Runs parameter sets through batches and measures their patterns.

    Args:
        patterns: The patterns file.
        base: The scenario the parameter sets apply to.
        reference: What the policies are told apart from.
        out: The history-matching folder.
        options: How to execute the runs.
        resume: Reuse runs already on disk.
        on_runs: Progress of the current batch (finished, in all).
    """

    def __init__(
        self,
        patterns: PatternSet,
        base: Scenario,
        reference: Scenario,
        out: Path,
        options: ExecutionOptions,
        resume: bool,
        on_runs: Callable[[int, int], None] | None = None,
    ) -> None:
        self.patterns, self.base, self.out = patterns, base, out
        self.options, self.resume, self.on_runs = options, resume, on_runs
        self.policies = policies_of(patterns, reference)

    def run(
        self, folder: Path, values: pd.DataFrame, replications: int, seed: int, which: list
    ) -> pd.DataFrame:
        """Measure the patterns ``which`` at each parameter set (row of ``values``).

        Returns:
            One row per set and replication: ``set``, ``replication``, then each pattern's
            measure (NaN where a run failed or the measure is undefined).
        """
        needed = variants(which)
        points, groups = [], []  # set i's variants are points i * len(needed) + k, in order
        for i, row in enumerate(values.to_dict("records")):
            changes = set_changes(self.patterns, row)
            for variant in needed:
                points.append(
                    (
                        f"set-{i:04d}/{variant}",
                        variant_point(self.base, changes, variant, self.policies),
                    )
                )
                groups.append(i)
        base = self.base.model_copy(update={"seed": seed, "replications": replications})
        batch = Batch(
            folder,
            "history-matching",
            base,
            points,
            replications,
            {"patterns": self.patterns.name},
            self.options.engine,
            seed_groups=groups,
        )
        batch.prepare(resume=self.resume, force=False)
        index = execute_retrying(batch, self.options, self.on_runs)
        failed = index.status.ne("ok").groupby(index.point).any()
        frame = batch.timeseries()
        by_point = dict(tuple(frame.groupby("point"))) if len(frame) else {}
        rows = []
        for i in range(len(values)):
            own = range(i * len(needed), (i + 1) * len(needed))
            ok = not any(bool(failed.get(point, True)) for point in own)
            runs = {
                variant: by_point.get(point) for variant, point in zip(needed, own, strict=True)
            }
            row = {"set": i}
            measured = {
                p.id: measure(p, runs, self.base) if ok else np.full(replications, np.nan)
                for p in which
            }
            for r in range(replications):
                rows.append(
                    row | {"replication": r} | {k: float(v[r]) for k, v in measured.items()}
                )
        return pd.DataFrame(rows)


def calibrate_history(
    base: Scenario,
    patterns: PatternSet,
    out: Path,
    options: ExecutionOptions,
    *,
    wave_size: int = 60,
    max_waves: int = 6,
    sets: int = 100,
    candidates: int | None = None,
    confirm_replications: int = 2,
    confirm: str = "all",
    stop_ratio: float = 0.8,
    refine_rounds: int = 0,
    recheck_replications: int = 0,
    resume: bool = False,
    force: bool = False,
    on_wave: Callable[[Wave], None] | None = None,
    on_runs: Callable[[int, int], None] | None = None,
    draws: int = CANDIDATES,
    reference: Scenario | None = None,
) -> HistoryMatching:
    """Waves of history matching, then the confirmation of the candidates left.

    Args:
        base: The scenario the parameter sets apply to (its seed fixes every design).
        patterns: The patterns file (its parameters and patterns).
        out: The history-matching folder.
        options: How to execute the runs.
        wave_size: Design points per wave (each runs once per variant).
        max_waves: Most waves.
        sets: Parameter sets wanted in the ensemble.
        candidates: Candidates confirmed by the simulator (default: 1.5 x ``sets``).
        confirm_replications: Replications of each candidate, on fresh seeds.
        confirm: ``"all"``: the simulator measures every pattern of each candidate;
            ``"fit"``: only the patterns of the scenario's own runs (the fitted figures and
            held-out figures); the range patterns of the policy variants are judged by the
            last wave's emulators (a quarter of the runs with three variants).
        stop_ratio: Stop once a wave keeps more than this share of the space left.
        refine_rounds: Most refinement rounds of the candidates that miss a fitted figure
            (0: none; it needs ``refine`` in the patterns file). Rounds stop once ``sets``
            candidates are kept.
        recheck_replications: Replications of every kept candidate on seeds of their own
            (0: no recheck). The ensemble then holds only the candidates whose mean over these
            fresh runs meets every fitted figure (the confirmation chose candidates on its
            own runs, so their noise favoured the candidates it kept), and refinement rounds
            go on until ``sets`` candidates pass the recheck.
        resume: Finish a stopped history matching in ``out`` (same settings).
        force: Replace what ``out`` holds.
        on_wave: Called with each finished wave.
        on_runs: Progress of the current batch (finished, in all).
        draws: Candidates drawn to find the space left.
        reference: What the policies of intervention patterns are told apart from (the
            scenario without the command line's overrides) [``base``].

    Returns:
        The waves, the confirmation table and the ensemble.

    Raises:
        FolderError: ``out`` holds other results.
        TooFewRunsError: most runs of a wave failed.
    """
    reference = reference if reference is not None else base
    check_patterns(patterns, base, reference)
    candidates = candidates or math.ceil(1.5 * sets)
    definition = {
        "kind": "history-matching",
        # What chooses the sets: the parameters and the fitted and range patterns. Held-out
        # patterns and the confirmation's settings may change on resume (they only measure).
        "patterns": patterns.model_dump(
            mode="json",
            exclude={
                "patterns": {i for i, p in enumerate(patterns.patterns) if p.use == "held_out"},
                "refine": True,
            },
        ),
        "held_out": [p.model_dump(mode="json") for p in patterns.patterns if p.use == "held_out"],
        "scenario_sha256": hashlib.sha256(resolved_yaml(base).encode()).hexdigest(),
        "reference_sha256": hashlib.sha256(resolved_yaml(reference).encode()).hexdigest(),
        "wave_size": wave_size,
        "max_waves": max_waves,
        "candidates": candidates,
        "confirm_replications": confirm_replications,
        "confirm": confirm,
        "stop_ratio": stop_ratio,
        "refine": patterns.refine,
        "refine_rounds": refine_rounds,
        "recheck_replications": recheck_replications,
        "draws": draws,
        "engine": options.engine,
    }
    claim_batch_folder(out, MARKER, definition, resume, force, "history matching", LOOSE)
    started = time.perf_counter()
    runner = PatternRuns(patterns, base, reference, out, options, resume, on_runs)
    matched = patterns.matched
    observations = [p.observation() for p in matched]
    dims = patterns.dimensions
    designs: list[pd.DataFrame] = []

    def simulate(wave: int, design: np.ndarray) -> pd.DataFrame:
        values = to_values(dims, design)
        folder = out / "waves" / f"wave-{wave:02d}"
        measured = runner.run(folder, values, 1, wave_seed(base.seed, wave), matched)
        if measured[[p.id for p in matched]].isna().all(axis=1).mean() > 0.5:
            raise TooFewRunsError(f"{folder}: most runs failed; see run_index.csv")
        write_table(folder / "design.csv", values.assign(point=range(len(values))))
        outputs = pd.DataFrame({p.id: emulated(p, measured[p.id]) for p in matched})
        ids = [p.id for p in matched]
        designs.append(pd.concat([values.assign(wave=wave), measured[ids]], axis=1))
        return outputs

    matching = history_match(
        dims,
        observations,
        simulate,
        wave_size=wave_size,
        max_waves=max_waves,
        seed=base.seed,
        stop_ratio=stop_ratio,
        candidates=draws,
        on_wave=on_wave,
    )
    waves = wave_table(matching)
    diagnostics = pd.concat([w.diagnostics for w in matching.waves], ignore_index=True)
    write_table(out / "waves.csv", waves)
    space = space_table(matching, dims)
    write_table(out / "space.csv", space)
    write_table(out / "diagnostics.csv", diagnostics)
    design = pd.concat(designs, ignore_index=True)
    write_table(out / "design.csv", design)

    rng = np.random.default_rng(wave_seed(base.seed, 0))
    chosen = to_values(dims, topped_up(matching, observations, candidates, rng, draws))
    simulated = confirmed_patterns(patterns, confirm)
    measured = runner.run(
        out / "confirm", chosen, confirm_replications, wave_seed(base.seed, 0), simulated
    )
    last = matching.waves[-1]
    checked: list[pd.DataFrame] = []  # each round's recheck

    def found(table: pd.DataFrame) -> int:
        """The round's candidates kept (and, with a recheck, met again on fresh seeds)."""
        if not recheck_replications:
            return int(table.kept.sum())
        seed = wave_seed(base.seed, RECHECK_SEEDS)
        checked.append(recheck_round(runner, table, recheck_replications, seed))
        return int(checked[-1].rechecked.sum())

    rounds = [confirm_table(patterns, chosen, measured, last, dims).assign(round=0)]
    total = found(rounds[0])
    slopes = None
    if refine_rounds and patterns.refine:
        slopes = figure_slopes(patterns, design)
        write_table(out / "refine.csv", slopes.table)
    tracks: dict[int, Track] = {}  # per candidate refined: its slopes, updated by each step
    for k in range(1, refine_rounds + 1):
        if slopes is None or total >= sets:
            break
        todo = to_refine(patterns, rounds[-1])
        if todo.empty:
            break
        stepped = refined(patterns, todo, slopes, tracks)
        measured = runner.run(
            out / f"confirm-refine-{k}",
            stepped,
            confirm_replications,
            wave_seed(base.seed, REFINE_SEEDS + k),
            simulated,
        )
        table = confirm_table(patterns, stepped, measured, last, dims)
        rounds.append(table.assign(candidate=todo.candidate.to_numpy(), round=k))
        total += found(rounds[-1])
    confirmation = pd.concat(rounds, ignore_index=True)
    confirmation.insert(1, "round", confirmation.pop("round"))
    write_table(out / "confirmation.csv", confirmation)
    recheck = None
    if recheck_replications:
        recheck = pd.concat(checked, ignore_index=True).sort_values("candidate", kind="stable")
        recheck = recheck.reset_index(drop=True)
        write_table(out / "recheck.csv", recheck)
    ensemble = ensemble_table(patterns, confirmation, sets, recheck)
    write_table(out / "ensemble.csv", ensemble)
    wall = time.perf_counter() - started
    write_json(
        out / "manifest.json",
        manifest(
            "history-matching",
            base,
            [wave_seed(base.seed, w) for w in range(len(matching.waves) + 1)],
            options,
            wall,
            patterns=patterns.name,
            method="history matching with Gaussian-process emulators (scikit-learn), "
            "implausibility cut-off 3, then confirmation runs on fresh seeds",
            waves=len(matching.waves),
            stopped=matching.stopped,
            nroy_fractions=matching.nroy_fractions,
            candidates=len(chosen),
            refine_rounds=int(confirmation["round"].max()),
            refined=int((confirmation["round"] > 0).sum()),
            recheck_replications=recheck_replications,
            rechecked=None if recheck is None else int(recheck.rechecked.sum()),
            sets=len(ensemble),
        ),
    )
    return HistoryMatching(
        matching, confirmation, ensemble, recheck, waves, space, diagnostics, out, wall
    )


def wave_table(matching: Matching) -> pd.DataFrame:
    """Per wave: design points, runs with a value, and the share of the space left."""
    rows = []
    before = 1.0
    for wave in matching.waves:
        rows.append(
            {
                "wave": wave.index,
                "points": len(wave.design),
                "points_failed": int(wave.outputs.isna().all(axis=1).sum()),
                "nroy_fraction": wave.nroy_fraction,
                "kept_of_previous": wave.nroy_fraction / before if before else math.nan,
            }
        )
        before = wave.nroy_fraction
    return pd.DataFrame(rows)


def space_table(matching: Matching, dimensions: list) -> pd.DataFrame:
    """Per wave (0: the range searched) and parameter, the extent of the space left."""
    rows = []
    for dim in dimensions:
        rows.append({"wave": 0, "parameter": dim.name, "low": dim.low, "high": dim.high})
    for wave in matching.waves:
        if wave.extent.size == 0:
            continue
        for j, dim in enumerate(dimensions):
            low, high = dim.value(wave.extent[:, j])
            rows.append({"wave": wave.index, "parameter": dim.name, "low": low, "high": high})
    return pd.DataFrame(rows)


def confirmed_patterns(patterns: PatternSet, confirm: str) -> list:
    """The patterns the simulator measures in the confirmation (``confirm``: all or fit)."""
    if confirm not in CONFIRM:
        raise ValueError(f"confirm must be one of {CONFIRM}, not {confirm!r}")
    if confirm == "all":
        return list(patterns.patterns)
    return [p for p in patterns.patterns if p.measure.kind == "metric"]


def confirm_table(
    patterns: PatternSet,
    values: pd.DataFrame,
    measured: pd.DataFrame,
    last: Wave,
    dimensions: list | None = None,
) -> pd.DataFrame:
    """Per candidate: its parameters, each pattern's mean measure, and whether it is kept.

    A matched pattern is met when its mean measure is within its uncertainty even after two
    Monte Carlo standard errors (so that it stays within on other seeds); a candidate is
    kept when it meets every matched pattern. A matched pattern the confirmation did not
    simulate (``confirm="fit"``) is judged by the last wave's emulator: its emulated mean, met
    when its implausibility is at most 3 (``{id}_by`` says which). ``implausibility`` is the
    largest over the matched patterns of the distance to the observation over the
    observation's and the mean's noise (the last wave's nugget over the replications), or the
    emulated implausibility for a pattern not simulated.
    """
    reps = int(measured.replication.max()) + 1
    emulated_at: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # emulated mean, implausibility
    missing = [p for p in patterns.matched if p.id not in measured]
    if missing:
        if dimensions is None:
            raise ValueError("patterns not simulated need the dimensions to be emulated")
        unit = to_unit(dimensions, values.reset_index(drop=True))
        distances = implausibility(last.emulators, [p.observation() for p in missing], unit)
        emulated_at = {
            p.id: (last.emulators[p.id].predict(unit)[0], distances[:, k])
            for k, p in enumerate(missing)
        }
    rows = []
    for i, row in values.reset_index(drop=True).iterrows():
        own = measured[measured.set == i]
        out: dict[str, Any] = {"candidate": i, **row.to_dict()}
        kept, worst = True, 0.0
        for p in patterns.patterns:
            if p.id in emulated_at:
                mean_i, distance = (float(a[i]) for a in emulated_at[p.id])
                out[p.id] = float(math.expm1(mean_i) if p.on_log_scale else mean_i)
                out[f"{p.id}_met"] = distance <= CUTOFF
                out[f"{p.id}_by"] = "emulator"
                kept &= distance <= CUTOFF
                worst = max(worst, distance)
                continue
            if p.id not in own:  # a held-out pattern the confirmation did not simulate
                out[p.id], out[f"{p.id}_met"], out[f"{p.id}_by"] = math.nan, False, ""
                continue
            values_i = own[p.id].to_numpy(dtype=float)
            mean = float(np.mean(values_i)) if np.isfinite(values_i).all() else math.nan
            se = float(np.std(values_i, ddof=1) / math.sqrt(reps)) if reps > 1 else 0.0
            met = _met(p, mean, se)
            out[p.id] = mean
            out[f"{p.id}_met"] = met
            out[f"{p.id}_by"] = "simulator"
            if p.use != "held_out":
                kept &= met
                obs = p.observation()
                z = emulated(p, np.array([mean]))[0]
                noise = last.emulators[p.id].simulation_variance / reps
                worst = max(worst, float(obs.distance(z) / math.sqrt(obs.variance + noise)))
        out["implausibility"] = worst if math.isfinite(worst) else math.inf
        out["kept"] = bool(kept)
        rows.append(out)
    return pd.DataFrame(rows)


def _met(pattern: Any, mean: float, se: float) -> bool:
    """Whether a mean measure meets the pattern after two standard errors towards the edge."""
    if not math.isfinite(mean):
        return False
    if pattern.on_log_scale:
        if mean <= 0:
            return False
        error = abs(math.log(mean / pattern.value))
        return error + 2 * se / mean <= math.log1p(pattern.uncertainty)
    return pattern.within(mean - 2 * se) and pattern.within(mean + 2 * se)


def recheck_round(
    runner: PatternRuns, table: pd.DataFrame, replications: int, seed: int
) -> pd.DataFrame:
    """Run the kept candidates of one confirmation round again, on seeds of their own.

    Round k's kept candidates run as one batch (``recheck/round-k``) on root seed
    ``wave_seed(seed, k)``: each round's recheck is done once, whatever rounds follow.

    Returns:
        ``recheck_table`` of the runs (one row per kept candidate of the round).
    """
    kept = table[table.kept].sort_values("candidate", kind="stable")
    if kept.empty:
        return recheck_table(runner.patterns, kept, pd.DataFrame())
    k = int(kept["round"].iloc[0])
    measured = runner.run(
        runner.out / "recheck" / f"round-{k}",
        kept[runner.patterns.fields].reset_index(drop=True),
        replications,
        wave_seed(seed, k),
        confirmed_patterns(runner.patterns, "fit"),
    )
    return recheck_table(runner.patterns, kept, measured)


def recheck_table(patterns: PatternSet, kept: pd.DataFrame, measured: pd.DataFrame) -> pd.DataFrame:
    """Per kept candidate: each fitted figure over the recheck's fresh runs.

    Args:
        patterns: The patterns file.
        kept: The kept rows of the confirmation table, in the order they were run.
        measured: ``PatternRuns.run`` of their parameters (``set`` is the row of ``kept``).

    Returns:
        One row per candidate: ``candidate``, ``round``, then per fitted figure its mean over
        the fresh runs (``{id}``), the mean's standard error (``{id}_se``, NaN with one run),
        the relative error (``{id}_error``) and whether the mean lies within the figure's
        uncertainty (``{id}_met``); ``rechecked``: every fitted figure met. The mean is judged
        as it is (no margin): with fresh seeds it is an unbiased estimate of the candidate's
        expected figure, and its standard error says how far to trust that.
    """
    if kept.empty:
        empty = {"candidate": "int64", "round": "int64", "rechecked": "bool"}
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in empty.items()})
    figures = patterns.figures
    reps = int(measured.replication.max()) + 1
    rows = []
    for i, (_, row) in enumerate(kept.reset_index(drop=True).iterrows()):
        own = measured[measured.set == i]
        out: dict[str, Any] = {"candidate": int(row.candidate), "round": int(row["round"])}
        rechecked = True
        for p in figures:
            values_i = own[p.id].to_numpy(dtype=float)
            finite = np.isfinite(values_i).all() and len(values_i) > 0
            mean = float(np.mean(values_i)) if finite else math.nan
            se = (
                float(np.std(values_i, ddof=1) / math.sqrt(reps))
                if finite and reps > 1
                else math.nan
            )
            met = p.within(mean)
            out |= {
                p.id: mean,
                f"{p.id}_se": se,
                f"{p.id}_error": mean / p.value - 1 if finite else math.nan,
                f"{p.id}_met": met,
            }
            rechecked &= met
        out["rechecked"] = bool(rechecked)
        rows.append(out)
    return pd.DataFrame(rows)


def ensemble_table(
    patterns: PatternSet,
    confirmation: pd.DataFrame,
    sets: int,
    recheck: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The first ``sets`` kept candidates (in the order drawn), numbered: the ensemble.

    With a ``recheck`` (``recheck_table``), only the candidates it found meeting every fitted
    figure on fresh seeds.
    """
    kept = confirmation[confirmation.kept].sort_values("candidate", kind="stable")
    if recheck is not None:
        # As booleans: a round with no candidate to recheck makes the concatenated column float.
        kept = kept[kept.candidate.isin(recheck.candidate[recheck.rechecked.astype(bool)])]
    kept = kept.head(sets).reset_index(drop=True)
    columns = [*patterns.fields, *(p.id for p in patterns.patterns), "implausibility"]
    table = kept[columns].copy()
    table.insert(0, SET_COLUMN, range(len(table)))
    return table


def emulated_implausibility(
    matching: Matching, patterns: PatternSet, points: np.ndarray
) -> np.ndarray:
    """The last wave's largest implausibility at unit-cube points (for figures)."""
    observations = [p.observation() for p in patterns.matched]
    return implausibility(matching.waves[-1].emulators, observations, points).max(axis=1)
