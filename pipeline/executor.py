"""Executors: task functions with at most `workers` in flight, on Ray, on a local process pool
or in-process.

`[runner] executor = "auto"` (the default) decides once the inputs are listed and the run is
planned (`choose`), by the work left to do: the stages' cost per MB of input of its kind
(`Stage.cost`, measured) times the MB of the shards each must do, in seconds of one core. Below
AUTO_LOCAL_WORK_S, or with one worker, in-process; else the local pool (pipeline/pool.py:
processes forked from the driver, no Ray). With a cluster address, Ray; Ray on one machine only
when asked for ("ray"): the pool does the same work without Ray's start, stop and worker imports.
Ray starts in a background thread (`start`) while the driver lists inputs and plans; the first
`map` waits for it. All give the same bytes: a task's output depends on its arguments only.

The driver keeps at most `workers` tasks in flight and reports progress; tasks never print.
Progress is a bar when stderr is a terminal, else a log line at most every `period` seconds and
one when the step ends ("extract+base: 3/4 shards, 1,234 docs, 56 docs/s"): a bar's redraws
fill a log file with carriage returns. Results come back in the order of the calls, whatever
order the tasks finish in.

Test-only: with THRESHER_TEST_STALL=<folder> in the driver's environment, a Ray task whose key
("<desc>@<call index>", e.g. "verify@1") names a file in that folder records each of its
attempts (node, Ray task id, pid) in <folder>/<key>.attempts, and its first attempt waits there
before running, so that a test can remove that task's node while it runs and see the task run
again elsewhere (tests/pipeline/test_ray_cluster.py). Unset, nothing is wrapped.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from thresher.pipeline.pool import discard_early, result, start_pool

log = logging.getLogger(__name__)
PERIOD_S = 10.0  # at most one progress line this often when stderr is not a terminal
# auto: in-process below this much estimated work (seconds of one core, `Stage.cost`). Forking
# the pool costs next to nothing (the 1,000-document dedup, 0.04 s estimated: auto with the pool
# forked and unused 3.27-3.85 s, in-process 3.38-3.67 s, load ~7), but each worker loads what
# its tasks use (numba kernels ~0.5 s, models) where in-process loads it once, and 2 workers save
# at most half the task time, only on idle cores. Measured `thresher dedup`, pool against
# in-process, at load 4-8 on the 2-core development machine (2026-12-07): 10,000 documents
# (0.6 s estimated) 5.97/6.51 s against 5.05/5.36 s; 30,000 (1.9 s) 7.53/6.76 against 5.91/6.21;
# 100,000 (6.2 s) level (7.14 against 7.19 s at load 2.6); README, Performance. So the pool from
# where half the work outweighs the extra loading.
AUTO_LOCAL_WORK_S = 3.0
# auto: the pool only with this many cores left idle by other processes (measured from
# /proc/stat while the driver lists and plans; not the load average, which still counts a run
# that just ended for a minute). On the busy machine the pool spent ~1.3 CPU s more than
# in-process on the 100,000-document dedup (its workers each load the kernels and fault in
# their own memory): 8.1-8.6 against 7.1-7.6 CPU s, and lost 2-6 s of wall time while others
# kept ~1.5 cores busy (pool 13.2-16.9 s, in-process 8.0-14.6 s); level with ~1 core busy.
AUTO_POOL_IDLE_CORES = 1.5
RAY_THREAD_WARNING = "SIGTERM handler is not set"  # ray.init off the main thread; we set it
STALL_ENV = "THRESHER_TEST_STALL"  # test-only (see the module docstring)
STALL_S = 300.0  # how long a stalled first attempt waits for its node to be removed


@dataclass
class Executor:
    """Runs task functions with at most `workers` in flight; calls `done` as each finishes."""

    workers: int
    use_ray: bool = True
    progress: bool = True
    ray_address: str | None = None
    auto: bool = False  # undecided until `choose`: in-process until then
    use_pool: bool = False  # the local process pool (pipeline/pool.py); not with use_ray
    _remote: dict[Callable[..., Any], Any] = field(default_factory=dict)
    _ray: Future[None] | None = field(default=None, repr=False)
    _pool: ProcessPoolExecutor | None = field(default=None, repr=False)
    _since: CpuSample = field(default_factory=lambda: CpuSample.now(), repr=False)  # for auto

    def start(self) -> Executor:
        """Start (or join) Ray in a background thread, or fork the local pool (also for an
        undecided executor that may choose it: the fork must come before polars' threads start,
        pipeline/pool.py); a no-op in-process or once started."""
        if self.use_ray and self._ray is None:
            self._ray = Future()
            _exit_on_sigterm()  # what ray.init does on the main thread only: atexit shuts Ray down
            threading.Thread(target=self._start_ray, name="ray-start", daemon=True).start()
        elif (self.use_pool or (self.auto and self.workers > 1)) and self._pool is None:
            self._pool = start_pool(self.workers)
            atexit.register(self.close)
        return self

    def close(self, wait: bool = True) -> None:
        """Stop the local pool's workers (a no-op without one); `wait`: until they have exited."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)

    def _start_ray(self) -> None:
        assert self._ray is not None
        try:
            started = start_ray(self.ray_address, self.workers)
            self._ray.set_result(None)
        except BaseException as err:  # handed to the driver at its first map
            self._ray.set_exception(err)
            return
        if started:  # Ray's daemons die with the *thread* that started them (PR_SET_PDEATHSIG):
            threading.Event().wait()  # it stays until the process exits, after atexit's shutdown

    def choose(self, work_s: float) -> Executor:
        """An undecided (auto) executor decides by the run's estimated work (seconds of one
        core, `auto_choice`): in-process, or the local pool (forked already by `start`; stopped
        when not chosen). A decided one stays as it is."""
        if self.auto:
            self.auto = False
            others = CpuSample.now().others_since(self._since)
            self.use_pool = auto_choice(self.workers, work_s, others) == "pool"
            if not self.use_pool:  # its idle workers exit by themselves
                self.close(wait=False)
            how = "local pool" if self.use_pool else "in-process"
            log.info(
                "executor auto: %s (~%.1f s of work estimated, %d workers; other processes "
                "kept %.1f of %d CPUs busy)",
                how,
                work_s,
                self.workers,
                others,
                os.cpu_count() or 1,
            )
        return self.start()

    def map(
        self, desc: str, fn: Callable[..., Any], calls: list[tuple], unit: str = "tasks"
    ) -> list[Any]:
        """Run fn(*args) for every args in calls; results in the order of `calls`. `unit`
        names the calls in progress reports (the runner's are shards)."""
        results: list[Any] = [{} for _ in calls]
        if not calls:
            return results
        if self.use_ray:  # Ray's start error, if any, is raised here; progress starts after it
            self.start()._ray.result()  # type: ignore[union-attr]
        progress = Progress(desc, len(calls), unit) if self.progress else None

        def done(result: Any) -> None:
            if progress is not None:
                progress.update(result)

        try:
            if self.use_pool:
                return self._pool_map(fn, calls, results, done)
            if not self.use_ray:
                for i, args in enumerate(calls):
                    results[i] = fn(*args)
                    done(results[i])
                return results
            import ray

            stall = os.environ.get(STALL_ENV)
            task = stalled if stall else fn
            remote = self._remote.setdefault(task, ray.remote(num_cpus=1, max_retries=3)(task))
            pending: dict[Any, int] = {}
            queue = list(enumerate(calls))
            while queue or pending:
                while queue and len(pending) < self.workers:
                    i, args = queue.pop(0)
                    args = (stall, f"{desc}@{i}", fn, *args) if stall else args
                    pending[remote.remote(*args)] = i
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                results[i] = ray.get(ready[0])
                done(results[i])
            return results
        finally:
            if progress is not None:
                progress.close()

    def _pool_map(
        self,
        fn: Callable[..., Any],
        calls: list[tuple],
        results: list[Any],
        done: Callable[[Any], None],
    ) -> list[Any]:
        """The calls on the local pool (the pool queues them: `workers` run at a time)."""
        assert self._pool is not None
        futures = {self._pool.submit(fn, *args): i for i, args in enumerate(calls)}
        try:
            for future in as_completed(futures):
                results[futures[future]] = result(future)
                done(results[futures[future]])
        finally:  # a task that failed stops the wave: what has not started is dropped
            for future in futures:
                future.cancel()
        return results

    def mapper(self, desc: str) -> Callable[[Callable[..., Any], list[tuple]], list[Any]]:
        """`map_fn(fn, calls)` for stage modules that run their own waves (domains, mixture)."""
        return lambda fn, calls: self.map(desc, fn, calls)


def stalled(folder: str, key: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Test-only task wrapper: fn(*args), but when `folder` holds a file named `key`, record
    this attempt in <key>.attempts (one JSON line) and, on the first attempt, wait STALL_S
    seconds first (a test removes the node meanwhile)."""
    chosen = os.path.join(folder, key)
    if os.path.isfile(chosen):
        import ray

        ctx = ray.get_runtime_context()
        record = {"node": ctx.get_node_id(), "task": ctx.get_task_id(), "pid": os.getpid()}
        log_path = chosen + ".attempts"
        first = not os.path.exists(log_path)
        with open(log_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if first:
            time.sleep(STALL_S)
    return fn(*args)


class Progress:
    """The driver's report on one map: a bar on a terminal, else log lines. Documents are
    counted only when the tasks' results say how many they read (the runner's shard counters);
    other tasks (bands, partitions) are counted as what they are."""

    def __init__(self, desc: str, total: int, unit: str) -> None:
        self.desc, self.total, self.unit, self.period = desc, total, unit, PERIOD_S
        self.done = 0
        self.docs: int | None = None  # None: no result said how many documents it read
        self.start = self.last = time.monotonic()
        self.bar: Any = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit.rstrip("s"), dynamic_ncols=True)

    def update(self, result: Any) -> None:
        self.done += 1
        n = docs_in(result)
        if n is not None:
            self.docs = (self.docs or 0) + n
        now = time.monotonic()
        if self.bar is not None:
            if self.docs is not None:
                self.bar.set_postfix_str(self._docs(now), refresh=False)
            self.bar.update(1)
        elif now - self.last >= self.period and self.done < self.total:
            self.last = now
            log.info("%s", self.line(now))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.done:
            log.info("%s", self.line(time.monotonic(), end=True))

    def line(self, now: float, end: bool = False) -> str:
        """The line: "extract+base: 3/4 shards, 1,234 docs, 56 docs/s" (at the end: seconds)."""
        parts = [f"{self.desc}: {self.done}/{self.total} {self.unit}"]
        if self.docs is not None:
            parts.append(self._docs(now))
        if end:
            parts.append(f"{now - self.start:.1f} s")
        return ", ".join(parts)

    def _docs(self, now: float) -> str:
        rate = (self.docs or 0) / max(now - self.start, 1e-9)
        return f"{self.docs or 0:,} docs, {rate:,.0f} docs/s"


def docs_in(result: Any) -> int | None:
    """Documents a task read, from its counters ({step: {counter: n}}): the reader's
    read/documents, else the first step's rows_in; None when the result does not say."""
    if not isinstance(result, dict) or not result:
        return None
    read = result.get("read")
    if isinstance(read, dict):  # a counter that stayed 0 is left out
        return int(read.get("read/documents", 0))
    first = next(iter(result.values()))
    if isinstance(first, dict) and "rows_in" in first:
        return int(first["rows_in"])
    rows = result.get("rows_in")
    return int(rows) if isinstance(rows, int | float) else None


def executor(runner: Any) -> Executor:
    """The run's executor, as [runner] says: Ray starting in the background ("ray", or "auto"
    with a cluster address), the local pool ("pool"), in-process ("local"), or undecided
    ("auto": `choose` decides once the input is listed; until then it is in-process, and the
    pool is forked already in case it is chosen)."""
    workers = runner.workers or os.cpu_count() or 1
    ray = runner.executor == "ray" or (runner.executor == "auto" and bool(runner.ray_address))
    auto = runner.executor == "auto" and not ray
    ex = Executor(workers, ray, runner.progress, runner.ray_address, auto)
    ex.use_pool = runner.executor == "pool"
    if not (ex.use_pool or auto):
        discard_early()
    return ex.start()


def auto_choice(workers: int, work_s: float, others: float = 0.0) -> str:
    """executor = "auto" without a cluster: "local" (in-process) with one worker, below
    AUTO_LOCAL_WORK_S of estimated single-core work, or when other processes keep the machine
    so busy (`others`: cores they used) that fewer than AUTO_POOL_IDLE_CORES are idle (the
    pool's workers would share busy cores and cost more than they save); else "pool"."""
    busy = (os.cpu_count() or 1) - others < AUTO_POOL_IDLE_CORES
    return "local" if workers <= 1 or work_s < AUTO_LOCAL_WORK_S or busy else "pool"


@dataclass(frozen=True)
class CpuSample:
    """The machine's busy CPU seconds (/proc/stat, None where unreadable), this process's own
    CPU seconds and the time: two samples tell how many cores other processes used between."""

    busy: float | None
    own: float
    at: float

    @classmethod
    def now(cls) -> CpuSample:
        try:
            with open("/proc/stat", encoding="ascii") as f:
                ticks = [int(x) for x in f.readline().split()[1:]]
            busy: float | None = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            busy = None
        return cls(busy, time.process_time(), time.monotonic())

    def others_since(self, before: CpuSample) -> float:
        """Cores other processes kept busy since `before` (the 1-minute load average minus
        this process where /proc/stat is unreadable or too little time passed)."""
        wall = self.at - before.at
        if self.busy is None or before.busy is None or wall < 0.05:
            return max(os.getloadavg()[0] - 1.0, 0.0)
        return max((self.busy - before.busy - (self.own - before.own)) / wall, 0.0)


def _exit_on_sigterm() -> None:
    """SIGTERM exits through sys.exit, so that atexit handlers (Ray's shutdown) run."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))


class _DropThreadWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return RAY_THREAD_WARNING not in record.getMessage()


DROP_THREAD_WARNING = _DropThreadWarning()


def start_ray(address: str | None, workers: int) -> bool:
    """Connect to a Ray cluster, or start a local one (no dashboard, nothing listening outside);
    False when this process is connected already."""
    import ray

    if ray.is_initialized():
        return False
    logging.getLogger("ray._private.worker").addFilter(DROP_THREAD_WARNING)  # once: same object
    # Workers must import the installed `thresher`, whatever the driver's working directory.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "configure_logging": False,
        "log_to_driver": True,
    }
    # A task holds one CPU: polars in a worker gets one thread, not one per core, so that the
    # workers do not oversubscribe the machine (1M-doc dedup bench: 36.4 s -> 34.6 s). Workers
    # of a local cluster inherit the driver's environment (the driver's own polars, imported
    # already, keeps its threads); a cluster's get it through the runtime environment.
    threads = {"POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "1")}
    if address:
        ray.init(address=address, runtime_env={"env_vars": threads}, **kwargs)
    else:
        os.environ.update(threads)
        # address="local": always a new cluster of our own, never one that another process
        # left running on this machine (ray.init() alone would attach to it)
        ray.init(address="local", num_cpus=workers, **kwargs)
    return True
