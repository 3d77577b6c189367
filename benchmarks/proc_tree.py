"""Time, CPU and memory of a process tree, read from /proc (Linux), for the benchmarks.

`run_worker` runs one implementation of benchmarks/dedup_peers.py as a subprocess and returns its
result with the wall time, the peak summed PSS and RSS of its process tree (sampled every 0.2 s),
its CPU seconds and the CPU seconds that other processes used meanwhile. bench_cluster.py and
bench_scale.py use the /proc readers (`_children_map`, `_kb`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PEERS = Path(__file__).resolve().with_name("dedup_peers.py")


def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _kb(path: str, key: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory(threading.Thread):
    """Samples the summed RSS and PSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_pss_kb = self.peak_rss_kb = self.max_procs = 0
        self._ticks: dict[int, int] = {}  # utime + stime of every process seen, last reading
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            kids = _children_map()
            tree, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                tree.append(p)
                todo += kids.get(p, [])
            for p in tree:
                self._ticks[p] = max(self._ticks.get(p, 0), _cpu_ticks(p))
            rss = sum(_kb(f"/proc/{p}/status", "VmRSS:") for p in tree)
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in tree)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.max_procs = max(self.max_procs, len(tree))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    @property
    def cpu_s(self) -> float:
        """CPU seconds of the tree as last sampled (a process's last 0.2 s may be missed)."""
        return sum(self._ticks.values()) / os.sysconf("SC_CLK_TCK")


def _busy_ticks() -> int:
    """Non-idle CPU ticks of the whole machine since boot (/proc/stat)."""
    with open("/proc/stat", encoding="utf-8") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


# Linux carries a process's peak RSS across exec, and a child that Python spawns starts from the
# parent's (this benchmark holds the corpus): a small launcher starts the worker and reports the
# worker tree's own ru_maxrss.
LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_worker(
    name: str, python: Path, corpus: Path, out: Path, workers: int, env: dict[str, str]
) -> dict[str, Any]:
    """Run one worker subprocess; its result plus wall time and memory of its process tree."""
    shutil.rmtree(out, ignore_errors=True)  # a thresher run folder would resume, not rerun
    out.mkdir(parents=True)
    cmd = [str(python), str(PEERS), "--worker", name, "--corpus", str(corpus), "--out", str(out)]
    cmd += ["--workers", str(workers)]
    usage_path = out / "rusage.txt"
    log_path = out / "worker.log"
    with log_path.open("w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(usage_path), *cmd],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | env,
            cwd=out,
        )
        mem = TreeMemory(proc.pid)
        busy0 = _busy_ticks()
        mem.start()
        proc.wait()
        wall = time.perf_counter() - t0
        mem.stop()
        busy = (_busy_ticks() - busy0) / os.sysconf("SC_CLK_TCK")
    maxrss_kb, cpu_s = (
        (float(x) for x in usage_path.read_text().split()) if usage_path.exists() else (0.0, 0.0)
    )
    if proc.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        print(f"# {name}: failed with exit code {proc.returncode}; log tail:\n{tail}")
        return {"failed": True, "wall_s": wall}
    result = json.loads((out / "result.json").read_text())
    return result | {
        "wall_s": wall,
        "peak_pss_gb": mem.peak_pss_kb / 2**20,
        "peak_rss_sum_gb": mem.peak_rss_kb / 2**20,
        "maxrss_gb": maxrss_kb / 2**20,
        # the launcher counts the children the worker waited for; the samples count Ray's too
        "cpu_s": max(cpu_s, mem.cpu_s),
        # CPU that processes outside the tree used meanwhile: other work skews the timings
        "foreign_cpu_s": max(busy - max(cpu_s, mem.cpu_s), 0.0),
        "procs": mem.max_procs,
    }
