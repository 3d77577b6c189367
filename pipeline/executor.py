"""Executors: task functions with at most `workers` in flight, on Ray (the default) or in-process.

The driver keeps at most `workers` tasks in flight and shows a progress bar; tasks never print.
Results come back in the order of the calls, whatever order the tasks finish in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Executor:
    """Runs task functions with at most `workers` in flight; calls `done` as each finishes."""

    workers: int
    use_ray: bool = True
    progress: bool = True
    _remote: dict[Callable[..., Any], Any] = field(default_factory=dict)

    def map(self, desc: str, fn: Callable[..., Any], calls: list[tuple]) -> list[Any]:
        """Run fn(*args) for every args in calls; results in the order of `calls`."""
        results: list[Any] = [{} for _ in calls]
        if not calls:
            return results
        bar = _progress(desc, len(calls), self.progress)
        docs, start = 0, time.monotonic()

        def done(stats: Any) -> None:
            nonlocal docs
            docs += _docs_in(stats)
            rate = docs / max(time.monotonic() - start, 1e-9)
            if bar is not None:
                bar.set_postfix_str(f"{docs:,} docs, {rate:,.0f} docs/s")
                bar.update(1)

        try:
            if not self.use_ray:
                for i, args in enumerate(calls):
                    results[i] = fn(*args)
                    done(results[i])
                return results
            import ray

            remote = self._remote.setdefault(fn, ray.remote(num_cpus=1, max_retries=3)(fn))
            pending: dict[Any, int] = {}
            queue = list(enumerate(calls))
            while queue or pending:
                while queue and len(pending) < self.workers:
                    i, args = queue.pop(0)
                    pending[remote.remote(*args)] = i
                ready, _ = ray.wait(list(pending), num_returns=1)
                i = pending.pop(ready[0])
                results[i] = ray.get(ready[0])
                done(results[i])
            return results
        finally:
            if bar is not None:
                bar.close()

    def mapper(self, desc: str) -> Callable[[Callable[..., Any], list[tuple]], list[Any]]:
        """`map_fn(fn, calls)` for stage modules that run their own waves (domains, mixture)."""
        return lambda fn, calls: self.map(desc, fn, calls)


def _docs_in(stats: Any) -> int:
    """Documents a task read, for the progress bar (0 when its result does not say)."""
    if not isinstance(stats, dict) or not stats:
        return 0
    for step in ("read", "extract"):
        if isinstance(stats.get(step), dict):
            return int(stats[step].get("documents", stats[step].get("rows_in", 0)))
    first = next(iter(stats.values()))
    if isinstance(first, dict):
        return int(first.get("rows_in", 0))
    return int(stats.get("rows_in", 0) or 0)


def _progress(desc: str, total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="shard", dynamic_ncols=True)


def executor(runner: Any) -> Executor:
    """The run's executor, as [runner] says; starts or joins Ray when it is the Ray one."""
    workers = runner.workers or os.cpu_count() or 1
    use_ray = runner.executor == "ray"
    if use_ray:
        start_ray(runner.ray_address, workers)
    return Executor(workers=workers, use_ray=use_ray, progress=runner.progress)


def start_ray(address: str | None, workers: int) -> None:
    """Connect to a Ray cluster, or start a local one (no dashboard, nothing listening outside)."""
    import ray

    if ray.is_initialized():
        return
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
