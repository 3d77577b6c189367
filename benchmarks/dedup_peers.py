"""The implementations that benchmarks/bench_dedup.py compares, each run as a subprocess.

    PYTHON benchmarks/dedup_peers.py --worker NAME --corpus DIR --out DIR [--workers 2]

writes DIR/result.json (timings) and DIR/decisions.parquet (id, cluster, keep, survivor). NAME is
thresher, thresher-sig, datasketch, rensa or datatrove; PYTHON is the venv that has it (see
bench_dedup.py's docstring for the venvs and for what each worker does). Only the standard library
and pyarrow are imported at the top: the peers' venvs run this file too.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

NGRAM = 5
DEFAULT_API_DOCS = 5_000  # datasketch's per-shingle update() path is timed on these
PEER_PERM = 128  # datasketch's and rensa's permutations (datatrove: 14 x 8 = 112, its default)
THRESHOLD = 0.8
RENSA_BANDS = 16
RENSA_BATCH = 10_000


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


def read_corpus_timed(corpus: Path) -> tuple[list[str], list[str], float, float]:
    """`read_corpus_arrow`, with the seconds it took and the MB of UTF-8 text read."""
    t0 = time.perf_counter()
    ids, texts = read_corpus_arrow(corpus)
    read_s = time.perf_counter() - t0
    return ids, texts, read_s, sum(len(t.encode("utf-8")) for t in texts) / 1e6


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


def cluster_and_write(out: Path, ids: list[str], pairs: list[tuple[int, int]], t0: float) -> float:
    """Union-find over the pairs, out/decisions.parquet written; the seconds since t0 up to the
    clusters (the LSH-and-clustering time, writing excluded)."""
    rows = union_find_decisions(ids, pairs)
    lsh_s = time.perf_counter() - t0
    write_decisions_arrow(out / "decisions.parquet", rows)
    return lsh_s


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

    ids, texts, read_s, mb = read_corpus_timed(corpus)
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
    lsh_s = cluster_and_write(out, ids, pairs, t0)
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

    ids, texts, read_s, mb = read_corpus_timed(corpus)
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
    lsh_s = cluster_and_write(out, ids, pairs, t0)
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


def main() -> None:
    p = argparse.ArgumentParser(description="one implementation of bench_dedup.py's comparison")
    p.add_argument("--worker", choices=sorted(WORKERS), required=True)
    p.add_argument("--corpus", required=True, help="folder of part-*.parquet (id, text)")
    p.add_argument("--out", required=True, help="folder for result.json and decisions.parquet")
    p.add_argument("--workers", type=int, default=2, help="thresher/datatrove workers")
    worker_main(p.parse_args())


if __name__ == "__main__":
    main()
