"""`thresher dedup` on a 3-node Ray test cluster on this machine; peak memory per node.

    .venv/bin/python benchmarks/bench_cluster.py [--docs 1000000] [--nodes 3] [--node-cpus 1] \\
        [--workdir /tmp/bench-cluster] [--shard-docs 25000] [--object-store-mb 400]

The corpus is bench_dedup.py's (real fixture texts plus made-up ones, with injected near and exact
copies; its `build_corpus`, imported), written once under --workdir. The cluster is
`ray.cluster_utils.Cluster`: a head node and --nodes - 1 worker nodes, --node-cpus CPUs each (a
node is a raylet with its own object store and worker processes; the head also holds the GCS).
The driver (this process) runs `dedup_only`, what `thresher dedup` runs, with `ray_address` = the
cluster and --nodes x --node-cpus tasks in flight.

A thread samples every 0.2 s, from /proc, the RSS of every process of each node (the processes
Ray started for it and their children: raylet, workers, the head's GCS) and of the driver.
Printed: per node its peak summed RSS and its largest process; the driver's peak; the bytes each
folder of the run holds on disk, per document; and the counts that sizing.py scales (candidate
edges, verified edges, clustered documents, label rounds). With --json FILE the figures are also
written there; `benchmarks/sizing.py --measured FILE` prints them beside its projection.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dedup_corpus  # bench_dedup.py's corpus builder
import proc_tree  # /proc readers

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


class NodePeaks(threading.Thread):
    """Peak summed RSS of each node's process tree, its largest process, and the driver's RSS."""

    def __init__(self, nodes: dict[str, Any], interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.nodes, self.interval = nodes, interval
        self.peak_kb = {name: 0 for name in nodes}
        self.largest: dict[str, tuple[int, str]] = {name: (0, "-") for name in nodes}
        self.driver_kb = 0
        self._stop_event = threading.Event()

    def roots(self, node: Any) -> list[int]:
        return [p.process.pid for ps in node.all_processes.values() for p in ps if p.process]

    def run(self) -> None:
        while not self._stop_event.is_set():
            kids = proc_tree._children_map()
            for name, node in self.nodes.items():
                total, todo, seen = 0, self.roots(node), set()
                while todo:
                    p = todo.pop()
                    if p in seen:
                        continue
                    seen.add(p)
                    todo += kids.get(p, [])
                    kb = proc_tree._kb(f"/proc/{p}/status", "VmRSS:")
                    total += kb
                    if kb > self.largest[name][0]:
                        self.largest[name] = (kb, _name(p))
                self.peak_kb[name] = max(self.peak_kb[name], total)
            self.driver_kb = max(self.driver_kb, proc_tree._kb("/proc/self/status", "VmRSS:"))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _name(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in cmd if w]
    if not words:
        return "?"
    if words[0].startswith("ray::"):  # a worker names the task it runs
        return words[0][:40]
    return words[0].rsplit("/", 1)[-1][:40]


def disk_per_doc(run: Path, docs: int) -> dict[str, float]:
    """Bytes on disk per document of each folder of the run (the index by its subfolders)."""
    out: dict[str, float] = {}
    folders = [p for p in run.iterdir() if p.is_dir() and p.name != "fingerprints"]
    folders += [p for p in (run / "fingerprints").iterdir() if p.is_dir()]
    for p in sorted(folders):
        size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        out[str(p.relative_to(run))] = size / docs
    clusters = run / "fingerprints" / "clusters.parquet"
    if clusters.is_file():
        out["fingerprints/clusters.parquet"] = clusters.stat().st_size / docs
    return out


def counts(run: Path) -> dict[str, int]:
    """Rows of the barrier files that sizing.py scales by the documents."""
    import polars as pl

    fp = run / "fingerprints"

    def rows(pattern: str) -> int:
        files = sorted(fp.glob(pattern))
        return int(pl.scan_parquet(files).select(pl.len()).collect().item()) if files else 0

    return {
        "edges": rows("edges/*.parquet"),
        "verified": rows("verified/*.parquet"),
        "clustered": rows("clusters.parquet"),
        "label_rounds": len({p.name for p in (fp / "labels").glob("round=*")})
        if (fp / "labels").is_dir()
        else 0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--node-cpus", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-cluster"))
    ap.add_argument("--shard-docs", type=int, default=25_000)
    ap.add_argument("--dup-share", type=float, default=0.2)
    ap.add_argument("--object-store-mb", type=int, default=400, help="per node")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    ap.add_argument("--no-html", action="store_true", help="skip extracting the HTML fixtures")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    if args.build_only:
        dedup_corpus.build_corpus(args, work)
        return
    if not (work / "truth.parquet").exists():  # in a child: its memory is not the driver's
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--build-only"], check=True)
    import polars as pl

    corpus = work / "corpus"
    docs = pl.scan_parquet(str(corpus / "*.parquet")).select(pl.len()).collect().item()
    text_mb = (
        pl.scan_parquet(str(corpus / "*.parquet"))
        .select(pl.col("text").str.len_bytes().sum())
        .collect()
        .item()
        / 1e6
    )

    import ray
    from ray.cluster_utils import Cluster

    from thresher.pipeline.config import parse_config
    from thresher.pipeline.jobs import dedup_only

    os.environ.setdefault("POLARS_MAX_THREADS", "1")  # the nodes' workers inherit it
    node_args = {
        "num_cpus": args.node_cpus,
        "object_store_memory": args.object_store_mb << 20,
    }
    c = Cluster(initialize_head=True, head_node_args=node_args | {"include_dashboard": False})
    nodes = {"head": c.head_node}
    for k in range(args.nodes - 1):
        nodes[f"worker {k + 1}"] = c.add_node(**node_args)
    c.wait_for_nodes()
    out = work / "run"
    shutil.rmtree(out, ignore_errors=True)
    cfg = parse_config(
        {
            "input": str(corpus / "part-*.parquet"),
            "output": str(out),
            "runner": {
                "workers": args.nodes * args.node_cpus,
                "progress": False,
                "ray_address": c.address,
            },
        }
    )
    mem = NodePeaks(nodes)
    mem.start()
    t0 = time.perf_counter()
    try:
        clusters = dedup_only(cfg)
    finally:
        wall = time.perf_counter() - t0
        mem.stop()
        ray.shutdown()
        c.shutdown()
    result = {
        "docs": docs,
        "text_mb": text_mb,
        "shard_docs": args.shard_docs,
        "nodes": args.nodes,
        "node_cpus": args.node_cpus,
        "wall_s": wall,
        "removed": int((~clusters["keep"]).sum()),
        "driver_peak_mb": mem.driver_kb / 1024,
        "node_peak_mb": {n: kb / 1024 for n, kb in mem.peak_kb.items()},
        "node_largest": {n: [kb / 1024, name] for n, (kb, name) in mem.largest.items()},
        "disk_bytes_per_doc": disk_per_doc(out, docs),
        "counts": counts(out),
    }
    print(json.dumps(result, indent=1))
    print(f"\n{docs:,} documents, {text_mb:,.0f} MB of text, {wall:.0f} s on {args.nodes} nodes")
    print(f"{'node':<10}{'peak MB':>9}  largest process")
    for n in nodes:
        kb, name = mem.largest[n]
        print(f"{n:<10}{mem.peak_kb[n] / 1024:>9.0f}  {kb / 1024:.0f} MB ({name})")
    print(f"{'driver':<10}{mem.driver_kb / 1024:>9.0f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
