"""The hard time limit: calls in a child process, cut by SIGKILL, from any thread, no orphans."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from thresher.pipeline import deadline
from thresher.pipeline.deadline import (
    WALL_FACTOR,
    ChildError,
    TimedOut,
    child_pids,
    deadline_map,
)

HERE = Path(__file__).parent


def work(kind: str, n: int = 0) -> object:
    """Module-level, so that the child can import it (it gets the parent's sys.path)."""
    if kind == "pid":
        return os.getpid()
    if kind == "regex":  # catastrophic backtracking: one C call that no signal interrupts
        return re.fullmatch(r"(a+)+b", "a" * n) is not None
    if kind == "swallow":  # a library that catches everything cannot swallow a SIGKILL
        while True:
            with contextlib.suppress(BaseException):  # as an `except Exception` in a library
                sum(range(1000))
    if kind == "spin":
        end = time.monotonic() + n
        while time.monotonic() < end:
            pass
        return n
    raise ValueError(f"no such kind: {kind}")


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a reaper-less container keeps zombies)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.parametrize("batch", [2, deadline.BATCH_CALLS])  # cuts inside and across batches
def test_c_level_work_and_swallowing_code_are_cut_and_the_rest_come_back_in_order(
    batch, monkeypatch
):
    monkeypatch.setattr(deadline, "BATCH_CALLS", batch)
    (pid,) = deadline_map(work, [("pid",)], 0)  # a warm child: its start-up is not timed
    start = time.monotonic()
    out = deadline_map(
        work,
        [("regex", 8), ("regex", 40), ("regex", 8), ("swallow",), ("pid",)],
        timeout_s=0.5,
    )
    elapsed = time.monotonic() - start
    assert out[0] is False and out[2] is False
    for cut in (out[1], out[3]):
        assert isinstance(cut, TimedOut)
        assert 0.5 <= cut.cpu_s < 1.0, cut  # the CPU the call had when it was cut
        assert cut.wall_s < 0.5 * WALL_FACTOR
    assert out[4] != pid and not alive(pid)  # the first child was killed and replaced
    assert out[4] in child_pids() and pid not in child_pids()  # one replacement is left
    assert elapsed < 2 * 0.5 * WALL_FACTOR + 60  # two cuts and two restarts on a busy machine


def test_an_error_in_a_call_names_it_and_the_next_call_gets_a_fresh_child():
    with pytest.raises(ChildError, match=r"(?s)call 1 raised.*ValueError: no such kind"):
        deadline_map(work, [("pid",), ("nonsense",), ("pid",)], 5)
    assert deadline_map(work, [("regex", 3)], 5) == [False]


def test_works_from_a_thread_that_is_not_the_main_one():
    out: list[object] = []
    t = threading.Thread(target=lambda: out.extend(deadline_map(work, [("regex", 40)], 0.3)))
    t.start()
    t.join(60)
    assert len(out) == 1 and isinstance(out[0], TimedOut)


SCRIPT = """
import os, sys, threading, time
sys.path.insert(0, {here!r})
from thresher.pipeline.deadline import child_pids, deadline_map
from test_deadline import work
how = sys.argv[1]
if how == "exit":  # a normal exit from a worker thread's pool use
    t = threading.Thread(target=lambda: print(deadline_map(work, [("pid",)], 5)[0], flush=True))
    t.start(); t.join()
else:  # killed while its child is busy with a call
    threading.Thread(target=deadline_map, args=(work, [("spin", 120)], 0), daemon=True).start()
    while not child_pids():
        time.sleep(0.05)
    time.sleep(0.5)
    print(child_pids()[0], flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("how", ["exit", "killed"])
def test_no_child_outlives_its_parent(how):
    proc = subprocess.Popen(
        [sys.executable, "-P", "-c", textwrap.dedent(SCRIPT.format(here=str(HERE))), how],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        child = int(proc.stdout.readline())
        assert child != proc.pid
        if how == "killed":
            assert alive(child)
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(60)
        deadline = time.monotonic() + 5  # the child's watchdog looks twice a second
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child)
    finally:
        proc.kill()
        proc.wait()
