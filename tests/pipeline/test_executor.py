"""The executor's progress report: a bar on a terminal, log lines elsewhere, documents counted
only where the tasks' counters say how many they read."""

import io
import logging
import re

import pytest

from thresher.pipeline import executor as ex_mod
from thresher.pipeline.executor import Executor, docs_in


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


def test_auto_is_in_process_below_the_threshold_or_with_one_worker():
    assert not ex_mod.auto_uses_ray(2, ex_mod.AUTO_LOCAL_BYTES - 1)
    assert ex_mod.auto_uses_ray(2, ex_mod.AUTO_LOCAL_BYTES)
    assert not ex_mod.auto_uses_ray(1, 10 * ex_mod.AUTO_LOCAL_BYTES)


def test_auto_decides_once_the_input_size_is_known(ray_starts):
    small = ex_mod.executor(runner(workers=2))
    assert small.auto and not small.use_ray and not ray_starts
    small.choose(1_000)
    assert not small.use_ray and not small.auto and not ray_starts
    assert small.map("x", pow, [(2, 3), (3, 2)]) == [8, 9]  # in-process: no Ray needed
    large = ex_mod.executor(runner(workers=2)).choose(ex_mod.AUTO_LOCAL_BYTES)
    assert large.use_ray
    large._ray.result(timeout=10)  # the background start ran
    assert ray_starts == [(None, 2)]


def test_an_explicit_executor_wins_over_auto(ray_starts):
    local = ex_mod.executor(runner(executor="local", workers=2)).choose(10**12)
    assert not local.use_ray
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
