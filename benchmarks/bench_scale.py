"""Scale: base dedup and sampling on N and 10 N documents; time, peak RSS per process, growth.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 100000,1000000] [--workers 2] \\
        [--workdir /tmp/bench-scale] [--shard-docs 20000]

The corpus is bench_dedup.py's (real fixture texts plus made-up ones, with injected near and exact
copies), built once at the largest size by its `build_corpus` (imported, not copied); each smaller
size is a subset of whole duplicate groups (`write_subset`). Each size runs as a subprocess:
`thresher.pipeline.runner.run` with the per-document filters off (as `thresher dedup` does),
exact + MinHash dedup on, domains, recency and the mixture on (the mixture's buckets need the
domains column), Ray with --workers workers.

Printed per size: documents, wall seconds, peak RSS of the driver, the largest peak RSS of any
other process of the run's tree (Ray's GCS, raylet and every worker: sampled every 0.2 s from
/proc), the summed peak of the tree, and the growth ratio time(largest) / time(smallest) against
its target (<= 12 for 10x the documents). Per-task memory should be bounded by the partition size
(shard_docs documents a shard): the largest worker's peak should not grow with N.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dedup_corpus  # bench_dedup.py's corpus builder
import proc_tree  # process-tree sampling

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


class PerProcessPeak(threading.Thread):
    """Peak RSS of every process of a tree, by pid (its command line kept for the report)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.tree_peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            kids = proc_tree._children_map()
            tree, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                tree.append(p)
                todo += kids.get(p, [])
            total = 0
            for p in tree:
                kb = proc_tree._kb(f"/proc/{p}/status", "VmRSS:")
                total += kb
                if kb > self.peak_kb.get(p, 0):
                    self.peak_kb[p] = kb
                    try:
                        cmd = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]
                        self.names[p] = cmd.decode(errors="replace").rsplit("/", 1)[-1][:40]
                    except OSError:
                        pass
            self.tree_peak_kb = max(self.tree_peak_kb, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


RUN_ONE = """
import json, sys
from thresher.pipeline.config import parse_config
from thresher.pipeline.runner import run
from thresher.stages import BASE_STEPS
inp, out, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
from pathlib import Path
shards = len(list(Path(inp).glob("*")))
# The corpus has no dates, so no page is recent: the mixture's buckets are by domain only. One
# output part per input shard, so that an output task holds a shard's worth of the mixture.
cfg = parse_config({
    "input": inp, "output": out,
    "base": {name: {"enabled": False} for name in BASE_STEPS},
    "mixture": {
        "out_parts": max(4, shards),
        "on_infeasible": "rescale",
        "buckets": [
            {"name": "code", "share": 0.15, "select": {"domains": ["code"]}},
            {"name": "math", "share": 0.15, "select": {"domains": ["math"]}},
            {"name": "general", "share": 0.70, "rest": True},
        ],
    },
    "runner": {"workers": workers, "progress": False},
})
run(cfg)
"""


def run_size(folder: Path, out: Path, workers: int) -> dict[str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN_ONE, str(folder), str(out), str(workers)])
    mem = PerProcessPeak(proc.pid)
    mem.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    mem.stop()
    if rc != 0:
        raise SystemExit(f"run on {folder} failed with exit status {rc}")
    others = {p: kb for p, kb in mem.peak_kb.items() if p != proc.pid}
    top = max(others, key=others.__getitem__) if others else None
    return {
        "wall_s": wall,
        "driver_peak_mb": mem.peak_kb.get(proc.pid, 0) / 1024,
        "max_other_peak_mb": (others[top] / 1024) if top else 0.0,
        "max_other_name": mem.names.get(top, "?") if top else "-",
        "tree_peak_mb": mem.tree_peak_kb / 1024,
        "processes": len(mem.peak_kb),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-scale"))
    ap.add_argument("--shard-docs", type=int, default=20_000)
    ap.add_argument("--dup-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--no-html", action="store_true", help="skip extracting the HTML fixtures")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "truth.parquet").exists():
        dedup_corpus.build_corpus(argparse.Namespace(**vars(args), docs=sizes[-1]), work)
    results = {}
    for n in sizes:
        folder = dedup_corpus.write_subset(work, f"subset-{n}", n, args.shard_docs, args.seed)
        out = work / f"run-{n}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        import polars as pl

        docs = pl.scan_parquet(str(folder / "*.parquet")).select(pl.len()).collect().item()
        results[n] = run_size(folder, out, args.workers) | {"docs": docs}
        print(json.dumps({n: results[n]}), flush=True)
    print(
        f"\n{'docs':>10}{'wall s':>9}{'driver MB':>11}{'max other MB':>14}  {'(process)':<22}"
        f"{'tree MB':>9}{'procs':>7}"
    )
    for r in results.values():
        print(
            f"{r['docs']:>10,}{r['wall_s']:>9.1f}{r['driver_peak_mb']:>11.0f}"
            f"{r['max_other_peak_mb']:>14.0f}  {r['max_other_name']:<22}{r['tree_peak_mb']:>9.0f}"
            f"{r['processes']:>7}"
        )
    if len(sizes) > 1:
        lo, hi = results[sizes[0]], results[sizes[-1]]
        ratio = hi["wall_s"] / lo["wall_s"]
        print(
            f"growth time({hi['docs']:,}) / time({lo['docs']:,}) = {ratio:.1f} "
            f"(docs x{hi['docs'] / lo['docs']:.1f}; target <= 12 for x10)"
        )
    print(f"# machine: {os.cpu_count()} CPUs; workers {args.workers}; shard {args.shard_docs:,}")


if __name__ == "__main__":
    main()
