"""Where results go, and the one rule for taking over an output folder.

Results are never overwritten silently. A command without ``--out`` writes to its default
folder under ``results/`` (``results/<name>``, ``results/<name>_sweep``, ...), or, if that
already holds results, to the next free ``<default>-2``, ``-3``, ...; a folder named with
``--out`` that holds results is refused unless ``force``. A folder of a *batch* (a sweep,
sensitivity or elasticity analysis, a calibration) carries a marker file describing what was
asked for: it can be resumed only by the same request, and ``force`` replaces only a folder
that holds such a batch (never an unrelated folder).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sim.errors import FolderError
from sim.experiments.store import write_json

RESULTS = Path("results")


def default_folder(name: str, kind: str = "") -> Path:
    """The default output folder of a result: ``results/<name>`` or ``results/<name>_<kind>``.

    Args:
        name: The scenario's (or comparison's) name.
        kind: ``""`` for a run, else ``sweep``, ``sensitivity``, ``elasticity``,
            ``calibration``, ``hysteresis``, ...

    Returns:
        The folder (relative to the working folder).
    """
    return RESULTS / (f"{name}_{kind}" if kind else name)


def holds_results(folder: Path) -> list[str]:
    """What ``folder`` holds (its entries' names), or ``[]`` if it is missing or empty."""
    if not folder.is_dir():
        return [folder.name] if folder.exists() else []
    return sorted(entry.name for entry in folder.iterdir())


def claim_folder(
    out: Path | None,
    default: Path,
    force: bool,
    taken: Callable[[Path], Iterable[str]] = holds_results,
) -> Path:
    """The folder a result is written to, created and checked to be writable.

    Args:
        out: The folder asked for (``--out``), or None for the default.
        default: The default folder.
        force: Replace what ``out`` holds.
        taken: What a folder holds that the new result would replace (names); by default
            anything at all.

    Returns:
        ``out``, or the default, or the next free ``<default>-N``.

    Raises:
        FolderError: ``out`` holds results and not ``force``, or the folder cannot be written.
    """
    chosen = out if out is not None else default
    held = [] if force else list(taken(chosen))
    if held:
        if out is not None:
            raise FolderError(
                out,
                f"already holds {describe(held)}; add --force to replace them, or choose "
                "another --out",
            )
        number = 2
        while list(taken(chosen := default.with_name(f"{default.name}-{number}"))):
            number += 1
    check_writable(chosen)
    return chosen


def describe(names: list[str]) -> str:
    """``results`` for a folder's contents, or the names of the files it would lose."""
    shown = [n for n in names if not n.startswith(".")]
    if not shown or len(shown) > 4:
        return "results"
    return ", ".join(shown)


def check_writable(folder: Path) -> None:
    """Create ``folder`` and write a temporary file in it.

    Raises:
        FolderError: the system refuses (no permission, read-only, no space, ...).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise FolderError(folder, f"cannot write the results here ({exc.strerror or exc})") from exc


def clear(folder: Path, names: Iterable[str]) -> None:
    """Remove the derived tables of a result being replaced, before the new runs start.

    An interrupted rerun then never leaves an old table beside new runs.
    """
    for name in names:
        (folder / name).unlink(missing_ok=True)


def claim_batch_folder(
    out: Path,
    marker: str,
    record: dict[str, Any],
    resume: bool,
    force: bool,
    what: str,
    loose: Iterable[str] = (),
) -> bool:
    """Create a batch folder with its marker, or check that it holds this batch to resume.

    Args:
        out: The batch folder.
        marker: Name of the marker file (JSON) describing the batch.
        record: What the marker records (JSON-ready).
        resume: Finish the batch that ``out`` holds.
        force: Replace the batch that ``out`` holds.
        what: What the batch is, for messages (``"batch"``, ``"calibration"``).
        loose: Keys of ``record`` that may differ on resume (a stopping rule, a version).

    Returns:
        True if an existing batch is resumed, False if the folder was (re)created.

    Raises:
        FolderError: ``out`` holds other results, a different batch, or cannot be written.
    """
    marker_path = out / marker
    recorded = json.loads(json.dumps(record))
    if marker_path.exists() and not force:
        if not resume:
            raise FolderError(
                out,
                f"already holds {_article(what)}; add --resume to finish it, --force to "
                "replace it, or choose another --out",
            )
        earlier = json.loads(marker_path.read_text(encoding="utf-8"))
        strict = {k: v for k, v in recorded.items() if k not in loose}
        if {k: v for k, v in earlier.items() if k not in loose} != strict:
            raise FolderError(
                out,
                f"holds a different {what} (scenario, points, replications, seeds or settings "
                "differ); --resume needs the same command, or choose another --out",
            )
        return True
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FolderError(
                out, "exists and is not empty; choose another --out or add --force to replace it"
            )
        if not marker_path.exists():
            raise FolderError(
                out,
                f"holds no {what}, and --force only replaces one: choose another --out",
            )
    try:
        if force and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json(marker_path, recorded)
    except OSError as exc:
        raise FolderError(out, f"cannot write the results here ({exc.strerror or exc})") from exc
    return False


def _article(what: str) -> str:
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"
