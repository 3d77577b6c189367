"""Driver memory of the dedup barrier at scale, on a synthetic fingerprint index.

    .venv/bin/python benchmarks/bench_dedup_driver.py --docs 1000000 [--near] \\
        [--shard-docs 250000] [--workers 2] [--workdir /tmp/bench-dedup-driver]

Making 10M documents through extract and base takes hours on two shared cores, so this writes
the index that the base stage would have written (fingerprints/exact/, and with --near
fingerprints/minhash/ and bands/) straight from numbers, then runs the dedup stage's `clusters`
barrier on it in this process (the driver) with the Ray executor (--workers workers), as a run
does. Documents: 20% are copies of an earlier "original" (drawn at random): half exact copies
(same hash, same signature), half near copies (same signature but 6 of 112 slots changed, a
distinct hash). Signatures are random (uint32), so no other pairs are candidates.

Printed: documents, shards, the driver's peak RSS over the barrier (sampled every 50 ms from
/proc/self/status, less its RSS just before), ru_maxrss of the driver, the barrier's wall
seconds, and the clusters it found (rows of fingerprints/clusters.parquet, removed documents).
The index is made once per (docs, near) under --workdir and reused. The code before this
change runs the same script with the older tree first on PYTHONPATH.

Measured (2 shared cores, --workers 2; driver RSS ~296 MB before the barrier; peak over it):
  --docs 10000000 (40 shards, exact only)   before +1,275 MB (38.8 s)   after +522 MB (29.3 s)
  --docs 1000000 --near (4 shards)          before +185 MB (27.8 s)     after +185 MB (24.5 s)
  The same clusters (1,785,549 and 329,900 rows). What the driver still holds is the decisions:
  one row per document in a cluster (and a scan of every id to name them), built in
  `stages/dedup.py` `clusters`; at 1M with near-dedup that, not the exact hashes, is the peak.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

SHARD_STRIDE = 1 << 32


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakRss(threading.Thread):
    """The peak RSS of this process while it runs, sampled every `interval` seconds."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak_kb = interval, rss_kb()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_kb = max(self.peak_kb, rss_kb())
            self._stop_event.wait(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return max(self.peak_kb, rss_kb())


def write_index(fp: Path, docs: int, shard_docs: int, near: bool, seed: int) -> int:
    """The fingerprint files of `docs` synthetic documents; returns the shard count."""
    from thresher.fingerprints.lsh import band_hashes
    from thresher.stages.dedup_index import NearDedup

    cfg = NearDedup()
    bands, rows = cfg.lsh_params()
    rng = np.random.default_rng(seed)
    # each document's original: itself, or (20%) an earlier document
    origin = np.arange(docs, dtype=np.int64)
    copies = np.flatnonzero(rng.random(docs) < 0.2)
    copies = copies[copies > 0]
    origin[copies] = (rng.random(copies.size) * copies).astype(np.int64)
    origin = origin[origin]  # a copy of a copy is a copy of the first original (one step)
    exact = rng.random(docs) < 0.5  # of the copies: exact (same hash) or near
    key = np.where((origin != np.arange(docs)) & exact, origin, np.arange(docs))
    shards = -(-docs // shard_docs)
    for s in range(shards):
        lo, hi = s * shard_docs, min(docs, (s + 1) * shard_docs)
        n = hi - lo
        order = np.arange(n, dtype=np.int64) + s * SHARD_STRIDE
        # 16 bytes from the key: two 64-bit mixes (what the hash of equal texts would be)
        k = key[lo:hi].astype(np.uint64)
        h = np.stack([k * np.uint64(0x9E3779B97F4A7C15), ~k * np.uint64(0xC2B2AE3D27D4EB4F)], 1)
        hashes = pl.Series("exact_hash", list(h.astype(">u8").view("S16").ravel()), pl.Binary)
        ids = pl.Series("id", [f"d{i}" for i in range(lo, hi)])
        exact_df = pl.DataFrame({"id": ids, "exact_hash": hashes, "order": order})
        (fp / "exact").mkdir(parents=True, exist_ok=True)
        exact_df.write_parquet(fp / "exact" / f"part-{s:05d}.parquet")
        if not near:
            continue
        # a document's signature: its original's (seeded by the original), 6 slots changed
        # for a near copy
        sigs = np.empty((n, cfg.num_perm), np.uint32)
        for j, o in enumerate(origin[lo:hi]):
            sigs[j] = np.random.default_rng(int(o)).integers(0, 2**32, cfg.num_perm, np.uint32)
        near_copy = (origin[lo:hi] != np.arange(lo, hi)) & ~exact[lo:hi]
        idx = np.flatnonzero(near_copy)
        slots = rng.integers(0, cfg.num_perm, (idx.size, 6))
        sigs[idx[:, None], slots] = rng.integers(0, 2**32, (idx.size, 6), np.uint32)
        attrs = pl.DataFrame(
            {
                "order": order,
                "sig": sigs,
                "published": pl.Series([None] * n, dtype=pl.Date),
                "crawl_date": pl.Series([None] * n, dtype=pl.Date),
                "n_chars": np.full(n, 1000, np.int64),
                "exact_hash": hashes,
            }
        )
        (fp / "minhash").mkdir(parents=True, exist_ok=True)
        attrs.write_parquet(fp / "minhash" / f"part-{s:05d}.parquet")
        bh = band_hashes(sigs, bands, rows)
        for b in range(bands):
            d = fp / "bands" / f"band={b:02d}"
            d.mkdir(parents=True, exist_ok=True)
            pl.DataFrame(
                {"band_hash": np.ascontiguousarray(bh[:, b]), "order": order},
                schema={"band_hash": pl.UInt64, "order": pl.Int64},
            ).write_parquet(d / f"part-{s:05d}.parquet")
        print(f"  shard {s + 1}/{shards}", flush=True)
    return shards


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--shard-docs", type=int, default=250_000)
    ap.add_argument("--near", action="store_true", help="MinHash near-dedup too (else exact only)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-dedup-driver"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from thresher.pipeline.config import Runner
    from thresher.pipeline.executor import executor
    from thresher.pipeline.phases import Context, Sections
    from thresher.stages import BASE_STEPS
    from thresher.stages.base import BaseFilter
    from thresher.stages.dedup import clusters

    index = args.workdir / f"index-{args.docs}-{'near' if args.near else 'exact'}"
    if not (index / "done").exists():
        shutil.rmtree(index, ignore_errors=True)
        t0 = time.perf_counter()
        shards = write_index(index, args.docs, args.shard_docs, args.near, args.seed)
        (index / "done").write_text(str(shards))
        print(f"index written in {time.perf_counter() - t0:.0f} s", flush=True)
    shards = int((index / "done").read_text())
    run = args.workdir / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(index, run / "fingerprints", ignore=shutil.ignore_patterns("done"))
    steps_off = {name: {"enabled": False} for name in BASE_STEPS}
    base = BaseFilter.model_validate(steps_off | {"near_dedup": {"enabled": args.near}})
    ex = executor(Runner(workers=args.workers, progress=False))
    ex.map("warm up", rss_kb, [()] * args.workers)  # Ray started before the measurement
    ctx = Context(run, shards, args.seed, "extract", ex)
    before = rss_kb()
    peak = PeakRss()
    peak.start()
    t0 = time.perf_counter()
    carry = clusters(Sections(base=base), ctx)
    wall = time.perf_counter() - t0
    peak_kb = peak.stop()
    decided = pl.read_parquet(run / "fingerprints" / "clusters.parquet")
    removed = decided.filter(pl.col("reason").is_not_null()).height
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del carry
    print(
        f"docs {args.docs:,} shards {shards} near {args.near}: barrier {wall:.1f} s; driver "
        f"RSS before {before / 1024:.0f} MB, peak {peak_kb / 1024:.0f} MB "
        f"(+{(peak_kb - before) / 1024:.0f} MB); ru_maxrss {maxrss / 1024:.0f} MB; "
        f"clusters.parquet rows {decided.height:,}, removed {removed:,}"
    )


if __name__ == "__main__":
    main()
