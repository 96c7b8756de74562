"""``deter-sim calibrate --method history-matching``: the options and what the command prints."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from sim.cli.app import bundle_options, console, err_console
from sim.cli.commands.batch import run_batch
from sim.experiments.execution import ExecutionOptions


class Method(enum.StrEnum):
    """How ``calibrate`` fits."""

    least_squares = "least-squares"
    history_matching = "history-matching"


@dataclass(frozen=True)
class Matching:
    """The options of a history matching."""

    patterns: Path | None
    wave_size: int
    waves: int
    sets: int
    candidates: int | None
    confirm_replications: int
    confirm: str
    refine: int
    recheck: int


class ConfirmWhat(enum.StrEnum):
    """What the confirmation runs of history matching measure."""

    all = "all"
    fit = "fit"


MatchingOptions = Any  # what ``matching_options`` passes: a ``Matching``

_OPTIONS: dict[str, tuple[Any, Any]] = {
    "patterns": (
        Annotated[
            Path | None,
            typer.Option(
                "--patterns",
                help="Patterns file (YAML) of history matching [calibration/patterns_2016.yaml].",
            ),
        ],
        None,
    ),
    "wave_size": (
        Annotated[
            int,
            typer.Option("--wave-size", min=5, help="Design points per wave (history matching)."),
        ],
        30,
    ),
    "waves": (
        Annotated[int, typer.Option("--waves", min=1, max=20, help="Most waves.")],
        6,
    ),
    "sets": (
        Annotated[
            int, typer.Option("--sets", min=1, help="Parameter sets wanted in the ensemble.")
        ],
        100,
    ),
    "candidates": (
        Annotated[
            int | None,
            typer.Option(
                "--candidates",
                min=1,
                help="Candidates the simulator confirms after the waves [1.5 x --sets].",
            ),
        ],
        None,
    ),
    "confirm_replications": (
        Annotated[
            int,
            typer.Option(
                "--confirm-replications",
                min=1,
                help="Replications of each candidate, on fresh seeds.",
            ),
        ],
        2,
    ),
    "confirm": (
        Annotated[
            ConfirmWhat,
            typer.Option(
                "--confirm",
                help="all: the simulator measures every pattern of each candidate; fit: only "
                "the figures of the scenario's own runs, the range patterns judged by the last "
                "wave's emulators (a quarter of the runs).",
            ),
        ],
        "all",
    ),
    "refine": (
        Annotated[
            int,
            typer.Option(
                "--refine",
                min=0,
                max=5,
                help="Refinement rounds: a candidate that misses a fitted figure takes one "
                "Gauss-Newton step on the rates the patterns file lists under refine, and is "
                "confirmed again on fresh seeds (0: none).",
            ),
        ],
        0,
    ),
    "recheck": (
        Annotated[
            int,
            typer.Option(
                "--recheck",
                min=0,
                max=20,
                help="Replications of every kept candidate on seeds of their own: the ensemble "
                "keeps only those whose mean over them meets every fitted figure (0: none).",
            ),
        ],
        0,
    ),
}


def matching_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``calibrate`` the options of history matching, as one ``matching`` parameter."""
    return bundle_options(command, "matching", _OPTIONS, Matching)


def history_matching(
    scenario: str,
    overrides: list[str],
    execution: ExecutionOptions,
    options: Matching,
    out: Path | None,
    resume: bool,
    force: bool,
) -> None:
    """Run a history matching of ``scenario`` and print its waves and ensemble."""
    from sim.cli.app import check_memory
    from sim.experiments.folders import default_folder
    from sim.experiments.history import calibrate_history
    from sim.experiments.patterns import DEFAULT_PATTERNS, check_patterns, load_patterns
    from sim.scenario import apply_changes, load_scenario

    path = options.patterns if options.patterns is not None else DEFAULT_PATTERNS
    patterns = load_patterns(path)
    base = load_scenario(scenario, overrides)
    reference = load_scenario(scenario)
    check_patterns(patterns, base, reference, path)
    largest = {p.field: p.high for p in patterns.parameters if p.field == "population.sellers"}
    check_memory([apply_changes(base, largest)], execution)
    out_dir = out if out is not None else default_folder(base.name, "history_matching")
    console.print(
        f"[bold]{base.name}[/]: history matching of {len(patterns.parameters)} parameters to "
        f"{len(patterns.matched)} patterns of '{patterns.name}' ({base.weeks} weeks, up to "
        f"{options.waves} waves of {options.wave_size} points); {execution.describe()}"
    )

    def wave_done(wave: Any) -> None:
        err_console.print(
            f"  wave {wave.index}: {len(wave.design)} points; space left "
            f"{wave.nroy_fraction:.3g} of the whole",
            highlight=False,
        )

    result = run_batch(
        lambda on_runs: calibrate_history(
            base,
            patterns,
            out_dir,
            execution,
            wave_size=options.wave_size,
            max_waves=options.waves,
            sets=options.sets,
            candidates=options.candidates,
            confirm_replications=options.confirm_replications,
            confirm=str(options.confirm),
            refine_rounds=options.refine,
            recheck_replications=options.recheck,
            resume=resume,
            force=force,
            on_wave=wave_done,
            on_runs=on_runs,
            reference=reference,
        )
    )
    from sim.reporting.figures import history_matching_figure

    history_matching_figure(result, patterns)
    confirmation = result.confirmation
    kept = int(confirmation.kept.sum())
    drawn = int(confirmation.candidate.nunique())
    by_round = confirmation[confirmation.kept].groupby("round").size()
    refined = (
        f" ({int(by_round.get(0, 0))} as drawn, {kept - int(by_round.get(0, 0))} after refinement)"
        if int(confirmation["round"].max()) > 0
        else ""
    )
    recheck = result.recheck
    rechecked = (
        f", {int(recheck.rechecked.sum())} of them again on {options.recheck} fresh run(s) each"
        if recheck is not None
        else ""
    )
    console.print(
        f"{result.matching.stopped}; {kept} of {drawn} candidates confirmed on fresh seeds"
        f"{refined}{rechecked}; ensemble of {len(result.ensemble)} sets in "
        f"[bold]{out_dir / 'ensemble.csv'}[/] ({result.wall_seconds:.0f} s)"
    )
    if len(result.ensemble) < options.sets:
        err_console.print(
            f"[bold yellow]warning:[/] {len(result.ensemble)} sets, not the {options.sets} "
            "asked for: confirm more candidates (--candidates) or loosen the patterns",
            highlight=False,
        )
