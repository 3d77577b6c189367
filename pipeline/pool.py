"""The local process pool: `workers` processes forked from the driver, no Ray.

The driver has imported polars, numba and every stage module by the time the run starts, so a
forked worker starts with all of it (copy-on-write) and pays no import: its first task only loads
the numba kernels it calls (0.4-0.6 s once per worker; Ray's workers import everything first, and
Ray's start and stop cost ~3 s more: README, Performance).

fork is safe only before polars' thread pool starts: a child forked after it inherits a pool
whose threads do not exist, and its first parallel polars call waits for them forever (tried:
it hangs; polars' user guide, "Multiprocessing"). The console script therefore forks the pool
(`prestart`) right after its imports, before the config is validated (validators call polars);
the runner forks it when the run starts where nothing did so before (a program that calls
`dedup_only` or `run` with a config it parsed). `polars_threads_started` looks for polars'
threads by name. Where they run already (a process that used polars before it
called the runner: a test, a notebook) the workers come from a fork server instead: a fresh
interpreter that imports the runner once and forks each worker from itself.

Each worker gives polars one thread (POLARS_MAX_THREADS=1, as on Ray): `workers` processes on
as many cores, not `workers` x cores threads. Tasks and their results are pickled both ways, so a
task function must be a module-level function (as for Ray).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor

log = logging.getLogger(__name__)
POLARS_THREAD = "polars-"  # polars names its pool's threads polars-0, polars-1, ...
# what the fork server imports once, so that each worker it forks has it
PRELOAD = ["thresher.pipeline.runner", "thresher.stages.registry"]


class PoolError(RuntimeError):
    """A worker process of the local pool died (killed: out of memory?); the run stops."""


def polars_threads_started() -> bool:
    """Whether this process runs polars' thread pool already (True where /proc cannot tell)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return True
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8") as f:
                name = f.read().strip()
        except OSError:  # the thread ended meanwhile
            continue
        if name.startswith(POLARS_THREAD) and name[len(POLARS_THREAD) :].isdigit():
            return True
    return False


def _worker_init() -> None:
    # read by polars when its thread pool first starts, which in a worker is after this
    os.environ.setdefault("POLARS_MAX_THREADS", "1")


def _noop() -> None:
    """A first task: it makes the pool fork its workers now (see `start_pool`)."""


def _fork_now(workers: int) -> ProcessPoolExecutor:
    ctx = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init)
    pool.submit(_noop)  # a fork-context pool forks all its workers at its first submit: now
    return pool


_early: tuple[int, ProcessPoolExecutor] | None = None  # `prestart`'s pool, until taken


def prestart(workers: int) -> None:
    """Fork a pool of `workers` now, for the run to take (`start_pool`): the console script
    calls this once the stage modules are imported and before the config is validated (some
    validators call polars, which starts its threads). A no-op once polars' threads run."""
    global _early
    if _early is None and workers > 1 and not polars_threads_started():
        _early = (workers, _fork_now(workers))
        atexit.register(discard_early)


def discard_early() -> None:
    """Stop the prestarted pool if no run took it."""
    global _early
    early, _early = _early, None
    if early is not None:
        early[1].shutdown(wait=False, cancel_futures=True)


def start_pool(workers: int) -> ProcessPoolExecutor:
    """`workers` processes: the prestarted pool when it has as many, else forked now when
    polars' threads have not started in this process, else from a fork server."""
    global _early
    if _early is not None and _early[0] == workers:
        early, _early = _early[1], None
        log.debug("local pool: %d workers (forked at start)", workers)
        return early
    discard_early()
    if not polars_threads_started():
        log.debug("local pool: %d workers (fork)", workers)
        return _fork_now(workers)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    log.debug("local pool: %d workers (fork server)", workers)
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init)


def result(future: Future) -> object:
    """A task's result; a worker that died is a PoolError that says so."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool as err:
        raise PoolError(
            f"a worker process of the local pool died ({err}); killed for lack of memory? "
            "fewer --workers, or --executor ray; a rerun resumes from the finished shards"
        ) from None
