"""Ctrl-C and write failures through the installed command: clean stop, one line, no half result.

Ctrl-C is sent as a terminal sends it, to the whole process group, once the work has really
started (progress shown, run files written). Rich is told that stderr is an interactive
terminal (TTY_COMPATIBLE, TTY_INTERACTIVE) so that the progress bar is drawn as the runs finish.
A full disk is simulated with a small RLIMIT_FSIZE (writes then fail with EFBIG).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import DETER_SIM, run_files, run_rows, small, small_files_only

from sim.cli.main import RESUME_HINT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

WEEKS = 80
# Runs of `run` long enough for Ctrl-C to find the workers busy; runs of a sweep short enough
# for it to be resumed and run again whole in a few seconds.
SELLERS = {"run": 20_000, "sweep": 5_000}
GRID = [
    "--grid",
    "enforcement.prosecution_rate=0.1:0.9:5",
    "--grid",
    "enforcement.max_sentence_years=1,4,7",
]
SWEEP_RUNS = (1 + 5 * 3) * 2  # the reference and 15 grid cells, 2 replications each
RUN_REPLICATIONS = 60  # far more than can finish before the signal
PROMPT_SECONDS = 20  # from the signal to the exit of the command
SWEEP_TABLES = ("sweep.csv", "sweep_stats.csv", "heatmap.png", "manifest.json", "run_index.csv")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
ERASE_LINE = "\x1b[2K"  # Rich starts each redraw of the progress bar with it
# A whole line of the progress bar, e.g. "runs ━━━╸━━━  3/32 12.07 runs/s 0:00:05 eta 0:00:03",
# and nothing else (a log record glued to it is not progress).
TIME = r"(\d+:\d\d:\d\d|-:--:--)"
PROGRESS = re.compile(
    rf"^(replications|runs) [━╺╸ ]+\d+/(\d+|\?) +([\d.]+ runs/s +)?{TIME} eta *{TIME}? *$"
)
ERROR_LINE = re.compile(r"^error: .+$")


# -- helpers ------------------------------------------------------------------------------------
def _group(pgid: int) -> list[str]:
    """Command lines of the live (not zombie) processes of process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            found.append(f"{entry.name}: {cmdline[:160]}")
    return found


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` other than the progress bar, without terminal codes."""
    text = ANSI.sub("", stderr.replace(ERASE_LINE, "\n")).replace("\r", "\n")
    return [line.strip() for line in text.splitlines() if line.strip() and not PROGRESS.match(line)]


def _done(stderr: str, total: int) -> int:
    """Runs the progress bar says are finished."""
    counts = re.findall(rf"(\d+)/{total}\b", ANSI.sub("", stderr))
    return max((int(n) for n in counts), default=0)


@dataclass
class Stopped:
    """What an interrupted command did."""

    returncode: int | None
    seconds: float  # from the signal to the exit of the command
    stderr: str
    leftovers: list[str]  # processes of its group still alive after it exited


def _interrupt(
    args: list[str], cwd: Path, started: Callable[[str], bool], timeout: float = 120
) -> Stopped:
    """Run ``args``; once ``started(stderr so far)``, send SIGINT to its whole process group."""
    env = {**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"}
    process = subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # A suite run as a background job hands its children SIGINT ignored: Ctrl-C must reach
        # the command as it would from a terminal.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pgid = process.pid
    chunks: list[bytes] = []
    reader = threading.Thread(
        target=lambda: chunks.extend(iter(lambda: process.stderr.read1(65536), b"")),
        daemon=True,
    )
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not started(b"".join(chunks).decode(errors="replace")):
            said = "\n".join(_lines(b"".join(chunks).decode(errors="replace")))
            assert process.poll() is None, f"ended before it started:\n{said}"
            assert time.monotonic() < deadline, f"no sign of work after {timeout} s"
            time.sleep(0.02)
        signalled = time.monotonic()
        os.killpg(pgid, signal.SIGINT)
        try:
            returncode = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            returncode = None
        seconds = time.monotonic() - signalled
        deadline = time.monotonic() + 10  # the workers' own exit after the command's
        while (leftovers := _group(pgid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        reader.join(timeout=10)
        return Stopped(returncode, seconds, b"".join(chunks).decode(errors="replace"), leftovers)
    finally:
        _kill_group(pgid)
        process.wait()


def _size(kind: str) -> list[str]:
    return [f"population.sellers={SELLERS[kind]}", "burn_in_weeks=20", f"weeks={WEEKS}"]


def _command(
    kind: str, backend: str, out: Path | None, *extra: str, replications: int | None = None
) -> list[str]:
    """``deter-sim run`` or ``sweep`` of a small baseline on 2 workers."""
    args = [DETER_SIM, kind, "baseline_2016", *[a for item in _size(kind) for a in ("--set", item)]]
    args += ["--backend", backend, "--workers", "2"]
    if kind == "run":
        args += ["--replications", str(replications or RUN_REPLICATIONS)]
    else:
        args += ["--replications", str(replications or 2), *GRID]
    if out is not None:
        args += ["--out", str(out)]
    return args + list(extra)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _assert_stopped_cleanly(stopped: Stopped) -> None:
    said = "stderr without the progress bar:\n" + "\n".join(_lines(stopped.stderr))
    assert stopped.returncode is not None, f"still running 60 s after Ctrl-C; {said}"
    assert stopped.returncode == 130, said
    assert stopped.seconds < PROMPT_SECONDS, f"took {stopped.seconds:.1f} s to stop"
    assert not stopped.leftovers, f"processes left running: {stopped.leftovers}"
    assert "Traceback" not in stopped.stderr, said
    # Nothing but the progress bar and (see the test below) the 'interrupted' line: no noise
    # from the workers or from Dask shutting down.
    assert set(_lines(stopped.stderr)) <= {"interrupted", "interrupted" + RESUME_HINT}, said


# -- Ctrl-C during `run` ------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["process", pytest.param("dask", marks=pytest.mark.slow)])
def interrupted_run(request, tmp_path_factory):
    """`deter-sim run` without --out, beside an earlier complete result, stopped by Ctrl-C."""
    cwd = tmp_path_factory.mktemp(f"run-{request.param}")
    earlier = cwd / "results" / "baseline_2016"
    # An earlier complete result of the same scenario: the run goes to results/baseline_2016-2.
    from sim.experiments.runner import run_scenario

    run_scenario(small(), workers=1, backend="serial").save(earlier)
    before = _digest(earlier)
    stopped = _interrupt(
        _command("run", request.param, None),
        cwd,
        started=lambda stderr: _done(stderr, RUN_REPLICATIONS) >= 1,
    )
    return stopped, cwd, earlier, before


def test_ctrl_c_during_run_stops_cleanly_and_leaves_no_result(interrupted_run):
    stopped, cwd, earlier, before = interrupted_run
    _assert_stopped_cleanly(stopped)
    assert _done(stopped.stderr, RUN_REPLICATIONS) < RUN_REPLICATIONS, "came too late"
    new = cwd / "results" / "baseline_2016-2"
    assert new.is_dir()  # chosen and checked before the run started
    assert list(new.iterdir()) == [], "a half-finished run left files"
    assert _digest(earlier) == before, "the earlier result was touched"
    assert sorted(p.name for p in (cwd / "results").iterdir()) == [
        "baseline_2016",
        "baseline_2016-2",
    ]


def test_ctrl_c_during_run_says_interrupted_in_one_line(interrupted_run):
    stopped = interrupted_run[0]
    assert _lines(stopped.stderr) == ["interrupted"], stopped.stderr


# -- Ctrl-C during `sweep`, then --resume ---------------------------------------------------------
@pytest.fixture(scope="module", params=["process", pytest.param("dask", marks=pytest.mark.slow)])
def interrupted_sweep(request, tmp_path_factory):
    """A sweep stopped by Ctrl-C once at least two of its runs are written."""
    out = tmp_path_factory.mktemp(f"sweep-{request.param}") / "sweep"
    stopped = _interrupt(
        _command("sweep", request.param, out),
        out.parent,
        started=lambda stderr: len(run_files(out)) >= 2,
    )
    return stopped, out


@pytest.fixture(scope="module")
def uninterrupted_sweep(tmp_path_factory):
    """The same sweep run whole, in this process (what the command calls)."""
    from sim.experiments.execution import ExecutionOptions
    from sim.experiments.sweep import parse_grid, run_sweep
    from sim.scenario import load_scenario

    base = load_scenario("baseline_2016", [*_size("sweep"), "replications=2"])
    axes = [parse_grid(axis) for axis in GRID[1::2]]
    out = tmp_path_factory.mktemp("whole") / "sweep"
    run_sweep(base, axes, out, ExecutionOptions("serial"))
    return out


def test_ctrl_c_during_sweep_stops_cleanly_and_writes_no_table(interrupted_sweep):
    stopped, out = interrupted_sweep
    _assert_stopped_cleanly(stopped)
    finished = run_files(out)
    assert 2 <= len(finished) < SWEEP_RUNS, "the signal came too late to test anything"
    for name in SWEEP_TABLES:
        assert not (out / name).exists(), f"{name} written by an interrupted sweep"
    for path in finished:  # every run file is whole
        assert pq.read_table(path).num_rows == WEEKS
    # Anything else is a temporary file of a stopped worker: hidden, never read as a run.
    others = {p for p in (out / "runs").rglob("*") if p.is_file()} - set(finished)
    assert all(p.name.startswith(".rep-") and p.suffix == ".tmp" for p in others), others
    assert {p.name for p in out.iterdir()} == {"batch.json", "points.csv", "runs"}


def test_ctrl_c_during_sweep_says_interrupted_and_how_to_resume(interrupted_sweep):
    stopped = interrupted_sweep[0]
    assert _lines(stopped.stderr) == ["interrupted" + RESUME_HINT], stopped.stderr
    assert "--resume" in RESUME_HINT


def test_an_interrupted_sweep_resumed_equals_an_uninterrupted_one(
    interrupted_sweep, uninterrupted_sweep
):
    out = interrupted_sweep[1]
    finished = len(run_files(out))
    # Results do not depend on the backend; serial saves starting workers again.
    resumed = subprocess.run(
        _command("sweep", "serial", out, "--resume"), capture_output=True, text=True, check=False
    )
    assert resumed.returncode == 0, resumed.stderr
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "sweep.csv"), pd.read_csv(uninterrupted_sweep / "sweep.csv")
    )
    pd.testing.assert_frame_equal(run_rows(out), run_rows(uninterrupted_sweep))
    index = pd.read_csv(out / "run_index.csv")
    assert len(index) == SWEEP_RUNS and (index.status == "ok").all()
    assert index.resumed.sum() == finished
    assert not [p for p in out.rglob("*") if p.suffix == ".tmp"]


# -- a save that stops halfway (in this process: the moment cannot be hit from outside) ----------
@pytest.fixture(scope="module")
def results():
    from sim.experiments.runner import run_scenario

    return run_scenario(small(), workers=1, backend="serial")


@pytest.mark.parametrize(
    "failure", [KeyboardInterrupt(), OSError(errno.ENOSPC, "No space left on device")]
)
def test_a_save_stopped_while_writing_leaves_the_earlier_result_as_it_was(
    failure, results, tmp_path, monkeypatch
):
    from sim.experiments import runner

    folder = results.save(tmp_path / "r")  # an earlier result, replaced as with --force
    before = _digest(folder)

    def fails(path, text):  # after the time series and the summaries are written
        raise failure

    monkeypatch.setattr(runner, "write_text", fails)
    with pytest.raises(type(failure)):
        results.save(folder, "csv")
    assert _digest(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == sorted(before)  # no staging folder left


def test_a_save_stopped_while_moving_files_in_leaves_nothing_that_looks_complete(
    results, tmp_path, monkeypatch
):
    from sim.errors import FolderError
    from sim.experiments import runner
    from sim.experiments.runner import Results

    folder = results.save(tmp_path / "r")
    real = os.replace
    moved = []

    def interrupted(source, target):  # Ctrl-C after two files are moved into the folder
        if Path(target).parent == folder:
            if len(moved) == 2:
                raise KeyboardInterrupt
            moved.append(target)
        real(source, target)

    monkeypatch.setattr(runner.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.save(folder)
    names = {p.name for p in folder.iterdir()}
    assert "manifest.json" not in names and not any(n.startswith(".saving-") for n in names)
    assert not {Path(p).name for p in moved} & names  # the new files went back out
    with pytest.raises(FolderError, match="no manifest.json"):
        Results.load(folder)


# -- write failures -------------------------------------------------------------------------------
def _error_line(stderr: str) -> str:
    lines = _lines(stderr)
    assert len(lines) == 1 and ERROR_LINE.match(lines[0]), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_a_full_disk_gives_one_line_and_no_result(kind, tmp_path):
    out = tmp_path / "out"
    # Big enough for batch.json and points.csv, too small for a run's rows (about 34 kB).
    # `run` writes in this process; a sweep's workers write the runs themselves.
    backend = "serial" if kind == "run" else "process"
    done = subprocess.run(
        _command(kind, backend, out, replications=2),
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        preexec_fn=small_files_only(8192),
    )
    assert done.returncode == 2, done.stderr
    line = _error_line(done.stderr)
    assert str(out) in line and "File too large" in line, line
    if kind == "run":
        assert list(out.iterdir()) == [], "files were left"
    else:
        assert "--resume" in line
        for name in SWEEP_TABLES:
            assert not (out / name).exists(), name
        for path in run_files(out):
            assert pq.read_table(path).num_rows == WEEKS


@pytest.mark.slow  # about 20 s: a whole sweep, serial
def test_a_disk_that_fills_up_after_the_runs_gives_one_line(tmp_path):
    out = tmp_path / "out"
    # Room for each run's rows (about 34 kB) but not for sweep_stats.csv (about 58 kB).
    done = subprocess.run(
        _command("sweep", "serial", out),
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
        preexec_fn=small_files_only(40_000),
    )
    assert len(run_files(out)) == SWEEP_RUNS  # the runs were written, the tables were not
    for name in ("sweep.csv", "heatmap.png", "manifest.json"):
        assert not (out / name).exists(), name
    assert done.returncode == 2, done.stderr
    line = _error_line(done.stderr)
    assert str(out) in line and "File too large" in line, line


@pytest.mark.parametrize("kind", ["run", "sweep"])
def test_an_output_folder_under_a_file_gives_one_line(kind, tmp_path):
    (tmp_path / "somefile").write_text("not a folder")
    out = tmp_path / "somefile" / "sub"
    done = subprocess.run(
        _command(kind, "serial", out), capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 2, done.stderr
    line = _error_line(done.stderr)
    assert str(out) in line and "Not a directory" in line, line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_output_folder_gives_one_line_for_sweep(tmp_path):
    parent = tmp_path / "read-only"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        out = parent / "sweep"
        done = subprocess.run(
            _command("sweep", "serial", out), capture_output=True, text=True, check=False
        )
    finally:
        parent.chmod(0o700)
    assert done.returncode == 2, done.stderr
    line = _error_line(done.stderr)
    assert str(out) in line and "Permission denied" in line, line


# -- a worker killed in the middle of a sweep -----------------------------------------------------
def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        children = []
        for task in Path(f"/proc/{parent}/task").glob("*"):  # a thread lists its own children
            try:
                children += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        found += children
        queue += children
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("backend", "worker"),
    [
        pytest.param("process", "spawn_main", marks=pytest.mark.slow),  # about 35 s each
        pytest.param("dask", "spawn_main", marks=pytest.mark.slow),
    ],
)
def test_a_worker_killed_mid_sweep_does_not_fail_it(backend, worker, uninterrupted_sweep, tmp_path):
    out = tmp_path / "sweep"
    log = (tmp_path / "stderr").open("w+b")  # a pipe left unread would fill and block it
    process = subprocess.Popen(
        _command("sweep", backend, out),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    victim = None
    while time.monotonic() < deadline and victim is None and process.poll() is None:
        if len(run_files(out)) >= 2:
            workers = [p for p in _descendants(process.pid) if worker in _cmdline(p)]
            workers = [p for p in workers if "resource_tracker" not in _cmdline(p)]
            victim = workers[-1] if workers else None
        time.sleep(0.02)
    assert victim is not None, "no worker found while the sweep ran"
    os.kill(victim, signal.SIGKILL)
    process.wait(timeout=300)
    log.seek(0)
    assert process.returncode == 0, log.read().decode(errors="replace")
    pd.testing.assert_frame_equal(
        pd.read_csv(out / "sweep.csv"), pd.read_csv(uninterrupted_sweep / "sweep.csv")
    )
    pd.testing.assert_frame_equal(run_rows(out), run_rows(uninterrupted_sweep))
    index = pd.read_csv(out / "run_index.csv")
    assert len(index) == SWEEP_RUNS and (index.status == "ok").all()
