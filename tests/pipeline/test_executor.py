"""The executors: the progress report (a bar on a terminal, log lines elsewhere, documents counted
only where the tasks' counters say how many they read), auto's choice, and the local pool."""

import io
import logging
import os
import re

import pytest
from conftest import FIXTURES, needs_fixtures

from thresher.pipeline import executor as ex_mod
from thresher.pipeline.executor import Executor, docs_in
from thresher.pipeline.pool import PoolError, polars_threads_started


def shard_task(n: int) -> dict:
    """A runner task's counters: the reader's, then a step's."""
    return {"read": {"read/records": n + 1, "read/documents": n}, "lang": {"rows_in": n}}


def band_task(b: int) -> None:
    """A barrier's fan-out task: no counters."""


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "thresher.pipeline.executor"]


def test_off_a_terminal_progress_is_log_lines_with_documents(caplog, monkeypatch):
    monkeypatch.setattr(ex_mod, "PERIOD_S", 0.0)  # a line at every task but the last
    caplog.set_level(logging.INFO, logger="thresher.pipeline.executor")
    results = Executor(workers=1, use_ray=False).map(
        "extract+base", shard_task, [(3,), (0,), (1_500,)], unit="shards"
    )
    assert results == [shard_task(3), shard_task(0), shard_task(1_500)]
    got = lines(caplog)
    assert len(got) == 3
    assert re.fullmatch(r"extract\+base: 1/3 shards, 3 docs, [\d,]+ docs/s", got[0])
    assert re.fullmatch(r"extract\+base: 2/3 shards, 3 docs, [\d,]+ docs/s", got[1])
    assert re.fullmatch(r"extract\+base: 3/3 shards, 1,503 docs, [\d,]+ docs/s, \d+\.\d s", got[2])


def test_tasks_that_count_no_documents_are_counted_as_tasks(caplog):
    caplog.set_level(logging.INFO, logger="thresher.pipeline.executor")
    Executor(workers=1, use_ray=False).map("lsh bands", band_task, [(b,) for b in range(18)])
    # the period (10 s) has not passed: only the line at the end, and no "0 docs"
    [line] = lines(caplog)
    assert re.fullmatch(r"lsh bands: 18/18 tasks, \d+\.\d s", line)


def test_on_a_terminal_progress_is_a_bar_and_no_log_line(caplog, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    caplog.set_level(logging.INFO, logger="thresher.pipeline.executor")
    Executor(workers=1, use_ray=False).map("dedup apply", shard_task, [(5,), (7,)], unit="shards")
    assert lines(caplog) == []
    drawn = term.getvalue()
    assert "dedup apply: 100%" in drawn and "2/2" in drawn and "12 docs" in drawn


def test_progress_off_reports_nothing(caplog, monkeypatch):
    monkeypatch.setattr(ex_mod, "PERIOD_S", 0.0)
    caplog.set_level(logging.INFO, logger="thresher.pipeline.executor")
    Executor(workers=1, use_ray=False, progress=False).map("x", shard_task, [(1,), (2,)])
    assert lines(caplog) == []


def test_documents_a_task_read():
    assert docs_in(shard_task(4)) == 4
    assert docs_in({"read": {"read/records": 9}}) == 0  # a counter that stayed 0 is left out
    assert docs_in({"dedup": {"rows_in": 7, "rows_out": 5}}) == 7
    assert docs_in({"rows_in": 2}) == 2
    assert docs_in(None) is None and docs_in({}) is None
    assert docs_in({"domains": {"docs:law": 3}}) is None


def runner(**kw):
    from thresher.pipeline.config import Runner

    return Runner(**({"progress": False} | kw))


@pytest.fixture
def ray_starts(monkeypatch):
    """Ray starts recorded, not made: (address, workers) per start."""
    started: list[tuple] = []
    monkeypatch.setattr(
        ex_mod, "start_ray", lambda address, workers: started.append((address, workers))
    )
    return started


def test_auto_is_in_process_for_little_work_one_worker_or_a_busy_machine(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    free = 4 - ex_mod.AUTO_POOL_IDLE_CORES  # what others may use while the pool has its cores
    assert ex_mod.auto_choice(2, ex_mod.AUTO_LOCAL_WORK_S - 0.1) == "local"
    assert ex_mod.auto_choice(2, ex_mod.AUTO_LOCAL_WORK_S, others=free) == "pool"
    assert ex_mod.auto_choice(2, 1000 * ex_mod.AUTO_LOCAL_WORK_S, others=free + 0.1) == "local"
    assert ex_mod.auto_choice(1, 1000 * ex_mod.AUTO_LOCAL_WORK_S) == "local"


def test_other_processes_cpu_is_what_the_machine_used_beyond_this_one():
    before = ex_mod.CpuSample(busy=100.0, own=5.0, at=10.0)
    after = ex_mod.CpuSample(busy=103.5, own=6.0, at=11.0)  # 3.5 CPU s in 1 s, 1 of them ours
    assert after.others_since(before) == pytest.approx(2.5)
    assert ex_mod.CpuSample(busy=103.0, own=9.0, at=11.0).others_since(before) == 0.0


def test_auto_decides_once_the_work_is_estimated(ray_starts, monkeypatch):
    monkeypatch.setattr(ex_mod.CpuSample, "others_since", lambda self, before: 0.0)  # idle
    small = ex_mod.executor(runner(workers=2))
    assert small.auto and not small.use_ray and not ray_starts
    small.choose(ex_mod.AUTO_LOCAL_WORK_S / 2)
    assert not (small.use_ray or small.use_pool or small.auto) and small._pool is None
    assert small.map("x", pow, [(2, 3), (3, 2)]) == [8, 9]  # in-process
    large = ex_mod.executor(runner(workers=2)).choose(ex_mod.AUTO_LOCAL_WORK_S)
    try:
        assert large.use_pool and not large.use_ray and not ray_starts  # never Ray by itself
        assert large.map("x", pow, [(2, 3), (3, 2), (2, 10)]) == [8, 9, 1024]
    finally:
        large.close()


def test_the_pool_runs_tasks_in_other_processes_results_in_call_order():
    ex = ex_mod.executor(runner(executor="pool", workers=2))
    try:
        pids = ex.map("x", os.getpid, [() for _ in range(6)])
        assert os.getpid() not in pids and 1 <= len(set(pids)) <= 2
        assert ex.map("x", pow, [(2, k) for k in range(20)]) == [2**k for k in range(20)]
        with pytest.raises(ZeroDivisionError):  # a task's own error reaches the driver
            ex.map("x", pow, [(0, -1)])
    finally:
        ex.close()


def test_a_worker_that_dies_stops_the_run_with_a_clear_error():
    ex = ex_mod.executor(runner(executor="pool", workers=2))
    try:
        with pytest.raises(PoolError, match="worker process of the local pool died"):
            ex.map("x", os._exit, [(3,)])
    finally:
        ex.close()


def test_polars_threads_are_seen_once_they_run():
    import polars as pl

    pl.DataFrame({"a": list(range(1000))}).group_by("a").len()  # starts polars' pool
    assert polars_threads_started()


def test_an_explicit_executor_wins_over_auto(ray_starts):
    local = ex_mod.executor(runner(executor="local", workers=2)).choose(10**12)
    assert not local.use_ray and not local.use_pool and local._pool is None
    ray = ex_mod.executor(runner(executor="ray", workers=2))  # started before inputs are listed
    ray._ray.result(timeout=10)
    assert ray.choose(0).use_ray and ray_starts == [(None, 2)]
    cluster = ex_mod.executor(runner(ray_address="10.0.0.1:6379", workers=2)).choose(0)
    cluster._ray.result(timeout=10)  # auto with a cluster address: Ray, whatever the input
    assert cluster.use_ray and ray_starts[-1] == ("10.0.0.1:6379", 2)


def test_a_failed_ray_start_is_raised_at_the_first_map(monkeypatch):
    def refuse(address, workers):
        raise RuntimeError("no cluster at 10.0.0.9:6379")

    monkeypatch.setattr(ex_mod, "start_ray", refuse)
    ex = ex_mod.executor(runner(executor="ray", ray_address="10.0.0.9:6379"))
    with pytest.raises(RuntimeError, match=re.escape("no cluster at 10.0.0.9:6379")):
        ex.map("x", pow, [(2, 3)])


def test_old_configs_with_executor_ray_or_local_load():
    assert runner().executor == "auto"
    assert runner(executor="ray").executor == "ray" and runner(executor="local").executor == "local"
    assert runner(executor="pool").executor == "pool"


@needs_fixtures
def test_thresher_dedup_on_the_pool_forks_early_and_writes_the_in_process_bytes(tmp_path):
    """The console script forks the pool before polars' threads start (no fork server), and
    the run's files are the in-process run's, byte for byte."""
    import hashlib
    import json
    import subprocess
    import sys
    from pathlib import Path

    lines = (FIXTURES / "neardup" / "clough" / "corpus.jsonl").read_text("utf-8").splitlines()
    for k in range(3):  # three inputs: three shards, so that both workers get tasks
        rows = [
            json.dumps({"id": f"{k}-{i}", "text": json.loads(x)["text"]})
            for i, x in enumerate(lines[k::3])
        ]
        (tmp_path / f"in-{k}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    thresher = Path(sys.executable).with_name("thresher")
    logs = {}
    for how in ("pool", "local"):
        cmd = [
            str(thresher),
            "-v",
            "dedup",
            str(tmp_path / "in-*.jsonl"),
            "--output",
            str(tmp_path / how),
            "--executor",
            how,
            "--workers",
            "2",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        logs[how] = done.stderr

    def digests(run: Path) -> dict[str, str]:
        skip = {"manifest.json", "config.toml"}  # timings; the executor's name
        return {
            str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*"))
            if p.is_file() and p.name not in skip and "report" not in p.parts
        }

    assert "local pool: 2 workers (forked at start)" in logs["pool"]
    pool, local = digests(tmp_path / "pool"), digests(tmp_path / "local")
    assert len(pool) > 20 and pool == local
