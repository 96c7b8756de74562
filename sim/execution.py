"""Where runs execute: one ``concurrent.futures.Executor`` behind every command (DESIGN 5).

``serial`` runs in this process, ``process`` in a local pool of worker processes (the default),
``dask`` on a Dask cluster: the scheduler at ``address`` if given, else a local cluster of
``workers`` single-threaded worker processes on loopback. Results never depend on the backend
or the number of workers: every run's seed is fixed before it is submitted.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from enum import StrEnum
from typing import Any


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


def default_workers() -> int:
    """Worker processes when none are asked for: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def executor(
    backend: Backend | str = Backend.process,
    workers: int | None = None,
    address: str | None = None,
) -> Iterator[Executor]:
    """An executor for ``backend``, shut down on exit.

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
        raise ValueError("--address needs --backend dask")
    if backend is Backend.serial:
        yield SerialExecutor()
    elif backend is Backend.process:
        # Mesa forces the "spawn" start method on import; ask for it explicitly so that the
        # pool behaves the same whether or not Mesa was imported first.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            yield pool
    else:
        with _dask_client(workers, address) as client:
            pool = client.get_executor(pure=False)
            try:
                yield pool
            finally:
                pool.shutdown(wait=True)


@contextmanager
def _dask_client(workers: int, address: str | None) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if address:
        with Client(address, timeout="30s") as client:
            yield client
        return
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=40,  # logging.ERROR
    )
    with cluster, Client(cluster) as client:
        yield client
