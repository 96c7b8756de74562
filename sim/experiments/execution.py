"""Where runs execute: one ``concurrent.futures.Executor`` behind every command (DESIGN 5).

``serial`` runs in this process, ``process`` in a local pool of worker processes (the default),
``dask`` on a Dask cluster: the scheduler at ``address`` if given, else a local cluster of
``workers`` single-threaded worker processes on loopback. Results never depend on the backend
or the number of workers: every run's seed is fixed before it is submitted.

Ctrl-C: a terminal sends SIGINT to every process of the foreground group, workers included.
Local workers are started with SIGINT blocked, so that only this process reacts to it: the
``KeyboardInterrupt`` leaves the ``executor`` block, which cancels what has not started and
stops the workers at once (no traceback from each worker, no wait for the runs in progress).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sim.errors import OptionError


class Backend(StrEnum):
    """Execution backends."""

    serial = "serial"
    process = "process"
    dask = "dask"


class SerialExecutor(Executor):
    """Runs each submitted call at once, in this process (for debugging and tiny batches)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` now and return its completed future."""
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            future.set_exception(exc)
        return future


ENGINE_NAMES = ("vector", "agents")  # the engines of ``sim.model.model.ENGINES``


@dataclass(frozen=True)
class ExecutionOptions:
    """How a set of runs is executed: the backend, its workers, and the engine of each run.

    Every experiment takes one of these instead of the four arguments; results do not depend on
    any of them except ``engine`` (and the engines agree in distribution).

    Attributes:
        backend: ``serial``, ``process`` (a local process pool) or ``dask``.
        workers: Worker processes (the process pool or a local Dask cluster).
        address: A running Dask scheduler, ``tcp://host:port`` (``dask`` only).
        engine: ``vector`` (the default) or ``agents``.
    """

    backend: str = "process"
    workers: int = 1
    address: str | None = None
    engine: str = "vector"

    def __post_init__(self) -> None:
        if self.backend not in Backend.__members__:
            raise OptionError(
                "--backend", self.backend, f"allowed: {', '.join(Backend.__members__)}"
            )
        if self.engine not in ENGINE_NAMES:
            raise OptionError("--engine", self.engine, f"allowed: {', '.join(ENGINE_NAMES)}")
        if self.address and self.backend != Backend.dask:
            raise OptionError("--address", self.address, "needs --backend dask")
        if self.backend == Backend.serial and self.workers != 1:
            object.__setattr__(self, "workers", 1)
        if self.workers < 1:
            raise OptionError("--workers", str(self.workers), "allowed: at least 1")

    def at_most(self, runs: int) -> ExecutionOptions:
        """The same options with no more workers than ``runs``."""
        return replace(self, workers=max(1, min(self.workers, runs)))

    @property
    def remote(self) -> bool:
        """Whether the runs execute on a cluster elsewhere (its memory is not this machine's)."""
        return self.address is not None

    def describe(self) -> str:
        """``2 worker(s), process backend``, or ``Dask at tcp://...``."""
        if self.address:
            return f"Dask at {self.address}"
        return f"{self.workers} worker(s), {self.backend} backend"

    def executor(self):
        """The ``executor`` context for these options."""
        return executor(self.backend, self.workers, self.address)


def default_workers() -> int:
    """Worker processes when none are asked for: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start child processes (and threads) in this block with SIGINT blocked; defer Ctrl-C.

    Children and threads inherit the signal mask of the thread that creates them, so workers
    started here never see the SIGINT that a terminal sends to the whole process group. In the
    main thread a Ctrl-C that arrives meanwhile is held back until the block ends (a second one
    is not), so that it never interrupts the start of a worker or of a cluster halfway, which
    could leave a process that nothing stops.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
        yield
        return
    # Starting multiprocessing's resource tracker unblocks SIGINT in the thread that starts
    # it: start it before blocking (it ignores SIGINT itself).
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    deferred: list[int] = []
    defer = (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    )
    if defer:

        def hold(signum: int, frame: Any) -> None:
            if deferred:
                raise KeyboardInterrupt
            deferred.append(signum)

        signal.signal(signal.SIGINT, hold)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        try:
            # A SIGINT held by the mask is delivered (to ``hold``) by this call.
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        finally:
            if defer:
                signal.signal(signal.SIGINT, signal.default_int_handler)
    if deferred:
        raise KeyboardInterrupt


class _ProcessPool(ProcessPoolExecutor):
    """A process pool whose workers ignore Ctrl-C (``_workers_ignore_sigint``)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """``ProcessPoolExecutor.submit``; a worker it starts has SIGINT blocked."""
        # Workers are started on demand, by submit, with the "spawn" start method.
        with _workers_ignore_sigint():
            return super().submit(fn, *args, **kwargs)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what has not started, stop the workers now and wait until they are gone."""
        processes = list((self._processes or {}).values())
        manager = self._executor_manager_thread
        self.shutdown(wait=False, cancel_futures=True)
        # Let the manager thread drop the cancelled calls before it sees workers end: on
        # Python 3.11 it would otherwise try to fail the cancelled futures, and raise.
        deadline = time.monotonic() + 1.0
        while self._cancel_pending_futures and manager is not None and manager.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout)
            if process.is_alive():  # pragma: no cover - SIGTERM is not handled by workers
                process.kill()
                process.join(timeout)
        if manager is not None:
            manager.join(timeout)


def workers_cannot_start() -> str | None:
    """Why local worker processes could not start from this program, or None if they can.

    Workers are started with "spawn" (Mesa asks for it), which runs the main program again in
    each worker. That fails for a program read from standard input or given with ``-c`` (there
    is no file to run again) and for a script without an ``if __name__ == "__main__":`` guard
    (each worker would start workers of its own). A notebook or an interactive session has no
    main program to run again, and a program started with ``python -m`` is imported by name.
    """
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path is None or getattr(main, "__spec__", None) is not None:
        return None
    if not os.path.isfile(path):
        return f"worker processes cannot run the main program ({path}) again"
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            source = file.read()
    except OSError:
        return f"worker processes cannot read the main program ({path})"
    if "__main__" not in source:
        return f'{path} has no `if __name__ == "__main__":` guard'
    return None


@contextmanager
def executor(
    backend: Backend | str = Backend.process,
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[Executor]:
    """An executor for ``backend``, shut down on exit.

    On a normal exit the calls submitted are waited for. When the block raises (Ctrl-C, an
    error), calls that have not started are cancelled and local workers are stopped at once.

    Args:
        backend: ``serial``, ``process`` or ``dask``.
        workers: Worker processes (``process``, or a local Dask cluster) [CPUs available].
        address: Address of a running Dask scheduler, ``tcp://host:port`` (``dask`` only).

    Yields:
        The executor.
    """
    backend = Backend(backend)
    workers = workers or default_workers()
    if address and backend is not Backend.dask:
        raise OptionError("--address", address, "needs --backend dask")
    reason = None if backend is Backend.serial or address else workers_cannot_start()
    if reason:
        logging.getLogger(__name__).warning(
            'deter-sim runs serially: %s. Put the calls under `if __name__ == "__main__":` in '
            "a script to use worker processes.",
            reason,
        )
    if backend is Backend.serial or reason:
        yield SerialExecutor()
    elif backend is Backend.process:
        # Mesa forces the "spawn" start method on import; ask for it explicitly so that the
        # pool behaves the same whether or not Mesa was imported first.
        context = multiprocessing.get_context("spawn")
        pool = _ProcessPool(max_workers=workers, mp_context=context)
        try:
            yield pool
        except BaseException:
            pool.stop()
            raise
        pool.shutdown(wait=True)
    else:
        quiet = _QuietLogging()
        with quiet, _CancelledCallNoise().installed(), _dask_client(workers, address) as client:
            pool = client.get_executor(pure=False)
            try:
                yield pool
            except BaseException:
                # Shutting down with calls cancelled halfway, the scheduler logs what it can no
                # longer tell the client (already closed): not news.
                quiet.start()
                pool.shutdown(wait=False)  # cancels the calls not finished
                raise
            pool.shutdown(wait=True)


class _QuietLogging:
    """Once started, no logging in this process until the ``with`` block it guards has ended."""

    def __init__(self) -> None:
        self._before: int | None = None

    def start(self) -> None:
        """Turn logging off (``logging.disable``) until the end of the block."""
        if self._before is None:
            self._before = logging.root.manager.disable
            logging.disable(logging.CRITICAL)

    def __enter__(self) -> _QuietLogging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._before is not None:
            logging.disable(self._before)
            self._before = None


def _quiet_when_closing(dask_worker: Any) -> None:
    """In a local Dask worker: no log records once it is closing.

    A worker stopped while it runs a call may have a heartbeat to the scheduler under way,
    which its own closing cuts off: it then logs "Failed to communicate with scheduler during
    heartbeat" with a traceback, although nothing is wrong.
    """
    from distributed.core import Status

    closing = {Status.closing, Status.closing_gracefully, Status.closed}
    logging.getLogger("distributed.worker").addFilter(
        lambda record: dask_worker.status not in closing
    )


class _CancelledCallNoise(logging.Filter):
    """Drops the errors Dask logs when a call it was finishing is cancelled (Ctrl-C, an error).

    The scheduler cannot hand over the result of a call cancelled meanwhile ("Couldn't gather
    keys", the key forgotten) and the ``concurrent.futures`` adapter's callback then fails with
    ``FutureCancelledError``: both only say that the cancel arrived, which is no news.
    """

    LOGGERS = ("distributed.scheduler", "tornado.application")

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the two records above."""
        if record.msg == "Couldn't gather keys: %s" and isinstance(record.args, tuple):
            states = record.args[0] if record.args else None
            if isinstance(states, dict) and set(states.values()) <= {"forgotten", "released"}:
                return False
        error = record.exc_info[1] if record.exc_info else None
        return type(error).__name__ != "FutureCancelledError"

    @contextmanager
    def installed(self) -> Iterator[None]:
        """The filter on Dask's loggers for the duration of the block."""
        loggers = [logging.getLogger(name) for name in self.LOGGERS]
        for logger in loggers:
            logger.addFilter(self)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(self)


UNSET_TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


@contextmanager
def _dask_client(workers: int, address: str | None) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    if address:
        with Client(address, timeout="30s") as client:
            yield client
        return
    # The cluster's event-loop thread starts the worker processes (and restarts them): created
    # here, it and they inherit SIGINT blocked. Dask's nannies start workers with glibc's
    # MALLOC_TRIM_THRESHOLD_ set (65536), which also fixes malloc's threshold for mapping fresh
    # pages: every array the model makes and drops each week is then mapped, faulted in and
    # unmapped again, and a run took 25 to 30% longer than in a process-pool worker. Unset.
    # Nor do the workers sample their own stacks every 10 ms for Dask's profiler.
    settings = {UNSET_TRIM: None, "distributed.worker.profile.enabled": False}
    with _workers_ignore_sigint(), dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR
        )
    with cluster, Client(cluster) as client:
        client.run(_quiet_when_closing)
        yield client
