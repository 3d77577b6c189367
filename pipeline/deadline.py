"""Calls under a hard time limit: each runs in a child process that is killed when it overruns.

A limit raised inside the process (SIGALRM and an exception) can be swallowed by any `except
Exception` in a library, and it never interrupts C-level work (an lxml XPath, a regex search):
Python runs signal handlers between bytecodes only. So `deadline_map(fn, calls, timeout_s)` sends
the calls to a child process and waits for each answer with a limit. A call that overruns gets a
TimedOut; its child is killed (SIGKILL stops C-level work too) and the calls after it go to a
fresh child. Answers come back in the order of the calls, and each is what `fn(*call)` returned
(pickled), so results are those of an in-process call.

The limit is on the CPU seconds the child spends on the call (read from /proc; wall seconds where
there is no /proc), so that which pages are cut does not depend on how busy the machine is; a
child that stops using CPU is cut at WALL_FACTOR times the limit in wall time.

Children are started lazily, on a process's first call, and kept for the next: one per concurrent
caller (a caller takes an idle child or starts one), from any thread (no signals are used). The
clock of a call starts when its child begins it: a child's start-up (the interpreter and the
`preload` imports) is not counted. Calls go in batches (up to BATCH_CALLS, or BATCH_BYTES of
pickled arguments, all sent before the child starts on them) and answers come back one by one as
each call ends (with the child's CPU time), so a batch costs one send and the limit is per call.

No child outlives its parent: children are killed at interpreter exit, and a child exits by itself
when its parent is gone (its pipe reaches EOF, or its parent pid changes: a watchdog thread checks
every WATCH_S), so a parent killed with SIGKILL leaves none behind either.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

BATCH_CALLS = 64
BATCH_BYTES = 16 << 20  # bounds the arguments held twice (here pickled, there unpickled)
START_TIMEOUT_S = 120.0  # a fresh interpreter and its imports, on a busy machine
WATCH_S = 0.5
# The limit counts the child's CPU seconds, so that a page's fate does not depend on how busy the
# machine is (the fixture page that costs 1.9 CPU-s took 8.5 s of wall time at load 18 on two
# cores); a child that stops using CPU is cut at WALL_FACTOR times the limit in wall time.
WALL_FACTOR = 10.0


@dataclass(frozen=True)
class TimedOut:
    """The answer of a call that overran its limit: the CPU and wall seconds it had when cut."""

    cpu_s: float
    wall_s: float


class ChildError(RuntimeError):
    """A call raised in the child process, or the child process died."""


def deadline_map(
    fn: Callable[..., Any],
    calls: Iterable[tuple],
    timeout_s: float,
    preload: tuple[str, ...] = (),
) -> list[Any]:
    """`fn(*call)` for every call, each in a child process under `timeout_s` (0: no limit).

    Returns the answers in the order of `calls`; a TimedOut for a call that overran: it used
    `timeout_s` seconds of CPU, or WALL_FACTOR times that in wall time. `fn` and the calls must
    pickle (a module-level function, or a bound method of a picklable object); `calls` is read
    one batch at a time, so only a batch of arguments is held pickled. `preload` names modules
    the child imports before it is ready, so that their import time does not count against the
    first call's limit. Raises ChildError when a call raises (with the child's traceback) or the
    child dies.
    """
    head = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
    blobs = (pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL) for call in calls)
    answers: list[Any] = []
    batch: list[bytes] = []  # the calls of the batch in flight, then those a cut left unanswered
    child: _Child | None = None
    try:
        while True:
            size = sum(map(len, batch))
            while len(batch) < BATCH_CALLS and size < BATCH_BYTES:
                if (blob := next(blobs, None)) is None:
                    break
                batch.append(blob)
                size += len(blob)
            if not batch:
                break
            child = child or _POOL.take(preload)
            child.send(head, batch)
            done = 0
            while done < len(batch):
                answers.append(child.answer(timeout_s, len(answers)))
                done += 1
                if isinstance(answers[-1], TimedOut):
                    child.kill()  # the rest of its batch goes to a fresh child
                    child = None
                    break
            batch = batch[done:]
        if child is not None:
            _POOL.give_back(child)
            child = None
        return answers
    finally:
        if child is not None:  # an error mid-batch: the child may still hold unanswered calls
            child.kill()


def child_pids() -> list[int]:
    """Process ids of this process's live children (for tests and diagnostics)."""
    with _POOL.lock:
        return sorted(c.proc.pid for c in _POOL.live)


class _Child:
    """One child process and the two pipes to it."""

    def __init__(self, preload: tuple[str, ...]) -> None:
        self.preload = preload
        down_r, down_w = os.pipe()  # parent -> child
        up_r, up_w = os.pipe()  # child -> parent
        code = f"from thresher.pipeline.deadline import child_main; child_main({down_r}, {up_w})"
        try:
            # -P: sys.path comes from the parent (below), not from the working directory
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-c", code],
                pass_fds=(down_r, up_w),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(down_w)
            os.close(up_r)
            raise
        finally:
            os.close(down_r)
            os.close(up_w)
        self.down = Connection(down_w, readable=False)
        self.up = Connection(up_r, writable=False)
        self.cpu = 0.0  # the child's CPU seconds when its current call began (it sends them)

    def start(self) -> None:
        """Hand the child its sys.path and imports; wait until it is ready."""
        self.down.send((sys.path, self.preload, os.getpid()))
        if not self.up.poll(START_TIMEOUT_S):
            raise ChildError(f"child process did not start within {START_TIMEOUT_S:.0f}s")
        self._receive("start-up")

    def send(self, head: bytes, blobs: list[bytes]) -> None:
        try:
            self.down.send((head, len(blobs)))
            for blob in blobs:
                self.down.send_bytes(blob)
        except OSError as err:  # BrokenPipeError: it died while idle
            raise ChildError(f"child process {self._status()} before a batch: {err}") from None

    def answer(self, timeout_s: float, index: int) -> Any:
        """The next answer, or a TimedOut when the call overruns timeout_s (0: no limit)."""
        if timeout_s <= 0:
            return self._receive(f"call {index}")
        start = time.monotonic()
        wait = timeout_s  # CPU time never runs ahead of wall time: wait at least what is left
        while not self.up.poll(wait):
            wall = time.monotonic() - start
            cpu = self._cpu_now()
            used = wall if cpu is None else cpu - self.cpu
            if used >= timeout_s or wall >= timeout_s * WALL_FACTOR:
                return TimedOut(cpu_s=used, wall_s=wall)
            wait = min(max(timeout_s - used, 0.01), timeout_s * WALL_FACTOR - wall)
        return self._receive(f"call {index}")

    def _receive(self, what: str) -> Any:
        try:
            status, value, self.cpu = pickle.loads(self.up.recv_bytes())
        except (EOFError, OSError):
            raise ChildError(f"child process {self._status()} during {what}") from None
        if status == "error":
            raise ChildError(f"{what} raised in the child process:\n{value}")
        return value

    def _cpu_now(self) -> float | None:
        """The child's CPU seconds so far (user + system), from /proc; None where there is none."""
        try:
            with open(f"/proc/{self.proc.pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def _status(self) -> str:
        try:
            return f"{self.proc.pid} died (exit code {self.proc.wait(timeout=5)})"
        except subprocess.TimeoutExpired:
            return f"{self.proc.pid} closed its pipe"

    def kill(self) -> None:
        """SIGKILL, reap, close the pipes; forget it."""
        self.proc.kill()
        self.proc.wait()
        self.down.close()
        self.up.close()
        _POOL.forget(self)


class _Pool:
    """Idle children by `preload`, and every live one (to kill them at exit)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: dict[tuple[str, ...], list[_Child]] = {}
        self.live: set[_Child] = set()
        self.pid = os.getpid()

    def take(self, preload: tuple[str, ...]) -> _Child:
        with self.lock:
            if self.pid != os.getpid():  # a forked copy of a process: its children are not ours
                self.idle, self.live, self.pid = {}, set(), os.getpid()
            idle = self.idle.get(preload, [])
            child = idle.pop() if idle else None
        if child is not None:
            if child.proc.poll() is None:
                return child
            child.kill()  # died while idle (killed from outside): start another
        child = _Child(preload)  # outside the lock: start-up takes a second or more
        with self.lock:
            self.live.add(child)
        try:
            child.start()
        except BaseException:
            child.kill()
            raise
        return child

    def give_back(self, child: _Child) -> None:
        with self.lock:
            self.idle.setdefault(child.preload, []).append(child)

    def forget(self, child: _Child) -> None:
        with self.lock:
            self.live.discard(child)
            idle = self.idle.get(child.preload, [])
            if child in idle:
                idle.remove(child)

    def close(self) -> None:
        """Kill every live child (at interpreter exit; idle children have nothing to finish)."""
        with self.lock:
            children = list(self.live) if self.pid == os.getpid() else []
        for child in children:
            child.kill()


_POOL = _Pool()
atexit.register(_POOL.close)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- the child side ----------------------------------------------------------------------------


def child_main(down_fd: int, up_fd: int) -> None:
    """The child's loop: read a batch (fn, n calls), answer each call as it ends; exit on EOF."""
    down = Connection(down_fd, writable=False)
    up = Connection(up_fd, readable=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    path, preload, parent = down.recv()
    sys.path[:] = path
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    for name in preload:
        importlib.import_module(name)
    up.send_bytes(pickle.dumps(("ok", None, time.process_time())))
    while True:
        try:
            head, n = down.recv()
            blobs = [down.recv_bytes() for _ in range(n)]
        except EOFError:  # the parent closed the pipe or exited
            return
        fn = pickle.loads(head)
        for blob in blobs:
            try:
                value = fn(*pickle.loads(blob))
                out = pickle.dumps(("ok", value, time.process_time()), pickle.HIGHEST_PROTOCOL)
            except Exception:
                out = pickle.dumps(("error", traceback.format_exc(), time.process_time()))
            try:
                up.send_bytes(out)
            except BrokenPipeError:  # the parent is gone
                return


def _watch(parent: int) -> None:
    """Exit when the parent is gone (it may have died without closing the pipe's far end yet)."""
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(0)
