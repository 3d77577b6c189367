"""The recipe's scale on paper: core-hours, bytes moved, index size and memory for a corpus.

    .venv/bin/python benchmarks/sizing.py [--docs 3e9] [--tokens 1.8e12] [--shard-docs 25000] \\
        [--partitions 8] [--measured /tmp/bench-cluster/result.json]

A projection, not a measurement. It multiplies the corpus by

  rates    per-core throughputs measured by the benchmarks and printed in the README's
           "Performance" section (RATES below names the script and the figure of each; this
           script measures nothing itself);
  layout   the bytes per document of each index file, from the code's column types (signatures
           num_perm x uint32, one (band_hash, order) row per band, exact_hash + order + id), and
           the shapes of the barriers: `slice_rows`, `partitions` ([base.near_dedup]),
           VERIFY_PARTS, the shard size;
  counts   per document: candidate edges, verified edges, documents in a duplicate cluster, label
           rounds, largest task and driver peaks; from bench_cluster.py's JSON when --measured is
           given (the run this README's table was made with: bench_dedup's corpus), else the
           defaults below (the same run's figures, copied).

The corpus is text (`thresher dedup`, or `thresher run` after extraction); extraction's row uses
the HTML pages/s rate and is printed for a WARC corpus of the same documents.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from thresher.stages.dedup_index import VERIFY_PARTS, NearDedup

# Per-core rates, from the README's "Performance" section (the script that measured each).
RATES = {
    # bench_base.py: trafilatura + htmldate, pages/s on one core
    "extract (WARC -> text)": (72.0, "docs", "bench_base.py extraction, 72 pages/s"),
    # bench_base.py: Gopher quality + repetition, C4, FineWeb, lid.176 chained, one core
    "base filters": (2_032.0, "docs", "bench_base.py all five chained, 2,032 docs/s"),
    # bench_dedup.py: signatures() from raw text, one core (exact hash in the same pass)
    "fingerprints": (210e6, "bytes", "bench_dedup.py signatures, 210 MB/s per core"),
    # bench_dedup.py --docs 1000000, 2 workers: bands 1.2 + verify 2.8 + labels 1.3 + keep 0.4 s
    "dedup barrier": (1e6 / (5.7 * 2), "docs", "bench_dedup.py 1M: 5.7 s x 2 cores"),
    # the same run: writing the deduplicated shards, 5.4 s on 2 workers
    "dedup apply": (1e6 / (5.4 * 2), "docs", "bench_dedup.py 1M: 5.4 s x 2 cores"),
    # bench_tokens.py: 1.72-1.87 M tokens/s on both cores
    "token counting": (0.9e6, "tokens", "bench_tokens.py, 1.8 M tokens/s on 2 cores"),
    # bench_scale.py 1M: 698 s x 2 cores, less dedup (32.7 s x 2) and token counting
    # (2,092 MB / 3.17 B per token / 0.9 M tokens/s = 733 core-s): 598 core-s per 1M documents
    "domains, recency, mixture": (1e6 / 598, "docs", "bench_scale.py 1M, less dedup and tokens"),
}
BYTES_PER_TOKEN = 3.17  # bench_tokens.py: 11.8 MB of fixture text, 3.72 M DeepSeek tokens

# bench_cluster.py --docs 1000000 --workdir /tmp/bench-cluster-1m (2026-12-07), its --json output
# copied: the default of --measured
MEASURED: dict = {
    "docs": 1000000,
    "text_mb": 2092.15,
    "shard_docs": 25000,
    "nodes": 3,
    "node_cpus": 1,
    "wall_s": 69.53,
    "driver_peak_mb": 881.77,
    "node_peak_mb": {"head": 1109.7, "worker 1": 798.49, "worker 2": 812.35},
    "node_largest": {
        "head": [594.24, "ray::run_chain"],
        "worker 1": [599.9, "ray::run_chain"],
        "worker 2": [613.31, "ray::run_chain"],
    },
    "disk_bytes_per_doc": {
        "base": 895.63,
        "extract": 1124.81,
        "fingerprints/bands": 162.99,
        "fingerprints/clusters": 2.16,
        "fingerprints/edges": 6.35,
        "fingerprints/exact": 18.38,
        "fingerprints/labels": 5.44,
        "fingerprints/minhash": 422.99,
        "fingerprints/verified": 1.06,
        "rejected": 246.73,
        "report": 0.01,
        "stats": 0.02,
        "fingerprints/clusters.parquet": 4.72,
    },
    "counts": {"edges": 1419262, "verified": 234131, "clustered": 355426, "label_rounds": 4},
}

GB = 1e9


def human(n: float, unit: str = "B") -> str:
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:,.1f} {prefix}{unit}"
    return f"{n:,.0f} {unit}"


def project(args: argparse.Namespace, m: dict) -> dict:
    """Every figure of the tables, as numbers (the printing is apart)."""
    near = NearDedup(partitions=args.partitions)
    bands, _ = near.lsh_params()
    d, tokens = int(args.docs), args.tokens
    text = tokens * args.bytes_per_token
    shards = -(-d // args.shard_docs)
    md = m["docs"]
    per_doc = {k: v / md for k, v in m["counts"].items() if k != "label_rounds"}
    edges, verified, clustered = (per_doc[k] * d for k in ("edges", "verified", "clustered"))
    sig = 4 * near.num_perm  # uint32 per permutation
    # per document, from the column types: minhash/ (order, sig, published, crawl_date, n_chars,
    # exact_hash), bands/ (band_hash, order per band), exact/ (id, exact_hash, order)
    layout = {
        "minhash": 8 + sig + 4 + 4 + 4 + 16,
        "bands": 16 * bands,
        "exact": args.id_bytes + 16 + 8,
    }
    # bytes each stage reads and writes: the measured folders per document where the dedup run
    # wrote them (extract/, base/, fingerprints/...), else a shard of text for each (a later
    # stage's folder holds the base/ rows plus a few columns)
    disk = m["disk_bytes_per_doc"]
    shard_bytes = disk.get("base", text / d)
    index_bytes = sum(disk.get(f"fingerprints/{k}", 0.0) for k in ("minhash", "bands", "exact"))
    io = {
        "extract (WARC -> text)": (None, disk.get("extract", text / d)),
        "base filters": (disk.get("extract", text / d), disk.get("extract", text / d)),
        "fingerprints": (0.0, index_bytes),
        "dedup barrier": (None, None),  # the barrier table
        "dedup apply": (disk.get("extract", text / d), shard_bytes + disk.get("rejected", 0.0)),
        "token counting": (0.0, 0.0),  # in the recency and mixture tasks
        "domains, recency, mixture": (3 * shard_bytes, 3 * shard_bytes),
    }
    stages = {}
    for name, (rate, unit, source) in RATES.items():
        work = {"docs": d, "bytes": text, "tokens": tokens}[unit]
        reads, writes = io[name]
        stages[name] = {
            "core_hours": work / rate / 3600,
            "source": source,
            "reads": None if reads is None else reads * d,
            "writes": None if writes is None else writes * d,
        }
    verify_parts = min(shards, VERIFY_PARTS)
    rounds = m["counts"]["label_rounds"] or 1
    barrier = {
        "bands": {
            "tasks": bands,
            "moved": d * layout["bands"] + edges * 16,
            "what": "reads band files, writes candidate edges",
            # a slice of (band_hash, order) rows, a few times that while sorting, plus the
            # band's edges, all held until written
            "task_mem": min(d, near.slice_rows) * 16 * 4 + edges / bands * 16,
        },
        "verify ship": {
            "tasks": shards,
            "moved": edges * 16 + d * layout["minhash"] + edges * (16 + sig),
            "what": "reads edges and signatures, writes edges with one signature",
            "task_mem": args.shard_docs * layout["minhash"] + edges / shards * (16 + sig),
        },
        "verify": {
            "tasks": verify_parts,
            "moved": edges * (16 + sig) + min(edges, d) * (8 + sig) + verified * 16,
            "what": "reads shipped edges and src signatures, writes verified edges",
            "task_mem": edges / verify_parts * (16 + sig) * 2,
        },
        "labels": {
            "tasks": args.partitions * rounds,
            "moved": rounds * args.partitions * (verified * 16) + rounds * clustered * 32,
            "what": f"{rounds} rounds; each task scans all verified edges for its partition's",
            # its partition's edges (both directions) and the labels of their ends
            "task_mem": verified * 2 / args.partitions * 16 + clustered * 16,
        },
        "keep": {
            "tasks": args.partitions,
            "moved": clustered * (16 + 40),
            "what": "reads final labels and keep attributes, writes clusters/",
            "task_mem": clustered / args.partitions * 56,
        },
    }
    # the driver: exact duplicates over every document's (exact_hash, order), then the
    # decisions of every clustered document (id, survivor_id, dup_cluster: three ids each)
    driver = d * (16 + 8) * 2 + clustered * (8 + 3 * (args.id_bytes + 16) + 12)
    shard_text = args.shard_docs * text / d
    largest = max((v[0] for v in m["node_largest"].values()), default=0.0) * 1e6
    measured_shard_text = m["text_mb"] * 1e6 / md * m["shard_docs"] if md else 0.0
    return {
        "docs": d,
        "tokens": tokens,
        "text": text,
        "shards": shards,
        "bands": bands,
        "stages": stages,
        "barrier": barrier,
        "index": {k: v * d for k, v in layout.items()}
        | {"clusters.parquet": clustered * (8 + 3 * (args.id_bytes + 16) + 12)},
        "measured_disk": {
            k.removeprefix("fingerprints/"): v * d
            for k, v in m["disk_bytes_per_doc"].items()
            if k.startswith("fingerprints/")
        },
        "driver": driver,
        "shard_text": shard_text,
        # a shard task scales with its shard's text: the measured largest task, scaled
        "shard_task": largest * max(shard_text / measured_shard_text, 1.0)
        if measured_shard_text
        else 0.0,
        "edges": edges,
        "verified": verified,
        "clustered": clustered,
    }


def print_tables(p: dict, args: argparse.Namespace, m: dict) -> None:
    print(
        f"corpus: {p['docs']:,.0f} documents, {human(p['tokens'], '')} tokens, "
        f"{human(p['text'])} of text ({args.bytes_per_token} B/token), {p['shards']:,} shards "
        f"of {args.shard_docs:,}; per-document counts from a {m['docs']:,}-document run: "
        f"{p['edges'] / p['docs']:.2f} candidate edges, {p['verified'] / p['docs']:.2f} "
        f"verified, {p['clustered'] / p['docs']:.2f} in a cluster"
    )
    print("\n| stage | core-hours | reads | writes | rate (per core) |\n|---|---:|---:|---:|---|")

    def size(x: float | None) -> str:
        return "input" if x is None else ("-" if x == 0 else human(x))

    for name, s in p["stages"].items():
        if name == "dedup barrier":
            reads = writes = "see below"
        else:
            reads, writes = size(s["reads"]), size(s["writes"])
        print(f"| {name} | {s['core_hours']:,.0f} | {reads} | {writes} | {s['source']} |")
    total = sum(s["core_hours"] for s in p["stages"].values())
    print(f"| **all, from WARC** | **{total:,.0f}** | | | |")
    print("\n| barrier step | tasks | bytes moved | per-task memory (bound) | what |")
    print("|---|---:|---:|---:|---|")
    for name, b in p["barrier"].items():
        print(
            f"| {name} | {b['tasks']:,} | {human(b['moved'])} | {human(b['task_mem'])} | "
            f"{b['what']} |"
        )
    print("\n| index (fingerprints/) | from column types | on disk (measured per doc, scaled) |")
    print("|---|---:|---:|")
    disk = p["measured_disk"]
    for name in dict.fromkeys([*p["index"], *sorted(disk)]):
        size, there = p["index"].get(name), disk.get(name)
        print(f"| {name} | {human(size) if size else '-'} | {human(there) if there else '-'} |")
    whole = sum(disk.values())
    print(f"| **all** | | **{human(whole)}** |")
    print(
        f"\ndriver: {human(p['driver'])} (exact duplicates over every document's hash and "
        f"order, and the decisions of every clustered document; measured "
        f"{m['driver_peak_mb']:,.0f} MB at {m['docs']:,} documents)"
    )
    print(
        f"shard task: {human(p['shard_task'])} ({human(p['shard_text'])} of text a shard; "
        f"the largest process measured, scaled by the shard's text)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=float, default=3e9)
    ap.add_argument("--tokens", type=float, default=1.8e12)
    ap.add_argument("--bytes-per-token", type=float, default=BYTES_PER_TOKEN)
    ap.add_argument("--shard-docs", type=int, default=25_000)
    ap.add_argument("--partitions", type=int, default=NearDedup().partitions)
    ap.add_argument("--id-bytes", type=int, default=32, help="bytes of a document id")
    ap.add_argument("--measured", type=Path, help="bench_cluster.py's --json output")
    args = ap.parse_args()
    m = json.loads(args.measured.read_text(encoding="utf-8")) if args.measured else MEASURED
    print_tables(project(args, m), args, m)
    if m.get("node_peak_mb"):
        against_measured(args, m)


def against_measured(args: argparse.Namespace, m: dict) -> None:
    """The same model at the measured run's size, beside what each node's processes peaked at:
    a node runs node_cpus tasks at once, plus its raylet (and the head its GCS)."""
    at = argparse.Namespace(
        **vars(args) | {"docs": m["docs"], "tokens": m["text_mb"] * 1e6 / args.bytes_per_token}
    )
    p = project(at, m)
    task = max([p["shard_task"], *(b["task_mem"] for b in p["barrier"].values())])
    print(
        f"\nat the measured run's size ({m['docs']:,} documents, {m['nodes']} nodes of "
        f"{m['node_cpus']} CPU): largest task bound {human(task)} (shard task "
        f"{human(p['shard_task'])}, barrier tasks <= "
        f"{human(max(b['task_mem'] for b in p['barrier'].values()))}); driver model "
        f"{human(p['driver'])}, measured {m['driver_peak_mb']:,.0f} MB"
    )
    print("| node | peak RSS (all its processes) | largest process | tasks x bound |")
    print("|---|---:|---:|---:|")
    for node, peak in m["node_peak_mb"].items():
        mb, name = m["node_largest"][node]
        bound = m["node_cpus"] * task
        print(f"| {node} | {peak:,.0f} MB | {mb:,.0f} MB ({name}) | {human(bound)} |")


if __name__ == "__main__":
    main()
