"""thresher's dedup against datasketch, rensa and datatrove on one corpus with injected duplicates.

    .venv/bin/python benchmarks/bench_dedup.py [--docs 100000] [--dup-share 0.2] \\
        [--peer-docs 100000] [--rensa-docs 0] [--only thresher,datasketch,rensa,datatrove] \\
        [--workdir DIR] [--keep] [--workers 2] [--one-file ROWS_PER_GROUP]

The peers run in venvs of their own, made once with
    python3 -m venv /work/venvs/rensa && /work/venvs/rensa/bin/pip install rensa pyarrow numpy
    python3 -m venv /work/venvs/datatrove && /work/venvs/datatrove/bin/pip install \\
        'datatrove[processing]' spacy pyarrow orjson   (orjson: its JsonlWriter; see bench_base.py)
datasketch runs in thresher's own venv (it is a dependency). A peer whose Python is missing is
skipped with a message.

The corpus (written once, as Parquet shards of id and text, under --workdir):
  real texts   ../shared/fixtures: domains/*.jsonl.gz, neardup/clough/corpus.jsonl,
               neardup/minhash/articles_2500.train.gz (the text after the id), lid/sentences.jsonl
               (each language's sentences joined five at a time into paragraphs) and the HTML pages
               of html/ and dates/ extracted with thresher's Extractor (~15 s).
  new texts    to reach --docs, documents made of real units drawn at random across all documents:
               sentences of prose (long ones cut to 40 words) joined into paragraphs, or blocks of
               three lines of code. At least 8 units a document, so one shared unit is a small part
               of a document and two made-up documents share little.
  base check   the base documents (real and made up) are checked against each other: LSH at a low
               bar (thresher signatures, bands for Jaccard ~0.4), then exact 5-gram Jaccard of
               every candidate pair; the later document of every pair at >= 0.5 is dropped (the
               fixtures hold real near-duplicates of their own: clough's cut/light answers, the
               articles' known pairs) and the count is printed.
  copies       for --dup-share of the base documents, 1-3 copies each (60/30/10%), every copy with
               0.5-3% of its words edited (substituted, deleted, inserted or swapped), half of them
               with 1-3 boilerplate lines added at the top or bottom, half with whitespace noise
               (double spaces, tabs, trailing spaces, CRLF). Truth: copy -> original. All documents
               are shuffled (so a copy may come before its original) and cut into shards
               (--one-file N: one Parquet file with row groups of N documents, the shape of a
               dataset published as one file, which thresher reads in parts: [read] part_mb).
The exact 5-gram Jaccard of every (copy, original) pair is computed (thresher's shingling); edits
of 3% of words leave a Jaccard near 0.74, so some injected pairs are below the 0.8 bar that every
implementation aims at. Recall is printed over all pairs and over the pairs at >= 0.8.

The implementations, each a subprocess (time and memory are per process tree):
  thresher     dedup_only (what `thresher dedup` runs) on the shards, --workers workers, on Ray
               from 8 MiB of input (executor "auto"; in-process below: pipeline/executor.py);
               Executor.map is wrapped to time each wave and barrier step. Defaults: 112
               permutations, 18 bands x 6 rows, candidates verified on signatures at 0.7055.
  datasketch   MinHash(num_perm=128) over word 5-grams of text normalised in Python like thresher's
               (NFKC, lower, digits -> 0, punctuation and symbols removed, whitespace split; no CJK
               splitting), MinHashLSH(threshold=0.8) (9 bands x 13 rows), every document inserted,
               then queried; union-find over the query results.
  rensa        the same shingles; RMinHash (full-set R-MinHash, 128 slots) and RMinHashLSH(0.8, 128,
               16 bands: num_perm must divide by the bands; 16 x 8 is the nearest to the usual
               curve), insert then query_all, union-find. One Rayon thread (RAYON_NUM_THREADS=1).
  datatrove    MinhashDedupSignature -> Buckets -> Cluster -> Filter with LocalPipelineExecutor and
               MinhashConfig() defaults (5-grams, 14 x 8, 64-bit xxhash), one task per shard,
               --workers workers (fork, so that the pool's CPU time is counted); ParquetReader in,
               JsonlWriter (uncompressed) out; Cluster with save_cluster_id, so that clusters can be
               scored.
In every one the survivor of a cluster is its first document in corpus order, except datatrove's
(its union-find root).

What is printed, per implementation:
  sig MB/s/core  input MB (UTF-8 of the texts it ran on) / seconds of one core making signatures
                 from raw text: normalising and shingling included. thresher: `signatures()` alone
                 on every shard, one thread (POLARS_MAX_THREADS=1, NUMBA_NUM_THREADS=1).
                 rensa: the same, single-threaded, in the worker (thresher and rensa in CPU seconds
                 of the worker process). datasketch: wall seconds. datatrove: MB / CPU
                 seconds of its signature stage (reading, tokenising, sorting its bucket files).
  lsh+clu s      LSH and clustering: thresher's barrier steps (bands, verify, label rounds, keep);
                 datasketch and rensa: insert + query + union-find; datatrove: Buckets + Cluster.
  e2e s          wall time of the subprocess (imports, Ray start, reading and writing included).
  peak GB        peak over the run of the summed PSS of the process tree (sampled every 0.2 s from
                 /proc; PSS so that Ray's shared object store is not counted once per process);
                 maxrss is the largest single process (getrusage of the waited child tree).
  recall         a (copy, original) pair is found when both end in one cluster; "@.8" over the
                 pairs whose true 5-gram Jaccard is >= 0.8.
  rm prec        removed documents whose survivor is a copy or the original of the same document.
  rm recall      such correct removals / copies (the ideal removes exactly the copies).
  kernel alone   the permutation step by itself, 128 permutations, on ready uint64 shingle hashes
                 (no normalising, tokenising or shingle hashing): thresher's signatures_from_hashes
                 on its shingle hashes vs rensa's digest_matrix_from_flat_token_hashes on the hashes
                 of its shingle lists; beside them rensa's whole job from ready shingle lists
                 (digest_matrix_from_token_sets: hashing the strings, then permuting). In million
                 shingles a second (the peers' Python shingling differs a little from thresher's
                 on CJK) and in MB of raw text a second. benchmarks/bench_kernel.py runs the same
                 comparison on identical shingles.
datasketch and datatrove are slow: above --peer-docs documents they run on a subset (whole
duplicate groups, chosen at random) and their times are scaled linearly to the full corpus (marked
with *; memory is as measured on the subset). rensa runs on all documents unless --rensa-docs.
Also printed: exact fingerprints, xxh3-128 (`xxhash.xxh3_128_digest`) vs MD5 (`hashlib.md5`) of
each document's UTF-8 bytes, one core.

The machine may be shared: every run also prints the CPU seconds that processes outside the
measured tree used meanwhile (/proc/stat), with a warning above 10% of the machine. `--reuse`
reruns implementations on the corpus already in --workdir (e.g. `--only thresher,datatrove` when
a measurement was disturbed).

Measured (2026-11-29, 2-core AMD EPYC, 24 GB; --docs 1000000: 2,092 MB in 40 shards, 230,769
copies of 153,846 originals, 136,607 pairs at Jaccard >= 0.8; corpus build ~5 min; full run ~8 min):
  thresher     sig 210 MB/s/core; e2e 32.7 s (three full runs 32.7-34.0 s; 87 s before the
               partitioned verify and the one-pass fingerprints), peak PSS 1.49 GB; recall 0.911,
               @.8 0.9975, removal precision 1.0000
  datasketch   7.6 MB/s/core with its bulk generator (on 99,733 docs), 0.84-1.27 MB/s with its
               default per-shingle update() (it moves between runs); recall @.8 0.735 (9 x 13 bands)
  rensa        13.7 MB/s/core with Python shingling; its hashing of ready shingle lists ~390 MB/s;
               peak 6.85 GB (all texts and sketches in one process); @.8 0.9925
  datatrove    0.63 MB/s/core (spaCy tokenising); 177 s on 99,733 docs, 1,750-1,846 s scaled to 1M
  targets: 150 MB/s/core yes (210); 170x datasketch's default API just short in this run (167x;
  142-224x across runs), 28x its bulk generator; 5x rensa yes (15x); 50x datatrove end to end yes
  (55.9x; 51.5x and 52.1x in the other two runs); peak <= 4 GB yes (1.49 GB). thresher's steps at
  1M: extract+base 15.1 s, lsh bands 1.2 s, verify ship 1.6 s, verify 1.2 s, label rounds 1.3 s,
  keep 0.4 s, dedup 5.4 s, other (Ray start/stop, imports, driver joins) 6.6 s.

One file (2026-12-07, same machine shared with five other engineers, load 5-15: every figure is
skewed; --docs 500000 --one-file 20000: one 469 MB Parquet file of 25 row groups, 1,042 MB of
text). `thresher dedup FILE` (README) before the file was read in parts (one task) and after
([read] part_mb = 128: 4 parts), alternating: before 86.5, 60.5, 53.2 s; after 89.8, 63.1, 54.0 s
(load at the end 8.5/8.9/4.6 and 13.7/9.6/5.0; other processes used 95-169 CPU s during each):
extract+base (manifest seconds) before 56.5, 37.2, 32.2, 41.9 s, after 48.2, 42.0, 22.1, 35.0,
33.3 s. Sampled with ps: before, one task at ~80% of a core, 4.1 GB RSS at its peak; after, two
tasks side by side at 45-70% each, at most 1.2 GB each: with the cores taken by others the
machine gave the two tasks little more CPU than the one, so the wall time hardly moved; on idle
cores the wave should take about half. clusters.parquet, extract/ and base/ (sorted by id) are
identical before and after.
rensa's whole job on the same file (--only rensa --reuse): 385.4 s (166 CPU s; others used 604).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import hashlib
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
HERE = Path(__file__).resolve()
VENV_PYTHON = Path(sys.executable)
# rensa's own venv (see above), else thresher's if rensa is installed there
# (`.venv/bin/python -m pip install rensa`)
RENSA_VENV = Path("/work/venvs/rensa/bin/python")
_HAS_RENSA = importlib.util.find_spec("rensa") is not None
RENSA_PYTHON = RENSA_VENV if RENSA_VENV.exists() or not _HAS_RENSA else VENV_PYTHON
DATATROVE_PYTHON = Path("/work/venvs/datatrove/bin/python")
IMPLS = ("thresher", "datasketch", "rensa", "datatrove")
NGRAM = 5
DEFAULT_API_DOCS = 5_000  # datasketch's per-shingle update() path is timed on these
PEER_PERM = 128  # datasketch's and rensa's permutations (datatrove: 14 x 8 = 112, its default)
THRESHOLD = 0.8
RENSA_BANDS = 16
RENSA_BATCH = 10_000
MIN_UNITS = 8  # units (sentences, code blocks) of a made-up document: one shared unit stays small
MAX_UNIT_WORDS = 40
BASE_MAX_JACCARD = 0.5  # base documents at or above this with an earlier one are dropped
BOILERPLATE = (
    "Share this article on Facebook Twitter LinkedIn Email",
    "Copyright 2024 Example Media Group. All rights reserved.",
    "We use cookies to improve your experience. By continuing you accept our cookie policy.",
    "Subscribe to our newsletter for the latest updates",
    "Home | About us | Contact | Privacy policy | Terms of use",
    "Posted in Uncategorized | Leave a comment",
    "Click here to read more stories like this",
    "Advertisement",
    "Related posts: you may also like these articles",
    "Skip to main content",
)
TARGETS = {"sig_mb_s": 150.0, "vs_datasketch": 170.0, "vs_rensa": 5.0, "vs_datatrove": 50.0}
PEAK_GB_TARGET = 4.0


# ---------------------------------------------------------------------------------------------
# Normalisation and shingles for the peers (plain Python: runs in every venv)


class PyShingler:
    """thresher's normalisation in plain Python, then word 5-grams as strings.

    NFKC, lowercase, every decimal digit to 0, punctuation and symbols removed, split on
    whitespace. Unlike thresher, CJK characters are not split into words of their own. A text
    of 1 to 4 words gives one shingle, the whole text, as thresher does.
    """

    def __init__(self, n: int = NGRAM) -> None:
        import unicodedata

        self.n = n
        table: dict[int, str | None] = {}
        for cp in range(sys.maxunicode + 1):
            cat = unicodedata.category(chr(cp))
            if cat[0] in "PS":
                table[cp] = None
            elif cat == "Nd":
                table[cp] = "0"
        self.table = table
        self._nfkc = unicodedata.normalize

    def __call__(self, text: str) -> list[str]:
        words = self._nfkc("NFKC", text).lower().translate(self.table).split()
        n = self.n
        if len(words) < n:
            return [" ".join(words)] if words else []
        return [" ".join(g) for g in zip(*(words[i:] for i in range(n)), strict=False)]


def read_corpus_arrow(corpus: Path) -> tuple[list[str], list[str]]:
    """ids and texts of every shard, in shard order (pyarrow only: runs in every venv)."""
    import pyarrow.parquet as pq

    ids: list[str] = []
    texts: list[str] = []
    for path in sorted(corpus.glob("part-*.parquet")):
        table = pq.read_table(path, columns=["id", "text"])
        ids += table.column("id").to_pylist()
        texts += table.column("text").to_pylist()
    return ids, texts


def write_decisions_arrow(path: Path, rows: dict[str, list[Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(rows), path)


def union_find_decisions(ids: list[str], pairs: list[tuple[int, int]]) -> dict[str, list[Any]]:
    """Connected components of index pairs: cluster = least index, survivor = that document."""
    parent = list(range(len(ids)))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb
    roots = [find(i) for i in range(len(ids))]
    sizes: dict[int, int] = {}
    for r in roots:
        sizes[r] = sizes.get(r, 0) + 1
    return {
        "id": ids,
        "cluster": [ids[r] if sizes[r] > 1 else None for r in roots],
        "keep": [r == i for i, r in enumerate(roots)],
        "survivor": [ids[r] for r in roots],
    }


# ---------------------------------------------------------------------------------------------
# Workers (each runs in a subprocess: `--worker NAME --corpus DIR --out DIR`)


def worker_thresher(corpus: Path, out: Path, workers: int) -> dict[str, Any]:
    """dedup_only on the shards, each Executor.map timed."""
    import polars as pl

    from thresher.pipeline.config import parse_config
    from thresher.pipeline.executor import Executor
    from thresher.pipeline.jobs import dedup_only

    steps: list[dict[str, Any]] = []
    original = Executor.map

    def timed(self: Any, desc: str, fn: Any, calls: list[tuple], **kw: Any) -> Any:
        t0 = time.perf_counter()
        result = original(self, desc, fn, calls, **kw)
        steps.append({"step": desc, "tasks": len(calls), "s": time.perf_counter() - t0})
        return result

    Executor.map = timed  # type: ignore[method-assign]
    run_dir = out / "run"
    cfg = parse_config(
        {
            "input": str(corpus / "part-*.parquet"),
            "output": str(run_dir),
            "runner": {"workers": workers, "progress": False},
        }
    )
    t0 = time.perf_counter()
    clusters = dedup_only(cfg)
    total = time.perf_counter() - t0
    # the corpus's own ids are source_id (the pipeline makes its ids unique per input)
    own = clusters.select(survivor_id="id", survivor="source_id")
    clusters.join(own, on="survivor_id", how="left", maintain_order="left").select(
        id="source_id",
        cluster="dup_cluster",
        keep="keep",
        survivor=pl.coalesce("survivor", "source_id"),
    ).write_parquet(out / "decisions.parquet")
    lsh = sum(
        s["s"]
        for s in steps
        if s["step"] in ("lsh bands", "verify ship", "verify", "keep")
        or s["step"].startswith("labels")
    )
    fingerprint = sum(s["s"] for s in steps if s["step"] in ("base", "extract+base"))
    return {"run_s": total, "steps": steps, "lsh_cluster_s": lsh, "fingerprint_wave_s": fingerprint}


def worker_thresher_sig(corpus: Path, out: Path, workers: int) -> dict[str, Any]:
    """signatures() and band_hashes() alone, one thread, shard by shard (CPU seconds: the
    machine may be shared)."""
    import polars as pl

    from thresher.fingerprints.exact import exact_hashes
    from thresher.fingerprints.lsh import band_hashes
    from thresher.fingerprints.minhash import signatures, signatures_from_hashes
    from thresher.fingerprints.normalize import normalize_series
    from thresher.fingerprints.shingles import token_shingle_hashes_batch
    from thresher.stages.dedup_index import NearDedup

    near = NearDedup()
    bands, rows = near.lsh_params()
    signatures(pl.Series("text", ["warm up the numba kernel with a few words of text"]))
    mb = sig_s = norm_s = band_s = kernel_s = exact_s = perm_s = 0.0
    docs = shingles = 0
    for path in sorted(corpus.glob("part-*.parquet")):
        texts = pl.read_parquet(path, columns=["text"])["text"]
        mb += float(texts.str.len_bytes().sum()) / 1e6
        docs += texts.len()
        t0 = time.process_time()
        sigs = signatures(texts, near.num_perm, near.ngram, near.seed)
        t1 = time.process_time()
        band_hashes(sigs, bands, rows)
        t2 = time.process_time()
        normed = normalize_series(texts)
        t3 = time.process_time()
        signatures(normed, near.num_perm, near.ngram, near.seed, normalised=True)
        t4 = time.process_time()
        exact_hashes(texts)
        t5 = time.process_time()
        hashes, offsets = token_shingle_hashes_batch(texts, near.ngram, near.seed)
        t6 = time.process_time()
        signatures_from_hashes(hashes, offsets, PEER_PERM, near.seed)  # rensa's permutations
        t7 = time.process_time()
        sig_s, band_s, norm_s = sig_s + t1 - t0, band_s + t2 - t1, norm_s + t3 - t2
        kernel_s, exact_s, perm_s = kernel_s + t4 - t3, exact_s + t5 - t4, perm_s + t7 - t6
        shingles += hashes.size
    return {
        "docs": docs,
        "mb": mb,
        "sig_s": sig_s,
        "band_s": band_s,
        "normalise_s": norm_s,
        "kernel_s": kernel_s,
        "exact_s": exact_s,
        "perm_s": perm_s,
        "shingles": shingles,
    }


def worker_datasketch(corpus: Path, out: Path, workers: int) -> dict[str, Any]:
    from datasketch import MinHash, MinHashLSH

    t_read = time.perf_counter()
    ids, texts = read_corpus_arrow(corpus)
    read_s = time.perf_counter() - t_read
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    shingle = PyShingler()
    t0 = time.perf_counter()
    sketches = list(
        MinHash.generator(
            ([s.encode("utf-8") for s in shingle(t)] for t in texts), num_perm=PEER_PERM
        )
    )
    sig_s = time.perf_counter() - t0
    # datasketch's default API, as its documentation shows it: one MinHash, update() per shingle
    # (the generator above is its bulk path); timed on the first DEFAULT_API_DOCS documents
    few = texts[:DEFAULT_API_DOCS]
    t0 = time.perf_counter()
    for t in few:
        m = MinHash(num_perm=PEER_PERM)
        for s in shingle(t):
            m.update(s.encode("utf-8"))
    default_s = time.perf_counter() - t0
    default_mb = sum(len(t.encode("utf-8")) for t in few) / 1e6
    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PEER_PERM)
    for i, m in enumerate(sketches):
        lsh.insert(i, m)
    pairs = [(i, j) for i, m in enumerate(sketches) for j in lsh.query(m) if j != i]
    rows = union_find_decisions(ids, pairs)
    lsh_s = time.perf_counter() - t0
    write_decisions_arrow(out / "decisions.parquet", rows)
    return {
        "docs": len(ids),
        "mb": mb,
        "read_s": read_s,
        "sig_s": sig_s,
        "lsh_cluster_s": lsh_s,
        "bands_rows": list(lsh.b_r) if hasattr(lsh, "b_r") else [lsh.b, lsh.r],
        "candidate_pairs": len(pairs) // 2,
        "default_api_mb_s": default_mb / default_s,
    }


def worker_rensa(corpus: Path, out: Path, workers: int) -> dict[str, Any]:
    import itertools

    import numpy as np
    from rensa import RMinHash, RMinHashLSH

    t_read = time.perf_counter()
    ids, texts = read_corpus_arrow(corpus)
    read_s = time.perf_counter() - t_read
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    shingle = PyShingler()
    sketches = []
    shingle_s = matrix_s = objects_s = perm_s = 0.0
    n_shingles = 0
    # In batches: the shingle strings of a whole corpus take ~15x its size.
    for start in range(0, len(texts), RENSA_BATCH):
        t0 = time.process_time()
        token_sets = [shingle(t) for t in texts[start : start + RENSA_BATCH]]
        t1 = time.process_time()
        RMinHash.digest_matrix_from_token_sets(token_sets, PEER_PERM, 42)
        t2 = time.process_time()
        sketches += RMinHash.from_token_sets(token_sets, PEER_PERM, 42)
        t3 = time.process_time()
        rows = RMinHash.hash_token_sets(token_sets)  # the hashes of the shingles, untimed
        flat = np.fromiter(itertools.chain.from_iterable(rows), np.uint64)
        offsets = np.cumsum([0] + [len(r) for r in rows], dtype=np.uint64)
        t5 = time.process_time()
        RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets, PEER_PERM, 42)
        t6 = time.process_time()
        shingle_s += t1 - t0
        matrix_s += t2 - t1
        objects_s += t3 - t2
        perm_s += t6 - t5
        n_shingles += flat.size
    del texts, token_sets
    t0 = time.perf_counter()
    lsh = RMinHashLSH(THRESHOLD, PEER_PERM, RENSA_BANDS)
    lsh.insert_pairs(list(enumerate(sketches)))
    found = lsh.query_all(sketches)
    pairs = [(i, j) for i, cands in enumerate(found) for j in cands if j != i]
    rows = union_find_decisions(ids, pairs)
    lsh_s = time.perf_counter() - t0
    write_decisions_arrow(out / "decisions.parquet", rows)
    return {
        "docs": len(ids),
        "mb": mb,
        "read_s": read_s,
        "shingle_s": shingle_s,
        "matrix_s": matrix_s,
        "objects_s": objects_s,
        # the faster of its two full-set batch paths counts (generous to rensa)
        "sig_s": shingle_s + min(matrix_s, objects_s),
        "perm_s": perm_s,
        "shingles": n_shingles,
        "lsh_cluster_s": lsh_s,
        "candidate_pairs": len(pairs) // 2,
    }


def worker_datatrove(corpus: Path, out: Path, workers: int) -> dict[str, Any]:
    import logging

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    logging.getLogger().setLevel(logging.WARNING)
    shards = sorted(corpus.glob("part-*.parquet"))
    import pyarrow.parquet as pq

    mb = 0.0
    docs = 0
    for p in shards:
        col = pq.read_table(p, columns=["text"]).column("text")
        docs += len(col)
        mb += sum(len(t.encode("utf-8")) for t in col.to_pylist()) / 1e6
    cfg = MinhashConfig()
    w = out / "dt"
    logs = out / "dt-logs"

    def reader() -> ParquetReader:
        return ParquetReader(
            str(corpus), glob_pattern="part-*.parquet", text_key="text", id_key="id"
        )

    stages = {
        "signatures": LocalPipelineExecutor(
            pipeline=[reader(), MinhashDedupSignature(output_folder=str(w / "sigs"), config=cfg)],
            tasks=len(shards),
            workers=workers,
            logging_dir=str(logs / "sigs"),
            start_method="fork",
        ),
        "buckets": LocalPipelineExecutor(
            pipeline=[
                MinhashDedupBuckets(
                    input_folder=str(w / "sigs"), output_folder=str(w / "buckets"), config=cfg
                )
            ],
            tasks=cfg.num_buckets,
            workers=workers,
            logging_dir=str(logs / "buckets"),
            start_method="fork",
        ),
        "cluster": LocalPipelineExecutor(
            pipeline=[
                MinhashDedupCluster(
                    input_folder=str(w / "buckets"),
                    output_folder=str(w / "remove"),
                    config=cfg,
                    save_cluster_id=True,
                )
            ],
            tasks=1,
            logging_dir=str(logs / "cluster"),
        ),
        "filter": LocalPipelineExecutor(
            pipeline=[
                reader(),
                MinhashDedupFilter(
                    input_folder=str(w / "remove"),
                    exclusion_writer=JsonlWriter(str(w / "removed"), compression=None),
                    load_cluster_ids=True,
                ),
                JsonlWriter(str(w / "kept"), compression=None),
            ],
            tasks=len(shards),
            workers=workers,
            logging_dir=str(logs / "filter"),
            start_method="fork",
        ),
    }
    times: dict[str, dict[str, float]] = {}
    for name, executor in stages.items():
        t0 = time.perf_counter()
        c0 = _cpu_seconds()
        executor.run()
        times[name] = {"s": time.perf_counter() - t0, "cpu_s": _cpu_seconds() - c0}
    # Decisions: kept and removed documents with their cluster id (-1: in no cluster).
    rows: dict[str, list[Any]] = {"id": [], "cluster": [], "keep": []}
    for folder, keep in (("kept", True), ("removed", False)):
        for path in sorted((w / folder).glob("*.jsonl")):
            with path.open(encoding="utf-8") as f:
                for line in f:
                    doc = json.loads(line)
                    cid = doc["metadata"].get("minhash_cluster_id", -1)
                    rows["id"].append(doc["id"])
                    rows["cluster"].append(None if cid == -1 else f"c{cid}")
                    rows["keep"].append(keep)
    survivor_of = {
        c: i for i, c, k in zip(rows["id"], rows["cluster"], rows["keep"], strict=True) if k and c
    }
    rows["survivor"] = [
        i if k else survivor_of.get(c, i)
        for i, c, k in zip(rows["id"], rows["cluster"], rows["keep"], strict=True)
    ]
    write_decisions_arrow(out / "decisions.parquet", rows)
    return {
        "docs": docs,
        "mb": mb,
        "stages": times,
        "sig_s": times["signatures"]["cpu_s"],
        "lsh_cluster_s": times["buckets"]["s"] + times["cluster"]["s"],
    }


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


WORKERS = {
    "thresher": worker_thresher,
    "thresher-sig": worker_thresher_sig,
    "datasketch": worker_datasketch,
    "rensa": worker_rensa,
    "datatrove": worker_datatrove,
}


def worker_main(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = WORKERS[args.worker](Path(args.corpus), out, args.workers)
    (out / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Process-tree memory


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
    cmd = [str(python), str(HERE), "--worker", name, "--corpus", str(corpus), "--out", str(out)]
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


# ---------------------------------------------------------------------------------------------
# The corpus


def _sentences(text: str) -> list[str]:
    out = []
    for para in text.split("\n"):
        for s in re.split(r"(?<=[.!?。！？])\s+", para.strip()):
            words = s.split()
            if len(words) < 3:
                continue
            for k in range(0, len(words), MAX_UNIT_WORDS):
                chunk = words[k : k + MAX_UNIT_WORDS]
                if len(chunk) >= 3 or k == 0:
                    out.append(" ".join(chunk))
    return out


def _code_blocks(text: str) -> list[str]:
    lines = [ln for ln in text.split("\n") if ln.strip()]
    return ["\n".join(lines[k : k + 3]) for k in range(0, len(lines), 3)]


def real_documents(fixtures: Path, with_html: bool) -> list[tuple[str, str, str]]:
    """(id, kind, text) of every real text: kind is "code" or "prose"."""
    docs: list[tuple[str, str, str]] = []
    for path in sorted((fixtures / "domains").glob("*.jsonl.gz")):
        kind = "code" if path.name.startswith("code") else "prose"
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                docs.append((f"{path.name.split('.')[0]}-{i}", kind, json.loads(line)["text"]))
    with (fixtures / "neardup" / "clough" / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append((f"clough-{rec['file']}", "prose", rec["text"]))
    with gzip.open(fixtures / "neardup" / "minhash" / "articles_2500.train.gz", "rt") as f:
        for line in f:
            key, _, text = line.rstrip("\n").partition(" ")
            if text:
                docs.append((f"articles-{key}", "prose", text))
    by_lang: dict[str, list[str]] = {}
    with (fixtures / "lid" / "sentences.jsonl").open(encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            by_lang.setdefault(rec["lang"], []).append(rec["text"])
    for lang, sents in sorted(by_lang.items()):
        for k in range(0, len(sents), 5):
            docs.append((f"lid-{lang}-{k}", "prose", " ".join(sents[k : k + 5])))
    if with_html:
        docs += extracted_pages(fixtures)
    return [d for d in docs if d[2].strip()]


def extracted_pages(fixtures: Path) -> list[tuple[str, str, str]]:
    import polars as pl

    from thresher.pipeline import readers
    from thresher.stages.extract import Extractor

    rows = []
    for sub in ("html", "dates"):
        cases = fixtures / sub / "cases.jsonl"
        if not cases.is_file():
            continue
        with cases.open(encoding="utf-8") as f:
            for line in f:
                case = json.loads(line)
                url = case["url"] if case["url"].startswith("http") else None
                html = gzip.decompress((fixtures / sub / case["file"]).read_bytes())
                rows.append({"id": f"{sub}-{case['file']}", "url": url, "html": html})
    if not rows:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pages.parquet"
        schema = {"id": pl.String, "url": pl.String, "html": pl.Binary}
        pl.DataFrame(rows, schema=schema).write_parquet(path)
        raw = pl.concat(list(readers.read_records(str(path), readers.ReadConfig(), {})))
    kept, _, _ = Extractor()(raw.filter(pl.col("reject").is_null()))
    return [(i, "prose", t) for i, t in zip(kept["id"], kept["text"], strict=True) if t]


def made_up_documents(real: list[tuple[str, str, str]], n: int, seed: int) -> list[tuple[str, str]]:
    """n new documents of real units (sentences / code blocks) drawn across all documents."""
    import numpy as np

    rng = np.random.default_rng(seed)
    prose_units = sorted({u for _, k, t in real if k == "prose" for u in _sentences(t)})
    code_units = sorted({u for _, k, t in real if k == "code" for u in _code_blocks(t)})
    prose = np.array(prose_units, dtype=object)
    code = np.array(code_units, dtype=object)
    code_share = sum(k == "code" for _, k, _ in real) / max(len(real), 1)
    is_code = rng.random(n) < code_share
    # Units a document: lognormal around 14 (prose) or 30 (code blocks), at least MIN_UNITS.
    counts = np.where(
        is_code,
        rng.lognormal(np.log(30), 0.6, n),
        rng.lognormal(np.log(14), 0.6, n),
    )
    counts = np.clip(counts.astype(np.int64), MIN_UNITS, 150)
    paragraph = rng.integers(2, 6, n)
    docs = []
    for d in range(n):
        c = int(counts[d])
        if is_code[d]:
            units = code[rng.integers(0, len(code), c)]
            docs.append((f"gen-{d}", "\n".join(units)))
        else:
            units = prose[rng.integers(0, len(prose), c)]
            p = int(paragraph[d])
            docs.append(
                (f"gen-{d}", "\n\n".join(" ".join(units[k : k + p]) for k in range(0, c, p)))
            )
    print(
        f"# made-up documents: {n:,} from {len(prose_units):,} prose sentences and "
        f"{len(code_units):,} code blocks ({code_share:.0%} code)"
    )
    return docs


def near_pairs(texts: list[str], min_jaccard: float) -> list[tuple[int, int, float]]:
    """Pairs (i, j, J), i < j, of exact 5-gram Jaccard >= min_jaccard, found by low-bar LSH."""
    import numpy as np
    import polars as pl

    from thresher.fingerprints.lsh import band_hashes, choose_bands
    from thresher.fingerprints.minhash import signatures
    from thresher.fingerprints.shingles import shingle_hashes_batch

    series = pl.Series("text", texts, dtype=pl.String)
    sigs = signatures(series)
    bands, rows = choose_bands(min_jaccard - 0.1, sigs.shape[1], 0.1, 0.9)
    bh = band_hashes(sigs, bands, rows)
    n = len(texts)
    table = pl.DataFrame(
        {
            "band": np.tile(np.arange(bands, dtype=np.int32), n),
            "h": bh.reshape(-1),
            "doc": np.repeat(np.arange(n, dtype=np.int64), bands),
        }
    )
    cands = (
        table.with_columns(first=pl.col("doc").min().over("band", "h"))
        .filter(pl.col("doc") != pl.col("first"))
        .select("first", "doc")
        .unique()
        .to_numpy()
    )
    # Only candidates whose signatures agree in enough places go on to the exact check (slow).
    keep = []
    for k in range(0, len(cands), 200_000):
        c = cands[k : k + 200_000]
        est = (sigs[c[:, 0]] == sigs[c[:, 1]]).mean(axis=1)
        keep.append(c[est >= min_jaccard - 0.15])
    checked = np.concatenate(keep) if keep else cands
    print(f"#   base check: {len(cands):,} LSH candidates, {len(checked):,} checked exactly")
    hashes, offsets = shingle_hashes_batch(series)
    sets: dict[int, np.ndarray] = {}

    def shingle_set(i: int) -> np.ndarray:
        if i not in sets:
            sets[i] = np.unique(hashes[offsets[i] : offsets[i + 1]])
        return sets[i]

    out = []
    for a, b in checked.tolist():
        sa, sb = shingle_set(a), shingle_set(b)
        inter = np.intersect1d(sa, sb, assume_unique=True).size
        union = sa.size + sb.size - inter
        j = inter / union if union else 1.0
        if j >= min_jaccard:
            out.append((min(a, b), max(a, b), j))
    return out


def pair_jaccards(texts: list[str], pairs: list[tuple[int, int]]) -> list[float]:
    """Exact 5-gram Jaccard (thresher's shingling) of each pair of texts."""
    import numpy as np
    import polars as pl

    from thresher.fingerprints.shingles import shingle_hashes_batch

    hashes, offsets = shingle_hashes_batch(pl.Series("text", texts, dtype=pl.String))
    out = []
    for a, b in pairs:
        sa = np.unique(hashes[offsets[a] : offsets[a + 1]])
        sb = np.unique(hashes[offsets[b] : offsets[b + 1]])
        inter = np.intersect1d(sa, sb, assume_unique=True).size
        union = sa.size + sb.size - inter
        out.append(inter / union if union else 1.0)
    return out


def perturb(text: str, rng: Any, vocab: list[str]) -> str:
    """A copy: 0.5-3% of words edited; maybe boilerplate lines; maybe whitespace noise."""
    parts = re.split(r"(\s+)", text)  # words at even positions, whitespace at odd ones
    words = list(range(0, len(parts), 2))
    n_edits = max(1, round(len(words) * rng.uniform(0.005, 0.03)))
    for pos in rng.choice(words, size=min(n_edits, len(words)), replace=False):
        op = rng.integers(4)
        if op == 0:  # substitute
            parts[pos] = vocab[rng.integers(len(vocab))]
        elif op == 1:  # delete
            parts[pos] = ""
        elif op == 2:  # insert
            parts[pos] = f"{parts[pos]} {vocab[rng.integers(len(vocab))]}"
        elif pos + 2 < len(parts):  # swap with the next word
            parts[pos], parts[pos + 2] = parts[pos + 2], parts[pos]
    out = "".join(parts)
    if rng.random() < 0.5:
        lines = [BOILERPLATE[i] for i in rng.choice(len(BOILERPLATE), rng.integers(1, 4), False)]
        out = "\n".join([*lines, out]) if rng.random() < 0.5 else "\n".join([out, *lines])
    if rng.random() < 0.5:
        out = out.replace("\n", " \r\n") if rng.random() < 0.5 else out
        out = re.sub(r"(?<=\w) (?=\w)", lambda _: "  " if rng.random() < 0.05 else " ", out)
        out = out.replace(". ", ".\t", 3)
    return out


def build_corpus(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Write work/corpus/part-*.parquet (id, text) and work/truth.parquet; returns facts."""
    import numpy as np
    import polars as pl

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    real = real_documents(args.fixtures, not args.no_html)
    kinds = {}
    for _, k, _ in real:
        kinds[k] = kinds.get(k, 0) + 1
    print(f"# real documents: {len(real):,} ({kinds})")
    mean_copies = 0.6 * 1 + 0.3 * 2 + 0.1 * 3
    n_base = round(args.docs / (1 + args.dup_share * mean_copies))
    # A few spare made-up documents: the base check drops some documents.
    n_made = max(n_base - len(real), 0) + max(200, n_base // 100)
    made = made_up_documents(real, n_made, args.seed + 1)
    base_ids = [i for i, _, _ in real] + [i for i, _ in made]
    base_texts = [t for _, _, t in real] + [t for _, t in made]
    del made
    t_check = time.perf_counter()
    close = near_pairs(base_texts, BASE_MAX_JACCARD)
    drop = {b for _, b, _ in close}
    real_pairs = sum(1 for a, b, _ in close if a < len(real) and b < len(real))
    print(
        f"# base check: {len(base_texts):,} base documents, {len(close):,} pairs at 5-gram "
        f"Jaccard >= {BASE_MAX_JACCARD} ({real_pairs:,} between two real texts); "
        f"{len(drop):,} documents dropped ({time.perf_counter() - t_check:.0f} s)"
    )
    # The real texts first (all of them when --docs allows), then made-up ones, in random order.
    real_keep = [i for i in rng.permutation(len(real)) if i not in drop]
    made_keep = [i for i in range(len(real), len(base_texts)) if i not in drop]
    keep = (real_keep + made_keep)[:n_base]
    base_ids = [base_ids[i] for i in keep]
    base_texts = [base_texts[i] for i in keep]
    n_base = len(base_texts)

    vocab = sorted({w for t in base_texts[:5000] for w in t.split() if w.isalpha()})
    n_orig = round(n_base * args.dup_share)
    originals = rng.choice(n_base, size=n_orig, replace=False)
    copies_each = rng.choice([1, 2, 3], size=n_orig, p=[0.6, 0.3, 0.1])
    # Hit --docs exactly: take copies off originals with two or more, or add to random ones.
    excess = n_base + int(copies_each.sum()) - args.docs
    for k in np.flatnonzero(copies_each > 1)[::-1][: max(excess, 0)]:
        copies_each[k] -= 1
    if excess < 0 and n_orig:
        np.add.at(copies_each, rng.integers(0, n_orig, -excess), 1)
    ids, texts, group = list(base_ids), list(base_texts), list(range(n_base))
    is_copy = [False] * n_base
    pairs = []
    for o, k in zip(originals, copies_each, strict=True):
        for c in range(int(k)):
            pairs.append((len(texts), int(o)))
            ids.append(f"{base_ids[o]}~copy{c}")
            texts.append(perturb(base_texts[o], rng, vocab))
            group.append(int(o))
            is_copy.append(True)
    if len(texts) != args.docs:
        print(f"# note: {len(texts):,} documents, not --docs {args.docs:,}")
    jac = pair_jaccards(texts, pairs)
    order = rng.permutation(len(texts))
    doc_id = [f"d{r:08d}" for r in range(len(texts))]  # corpus order = id order
    new_id = {int(old): doc_id[new] for new, old in enumerate(order)}
    frame = pl.DataFrame(
        {
            "id": doc_id,
            "text": [texts[i] for i in order],
        }
    )
    truth = pl.DataFrame(
        {
            "id": [new_id[i] for i in range(len(texts))],
            "source": ids,
            "group": [new_id[g] for g in group],
            "is_copy": is_copy,
        }
    )
    jac_frame = pl.DataFrame(
        {"id": [new_id[c] for c, _ in pairs], "original": [new_id[o] for _, o in pairs]}
    ).with_columns(jaccard=pl.Series(jac, dtype=pl.Float64))
    truth = truth.join(jac_frame, on="id", how="left").sort("id")
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    if args.one_file:  # one file, as datasets are often published (row groups of N documents)
        frame.write_parquet(corpus / "part-00000.parquet", row_group_size=args.one_file)
    else:
        for k, start in enumerate(range(0, frame.height, args.shard_docs)):
            frame.slice(start, args.shard_docs).write_parquet(corpus / f"part-{k:05d}.parquet")
    truth.write_parquet(work / "truth.parquet")
    mb = float(frame["text"].str.len_bytes().sum()) / 1e6
    facts = {
        "docs": frame.height,
        "mb": mb,
        "shards": 1 if args.one_file else (frame.height + args.shard_docs - 1) // args.shard_docs,
        "bases": n_base,
        "copies": len(pairs),
        "originals": n_orig,
        "pairs_at_08": sum(j >= THRESHOLD for j in jac),
        "jaccard_quartiles": [float(np.quantile(jac, q)) for q in (0.1, 0.25, 0.5, 0.75, 0.9)]
        if jac
        else [],
        "seconds": time.perf_counter() - t0,
    }
    print(
        f"# corpus: {facts['docs']:,} documents, {mb:,.1f} MB in {facts['shards']} shards; "
        f"{n_orig:,} originals with {len(pairs):,} copies; copy-original 5-gram Jaccard "
        f"p10/p25/p50/p75/p90 = {' / '.join(f'{q:.2f}' for q in facts['jaccard_quartiles'])}; "
        f"{facts['pairs_at_08']:,} pairs at >= {THRESHOLD} ({facts['seconds']:.0f} s)"
    )
    return facts


def write_subset(work: Path, name: str, max_docs: int, shard_docs: int, seed: int) -> Path:
    """Whole duplicate groups, chosen at random, to about max_docs documents; returns its folder."""
    import numpy as np
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet")
    share = max_docs / truth.height
    groups = truth["group"].unique().sort()
    rng = np.random.default_rng(seed)
    chosen = groups.filter(pl.Series(rng.random(groups.len()) < share))
    ids = truth.filter(pl.col("group").is_in(chosen.implode()))["id"]
    corpus = pl.scan_parquet(sorted((work / "corpus").glob("part-*.parquet")))
    sub = corpus.filter(pl.col("id").is_in(ids.implode())).collect()
    folder = work / name
    if folder.is_dir():  # --reuse: the same seed and cap give the same subset
        return folder
    folder.mkdir()
    for k, start in enumerate(range(0, sub.height, shard_docs)):
        sub.slice(start, shard_docs).write_parquet(folder / f"part-{k:05d}.parquet")
    return folder


# ---------------------------------------------------------------------------------------------
# Scoring


def score(work: Path, decisions: Path) -> dict[str, float]:
    """Pair recall (all injected pairs, pairs at >= 0.8), removal precision and recall."""
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet")
    dec = pl.read_parquet(decisions).select(
        "id", pl.col("cluster").cast(pl.String), "keep", pl.col("survivor").cast(pl.String)
    )
    ran = truth.join(dec, on="id", how="inner")
    cluster_of = ran.select(original="id", cluster_o="cluster")
    pairs = (
        ran.filter(pl.col("is_copy"))
        .join(cluster_of, on="original", how="inner")
        .with_columns(
            found=pl.col("cluster").is_not_null() & (pl.col("cluster") == pl.col("cluster_o"))
        )
    )
    at08 = pairs.filter(pl.col("jaccard") >= THRESHOLD)
    group_of = truth.select(survivor="id", survivor_group="group")
    removed = ran.filter(~pl.col("keep")).join(group_of, on="survivor", how="left")
    correct = removed.filter(pl.col("group") == pl.col("survivor_group")).height
    copies = pairs.height
    return {
        "docs": ran.height,
        "pairs": copies,
        "recall": pairs["found"].mean() if copies else float("nan"),
        "recall_08": at08["found"].mean() if at08.height else float("nan"),
        "removed": removed.height,
        "rm_precision": correct / removed.height if removed.height else float("nan"),
        "rm_recall": correct / copies if copies else float("nan"),
    }


# ---------------------------------------------------------------------------------------------
# Exact fingerprints


def exact_throughput(work: Path, max_mb: float) -> dict[str, float]:
    import polars as pl
    import xxhash

    blobs: list[bytes] = []
    mb = 0.0
    for path in sorted((work / "corpus").glob("part-*.parquet")):
        for t in pl.read_parquet(path, columns=["text"])["text"]:
            b = t.encode("utf-8")
            blobs.append(b)
            mb += len(b) / 1e6
        if mb >= max_mb:
            break
    digest = xxhash.xxh3_128_digest
    md5 = hashlib.md5
    best = {"xxh3_128": float("inf"), "md5": float("inf")}
    for _ in range(3):
        t0 = time.perf_counter()
        for b in blobs:
            digest(b)
        best["xxh3_128"] = min(best["xxh3_128"], time.perf_counter() - t0)
        t0 = time.perf_counter()
        for b in blobs:
            md5(b).digest()
        best["md5"] = min(best["md5"], time.perf_counter() - t0)
    return {"docs": len(blobs), "mb": mb} | best


# ---------------------------------------------------------------------------------------------
# Report


def machine_facts() -> list[str]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = _kb("/proc/meminfo", "MemTotal:") / 2**20
    lines = [
        f"# machine: {cpu}, {os.cpu_count()} CPUs, {mem_gb:.1f} GB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    ]
    import importlib.metadata as meta

    versions = {}
    for dist in ("thresher", "polars", "numpy", "numba", "ray", "datasketch", "xxhash", "pyarrow"):
        try:
            versions[dist] = meta.version(dist)
        except meta.PackageNotFoundError:
            versions[dist] = "n/a"
    for name, python, mod in (
        ("rensa", RENSA_PYTHON, "rensa"),
        ("datatrove", DATATROVE_PYTHON, "datatrove"),
    ):
        versions[name] = _peer_version(python, mod)
    lines.append("# versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return lines


def _peer_version(python: Path, dist: str) -> str:
    if not python.exists():
        return "missing"
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    res = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    return res.stdout.strip() or "unknown"


def fmt(x: float | None, spec: str = ",.1f", star: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:{spec}}" + ("*" if star else "")


def report(
    results: dict[str, dict[str, Any]], scores: dict[str, dict[str, float]], full: dict[str, Any]
) -> None:
    """The table: per implementation, then ratios to thresher."""
    rows = []
    for name in IMPLS:
        r = results.get(name)
        if not r or r.get("failed"):
            continue
        s = scores[name]
        scale = full["docs"] / r["docs"] if r["docs"] else 1.0
        scaled = scale > 1.0001
        sig = r["sig_mb_s"]
        rows.append(
            {
                "name": name,
                "docs": r["docs"],
                "sig": sig,
                "lsh": r["lsh_cluster_s"] * scale,
                "e2e": r["wall_s"] * scale,
                "cpu": r["cpu_s"] * scale,
                "peak": r["peak_pss_gb"],
                "rss": r["maxrss_gb"],
                "scaled": scaled,
                **s,
            }
        )
    head = (
        f"{'impl':<11}{'docs run':>10}{'sig MB/s/core':>15}{'lsh+clu s':>11}{'e2e s':>10}"
        f"{'cpu s':>9}"
        f"{'peak GB':>9}{'maxrss':>8}{'recall':>8}{'@.8':>7}{'rm prec':>9}{'rm rec':>8}"
        f"{'removed':>9}"
    )
    print("\n" + head)
    print("-" * len(head))
    for row in rows:
        star = row["scaled"]
        print(
            f"{row['name']:<11}{row['docs']:>10,}{fmt(row['sig'], ',.2f'):>15}"
            f"{fmt(row['lsh'], ',.1f', star):>11}{fmt(row['e2e'], ',.1f', star):>10}"
            f"{fmt(row['cpu'], ',.0f', star):>9}"
            f"{fmt(row['peak'], '.2f'):>9}{fmt(row['rss'], '.2f'):>8}"
            f"{fmt(row['recall'], '.4f'):>8}{fmt(row['recall_08'], '.4f'):>7}"
            f"{fmt(row['rm_precision'], '.4f'):>9}{fmt(row['rm_recall'], '.4f'):>8}"
            f"{row['removed']:>9,}"
        )
    thr = next((r for r in rows if r["name"] == "thresher"), None)
    if thr is None:
        return
    print("\nratios to thresher (sig: thresher / peer; lsh, e2e, peak: peer / thresher)")
    for row in rows:
        if row["name"] == "thresher":
            continue
        print(
            f"  {row['name']:<11} sig {row['sig'] and thr['sig'] / row['sig']:>9,.1f}x   "
            f"lsh+clu {row['lsh'] / thr['lsh']:>8,.1f}x   e2e {row['e2e'] / thr['e2e']:>8,.1f}x   "
            f"peak {row['peak'] / thr['peak']:>6,.2f}x"
            + ("   (* peer times scaled from its subset)" if row["scaled"] else "")
        )


def print_details(results: dict[str, dict[str, Any]]) -> None:
    r = results.get("thresher")
    if r and not r.get("failed"):
        print("\nthresher, step by step (Executor.map calls; tasks, seconds):")
        for s in r["steps"]:
            print(f"  {s['step']:<12}{s['tasks']:>6}{s['s']:>9.1f}")
        rest = r["wall_s"] - sum(s["s"] for s in r["steps"])
        print(f"  {'other':<12}{'':>6}{rest:>9.1f}   (imports, Ray start/stop, final joins)")
        print(
            f"  processes {r['procs']}, peak PSS {r['peak_pss_gb']:.2f} GB, peak summed RSS "
            f"{r['peak_rss_sum_gb']:.2f} GB, largest process {r['maxrss_gb']:.2f} GB"
        )
    sig = results.get("thresher-sig")
    if sig and not sig.get("failed"):
        print(
            f"thresher components, one thread, {sig['mb']:,.0f} MB: signatures() "
            f"{sig['mb'] / sig['sig_s']:,.1f} MB/s (normalize_series alone "
            f"{sig['mb'] / sig['normalise_s']:,.1f} MB/s; tokenising, hashing, permutations on "
            f"normalised text {sig['mb'] / sig['kernel_s']:,.1f} MB/s), band_hashes "
            f"{sig['docs'] / sig['band_s'] / 1e6:,.2f} M docs/s; the pipeline's exact fingerprint "
            f"(exact_hashes from raw text: numba normalisation, xxh3-128 per document) "
            f"{sig['mb'] / sig['exact_s']:,.1f} MB/s"
        )
    r = results.get("rensa")
    if r and not r.get("failed"):
        print(
            f"rensa: shingling in Python {r['mb'] / r['shingle_s']:,.1f} MB/s; hashing the "
            f"shingle lists: digest matrix {r['mb'] / r['matrix_s']:,.1f} MB/s, RMinHash "
            f"objects {r['mb'] / r['objects_s']:,.1f} MB/s; {r['candidate_pairs']:,} "
            "candidate pairs"
        )
    kernel_alone(results)
    r = results.get("datasketch")
    if r and not r.get("failed"):
        print(f"datasketch: bands x rows {r['bands_rows']}; {r['candidate_pairs']:,} pairs")
    r = results.get("datatrove")
    if r and not r.get("failed"):
        parts = ", ".join(
            f"{k} {v['s']:.1f} s ({v['cpu_s']:.0f} CPU s)" for k, v in r["stages"].items()
        )
        print(f"datatrove stages on {r['docs']:,} docs: {parts}")


def kernel_alone(results: dict[str, dict[str, Any]]) -> None:
    """The permutation step alone on ready uint64 shingle hashes, thresher vs rensa."""
    thr, r = results.get("thresher-sig", {}), results.get("rensa", {})
    if not thr.get("perm_s") or not r.get("perm_s") or r.get("failed"):
        return
    r = r | {"lists_s": min(r["matrix_s"], r["objects_s"])}  # as in sig MB/s/core
    rows = [
        ("thresher", "signatures_from_hashes: permutations of ready shingle hashes", thr, "perm_s"),
        ("rensa", "digest_matrix_from_flat_token_hashes: the same step", r, "perm_s"),
        ("rensa", "its faster path from shingle lists: hashing them + permutations", r, "lists_s"),
    ]
    print(f"\nkernel alone, {PEER_PERM} permutations, one core (no normalising or shingling):")
    for name, what, res, key in rows:
        print(
            f"  {name:<9}{res['shingles'] / res[key] / 1e6:>7.1f} M shingles/s "
            f"{res['mb'] / res[key]:>7.1f} MB/s  {what}"
        )


def footer(results: dict[str, dict[str, Any]], full: dict[str, Any]) -> None:
    thr = results.get("thresher-sig", {})
    e2e = results.get("thresher", {})
    ok = lambda b: "MET" if b else "NOT MET"  # noqa: E731
    print("\ntargets")
    if thr.get("sig_mb_s"):
        v = thr["sig_mb_s"]
        print(f"  signatures >= {TARGETS['sig_mb_s']:.0f} MB/s per core: {v:,.1f}  {ok(v >= 150)}")
        for peer, key in (("datasketch", "vs_datasketch"), ("rensa", "vs_rensa")):
            p = results.get(peer, {})
            if p.get("sig_mb_s"):
                ratio = v / p["sig_mb_s"]
                print(
                    f"  signatures >= {TARGETS[key]:.0f}x {peer}'s: {ratio:,.1f}x "
                    f"({v:,.1f} vs {p['sig_mb_s']:,.2f} MB/s)  {ok(ratio >= TARGETS[key])}"
                )
        p = results.get("datasketch", {})
        if p.get("default_api_mb_s"):
            ratio = v / p["default_api_mb_s"]
            print(
                f"  signatures >= {TARGETS['vs_datasketch']:.0f}x datasketch's default API "
                f"(MinHash.update per shingle): {ratio:,.1f}x ({v:,.1f} vs "
                f"{p['default_api_mb_s']:,.2f} MB/s)  {ok(ratio >= TARGETS['vs_datasketch'])}"
            )
        p = results.get("rensa", {})
        if p.get("matrix_s") and thr.get("perm_s"):
            kernel = thr["shingles"] / thr["perm_s"]
            lists = p["shingles"] / min(p["matrix_s"], p["objects_s"])
            print(
                f"  permutation kernel alone >= rensa's hashing of ready shingle lists: "
                f"{kernel / lists:,.2f}x ({kernel / 1e6:,.1f} vs {lists / 1e6:,.1f} M shingles/s, "
                f"{PEER_PERM} permutations)  {ok(kernel >= lists)}"
            )
    dt = results.get("datatrove", {})
    if e2e.get("wall_s") and dt.get("wall_s") and not dt.get("failed"):
        scale = full["docs"] / dt["docs"]
        ratio = dt["wall_s"] * scale / e2e["wall_s"]
        note = "" if full["docs"] >= 1_000_000 else f" (here on {full['docs']:,} docs, not 1M)"
        sub = f", datatrove scaled from {dt['docs']:,} docs" if scale > 1.0001 else ""
        print(
            f"  end to end >= {TARGETS['vs_datatrove']:.0f}x faster than datatrove{note}: "
            f"{ratio:,.1f}x ({e2e['wall_s']:,.1f} s vs {dt['wall_s'] * scale:,.1f} s{sub})  "
            f"{ok(ratio >= TARGETS['vs_datatrove'])}"
        )
    if e2e.get("peak_pss_gb"):
        v = e2e["peak_pss_gb"]
        print(
            f"  peak memory <= {PEAK_GB_TARGET:.0f} GB (thresher's process tree, PSS) on "
            f"{full['docs']:,} docs: {v:.2f} GB  {ok(v <= PEAK_GB_TARGET)}"
        )


# ---------------------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(
        description="thresher's dedup against datasketch, rensa and datatrove.",
        epilog="example: .venv/bin/python benchmarks/bench_dedup.py --docs 100000",
    )
    p.add_argument("--docs", type=int, default=100_000, help="documents in the corpus")
    p.add_argument("--dup-share", type=float, default=0.2, help="share of bases given copies")
    p.add_argument("--shard-docs", type=int, default=25_000, help="documents a shard")
    p.add_argument(
        "--one-file",
        type=int,
        default=0,
        metavar="N",
        help="write the corpus as one Parquet file with row groups of N documents",
    )
    p.add_argument("--peer-docs", type=int, default=100_000, help="datasketch/datatrove cap")
    p.add_argument("--rensa-docs", type=int, default=0, help="rensa cap (0: all)")
    p.add_argument("--only", default=",".join(IMPLS), help="implementations to run")
    p.add_argument("--workers", type=int, default=2, help="thresher/datatrove workers")
    p.add_argument("--workdir", type=Path, help="work folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument(
        "--reuse", action="store_true", help="use the corpus already in --workdir (rerun peers)"
    )
    p.add_argument("--no-html", action="store_true", help="leave the extracted pages out")
    p.add_argument("--exact-mb", type=float, default=512.0, help="MB for the exact-hash test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fixtures", type=Path, default=FIXTURES)
    p.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker_main(args)
        return

    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(IMPLS)
    if unknown:
        p.error(f"--only: unknown {sorted(unknown)}; choose from {', '.join(IMPLS)}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-dedup-"))
    work.mkdir(parents=True, exist_ok=True)
    reuse = args.reuse and (work / "corpus.json").is_file()
    if args.reuse and not reuse:
        p.error(f"--reuse: no corpus in {work} (corpus.json is missing)")
    if not reuse and any(work.iterdir()):
        p.error(f"--workdir {work}: not empty (add --reuse to run on its corpus)")
    t_start = time.perf_counter()
    try:
        for line in machine_facts():
            print(line)
        print(f"# work folder: {work}; command: {' '.join(sys.argv)}")
        if reuse:
            full = json.loads((work / "corpus.json").read_text())
            print(f"# reusing the corpus of {work}: {full['docs']:,} documents")
        else:
            full = build_corpus(args, work)
            (work / "corpus.json").write_text(json.dumps(full))
        gc.collect()
        ex = exact_throughput(work, args.exact_mb)
        print(
            f"\nexact fingerprints, one core, {ex['docs']:,} docs / {ex['mb']:,.0f} MB: "
            f"xxh3-128 {ex['docs'] / ex['xxh3_128']:,.0f} docs/s, {ex['mb'] / ex['xxh3_128']:,.0f}"
            f" MB/s; md5 {ex['docs'] / ex['md5']:,.0f} docs/s, {ex['mb'] / ex['md5']:,.0f} MB/s; "
            f"xxh3-128 is {ex['md5'] / ex['xxh3_128']:,.1f}x faster"
        )
        sys.stdout.flush()
        single = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        corpus = work / "corpus"
        subsets: dict[int, Path] = {}

        def corpus_for(cap: int) -> Path:
            if cap <= 0 or cap >= full["docs"]:
                return corpus
            if cap not in subsets:
                subsets[cap] = write_subset(work, f"subset-{cap}", cap, args.shard_docs, args.seed)
            return subsets[cap]

        plan = {
            "thresher-sig": (VENV_PYTHON, corpus, single),
            "thresher": (VENV_PYTHON, corpus, {}),
            "datasketch": (VENV_PYTHON, corpus_for(args.peer_docs), single),
            "rensa": (
                RENSA_PYTHON,
                corpus_for(args.rensa_docs),
                single | {"RAYON_NUM_THREADS": "1"},
            ),
            "datatrove": (DATATROVE_PYTHON, corpus_for(args.peer_docs), {"OMP_NUM_THREADS": "1"}),
        }
        results: dict[str, dict[str, Any]] = {}
        scores: dict[str, dict[str, float]] = {}
        for name, (python, folder, env) in plan.items():
            if name.split("-")[0] not in only:
                continue
            if not python.exists():
                print(f"# {name}: no {python}: skipped (see the module docstring to make it)")
                continue
            print(f"# running {name} on {folder.name} ...", flush=True)
            r = run_worker(name, python, folder, work / "out" / name, args.workers, env)
            if not r.get("failed"):
                if "sig_s" in r:
                    r["sig_mb_s"] = r["mb"] / r["sig_s"] if r["sig_s"] else float("nan")
                if name != "thresher-sig":
                    scores[name] = score(work, work / "out" / name / "decisions.parquet")
                busy = r["foreign_cpu_s"] / (r["wall_s"] * (os.cpu_count() or 1))
                warn = "  WARNING: other processes were busy, timings skewed" if busy > 0.1 else ""
                print(
                    f"#   {name}: {r['wall_s']:.1f} s, peak PSS {r['peak_pss_gb']:.2f} GB; "
                    f"other processes used {r['foreign_cpu_s']:.0f} CPU s meanwhile{warn}",
                    flush=True,
                )
            results[name] = r
        if "thresher" in results and "thresher-sig" in results:
            sig = results["thresher-sig"]
            results["thresher"] |= {
                "docs": sig["docs"],
                "sig_mb_s": sig.get("sig_mb_s"),
                "mb": sig["mb"],
            }
        report(results, scores, full)
        print_details(results)
        footer(results, full)
        print(f"\n# total benchmark time {time.perf_counter() - t_start:,.0f} s")
    finally:
        if args.keep or args.workdir:
            print(f"# work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
